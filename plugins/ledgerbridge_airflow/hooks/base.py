"""What LedgerBridge's hooks share: one hook per connection type declared in the connector specs
(ledgerbridge.connectors.specs), which give its name and connection form; the connection read as
the core's ConnectionSettings; a Test button that says what it reached, never a secret."""
from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

# Extras holding credentials: kept out of a test's message even when a library quotes them back.
SECRET_EXTRAS = ("refresh_token", "private_key", "private_key_passphrase", "company_password")


class LedgerBridgeHook(BaseHook):
    conn_name_attr: str
    conn_type: str  # each hook declares its type; the spec of that type gives the rest

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from ledgerbridge.connectors.specs import connection_type

        if "conn_type" in cls.__dict__:
            cls.hook_name = connection_type(cls.conn_type).hook_name

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from ledgerbridge.connectors.specs import connection_type

        return connection_type(cls.conn_type).form.behaviour()

    @property
    def connection_id(self) -> str:
        return getattr(self, self.conn_name_attr)

    def settings(self):
        from ledgerbridge_airflow.hooks.connections import connection_settings

        return connection_settings(self.connection_id)

    def check(self) -> tuple[bool, str]:
        """What test_connection reports, raising when the system cannot be reached at all."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's Test button (with `[core] test_connection = Enabled`) and `airflow connections test`."""
        try:
            ok, message = self.check()
        except Exception as exc:  # noqa: BLE001 - the answer is the message, whatever failed
            ok, message = False, f"{type(exc).__name__}: {exc}"
        return ok, self._without_secrets(message)

    def _without_secrets(self, message: str) -> str:
        try:
            conn = self.settings()
        except Exception:  # noqa: BLE001 - no connection, so no secret of it to hide
            return message
        for secret in (conn.password, *(conn.extra.get(name) for name in SECRET_EXTRAS)):
            if isinstance(secret, str) and secret:
                message = message.replace(secret, "***")
        return message


class AccountingHook(LedgerBridgeHook):
    """The hook of an accounting connection type: builds an entity's connector through its spec."""

    def connector(self, entity, ledger=None):
        from ledgerbridge.connectors.factory import build_connector

        return build_connector(entity, self.settings(), ledger)


class OAuthCompanyHook(AccountingHook):
    """A company reached over OAuth 2.0 with rotating refresh tokens (QuickBooks Online, Xero).

    Its Test button refreshes the tokens, and the old refresh token may then stop working: the new one
    must land where the entity's tasks look for it (the ledger, under the entity's connection id). The
    UI's Test button names the connection with a throw-away id, so the entity whose connection reaches
    the same company is looked up in the registry; a connection no entity uses, or a form that differs
    from the saved connection, is not tested rather than used up. Once the company answers, it must be
    the one the entity is pinned to (what its runs check first).
    """

    system: str  # "QuickBooks Online"
    company_word: str  # what the system calls a company: "realm"
    company_extra: str  # the extra that may hold the company id instead of the schema: "realm_id"

    def build(self, conn, ledger, **options):
        """The connector of these connection settings, its tokens in `ledger`."""
        raise NotImplementedError

    def company_answers(self, connector) -> tuple[bool, str]:
        """Reads the company; what the Test button says about it."""
        raise NotImplementedError

    def get_conn(self, ledger=None):
        """The connector; its rotated tokens live in the same ledger the tasks use."""
        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        return self.build(self.settings(), ledger or LedgerHook().get_conn())

    def connector(self, entity, ledger=None):
        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        return super().connector(entity, ledger or LedgerHook().get_conn())

    def check(self) -> tuple[bool, str]:
        from dataclasses import replace

        from ledgerbridge.context import company_pin_problem

        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        conn = self.settings()
        owner = self._owner(conn)
        if owner is None:
            return False, (f"not tested: no legal entity of the registry uses a {self.system} connection to "
                           f"{self.company_word} {self._company(conn)}, and testing would use up its refresh token; "
                           "add the entity (accounting.conn_id) to the registry first")
        conn_id, entity = owner
        if conn_id != conn.conn_id and self._credentials(conn) != self._credentials(self._saved(conn_id)):
            # Refreshing with an unsaved grant would spend it (and store its successor under the entity,
            # replacing the live one): test only what the entity's tasks will use.
            return False, (f"not tested: the form differs from the saved connection {conn_id!r} of "
                           f"{self.company_word} {self._company(conn)} (credentials, refresh token or URLs); save "
                           "it, then test the saved connection")
        ledger = LedgerHook().get_conn()
        try:
            connector = self.build(replace(conn, conn_id=conn_id), ledger, max_attempts=1, timeout=(10, 30))
            ok, message = self.company_answers(connector)
            if not ok or entity is None:
                return ok, message
            with ledger.session() as session:
                problem = company_pin_problem(session, entity, connector.company_id)
            if problem is not None:
                return False, f"{message}; but its runs would refuse it: {problem}"
            return True, message
        finally:
            ledger.dispose()

    @staticmethod
    def _saved(conn_id: str):
        from ledgerbridge_airflow.hooks.connections import connection_settings

        return connection_settings(conn_id)

    def _company(self, conn) -> str | None:
        return conn.schema or conn.extra.get(self.company_extra)

    def _credentials(self, conn) -> tuple:
        """What reaches the company and which grant is used: equal means the same tokens, the same place."""
        return (conn.host, conn.login, conn.password, self._company(conn), conn.extra.get("refresh_token"),
                conn.extra.get("token_url"))

    def _owner(self, conn):
        """(the connection id, the registry entity) whose tokens this connection uses: its own, or those
        of the entity whose connection reaches the same company with the same client; None if none does."""
        from airflow.sdk.exceptions import AirflowNotFoundException
        from ledgerbridge.connectors.specs import accounting_spec
        from ledgerbridge.registry import load_registry

        from ledgerbridge_airflow.hooks.connections import connection_settings

        entities = [e for e in load_registry().entities
                    if accounting_spec(e.accounting.kind).connection.conn_type == self.conn_type]
        own = next((e for e in entities if e.accounting.conn_id == conn.conn_id), None)
        if own is not None or not self._company(conn):
            return conn.conn_id, own  # without a company id, building the connector says what is missing
        for entity in entities:
            try:
                other = connection_settings(entity.accounting.conn_id)
            except AirflowNotFoundException:
                continue
            if self._company(other) == self._company(conn) and other.login == conn.login:
                return entity.accounting.conn_id, entity
        return None


class SourceHook(LedgerBridgeHook):
    """The hook of a source connection type: builds an entity's source through its spec."""

    def source(self, entity):
        from ledgerbridge.sources.factory import build_source

        return build_source(entity, self.settings())
