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


class SourceHook(LedgerBridgeHook):
    """The hook of a source connection type: builds an entity's source through its spec."""

    def source(self, entity):
        from ledgerbridge.sources.factory import build_source

        return build_source(entity, self.settings())
