"""One spec per kind of connector, on both sides of the bridge: the registry kind, how its connector
is built and the Airflow connection type (hook, connection form) that reaches it; an accounting kind
also names the pool its steps share.

The registry's `AccountingKind` and `SourceKind`, `build_connector`, `build_source`, the Airflow provider
info and the pool command (`ledgerbridge-airflow setup`) all read these specs: adding an accounting
system is its folder under connectors/, one entry in ACCOUNTING_SPECS and its sandbox; adding a source
is its module under sources/ and one entry in SOURCE_SPECS (docs/extending.md). Both sides live here
because Airflow's connection types are one namespace: `connection_types()` is the one list the provider
info declares, each type once, whichever side uses it.

Read at DAG parse time: only the standard library here; a factory is imported when it is called.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class ConnectionForm:
    """How the Airflow UI's connection form shows a connection type (the provider info's ui-field-behaviour)."""

    hidden_fields: tuple[str, ...] = ()
    relabeling: Mapping[str, str] = field(default_factory=dict)
    placeholders: Mapping[str, str] = field(default_factory=dict)

    def behaviour(self) -> dict[str, Any]:
        """In the shape of a hook's get_ui_field_behaviour()."""
        return {"hidden_fields": list(self.hidden_fields), "relabeling": dict(self.relabeling),
                "placeholders": dict(self.placeholders)}


@dataclass(frozen=True)
class ConnectionType:
    """An Airflow connection type of LedgerBridge's provider and the hook Airflow maps it to."""

    conn_type: str
    hook_name: str
    hook: str  # "module.Class" under plugins/ledgerbridge_airflow: a name, the core never imports Airflow
    form: ConnectionForm


@dataclass(frozen=True)
class Pool:
    """The Airflow pool shared by the connected steps of every entity of a kind, so that together they
    stay within what the system allows one app (operators may resize it; the command keeps their size)."""

    name: str
    slots: int
    description: str


@dataclass(frozen=True)
class ConnectorSpec:
    kind: str  # the registry's `accounting.kind`
    label: str
    connection: ConnectionType
    # "module:function", called as function(entity, conn: ConnectionSettings, ledger, **options)
    # and returning the entity's AccountingConnector.
    factory: str
    pool: Pool
    file_drop: bool = False  # exchanges files with an agent beside the system (docs/file-drop-protocol.md)
    # The system's account types, for the reference suite's account_type_known; None: QuickBooks'.
    account_types: frozenset[str] | None = None
    # The registry's `accounting.<field>` this kind requires (its own settings; no other kind takes it).
    settings_field: str | None = None

    def build(self, entity, conn, ledger, **options):
        module, _, function = self.factory.partition(":")
        return getattr(import_module(module), function)(entity, conn, ledger, **options)


LEDGER_CONNECTION = ConnectionType(
    conn_type="ledgerbridge_ledger",
    hook_name="LedgerBridge ledger",
    hook="ledgerbridge_airflow.hooks.ledger.LedgerHook",
    form=ConnectionForm(
        hidden_fields=("extra",),
        relabeling={"schema": "Database", "host": "Host (empty: SQLite file in the data dir)"},
    ),
)

QUICKBOOKS_ONLINE_CONNECTION = ConnectionType(
    conn_type="quickbooks_online",
    hook_name="QuickBooks Online",
    hook="ledgerbridge_airflow.hooks.qbo.QuickBooksOnlineHook",
    form=ConnectionForm(
        hidden_fields=("port",),
        relabeling={"host": "API base URL", "schema": "Realm ID", "login": "Client ID", "password": "Client Secret"},
        placeholders={
            "host": "https://quickbooks.api.intuit.com",
            "schema": "the company's realmId, e.g. 9130354564453",
            "extra": '{"refresh_token": "...", '
                     '"token_url": "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"}',
        },
    ),
)

XERO_CONNECTION = ConnectionType(
    conn_type="xero",
    hook_name="Xero",
    hook="ledgerbridge_airflow.hooks.xero.XeroHook",
    form=ConnectionForm(
        hidden_fields=("port",),
        relabeling={"host": "API base URL", "schema": "Tenant ID", "login": "Client ID", "password": "Client Secret"},
        placeholders={
            "host": "https://api.xero.com",
            "schema": "the organisation's tenant id (a uuid, from GET /connections)",
            "extra": '{"refresh_token": "...", "token_url": "https://identity.xero.com/connect/token"}',
        },
    ),
)

FILE_DROP_CONNECTION = ConnectionType(
    conn_type="ledgerbridge_file_drop",
    hook_name="LedgerBridge file drop (SFTP or folder)",
    hook="ledgerbridge_airflow.hooks.sftp_drop.FileDropHook",
    form=ConnectionForm(
        hidden_fields=("schema",),
        relabeling={"host": "SFTP host", "login": "Username"},
        placeholders={
            "host": "sftp.example.com (empty for a local folder: extra local_root)",
            "extra": '{"host_key": "ssh-ed25519 AAAA...", "root": "/srv/drop", "company_id": "QBD-acme", '
                     '"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----..."}',
        },
    ),
)

ENTRY_FILES_CONNECTION = ConnectionType(
    conn_type="ledgerbridge_entry_files",
    hook_name="LedgerBridge entry files (SFTP or folder)",
    hook="ledgerbridge_airflow.hooks.sftp_drop.EntryFilesHook",
    form=ConnectionForm(
        hidden_fields=("schema",),
        relabeling={"host": "SFTP host", "login": "Username"},
        placeholders={
            "host": "sftp.example.com (empty for a local folder: extra local_root)",
            "extra": '{"host_key": "ssh-ed25519 AAAA...", "root": "/srv/accountant", "company_id": "732829320"}',
        },
    ),
)

# Xero's Account Types (Account.Type), PAYG and the payroll types of older organisations included.
XERO_ACCOUNT_TYPES = frozenset({
    "BANK", "CURRENT", "CURRLIAB", "DEPRECIATN", "DIRECTCOSTS", "EQUITY", "EXPENSE", "FIXED", "INVENTORY",
    "LIABILITY", "NONCURRENT", "OTHERINCOME", "OVERHEADS", "PREPAYMENT", "REVENUE", "SALES", "TERMLIAB", "PAYG",
    "PAYGLIABILITY", "SUPERANNUATIONEXPENSE", "SUPERANNUATIONLIABILITY", "WAGESEXPENSE",
})

ACCOUNTING_SPECS: tuple[ConnectorSpec, ...] = (
    ConnectorSpec(
        kind="quickbooks_online",
        label="QuickBooks Online",
        connection=QUICKBOOKS_ONLINE_CONNECTION,
        factory="ledgerbridge.connectors.qbo:connect",
        pool=Pool("ledgerbridge_quickbooks_online", 8, "LedgerBridge steps talking to QuickBooks Online"),
    ),
    ConnectorSpec(
        kind="xero",
        label="Xero",
        connection=XERO_CONNECTION,
        factory="ledgerbridge.connectors.xero:connect",
        # Xero allows 5 calls in progress per app x tenant; the pool keeps the steps of all entities
        # within that for one organisation (more tenants: resize it).
        pool=Pool("ledgerbridge_xero", 5, "LedgerBridge steps talking to Xero (5 calls at once per tenant)"),
        account_types=XERO_ACCOUNT_TYPES,
    ),
    ConnectorSpec(
        kind="quickbooks_desktop",
        label="QuickBooks Desktop (file drop)",
        connection=FILE_DROP_CONNECTION,
        factory="ledgerbridge.connectors.factory:file_drop",
        pool=Pool("ledgerbridge_quickbooks_desktop", 8, "LedgerBridge steps using QuickBooks Desktop file drops"),
        file_drop=True,
    ),
    ConnectorSpec(
        kind="desktop_file_drop",
        label="Other desktop system (file drop)",
        connection=FILE_DROP_CONNECTION,
        factory="ledgerbridge.connectors.factory:file_drop",
        pool=Pool("ledgerbridge_desktop_file_drop", 8, "LedgerBridge steps using other desktop file drops"),
        file_drop=True,
    ),
    ConnectorSpec(
        kind="entry_files",
        label="Any other software (entry files: FEC, CSV, XLSX, IIF, Sage 50)",
        connection=ENTRY_FILES_CONNECTION,
        factory="ledgerbridge.connectors.factory:entry_files",
        pool=Pool("ledgerbridge_entry_files", 8, "LedgerBridge steps writing entry files"),
        settings_field="entry_files",
    ),
)

_BY_KIND = {spec.kind: spec for spec in ACCOUNTING_SPECS}


# -- the source side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # the registry's `source.kind`
    label: str
    connection: ConnectionType
    # "module:function", called as function(entity, conn: ConnectionSettings, **options) and returning
    # the entity's SourceConnector.
    factory: str
    # What a document changed at the source after its export becomes by default (registry `after_export`).
    after_export: str = "hold"
    erp: bool = False  # an ERP (orders, statuses): the registry's ERP fields apply (docs/erp-source.md)

    def build(self, entity, conn, **options):
        module, _, function = self.factory.partition(":")
        return getattr(import_module(module), function)(entity, conn, **options)


FEED_CONNECTION = ConnectionType(
    conn_type="ledgerbridge_feed",
    hook_name="LedgerBridge hub feed (SFTP or folder)",
    hook="ledgerbridge_airflow.hooks.feed.FeedHook",
    form=ConnectionForm(
        hidden_fields=("schema",),
        relabeling={"host": "SFTP host", "login": "Username"},
        placeholders={
            "host": "sftp.example.com (empty for a local folder: extra local_root)",
            "extra": '{"host_key": "ssh-ed25519 AAAA...", "root": "/srv/feeds", '
                     '"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----...", "max_bytes": 67108864}',
        },
    ),
)

SYSPRO_CONNECTION = ConnectionType(
    conn_type="ledgerbridge_syspro",
    hook_name="SYSPRO (e.net REST)",
    hook="ledgerbridge_airflow.hooks.syspro.SysproHook",
    form=ConnectionForm(
        hidden_fields=("schema",),
        relabeling={"host": "e.net REST base URL", "login": "Operator", "password": "Operator password"},
        placeholders={
            "host": "https://erp.example:20443 (or a host name, with port and extra scheme)",
            "login": "ADMIN",
            "extra": '{"company_id": "STARK", "company_password": "", "timeout": 30}',
        },
    ),
)

SOURCE_SPECS: tuple[SourceSpec, ...] = (
    SourceSpec(
        kind="feed",
        label="Hub feed (JSON/YAML/CSV files in a folder or over SFTP)",
        connection=FEED_CONNECTION,
        factory="ledgerbridge.sources.factory:feed",
    ),
    SourceSpec(
        kind="syspro",
        label="SYSPRO ERP (e.net REST and OData)",
        connection=SYSPRO_CONNECTION,
        factory="ledgerbridge.sources.factory:syspro",
        after_export="follow",
        erp=True,
    ),
)

_SOURCE_BY_KIND = {spec.kind: spec for spec in SOURCE_SPECS}


def accounting_spec(kind: str) -> ConnectorSpec:
    try:
        return _BY_KIND[str(kind)]
    except KeyError:
        raise KeyError(f"no accounting connector of kind {kind!r} (known: {', '.join(_BY_KIND)})") from None


def source_spec(kind: str) -> SourceSpec:
    try:
        return _SOURCE_BY_KIND[str(kind)]
    except KeyError:
        raise KeyError(f"no source connector of kind {kind!r} (known: {', '.join(_SOURCE_BY_KIND)})") from None


def connection_types() -> tuple[ConnectionType, ...]:
    """Every connection type LedgerBridge declares: the ledger's, then each accounting one, then each
    source one, each once."""
    types = {LEDGER_CONNECTION.conn_type: LEDGER_CONNECTION}
    for spec in (*ACCOUNTING_SPECS, *SOURCE_SPECS):
        types.setdefault(spec.connection.conn_type, spec.connection)
    return tuple(types.values())


def connection_type(conn_type: str) -> ConnectionType:
    for declared in connection_types():
        if declared.conn_type == conn_type:
            return declared
    raise KeyError(f"LedgerBridge declares no connection type {conn_type!r}")
