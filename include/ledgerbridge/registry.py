"""The registry of legal entities (include/config/legal_entities.yaml), validated entity by entity.

Imported at DAG parse time: only yaml and pydantic here, no I/O beyond reading the one file and its
parsed copy in the registry cache (`load_registry_part`, written once per content of the file).
A bad entity yields a `RegistryError` naming the entity and the field; the others load regardless.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import reprlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ledgerbridge import settings
from ledgerbridge.connectors.specs import ACCOUNTING_SPECS, SOURCE_SPECS

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ENTITY_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CONN_ID = r"^[A-Za-z0-9_.-]+$"  # an Airflow connection id


# One member per connector spec (connectors/specs.py), e.g. AccountingKind.QUICKBOOKS_ONLINE: a new
# accounting system is a spec, not an edit here.
AccountingKind = StrEnum("AccountingKind", [(spec.kind.upper(), spec.kind) for spec in ACCOUNTING_SPECS],
                         module=__name__)
# Through the file drop (docs/file-drop-protocol.md): the agent beside the desktop system.
FILE_DROP_KINDS = frozenset(AccountingKind(spec.kind) for spec in ACCOUNTING_SPECS if spec.file_drop)


class Flow(StrEnum):
    REFERENCE = "reference"
    PARTIES = "parties"
    BILLS = "bills"
    BILL_PAYMENTS = "bill_payments"
    INVOICES = "invoices"
    CREDIT_NOTES = "credit_notes"
    SALES_RECEIPTS = "sales_receipts"
    CUSTOMER_PAYMENTS = "customer_payments"
    JOURNAL_ENTRIES = "journal_entries"
    VENDOR_CREDITS = "vendor_credits"
    BANK_ENTRIES = "bank_entries"
    EXPENSE_REPORTS = "expense_reports"


# The record kinds an entry file carries and their journal by default (French usage: achats, ventes,
# avoirs, ventes comptant, operations diverses; a vendor's credit in the purchases journal, as French
# packages keep avoirs fournisseurs; banque, notes de frais); `entry_files.journals` overrides any of them.
DEFAULT_JOURNALS = {"bill": "HA", "invoice": "VT", "credit_note": "AV", "sales_receipt": "VC", "journal_entry": "OD",
                    "vendor_credit": "HA", "bank_entry": "BQ", "expense_report": "NDF"}
_ACCOUNT_CODE = r"^[0-9A-Za-z][0-9A-Za-z._-]{0,19}$"


class EntryFileSettings(BaseModel):
    """How an `entry_files` entity's entries are written (docs/entry-files.md): the format, the control
    accounts, the journal of each kind, and how auxiliary accounts of new vendors and customers are named."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["fec", "csv", "xlsx", "iif", "sage50"] = "fec"
    payables_account: str = Field(pattern=_ACCOUNT_CODE)  # e.g. 401000
    receivables_account: str = Field(pattern=_ACCOUNT_CODE)  # e.g. 411000
    journals: dict[str, str] = {}
    vendor_prefix: str = Field(default="F", pattern=r"^[A-Z0-9]{0,4}$")  # auxiliary accounts it opens
    customer_prefix: str = Field(default="C", pattern=r"^[A-Z0-9]{0,4}$")
    siren: str | None = Field(default=None, pattern=r"^[0-9]{9}$")  # names a full-year FEC
    # The accountant closed the books through this date: an entry dated on or before it is refused.
    closed_through: date | None = None
    fiscal_year_end: str = Field(default="12-31", pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")  # MM-DD

    @field_validator("journals")
    @classmethod
    def _journals_of_known_kinds(cls, journals: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(journals) - set(DEFAULT_JOURNALS))
        if unknown:
            raise ValueError(f"journals for {', '.join(unknown)}: entry files carry {', '.join(DEFAULT_JOURNALS)}")
        bad = [f"{kind}: {code!r}" for kind, code in journals.items() if not re.fullmatch(r"[A-Z0-9]{1,8}", code)]
        if bad:
            raise ValueError(f"journal codes are 1 to 8 capitals or digits: {', '.join(bad)}")
        return journals

    def journal(self, kind: str) -> str:
        return self.journals.get(kind) or DEFAULT_JOURNALS[kind]


class AccountingSystem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: AccountingKind
    conn_id: str = Field(min_length=1, pattern=_CONN_ID)
    # Kind entry_files only (and required there): how its entry files are written.
    entry_files: EntryFileSettings | None = None

    @model_validator(mode="after")
    def _settings_of_its_kind(self) -> AccountingSystem:
        """A kind's own settings (its spec's settings_field) are required for it and refused elsewhere."""
        for kind, name in _SETTINGS_FIELDS.items():
            if kind == self.kind and getattr(self, name) is None:
                raise ValueError(f"field {name!r} is required for kind {kind.value} (docs/registry.md)")
            if kind != self.kind and getattr(self, name) is not None:
                raise ValueError(f"field {name!r} applies to kind {kind.value}, not to kind {self.kind.value}")
        return self


_SETTINGS_FIELDS = {AccountingKind(spec.kind): spec.settings_field for spec in ACCOUNTING_SPECS if spec.settings_field}


# One member per source spec (connectors/specs.py), e.g. SourceKind.FEED (files in a folder or over SFTP,
# docs/hub-feed.md), SourceKind.SYSPRO (an ERP over REST, docs/erp-source.md): a new source is a spec.
SourceKind = StrEnum("SourceKind", [(spec.kind.upper(), spec.kind) for spec in SOURCE_SPECS], module=__name__)
# What each source kind does by default with a record changed at the source after export.
_AFTER_EXPORT = {SourceKind(spec.kind): spec.after_export for spec in SOURCE_SPECS}
ERP_KINDS = frozenset(SourceKind(spec.kind) for spec in SOURCE_SPECS if spec.erp)
_ERP_FIELDS = ("export_statuses", "void_statuses", "invoice_lines", "cash_terms", "tax_codes", "item_map")


class SourceSystem(BaseModel):
    """Where the entity's hub data comes from, and where what happened to it is written back."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: SourceKind
    conn_id: str = Field(min_length=1, pattern=_CONN_ID)
    # A document changed (or voided) at the source once exported: "follow" updates (or voids) it in the
    # accounting system, each change exactly once; "hold" keeps the exported version and quarantines the
    # change for a person. Default: follow for an ERP, hold for a feed.
    after_export: Literal["hold", "follow"] | None = None
    # Document line amounts include the tax their tax codes name (bills as suppliers state them, GST
    # inclusive): the accounting system takes the tax out. False: it adds the tax on top (net prices).
    amounts_include_tax: bool = False
    # ERP sources: which order statuses are exported, and which void the document.
    export_statuses: tuple[str, ...] = ("8", "9")
    void_statuses: tuple[str, ...] = ("\\",)
    # One accounting line per order line, or one per item (and price, and tax code).
    invoice_lines: Literal["per_order_line", "by_item"] = "per_order_line"
    # Terms codes meaning "paid at order" (a cash sale: a sales receipt), besides the order's own cash flag.
    cash_terms: tuple[str, ...] = ()
    # The ERP's tax codes -> the accounting system's (e.g. {"A": "TAX", "E": "NON"}); one not listed is
    # looked up under its own name.
    tax_codes: dict[str, str] = {}
    # Stock codes -> the accounting system's item (its SKU or name): an entry wins over SKU and name.
    item_map: dict[str, str] = {}

    @property
    def follows_changes(self) -> bool:
        return (self.after_export or _AFTER_EXPORT[self.kind]) == "follow"

    @model_validator(mode="after")
    def _erp_fields_for_an_erp(self) -> SourceSystem:
        if self.kind not in ERP_KINDS:
            # (A default given back, as a dump of the model round-trips it, is no ERP setting.)
            given = [name for name in _ERP_FIELDS if name in self.model_fields_set
                     and getattr(self, name) != type(self).model_fields[name].default]
            if given:
                raise ValueError(f"field(s) {', '.join(given)} apply to an ERP source (kind: "
                                 f"{', '.join(sorted(ERP_KINDS))}), not to kind {self.kind.value}")
        overlap = set(self.export_statuses) & set(self.void_statuses)
        if overlap:
            raise ValueError(f"status(es) {', '.join(sorted(overlap))} are both exported and voiding")
        return self


class MatchingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    create_missing_vendors: bool = False
    create_missing_customers: bool = False
    # Bring parties that exist only in the accounting system into the hub.
    adopt_accounting_parties: bool = False
    auto_link_threshold: float = Field(default=0.90, gt=0, le=1)
    review_threshold: float = Field(default=0.80, gt=0, le=1)

    @model_validator(mode="after")
    def _review_below_auto(self) -> MatchingPolicy:
        if self.review_threshold > self.auto_link_threshold:
            raise ValueError(f"review_threshold {self.review_threshold} is above auto_link_threshold "
                             f"{self.auto_link_threshold}")
        return self


class QualityPolicy(BaseModel):
    """The entity's data-quality settings (docs/data-quality.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Currencies documents and payments may carry besides the base currency (a multi-currency company).
    allowed_currencies: tuple[str, ...] = ()
    # Share of a batch's new records that may fail before the batch counts as systemic, per suite
    # (reference, parties, documents, payments); the suite's own default otherwise.
    max_failure_rates: dict[Literal["reference", "parties", "documents", "payments"], float] = {}

    @field_validator("allowed_currencies")
    @classmethod
    def _iso_currencies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from ledgerbridge.quality.currencies import ISO_4217

        unknown = [code for code in value if code not in ISO_4217]
        if unknown:
            raise ValueError(f"not ISO 4217 currency codes: {', '.join(unknown)}")
        return value

    @field_validator("max_failure_rates")
    @classmethod
    def _rates_are_shares(cls, value: dict[str, float]) -> dict[str, float]:
        wrong = {suite: rate for suite, rate in value.items() if not 0 <= rate <= 1}
        if wrong:
            raise ValueError(f"a failure rate is a share between 0 and 1: {wrong}")
        return value

    def max_failure_rate(self, suite: str) -> float:
        from ledgerbridge.quality import get_suite

        return self.max_failure_rates.get(suite, get_suite(suite).max_failure_rate)


class AlertChannel(BaseModel):
    """Where an entity's alerts go, through an Airflow connection (docs/alerts.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # email: the SMTP provider's notifier; webhook: the HTTP provider's, posting JSON (a Slack or Teams
    # incoming webhook, or any receiver).
    kind: Literal["email", "webhook"]
    conn_id: str = Field(min_length=1, pattern=_CONN_ID)
    to: tuple[str, ...] = ()  # email: the recipients
    endpoint: str | None = None  # webhook: the path under the connection's host, e.g. /services/T0/B0/X

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> AlertChannel:
        if self.kind == "email" and not self.to:
            raise ValueError("an email channel needs 'to' (one address or more)")
        if self.kind == "email" and self.endpoint is not None:
            raise ValueError("'endpoint' is for webhook channels")
        if self.kind == "webhook" and self.to:
            raise ValueError("'to' is for email channels")
        bad = [address for address in self.to if "@" not in address.strip(" @")]
        if bad:
            raise ValueError(f"not an email address: {', '.join(map(repr, bad))}")
        return self


class AlertPolicy(BaseModel):
    """When a person hears of an entity (docs/alerts.md). Failed runs, systemic data-quality failures and
    companies to reconnect are always said; the rest has a threshold (null turns it off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    channels: tuple[AlertChannel, ...] = ()
    quarantine_above: int | None = Field(default=25, ge=0)  # open quarantine entries; 0: any
    review_above: int | None = Field(default=10, ge=0)  # parties waiting for a person; 0: any
    refused_records: bool = True  # records the accounting system refused, waiting for a fix and a Retry
    api_calls_left_below: float | None = Field(default=0.10, gt=0, lt=1)  # share of the daily call budget
    # A run still going this long after it was queued is late (Airflow's deadline alerts).
    expected_minutes: int | None = Field(default=None, ge=1, le=24 * 60)


class SyncMode(StrEnum):
    REALTIME = "realtime"
    DAILY = "daily"
    MANUAL = "manual"


# An entity's full-run schedule when its `sync` is set and its `schedule` left out, in UTC: daily runs in
# the evening; realtime keeps its full run (reference data, reconciliation) daily, at night.
SYNC_DEFAULT_SCHEDULES: dict[str, str | None] = {"realtime": "0 2 * * *", "daily": "0 19 * * *", "manual": None}


def _fires_at_most_daily(schedule: str) -> bool:
    """A preset of a day or longer, or a cron expression with one minute and one hour (any days)."""
    if schedule.startswith("@"):
        return schedule != "@hourly"
    minute, hour = schedule.split()[:2]
    return minute.isdigit() and hour.isdigit()


class LegalEntity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=_ENTITY_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    base_currency: str = Field(pattern=r"^[A-Z]{3}$")
    accounting: AccountingSystem
    # None: hub data reaches the ledger only through ledgerbridge.hub_import (tests, scripts).
    source: SourceSystem | None = None
    # When the entity's full run (every step) is scheduled: cron or preset, in UTC; None: manual runs only.
    # With `sync` set and `schedule` left out, the sync mode's default (model_validator _sync_mode_schedule).
    schedule: str | None = "0 2 * * *"
    # How soon an approved hub document reaches the accounting system (docs/registry.md, "Sync mode"):
    # realtime (within a minute: DAG ledgerbridge__<id>__realtime, beside a daily full run), daily (once each
    # evening), manual (only when a person triggers a run). None: as `schedule` says, as before the setting.
    sync: SyncMode | None = None
    enabled: bool = True
    flows: tuple[Flow, ...] = tuple(Flow)
    matching: MatchingPolicy = MatchingPolicy()
    quality: QualityPolicy = QualityPolicy()
    # File drop only: watch the inbound directories every N seconds and import what lands at once
    # (DAG ledgerbridge__<id>__inbound, started by the files themselves, not by a schedule).
    realtime_poll_seconds: float | None = Field(default=None, ge=1, le=3600)
    # The registry's top-level `alerts:` with this entity's own `alerts:` fields over it.
    alerts: AlertPolicy = AlertPolicy()

    @model_validator(mode="before")
    @classmethod
    def _sync_mode_schedule(cls, data: Any) -> Any:
        """`sync` set and `schedule` left out: the schedule the mode means (its contradictions: _sync_agrees)."""
        sync = data.get("sync") if isinstance(data, dict) else None
        if isinstance(sync, str) and sync in SYNC_DEFAULT_SCHEDULES and "schedule" not in data:
            return {**data, "schedule": SYNC_DEFAULT_SCHEDULES[sync]}
        return data

    @field_validator("schedule")
    @classmethod
    def _schedule_airflow_accepts(cls, value: str | None) -> str | None:
        if value is not None:
            check_schedule(value)
        return value

    @model_validator(mode="after")
    def _realtime_is_for_the_file_drop(self) -> LegalEntity:
        if self.realtime_poll_seconds is not None and self.accounting.kind not in FILE_DROP_KINDS:
            raise ValueError("realtime_poll_seconds applies to file-drop connectors only "
                             f"({', '.join(sorted(k.value for k in FILE_DROP_KINDS))})")
        return self

    @model_validator(mode="after")
    def _sync_agrees_with_schedule(self) -> LegalEntity:
        if self.sync == SyncMode.MANUAL and self.schedule is not None:
            raise ValueError(f"sync: manual (runs only when a person triggers one) contradicts schedule {self.schedule!r}: "
                             "remove the schedule, or choose sync: daily")
        if self.sync == SyncMode.DAILY:
            if self.schedule is None:
                raise ValueError("sync: daily contradicts schedule: null; for manual runs only, say sync: manual")
            if not _fires_at_most_daily(self.schedule):
                raise ValueError(f"sync: daily contradicts schedule {self.schedule!r}, which runs more than once a day: "
                                 "give one time of day (e.g. '0 19 * * *'), or choose sync: realtime")
        if self.sync == SyncMode.REALTIME and self.schedule is None:
            raise ValueError("sync: realtime contradicts schedule: null: its full run (reference data, reconciliation) "
                             f"still needs a schedule; leave 'schedule' out for {SYNC_DEFAULT_SCHEDULES['realtime']!r} "
                             "or give one")
        return self

    @model_validator(mode="after")
    def _file_drop_creates_no_parties(self) -> LegalEntity:
        if self.accounting.kind in FILE_DROP_KINDS and (
                self.matching.create_missing_vendors or self.matching.create_missing_customers):
            raise ValueError(f"{self.accounting.kind.value} cannot create vendors or customers through the file drop: "
                             "set matching.create_missing_vendors and create_missing_customers to false and create "
                             "them in the company file (they arrive with its lists)")
        return self

    def runs(self, flow: Flow) -> bool:
        return flow in self.flows

    @property
    def dag_id(self) -> str:
        return dag_id_for(self.id)

    @property
    def exports_in_realtime(self) -> bool:
        """Whether it has the every-minute export DAG (ledgerbridge__<id>__realtime)."""
        return self.sync == SyncMode.REALTIME

    @property
    def creates_parties(self) -> bool:
        """Whether its accounting connector can create vendors and customers (a file drop cannot)."""
        return self.accounting.kind not in FILE_DROP_KINDS


# Airflow's cron presets (airflow.sdk.definitions.timetables._cron.CRON_PRESETS; tests/dags checks they agree).
SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
_CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


@lru_cache(maxsize=4096)
def check_schedule(value: str) -> None:
    """Refuse what Airflow would refuse when it builds the DAG: there the mistake would be an import
    error of the whole DAG file naming neither the entity nor the registry.

    Cached by value (a refused one raises again each time), and a valid expression costs one croniter
    (the field-by-field look that names the wrong field is only for a refused one): checking schedules
    was the largest part of validating an entity."""
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    if value.startswith("@"):
        if value not in SCHEDULE_PRESETS:
            raise ValueError(f"{value!r} is not a schedule preset; use one of {', '.join(SCHEDULE_PRESETS)}, "
                             "a 5-field cron expression in UTC, or null for manual runs only")
        return
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r} is not a 5-field cron expression (minute hour day-of-month month "
                         f"day-of-week, in UTC): it has {len(fields)} field(s)")
    try:
        whole = croniter(value)
    except CroniterBadCronError:
        whole = None
    if whole is None:
        for position, name in enumerate(_CRON_FIELDS):
            alone = ["*"] * 5
            alone[position] = fields[position]
            try:
                croniter(" ".join(alone))
            except CroniterBadCronError:
                raise ValueError(f"{value!r} is not a valid cron expression: its {name} field "
                                 f"{fields[position]!r} is out of range or malformed") from None
        raise ValueError(f"{value!r} is not a valid cron expression") from None
    try:
        whole.get_next()
    except (CroniterBadCronError, CroniterBadDateError):
        raise ValueError(f"{value!r} never fires: no date matches its day of month and month") from None


def dag_id_for(entity_id: str, suffix: str = "") -> str:
    """The id of an entity's DAG (`suffix` "inbound": its file drop's inbound DAG, "realtime": its every-minute
    export DAG); Airflow's permissions on it are the entity's (the UI plugin asks them)."""
    return f"ledgerbridge__{entity_id}" + (f"__{suffix}" if suffix else "")


@dataclass(frozen=True)
class RegistryError:
    position: int
    entity_id: str | None
    message: str

    def __str__(self) -> str:
        who = f"legal entity {self.entity_id!r}" if self.entity_id else f"legal entity #{self.position + 1}"
        return f"registry: {who}: {self.message}"

    def dag_id(self, taken: set[str]) -> str:
        """The DAG that shows this error: the entity's own id when usable, else its position."""
        if self.entity_id and _ENTITY_ID.fullmatch(self.entity_id) and self.entity_id not in taken:
            return dag_id_for(self.entity_id)
        return dag_id_for(f"invalid_entry_{self.position + 1}")


@dataclass(frozen=True)
class Registry:
    entities: tuple[LegalEntity, ...]
    errors: tuple[RegistryError, ...]

    def get(self, entity_id: str) -> LegalEntity:
        for entity in self.entities:
            if entity.id == entity_id:
                return entity
        problem = next((e for e in self.errors if e.entity_id == entity_id), None)
        raise KeyError(str(problem) if problem else f"registry: no legal entity {entity_id!r}")

    @property
    def enabled(self) -> tuple[LegalEntity, ...]:
        return tuple(e for e in self.entities if e.enabled)


class RegistryFileError(ValueError):
    """The file itself is unreadable (not YAML, wrong top-level shape): nothing can be loaded."""


# The last registries loaded in this process, by path and the file's exact bytes: a process that builds
# several DAG files (a worker, `airflow dags list`, the tests) or runs several tasks validates a registry
# once. Keyed on the content, not the mtime: a file rewritten within the mtime's resolution is still seen.
_CACHE: dict[tuple, Any] = {}
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    value = make()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
    return value


def load_registry(path: Path | str | None = None) -> Registry:
    """The registry at `path` (default: the setting), validated entity by entity; the same (immutable)
    Registry again while the file's content is unchanged."""
    path, data, digest = _read(path)
    return _cached(("registry", str(path), digest), lambda: _validate(path, _document(path, data, digest)))


def load_registry_part(wanted: Callable[[str], bool], path: Path | str | None = None, *,
                       part: str | None = None) -> Registry:
    """The part of the registry that builds the DAGs whose ids `wanted` accepts, for a DAG file that builds a
    shard of them: each of those entities (or errors) exactly as `load_registry` would give it, without
    validating the thousands of entities the file does not build.

    An entry's outcome depends on the entries before it that share its id or one of its connection ids (a
    duplicate, a connection already taken): those are validated too, with everything they share ids with in
    turn. The result may hold a few entities of other shards; what is never in it is an entity of this shard
    validated differently from the whole registry. `part` names the selection for the in-process cache."""
    path, data, digest = _read(path)

    def make() -> Registry:
        document = _document(path, data, digest)
        raw_entities = document["legal_entities"]
        positions = _related_to(raw_entities, wanted)
        return _validate(path, document, positions)

    if part is None:
        return make()
    return _cached(("part", part, str(path), digest), make)


def _read(path: Path | str | None) -> tuple[Path, bytes, bytes]:
    path = Path(path) if path else settings.registry_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegistryFileError(f"registry {path}: {exc}") from None
    return path, data, hashlib.blake2b(data, digest_size=20).digest()


def _document(path: Path, data: bytes, digest: bytes) -> dict:
    """The registry file's YAML as Python values, checked for the shape every reader needs. Parsing YAML is
    the slow part of reading a large registry (about 1 s per 1,000 entities), and every DAG file of a split
    reads the whole registry: the parsed document is kept as JSON (20 to 50 times faster to read) in the
    registry cache directory (docs/operations.md), under the file's content hash."""
    return _cached(("document", str(path), digest), lambda: _parse_document(path, data, digest))


def _parse_document(path: Path, data: bytes, digest: bytes) -> dict:
    document = _cache_read(digest)
    if document is None:
        document = _parse_yaml(path, data)
        _cache_write(digest, document)
    if not isinstance(document, dict) or not isinstance(document.get("legal_entities"), list):
        raise RegistryFileError(f"registry {path}: expected a mapping with a 'legal_entities' list")
    shared_alerts = document.get("alerts") or {}
    if not isinstance(shared_alerts, dict):
        raise RegistryFileError(f"registry {path}: 'alerts' must be a mapping (docs/alerts.md)")
    try:  # checked once here, not blamed on every entity it would be merged into
        AlertPolicy.model_validate(shared_alerts)
    except ValidationError as exc:
        raise RegistryFileError(f"registry {path}: top-level alerts: "
                                + _describe(exc).replace("field '", "field 'alerts.")) from None
    return document


def _parse_yaml(path: Path, data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
        if _too_deep(text):
            raise RegistryFileError(f"registry {path}: nests deeper than {MAX_NESTING} levels") from None
        return yaml.load(text, Loader=_Loader)
    except RegistryFileError:
        raise
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryFileError(f"registry {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise RegistryFileError(f"registry {path}: is not UTF-8: byte 0x{exc.object[exc.start]:02x} at offset "
                                f"{exc.start}") from None
    except RecursionError:
        raise RegistryFileError(f"registry {path}: nests too deeply to be a registry") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar YAML cannot build: 2026-02-30, !!int ten
        raise RegistryFileError(f"registry {path}: holds a value YAML cannot read: {' '.join(str(exc).split())}"
                                ) from None


def _validate(path: Path, document: dict, positions: list[int] | None = None) -> Registry:
    raw_entities = document["legal_entities"]
    chosen = enumerate(raw_entities) if positions is None else ((p, raw_entities[p]) for p in positions)
    return _parse(chosen, document.get("alerts") or {})


def _related_to(raw_entities: list, wanted: Callable[[str], bool]) -> list[int]:
    """Positions of the entries whose DAG (entity, inbound or invalid-entry DAG) `wanted` accepts, and of
    every entry linked to one of them through a shared id or connection id, in registry order."""
    parent = list(range(len(raw_entities)))

    def root(p: int) -> int:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    def raw_id(raw: Any) -> str | None:
        entity_id = raw.get("id") if isinstance(raw, dict) else None
        return entity_id if isinstance(entity_id, str) else None

    id_counts: dict[str | None, int] = {}
    for raw in raw_entities:
        id_counts[raw_id(raw)] = id_counts.get(raw_id(raw), 0) + 1
    owner: dict[tuple[str, str], int] = {}
    hit: list[int] = []
    for position, raw in enumerate(raw_entities):
        names: list[tuple[str, str]] = []
        dag_ids = []
        entity_id = raw_id(raw)
        # RegistryError.dag_id: an error shows under its position when its id is unusable or another
        # entry has the same id.
        if entity_id is None or not _ENTITY_ID.fullmatch(entity_id) or id_counts[entity_id] > 1:
            dag_ids.append(dag_id_for(f"invalid_entry_{position + 1}"))
        if entity_id is not None:
            names.append(("id", entity_id))
            dag_ids.append(dag_id_for(entity_id))
            if raw.get("realtime_poll_seconds"):
                dag_ids.append(dag_id_for(entity_id, "inbound"))
            if raw.get("sync") == SyncMode.REALTIME:
                dag_ids.append(dag_id_for(entity_id, "realtime"))
        if isinstance(raw, dict):
            for side in ("accounting", "source"):
                conn_id = raw.get(side).get("conn_id") if isinstance(raw.get(side), dict) else None
                if isinstance(conn_id, str):
                    names.append(("conn", conn_id))
        for name in names:
            if name in owner:
                parent[root(position)] = root(owner[name])
            else:
                owner[name] = position
        if any(wanted(dag_id) for dag_id in dag_ids):
            hit.append(position)
    groups = {root(p) for p in hit}
    return [p for p in range(len(raw_entities)) if root(p) in groups]


# Where the parsed registry is kept between processes (see _document): LEDGERBRIDGE_REGISTRY_CACHE, a
# directory of this user's, else <data dir>/cache/registry; "off" turns it off. Never required: a
# directory that cannot be written only means every DAG file parses the YAML itself.
def cache_dir() -> Path | None:
    setting = os.environ.get("LEDGERBRIDGE_REGISTRY_CACHE", "").strip()
    if setting.lower() == "off":
        return None
    return Path(setting) if setting else settings.data_dir() / "cache" / "registry"


def _cache_file(digest: bytes) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / f"registry-{digest.hex()}.json"


def _cache_read(digest: bytes) -> Any:
    path = _cache_file(digest)
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_uid != os.getuid():  # only a file of ours is trusted
                return None
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None


def _cache_write(digest: bytes, document: Any) -> None:
    path = _cache_file(digest)
    if path is None or not _json_exact(document):
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".registry-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, separators=(",", ":"))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(path.parent, keep=path)
    except OSError:
        pass


def _json_exact(value: Any) -> bool:
    """Whether JSON gives back exactly these values (no date, set, bytes, non-string key or odd float)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_exact(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _json_exact(item) for key, item in value.items())
    return False


def _prune(folder: Path, keep: Path, older_than: float = 3600.0) -> None:
    """Drops the cached registries not written for an hour (edits of the registry leave one each)."""
    now = time.time()
    for old in folder.glob("registry-*.json"):
        try:
            if old != keep and now - old.stat().st_mtime > older_than:
                old.unlink()
        except OSError:
            pass


# A registry nests 4 levels deep. libyaml's composer recurses per level and crashes the process (a
# segmentation fault at DAG parse, no error at all) tens of thousands of levels down: its events, which
# it reads with a stack of its own, are counted first.
MAX_NESTING = 64


def _too_deep(text: str) -> bool:
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return False


def parse_entities(raw_entities: list, shared_alerts: dict | None = None) -> Registry:
    return _parse(enumerate(raw_entities), shared_alerts)


def _parse(raw_entities: Iterable[tuple[int, Any]], shared_alerts: dict | None = None) -> Registry:
    entities: list[LegalEntity] = []
    errors: list[RegistryError] = []
    seen: set[str] = set()
    connections: dict[str, str] = {}
    for position, raw in raw_entities:
        entity_id = raw.get("id") if isinstance(raw, dict) else None
        entity_id = entity_id if isinstance(entity_id, str) else None
        if isinstance(raw, dict) and isinstance(raw.get("alerts") or {}, dict):
            raw = {**raw, "alerts": {**(shared_alerts or {}), **(raw.get("alerts") or {})}}
        try:
            entity = LegalEntity.model_validate(raw)
        except ValidationError as exc:
            errors.append(RegistryError(position, entity_id, _describe(exc)))
            continue
        if entity.id in seen:
            errors.append(RegistryError(position, entity.id, "field 'id': duplicate of an earlier entity"))
            continue
        problem = _shared_connection(entity, connections)
        if problem:
            errors.append(RegistryError(position, entity.id, problem))
            continue
        seen.add(entity.id)
        connections[entity.accounting.conn_id] = entity.id
        if entity.source is not None:
            connections[entity.source.conn_id] = entity.id
        entities.append(entity)
    entities.sort(key=lambda e: e.id)
    return Registry(tuple(entities), tuple(errors))


def _shared_connection(entity: LegalEntity, connections: dict[str, str]) -> str | None:
    """Two entities on one connection would write into one accounting company, or read each other's
    hub data; one connection as both source and accounting system would mix the two sides."""
    used = [("accounting.conn_id", entity.accounting.conn_id)]
    if entity.source is not None:
        used.append(("source.conn_id", entity.source.conn_id))
        if entity.source.conn_id == entity.accounting.conn_id:
            return (f"field 'source.conn_id': {entity.source.conn_id!r} is also the entity's accounting connection; "
                    "give the source its own connection")
    for field_name, conn_id in used:
        other = connections.get(conn_id)
        if other is not None:
            return f"field '{field_name}': {conn_id!r} is already the connection of {other!r}"
    return None


# What an error quotes of the offending value: enough to find it, never the whole (maybe deeply nested) entity.
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxstring, _QUOTE.maxother, _QUOTE.maxdict, _QUOTE.maxlist = 3, 80, 80, 4, 4


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "(entity)"
        parts.append(f"field '{field}': {error['msg']} (got {_QUOTE.repr(error.get('input'))})")
    return "; ".join(parts)
