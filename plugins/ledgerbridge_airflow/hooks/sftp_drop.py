"""An SFTP drop folder, from an Airflow `sftp` connection, as the core's SFTPFileSystem (host key verified).

The connection is the SFTP provider's: host, port, login, password (or the `private_key` / `key_file`
extra), plus the extras `host_key` ("ssh-ed25519 AAAA...", required unless `known_hosts` names a
file), `root` (the drop directory) and `no_host_key_check` (the local sandbox only).
"""
from __future__ import annotations

from typing import Any

from airflow.providers.sftp.hooks.sftp import SFTPHook
from airflow.sdk import BaseHook


def _is_true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


class FileDropHook(BaseHook):
    """`with FileDropHook(conn_id).get_conn() as fs:` is one SFTP session for a batch of work."""

    conn_name_attr = "sftp_conn_id"
    default_conn_name = "file_drop_default"
    conn_type = "sftp"
    hook_name = "LedgerBridge file drop (SFTP)"

    def __init__(self, sftp_conn_id: str = default_conn_name, timeout: float | None = None) -> None:
        super().__init__()
        self.sftp_conn_id = sftp_conn_id
        extra = self.get_connection(sftp_conn_id).extra_dejson
        self.root = str(extra.get("root") or "")
        self.known_hosts = extra.get("known_hosts") or None
        # Only an explicit "no_host_key_check": true skips verification, whatever the provider's default.
        self.no_host_key_check = _is_true(extra.get("no_host_key_check", False))
        if _is_true(extra.get("allow_host_key_change", False)):
            self.log.warning("%s: allow_host_key_change is ignored; the host key is always verified", sftp_conn_id)
        # The provider parses login, password, port, private keys and the host_key line; we only read them.
        self.sftp_hook = SFTPHook(ssh_conn_id=sftp_conn_id, no_host_key_check=self.no_host_key_check)
        self.timeout = timeout or self.sftp_hook.conn_timeout

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {**SFTPHook.get_ui_field_behaviour(),
                "placeholders": {"extra": '{"host_key": "ssh-ed25519 AAAA...", "root": "/srv/drop"}'}}

    def get_conn(self):
        """A context manager opening one verified SFTP session, as the core's SFTPFileSystem."""
        from ledgerbridge.filedrop.sftp import DEFAULT_TIMEOUT, host_key_line, open_sftp

        hook = self.sftp_hook
        return open_sftp(hook.remote_host, hook.port, hook.username, password=hook.password or None,
                         private_key=hook.pkey or hook.key_file,
                         host_key=host_key_line(hook.host_key) if hook.host_key else None,
                         known_hosts=self.known_hosts, no_host_key_check=self.no_host_key_check,
                         root=self.root, timeout=self.timeout or DEFAULT_TIMEOUT)
