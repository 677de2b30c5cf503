"""A QuickBooks Online company, from an Airflow connection, as LedgerBridge's connector."""
from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from ledgerbridge_airflow import HOOK_NAMES, UI_FIELDS


class QuickBooksOnlineHook(BaseHook):
    conn_name_attr = "qbo_conn_id"
    default_conn_name = "quickbooks_online_default"
    conn_type = "quickbooks_online"
    hook_name = HOOK_NAMES["quickbooks_online"]

    def __init__(self, qbo_conn_id: str = default_conn_name):
        super().__init__()
        self.qbo_conn_id = qbo_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return UI_FIELDS[cls.conn_type]

    def settings(self):
        from ledgerbridge_airflow.hooks.connections import connection_settings

        return connection_settings(self.qbo_conn_id)

    def get_conn(self, ledger=None):
        """The connector; its rotated tokens live in the same ledger the tasks use."""
        from ledgerbridge.connectors.factory import quickbooks_online

        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        return quickbooks_online(self.settings(), ledger or LedgerHook().get_conn())
