"""The seam between the pipeline and a source of hub data (an AP/AR platform, an ERP), symmetric to
ledgerbridge.connectors.base on the accounting side.

A source gives the records changed since a watermark (new, changed, voided, parties included), each
with where it came from so that an error can name it; the pipeline commits them to the ledger and
only then acknowledges them. The other way, the source takes write-backs: what happened to each
record (external id, rejected, quarantined, paid), exactly once: each item has an idempotency key,
and an item whose outcome is unknown is looked up with `find_written` before it is sent again.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True)
class Origin:
    """Where a record came from: a file (or an API page) and its place there."""

    source: str  # "hub-2026-11-02.json", "vendors.csv"
    position: int  # 1-based: the record's number in its kind's list, or a CSV file's line

    def __str__(self) -> str:
        return f"{self.source} #{self.position}"


@dataclass(frozen=True)
class SourceRecord:
    """One record as the source gave it, not validated yet (intake does that, record by record)."""

    kind: str  # a key of sources.records.KINDS_BY_KEY: "vendors", "bills", ...; or "journals" (declared)
    data: Any  # the mapping as read; anything else is refused by intake, naming the record
    origin: Origin
    # What made the source unable to translate it (an ERP order line in a unit its item lacks), as
    # (field, problem, offending value): intake holds the record with these reasons, unread.
    problems: tuple[tuple[str, str, Any], ...] = ()


@dataclass(frozen=True)
class RefusedInput:
    """A whole input (a file) the source could not read; `moved_to` is None when it was left in place."""

    name: str
    reason: str
    moved_to: str | None


@dataclass(frozen=True)
class ChangeBatch:
    """What a source holds for us since a watermark, in the order to apply it (later wins)."""

    records: tuple[SourceRecord, ...]
    inputs: tuple[str, ...] = ()  # what `acknowledge` consumes once the ledger committed the records
    refused: tuple[RefusedInput, ...] = ()
    as_of: datetime | None = None  # the next watermark


class WriteBackStatus(StrEnum):
    CONFIRMED = "confirmed"  # created in the accounting system: external id (and number)
    REJECTED = "rejected"  # refused by the accounting system: reason
    QUARANTINED = "quarantined"  # held by LedgerBridge: reason
    CHANGED_AFTER_EXPORT = "changed_after_export"  # changed or voided at the source once exported, held: reason
    UPDATED = "updated"  # a change after export, made in the accounting system too: external id
    VOIDED = "voided"  # voided in the accounting system, as at the source: external id
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"


@dataclass(frozen=True)
class WriteBack:
    """What happened to one record, to tell its source once."""

    key: str  # idempotency key: the same fact always has the same key
    record_kind: str  # bill, invoice, credit_note, journal_entry, bill_payment, customer_payment, vendor, customer
    hub_id: str | None  # None for a record refused before its hub id could be read (see `reason`)
    status: WriteBackStatus
    external_id: str | None = None
    external_number: str | None = None
    reason: str | None = None
    paid_amount: Decimal | None = None
    open_balance: Decimal | None = None
    currency: str | None = None
    paid_date: date | None = None  # the latest payment's date, when the accounting system's payments tell it

    def as_record(self) -> dict[str, Any]:
        """The item as a plain mapping (amounts stay Decimal), members without a value left out."""
        values = {"key": self.key, "record_kind": self.record_kind, "hub_id": self.hub_id,
                  "status": self.status.value, "external_id": self.external_id,
                  "external_number": self.external_number, "reason": self.reason, "paid_amount": self.paid_amount,
                  "open_balance": self.open_balance, "currency": self.currency,
                  "paid_date": self.paid_date.isoformat() if self.paid_date else None}
        return {name: value for name, value in values.items() if value is not None or name == "hub_id"}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WriteBack:
        amounts = {name: Decimal(str(record[name])) for name in ("paid_amount", "open_balance")
                   if record.get(name) is not None}
        paid_date = date.fromisoformat(record["paid_date"]) if record.get("paid_date") else None
        return cls(key=record["key"], record_kind=record["record_kind"], hub_id=record.get("hub_id"),
                   status=WriteBackStatus(record["status"]), external_id=record.get("external_id"),
                   external_number=record.get("external_number"), reason=record.get("reason"),
                   currency=record.get("currency"), paid_date=paid_date, **amounts)


@dataclass(frozen=True)
class Written:
    """Where a write-back item landed at the source (a file, a request id)."""

    key: str
    location: str


class SourceMismatch(Exception):
    """The entity's source connection reaches another system than the one it was first read from."""


@dataclass(frozen=True)
class SourceCapabilities:
    """What a source can do; the flows read this, they never probe the source."""

    # True: fetch_changes honours `since` (an API). False: what it holds unacknowledged is the change.
    changes_since_watermark: bool
    write_back: bool
    attachments: bool = True


class SourceConnector(Protocol):
    kind: str
    capabilities: SourceCapabilities
    where: str  # for the task log: the folder, server or API it reads
    # Who the source is (an ERP: its server and company), pinned per entity on first use; None: no pin.
    identity: str | None

    def fetch_changes(self, since: datetime | None) -> ChangeBatch:
        """Records new, changed or voided since `since` (and not acknowledged yet)."""
        ...

    def acknowledge(self, batch: ChangeBatch) -> int:
        """The batch is committed to the ledger: consume its inputs (files to processed/). Returns how many."""
        ...

    def write_back(self, items: list[WriteBack], batch_key: str) -> dict[str, Written]:
        """Send the items (one batch, `batch_key` stable across re-sends); key -> where it landed."""
        ...

    def find_written(self, items: Collection[WriteBack]) -> dict[str, Written]:
        """Which of these items (by key) the source already holds: looked up before re-sending an item
        whose outcome is unknown (sent, then a crash before the ledger recorded it)."""
        ...
