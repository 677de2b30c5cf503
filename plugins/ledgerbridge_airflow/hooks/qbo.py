"""A QuickBooks Online company, from an Airflow connection, as LedgerBridge's connector."""
from __future__ import annotations

from ledgerbridge_airflow.hooks.base import OAuthCompanyHook


class QuickBooksOnlineHook(OAuthCompanyHook):
    conn_name_attr = "qbo_conn_id"
    default_conn_name = "quickbooks_online_default"
    conn_type = "quickbooks_online"
    system, company_word, company_extra = "QuickBooks Online", "realm", "realm_id"

    def __init__(self, qbo_conn_id: str = default_conn_name):
        super().__init__()
        self.qbo_conn_id = qbo_conn_id

    def build(self, conn, ledger, **options):
        from ledgerbridge.connectors.factory import quickbooks_online

        return quickbooks_online(conn, ledger, **options)

    def company_answers(self, connector) -> tuple[bool, str]:
        """Reads the company's CompanyInfo with the tokens the tasks use."""
        from ledgerbridge.connection_checks import quickbooks_company

        return True, quickbooks_company(connector.client)
