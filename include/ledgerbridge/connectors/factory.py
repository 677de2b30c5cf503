"""Building an entity's connector from its connection settings (an Airflow Connection, or the CLI's)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledgerbridge.connectors.base import AccountingConnector
from ledgerbridge.ledger import Ledger
from ledgerbridge.registry import AccountingKind, LegalEntity


class ConnectionSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ConnectionSettings:
    conn_id: str
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


def build_connector(entity: LegalEntity, conn: ConnectionSettings, ledger: Ledger, **options) -> AccountingConnector:
    if entity.accounting.kind == AccountingKind.QUICKBOOKS_ONLINE:
        return quickbooks_online(conn, ledger, **options)
    raise ConnectionSettingsError(f"legal entity {entity.id!r}: no connector for {entity.accounting.kind}")


def quickbooks_online(conn: ConnectionSettings, ledger: Ledger, **options):
    from ledgerbridge.connectors.qbo.client import INTUIT_API, QBOClient
    from ledgerbridge.connectors.qbo.connector import QuickBooksOnlineConnector
    from ledgerbridge.connectors.qbo.limits import RealmLimits
    from ledgerbridge.connectors.qbo.tokens import LedgerTokenStore

    realm_id = conn.schema or conn.extra.get("realm_id")
    missing = [name for name, value in (("Realm ID", realm_id), ("Client ID (login)", conn.login),
                                         ("Client Secret (password)", conn.password),
                                         ("refresh_token (extra)", conn.extra.get("refresh_token"))) if not value]
    if missing:
        raise ConnectionSettingsError(f"connection {conn.conn_id!r} lacks {', '.join(missing)}")
    host = conn.host or INTUIT_API
    base_url = host if "://" in host else f"https://{host}"
    options.setdefault("limits", _limits(conn, RealmLimits))
    tokens = LedgerTokenStore(ledger, conn.conn_id, str(realm_id), conn.extra["refresh_token"], conn.password)
    client = QBOClient(base_url, str(realm_id), conn.login, conn.password, tokens,
                       token_url=conn.extra.get("token_url"), **options)
    return QuickBooksOnlineConnector(client)


def _limits(conn: ConnectionSettings, limits_type):
    """QuickBooks' per-realm limits, overridable in the connection's extra (production allows 120
    batch requests a minute since 2025-10-31; the sandbox and the default keep to 40)."""
    values = {}
    for name in ("requests_per_minute", "concurrent_requests", "batch_requests_per_minute"):
        if conn.extra.get(name) is not None:
            try:
                values[name] = int(conn.extra[name])
            except (TypeError, ValueError):
                raise ConnectionSettingsError(
                    f"connection {conn.conn_id!r}: extra {name!r} must be a whole number, not {conn.extra[name]!r}")
            if values[name] < 1:
                raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra {name!r} must be at least 1")
    return limits_type(**values)
