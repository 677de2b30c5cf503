"""A Xero organisation (tenant), from an Airflow connection, as LedgerBridge's connector."""
from __future__ import annotations

from ledgerbridge_airflow.hooks.base import OAuthCompanyHook


class XeroHook(OAuthCompanyHook):
    conn_name_attr = "xero_conn_id"
    default_conn_name = "xero_default"
    conn_type = "xero"
    system, company_word, company_extra = "Xero", "tenant", "tenant_id"

    def __init__(self, xero_conn_id: str = default_conn_name):
        super().__init__()
        self.xero_conn_id = xero_conn_id

    def build(self, conn, ledger, **options):
        from ledgerbridge.connectors.xero.factory import xero

        return xero(conn, ledger, **options)

    def company_answers(self, connector) -> tuple[bool, str]:
        """The tenant among those the grant reaches (GET /connections), and its Organisation."""
        from ledgerbridge.connection_checks import xero_organisation

        return xero_organisation(connector.client)
