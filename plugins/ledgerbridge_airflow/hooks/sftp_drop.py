"""A file drop, from an Airflow connection, as the core's FileSystem: an SFTP server (host key always
verified) or a local folder. The connection is read by the core's `drop_opener`, the one parser of
file-drop connections (docs/file-drop-transport.md lists its fields).

Its type is `ledgerbridge_file_drop`, so that the UI's Test button runs `test_connection` here;
connections of the SFTP provider's type `sftp` work the same for the tasks.
"""
from __future__ import annotations

from ledgerbridge_airflow.hooks.base import AccountingHook


class FileDropHook(AccountingHook):
    """`with FileDropHook(conn_id).get_conn() as fs:` is one session for a batch of work."""

    conn_name_attr = "drop_conn_id"
    default_conn_name = "file_drop_default"
    conn_type = "ledgerbridge_file_drop"

    def __init__(self, drop_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.drop_conn_id = drop_conn_id

    def get_conn(self):
        """A context manager opening one session, as the core's SFTPFileSystem (or LocalFileSystem)."""
        from ledgerbridge.connectors.factory import drop_opener

        return drop_opener(self.settings())()

    def check(self) -> tuple[bool, str]:
        """Opens a session (host key verified), then checks the drop's root is readable and writable."""
        from ledgerbridge.connection_checks import file_drop
        from ledgerbridge.connectors.factory import is_true

        conn = self.settings()
        missing_company = "" if conn.extra.get("company_id") else (
            "; but the extra company_id (the company file the agent serves) is missing: the tasks need it")
        with self.get_conn() as fs:
            found = file_drop(fs)
        verified = "NOT verified (no_host_key_check)" if is_true(conn.extra.get("no_host_key_check")) else "verified"
        where = (f"folder {conn.extra['local_root']}" if conn.extra.get("local_root")
                 else f"sftp {fs.where}, root {fs.root} (host key {verified})")
        return not missing_company, f"file drop {where}: {found}{missing_company}"
