"""A Xero organisation (tenant), from an Airflow connection, as LedgerBridge's connector."""
from __future__ import annotations

from ledgerbridge_airflow.hooks.base import AccountingHook


class XeroHook(AccountingHook):
    conn_name_attr = "xero_conn_id"
    default_conn_name = "xero_default"
    conn_type = "xero"

    def __init__(self, xero_conn_id: str = default_conn_name):
        super().__init__()
        self.xero_conn_id = xero_conn_id

    def get_conn(self, ledger=None):
        """The connector; its rotated tokens live in the same ledger the tasks use."""
        from ledgerbridge.connectors.xero.factory import xero

        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        return xero(self.settings(), ledger or LedgerHook().get_conn())

    def connector(self, entity, ledger=None):
        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        return super().connector(entity, ledger or LedgerHook().get_conn())

    def check(self) -> tuple[bool, str]:
        """Not yet: a test refreshes the tokens, and Xero rotates the refresh token on every refresh, so
        the Test button must store the new one where the entity's tasks look for it (as the QuickBooks
        Online hook does). Until then it says so rather than spend the connection's refresh token."""
        conn = self.settings()
        tenant = conn.schema or conn.extra.get("tenant_id")
        return False, (f"not tested: the Xero Test button is not implemented yet (tenant {tenant or '?'}); "
                       "testing would spend the rotating refresh token. Run the entity's DAG to check it.")
