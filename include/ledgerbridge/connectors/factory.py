"""Building an entity's connector from its connection settings (an Airflow Connection, or the CLI's),
through the spec of its kind (connectors/specs.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledgerbridge.connectors.base import AccountingConnector
from ledgerbridge.connectors.specs import accounting_spec
from ledgerbridge.ledger import Ledger
from ledgerbridge.registry import LegalEntity


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
    port: int | None = None


def build_connector(entity: LegalEntity, conn: ConnectionSettings, ledger: Ledger, **options) -> AccountingConnector:
    return accounting_spec(entity.accounting.kind).build(entity, conn, ledger, **options)


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


def file_drop(entity: LegalEntity, conn: ConnectionSettings, ledger: Ledger | None = None, open_fs=None):
    """The file drop of an entity: an SFTP server (host, port, login, password or extra key_file,
    extra host_key), or a local folder (extra local_root) such as a mounted share.

    Extras: `company_id` (the company file the agent serves; required), `root` (the drop folder on
    the server, holding one directory per entity), `host_key` or `known_hosts`, `no_host_key_check`
    (the local sandbox only). `open_fs` replaces the transport (Airflow's SFTP hook does).
    """
    from contextlib import nullcontext

    from ledgerbridge.connectors.filedrop import FileDropConnector
    from ledgerbridge.filedrop.fs import LocalFileSystem

    extra = conn.extra
    company_id = extra.get("company_id")
    if not company_id:
        raise ConnectionSettingsError(f"connection {conn.conn_id!r} lacks company_id (extra): the company file "
                                      "the agent serves, as its files name it")
    if open_fs is None and extra.get("local_root"):
        def open_fs():
            return nullcontext(LocalFileSystem(extra["local_root"]))
    elif open_fs is None:
        open_fs = _sftp_opener(conn)
    return FileDropConnector(open_fs, entity.id, str(company_id), kind=entity.accounting.kind.value)


def _sftp_opener(conn: ConnectionSettings):
    from ledgerbridge.filedrop.sftp import open_sftp

    extra = conn.extra
    missing = [name for name, value in (("host", conn.host), ("login", conn.login)) if not value]
    if not (conn.password or extra.get("key_file")):
        missing.append("password or key_file (extra)")
    if not (extra.get("host_key") or extra.get("known_hosts") or extra.get("no_host_key_check")):
        missing.append("host_key (extra; `ssh-keyscan -t ed25519 <host>` shows it)")
    if missing:
        raise ConnectionSettingsError(f"connection {conn.conn_id!r} lacks {', '.join(missing)}")

    def open_fs():
        return open_sftp(conn.host, conn.port or 22, conn.login, password=conn.password,
                         private_key=extra.get("key_file"), host_key=extra.get("host_key"),
                         known_hosts=extra.get("known_hosts"),
                         no_host_key_check=str(extra.get("no_host_key_check")).lower() == "true",
                         root=extra.get("root", ""))
    return open_fs
