"""A SYSPRO company (e.net REST logon, OData reads), from an Airflow connection of type
`ledgerbridge_syspro`, as the core's SysproClient or an entity's source. The connection is read by the
core's `sources.factory.syspro_client`; its Test button runs `connection_checks.syspro_company`."""
from __future__ import annotations

from ledgerbridge_airflow.hooks.base import SourceHook


class SysproHook(SourceHook):
    conn_name_attr = "syspro_conn_id"
    default_conn_name = "syspro_default"
    conn_type = "ledgerbridge_syspro"

    def __init__(self, syspro_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.syspro_conn_id = syspro_conn_id

    def get_conn(self):
        """A SysproClient (logs on at its first call; `with` it, or close() it, to log off)."""
        from ledgerbridge.sources.factory import syspro_client

        return syspro_client(self.settings())

    def check(self) -> tuple[bool, str]:
        """Logs on, reads one customer, logs off: says which company was reached, or what SYSPRO refused."""
        from ledgerbridge.connection_checks import syspro_company
        from ledgerbridge.sources.factory import syspro_client

        # No retries: a person is waiting for the answer.
        return syspro_company(syspro_client(self.settings(), read_retries=0))
