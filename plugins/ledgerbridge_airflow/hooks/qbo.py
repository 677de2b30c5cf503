"""A QuickBooks Online company, from an Airflow connection, as LedgerBridge's connector."""
from __future__ import annotations

from dataclasses import replace

from airflow.sdk.exceptions import AirflowNotFoundException

from ledgerbridge_airflow.hooks.base import AccountingHook


class QuickBooksOnlineHook(AccountingHook):
    conn_name_attr = "qbo_conn_id"
    default_conn_name = "quickbooks_online_default"
    conn_type = "quickbooks_online"

    def __init__(self, qbo_conn_id: str = default_conn_name):
        super().__init__()
        self.qbo_conn_id = qbo_conn_id

    def get_conn(self, ledger=None):
        """The connector; its rotated tokens live in the same ledger the tasks use."""
        from ledgerbridge.connectors.factory import quickbooks_online

        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        return quickbooks_online(self.settings(), ledger or LedgerHook().get_conn())

    def connector(self, entity, ledger=None):
        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        return super().connector(entity, ledger or LedgerHook().get_conn())

    def check(self) -> tuple[bool, str]:
        """Reads the company's CompanyInfo with the tokens the tasks use.

        Refreshing may rotate the refresh token, and the old one then stops working: the new one must
        land where the entity's tasks look for it (the ledger, under the entity's connection id). The
        UI's Test button names the connection with a throw-away id, so the entity whose connection
        points at the same company is looked up in the registry; a connection no entity uses is not
        tested, rather than used up.
        """
        from ledgerbridge.connection_checks import quickbooks_company
        from ledgerbridge.connectors.factory import quickbooks_online

        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        conn = self.settings()
        owner = self._entity_connection(conn)
        if owner is None:
            return False, (f"not tested: no legal entity of the registry uses a QuickBooks Online connection to "
                           f"realm {_realm(conn)}, and testing would use up its refresh token; add the entity "
                           "(accounting.conn_id) to the registry first")
        if owner != conn.conn_id and _credentials(conn) != _credentials(self._saved(owner)):
            # Refreshing with an unsaved grant would spend it (and store its successor under the entity,
            # replacing the live one): test only what the entity's tasks will use.
            return False, (f"not tested: the form differs from the saved connection {owner!r} of realm "
                           f"{_realm(conn)} (credentials, refresh token or URLs); save it, then test the saved "
                           "connection")
        ledger = LedgerHook().get_conn()
        try:
            connector = quickbooks_online(replace(conn, conn_id=owner), ledger, max_attempts=1, timeout=(10, 30))
            return True, quickbooks_company(connector.client)
        finally:
            ledger.dispose()

    @staticmethod
    def _saved(conn_id: str):
        from ledgerbridge_airflow.hooks.connections import connection_settings

        return connection_settings(conn_id)

    def _entity_connection(self, conn) -> str | None:
        """The registry entity's connection id for this connection: itself, or one reaching the same realm."""
        from ledgerbridge.connectors.specs import accounting_spec
        from ledgerbridge.registry import load_registry

        from ledgerbridge_airflow.hooks.connections import connection_settings

        candidates = [e.accounting.conn_id for e in load_registry().entities
                      if accounting_spec(e.accounting.kind).connection.conn_type == self.conn_type]
        if conn.conn_id in candidates or not _realm(conn):
            return conn.conn_id  # without a realm, building the connector says what is missing
        for conn_id in candidates:
            try:
                other = connection_settings(conn_id)
            except AirflowNotFoundException:
                continue
            if _realm(other) == _realm(conn) and other.login == conn.login:
                return conn_id
        return None


def _credentials(conn) -> tuple:
    """What reaches the company and which grant is used: equal means the same tokens, the same place."""
    return (conn.host, conn.login, conn.password, _realm(conn), conn.extra.get("refresh_token"),
            conn.extra.get("token_url"))


def _realm(conn) -> str | None:
    return conn.schema or conn.extra.get("realm_id")
