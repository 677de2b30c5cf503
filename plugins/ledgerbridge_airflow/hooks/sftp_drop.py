"""A file drop, from an Airflow connection, as the core's FileSystem: an SFTP server (host key always
verified) or a local folder. The connection is read by the core's `drop_opener`, the one parser of
file-drop connections (docs/file-drop-transport.md lists its fields).

Its type is `ledgerbridge_file_drop`, so that the UI's Test button runs `test_connection` here;
connections of the SFTP provider's type `sftp` work the same for the tasks.
"""
from __future__ import annotations

from ledgerbridge_airflow.hooks.base import AccountingHook


class DropSession:
    """What a drop-shaped connection's hooks share (the file drop's, the hub feed's): one session per
    get_conn(), and the Test button's probe of the root."""

    def get_conn(self):
        """A context manager opening one session, as the core's SFTPFileSystem (or LocalFileSystem)."""
        from ledgerbridge.connectors.factory import drop_opener

        return drop_opener(self.settings())()

    def probe(self, marker: str | None = None) -> tuple[object, str]:
        """Opens a session (host key verified) and probes the root (`connection_checks.file_drop`): the
        connection's settings, and where it went and what it found."""
        from ledgerbridge.connection_checks import file_drop
        from ledgerbridge.connectors.factory import is_true

        conn = self.settings()
        with self.get_conn() as fs:
            found = file_drop(fs, marker)
        verified = "NOT verified (no_host_key_check)" if is_true(conn.extra.get("no_host_key_check")) else "verified"
        where = (f"folder {conn.extra['local_root']}" if conn.extra.get("local_root")
                 else f"sftp {fs.where}, root {fs.root} (host key {verified})")
        return conn, f"{where}: {found}"


class FileDropHook(DropSession, AccountingHook):
    """`with FileDropHook(conn_id).get_conn() as fs:` is one session for a batch of work."""

    conn_name_attr = "drop_conn_id"
    default_conn_name = "file_drop_default"
    conn_type = "ledgerbridge_file_drop"

    def __init__(self, drop_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.drop_conn_id = drop_conn_id

    def check(self) -> tuple[bool, str]:
        """Opens a session (host key verified), then checks the drop's root is readable and writable."""
        conn, found = self.probe()
        missing_company = "" if conn.extra.get("company_id") else (
            "; but the extra company_id (the company file the agent serves) is missing: the tasks need it")
        return not missing_company, f"file drop {found}{missing_company}"


class EntryFilesHook(DropSession, AccountingHook):
    """An entry-files entity's folder or SFTP server (the accountant's side): the same transport as the
    file drop; the Test button checks the root is readable and writable."""

    conn_name_attr = "entry_files_conn_id"
    default_conn_name = "entry_files_default"
    conn_type = "ledgerbridge_entry_files"

    def __init__(self, entry_files_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.entry_files_conn_id = entry_files_conn_id

    def check(self) -> tuple[bool, str]:
        _, found = self.probe()
        return True, f"entry files {found}"
