"""Building an entity's connector from its connection settings (an Airflow Connection, or the CLI's),
through the spec of its kind (connectors/specs.py)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ledgerbridge.connectors.base import AccountingConnector
from ledgerbridge.connectors.specs import accounting_spec
from ledgerbridge.ledger import Ledger
from ledgerbridge.registry import LegalEntity

log = logging.getLogger(__name__)


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
    from ledgerbridge.connectors.limits import RealmLimits

    realm_id, base_url, tokens = oauth_company(conn, ledger, "Realm ID", "realm_id", INTUIT_API)
    options.setdefault("limits", _limits(conn, RealmLimits))
    client = QBOClient(base_url, realm_id, conn.login, conn.password, tokens,
                       token_url=conn.extra.get("token_url"), **options)
    return QuickBooksOnlineConnector(client)


def oauth_company(conn: ConnectionSettings, ledger: Ledger, id_name: str, id_extra: str, default_host: str):
    """What an OAuth 2.0 connection (QuickBooks Online, Xero) names: the company id (the schema, or
    the extra `id_extra`), the API base URL (the host, `default_host` without) and the company's token
    store, seeded with the extra `refresh_token`; a ConnectionSettingsError says what is missing."""
    from ledgerbridge.connectors.tokens import LedgerTokenStore

    company_id = conn.schema or conn.extra.get(id_extra)
    missing = [name for name, value in ((id_name, company_id), ("Client ID (login)", conn.login),
                                         ("Client Secret (password)", conn.password),
                                         ("refresh_token (extra)", conn.extra.get("refresh_token"))) if not value]
    if missing:
        raise ConnectionSettingsError(f"connection {conn.conn_id!r} lacks {', '.join(missing)}")
    host = conn.host or default_host
    base_url = host if "://" in host else f"https://{host}"
    tokens = LedgerTokenStore(ledger, conn.conn_id, str(company_id), conn.extra["refresh_token"], conn.password)
    return str(company_id), base_url, tokens


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


def file_drop(entity: LegalEntity, conn: ConnectionSettings, ledger: Ledger | None = None):
    """The file drop of an entity (the file-drop kinds' factory): the transport of `drop_opener`, and
    the extra `company_id`, the company file the agent serves (required), and `protocol_version`, the
    newest the agent speaks (default 1; 2 sends attachments, 3 also exchange rates, 4 also credit notes, vendor
    credits and sales receipts, 5 also has the agent report the rate it booked, 6 also bank entries and expense
    reports, 7 also the documents attached to every kind of entry). The ledger is not needed."""
    from ledgerbridge.connectors.filedrop import FileDropConnector

    company_id = conn.extra.get("company_id")
    if not company_id:
        raise ConnectionSettingsError(f"connection {conn.conn_id!r} lacks company_id (extra): the company file "
                                      "the agent serves, as its files name it")
    version = conn.extra.get("protocol_version", 1)
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)  # a connection's extra may hold it as text
    opener = drop_opener(conn)
    try:
        return FileDropConnector(opener, entity.id, str(company_id), kind=entity.accounting.kind.value,
                                 protocol_version=version)
    except ValueError as exc:  # the connector checks the versions it speaks (filedrop/protocol.py VERSIONS)
        raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra {exc}") from None


def entry_files(entity: LegalEntity, conn: ConnectionSettings, ledger: Ledger | None = None, **options):
    """An entry-files entity's connector: the folder or SFTP server of `drop_opener`; the extra
    `company_id` names the accountant's client file (default: the SIREN, else the entity id)."""
    from ledgerbridge.connectors.entryfiles import EntryFilesConnector

    settings = entity.accounting.entry_files
    company_id = conn.extra.get("company_id") or settings.siren or entity.id
    if ledger is not None and "declared" not in options:
        options["declared"] = lambda: _source_declarations(ledger, entity.id)
    return EntryFilesConnector(drop_opener(conn), entity.id, str(company_id), entity.base_currency, settings, **options)


def _source_declarations(ledger: Ledger, entity_id: str):
    """What the entity's source declared that its entries show (journal names, auxiliary accounts)."""
    from ledgerbridge.entryfiles.convert import source_declarations

    with ledger.session() as session:
        return source_declarations(session, entity_id)


def drop_opener(conn: ConnectionSettings) -> Callable[[], AbstractContextManager]:
    """How to open the drop a connection names: the one reading of a file-drop connection (the tasks,
    the real-time trigger, FileDropHook and its Test button). Each call opens one session for a batch.

    A local folder (extra `local_root`, e.g. a mounted share), or an SFTP server: host, port (22), login,
    password or extra `private_key` (its text, with `private_key_passphrase`) or `key_file` (a path on
    the workers), extra `host_key` or `known_hosts` (always verified; `no_host_key_check` only for a
    sandbox on this machine), `root` (the drop folder holding one directory per entity), `conn_timeout`.
    """
    from contextlib import nullcontext
    from functools import partial

    extra = conn.extra
    if extra.get("local_root"):
        from ledgerbridge.filedrop.fs import LocalFileSystem

        root = extra["local_root"]
        return lambda: nullcontext(LocalFileSystem(root))

    from ledgerbridge.filedrop.sftp import DEFAULT_TIMEOUT, load_private_key, open_sftp

    missing = [name for name, value in (("host", conn.host), ("login", conn.login)) if not value]
    if not (conn.password or extra.get("private_key") or extra.get("key_file")):
        missing.append("password or private_key / key_file (extra)")
    if missing:
        raise ConnectionSettingsError(f"connection {conn.conn_id!r} lacks {', '.join(missing)}")
    if is_true(extra.get("allow_host_key_change")):
        log.warning("connection %s: allow_host_key_change is ignored; the host key is always verified", conn.conn_id)
    private_key = extra.get("key_file") or None
    if extra.get("private_key"):
        try:
            private_key = load_private_key(extra["private_key"], extra.get("private_key_passphrase") or None)
        except ValueError as exc:
            raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra private_key: {exc}") from None
    try:
        timeout = float(extra.get("conn_timeout") or DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra conn_timeout must be a number of "
                                      f"seconds, not {extra['conn_timeout']!r}") from None
    return partial(open_sftp, conn.host, conn.port or 22, conn.login, password=conn.password or None,
                   private_key=private_key, host_key=extra.get("host_key") or None,
                   known_hosts=extra.get("known_hosts") or None,
                   no_host_key_check=is_true(extra.get("no_host_key_check")),
                   root=str(extra.get("root") or ""), timeout=timeout)


def is_true(value: Any) -> bool:
    """Only an explicit true (JSON true or "true") switches a safety off."""
    return str(value).strip().lower() == "true"
