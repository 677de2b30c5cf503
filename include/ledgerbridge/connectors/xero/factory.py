"""A Xero connector from connection settings (an Airflow connection of type `xero`, or the CLI's).

host: the API base URL (https://api.xero.com; a sandbox's URL in tests); schema: the tenant id
(extra `tenant_id` also works); login / password: the app's client id and secret; extra:
`refresh_token` (the seed; rotated tokens live in the ledger), `token_url` (Xero identity's by
default), `requests_per_minute` / `concurrent_requests` (lower than Xero's 60 and 5 to leave room
for other apps of the same tenant).
"""
from __future__ import annotations

from ledgerbridge.connectors.factory import ConnectionSettings, ConnectionSettingsError, oauth_company
from ledgerbridge.connectors.limits import RealmLimits
from ledgerbridge.connectors.xero.client import XERO_API, XERO_LIMITS, XeroClient
from ledgerbridge.connectors.xero.connector import XeroConnector


def xero(conn: ConnectionSettings, ledger, **options) -> XeroConnector:
    tenant_id, base_url, tokens = oauth_company(conn, ledger, "Tenant ID", "tenant_id", XERO_API)
    options.setdefault("limits", _limits(conn))
    client = XeroClient(base_url, tenant_id, conn.login, conn.password, tokens,
                        token_url=conn.extra.get("token_url"), **options)
    return XeroConnector(client)


def _limits(conn: ConnectionSettings) -> RealmLimits:
    values = {}
    for name, most in (("requests_per_minute", XERO_LIMITS.requests_per_minute),
                       ("concurrent_requests", XERO_LIMITS.concurrent_requests)):
        raw = conn.extra.get(name)
        if raw is None:
            values[name] = most
            continue
        try:
            values[name] = int(raw)
        except (TypeError, ValueError):
            raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra {name!r} must be a whole number, "
                                          f"not {raw!r}") from None
        if not 1 <= values[name] <= most:
            raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra {name!r} must be 1 to {most} "
                                          "(Xero's limit per tenant)")
    return RealmLimits(batch_requests_per_minute=XERO_LIMITS.batch_requests_per_minute, **values)
