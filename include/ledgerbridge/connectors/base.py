"""The seam between the pipeline and an accounting system.

The pipeline resolves hub records into `*Export` values (every reference already an external id of
the target company); a connector turns them into its own payloads, creates them, looks them up when
an outcome is uncertain, and reads back what the accounting system holds.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol


@dataclass(frozen=True)
class ReferenceData:
    """One list object of the accounting system, normalised for the ledger's mirror."""

    external_id: str
    name: str | None
    active: bool
    updated_at: datetime | None
    deleted: bool = False  # deleted in the accounting system (transactions; lists are deactivated)
    party_external_id: str | None = None  # a transaction's vendor or customer
    number: str | None = None  # account number, or a transaction's document number
    account_type: str | None = None
    email: str | None = None
    tax_id: str | None = None
    city: str | None = None
    postcode: str | None = None
    currency: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartyExport:
    kind: str  # vendor | customer
    name: str
    email: str | None
    currency: str | None
    hub_id: str


@dataclass(frozen=True)
class LineExport:
    amount: Decimal
    account_id: str
    description: str | None = None
    class_id: str | None = None


@dataclass(frozen=True)
class BillExport:
    hub_id: str
    vendor_id: str
    doc_number: str | None
    doc_date: date
    due_date: date | None
    currency: str
    total: Decimal
    lines: tuple[LineExport, ...]
    memo: str | None = None


@dataclass(frozen=True)
class AppliedTo:
    document_external_id: str
    amount: Decimal


@dataclass(frozen=True)
class BillPaymentExport:
    hub_id: str
    vendor_id: str
    payment_date: date
    amount: Decimal
    currency: str
    bank_account_id: str
    applied: tuple[AppliedTo, ...]
    reference: str | None = None


@dataclass(frozen=True)
class SalesLineExport:
    amount: Decimal
    item_id: str
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    description: str | None = None
    class_id: str | None = None


@dataclass(frozen=True)
class InvoiceExport:
    hub_id: str
    customer_id: str
    doc_number: str | None
    doc_date: date
    due_date: date | None
    currency: str
    total: Decimal
    lines: tuple[SalesLineExport, ...]
    memo: str | None = None


@dataclass(frozen=True)
class CustomerPaymentExport:
    hub_id: str
    customer_id: str
    payment_date: date
    amount: Decimal
    currency: str
    deposit_account_id: str | None
    applied: tuple[AppliedTo, ...]  # partial application: an amount below the invoice's balance
    reference: str | None = None


@dataclass(frozen=True)
class JournalLineExport:
    posting_type: str  # Debit | Credit
    amount: Decimal
    account_id: str
    description: str | None = None
    class_id: str | None = None


@dataclass(frozen=True)
class JournalEntryExport:
    hub_id: str
    doc_number: str | None
    doc_date: date
    currency: str
    lines: tuple[JournalLineExport, ...]
    memo: str | None = None


@dataclass(frozen=True)
class AttachmentExport:
    """A file to attach to a document already in the accounting system (its bytes travel apart)."""

    hub_id: str
    file_name: str
    content_type: str
    document_target: str  # Bill, Invoice, JournalEntry
    document_external_id: str


Export = (PartyExport | BillExport | BillPaymentExport | InvoiceExport | CustomerPaymentExport
          | JournalEntryExport | AttachmentExport)


@dataclass(frozen=True)
class Created:
    external_id: str
    adopted: bool = False  # it already existed: created by an earlier attempt whose answer was lost


@dataclass(frozen=True)
class Outgoing:
    """One outbox row on its way: `ref` names it inside a batch (<= 10 chars)."""

    ref: str
    target: str
    payload: dict[str, Any]
    key: str
    queued_at: datetime | None = None
    content: bytes | None = None  # an attachment's file


@dataclass(frozen=True)
class ChangeSet:
    """What changed per reference kind since a moment, deletions included; `as_of` is the system's
    time of the answer (the next pull of those kinds starts a little before it)."""

    changes: dict[str, list[ReferenceData]]
    as_of: datetime | None = None


@dataclass(frozen=True)
class Awaiting:
    """Handed over; the accounting system answers later (a file-drop agent's confirmation file)."""

    where: str


@dataclass(frozen=True)
class RemoteDocument:
    """What the accounting system holds for a document we exported."""

    external_id: str
    total: Decimal
    balance: Decimal


class AccountingConnector(Protocol):
    kind: str
    company_id: str
    reference_kinds: tuple[str, ...]
    batch_size: int  # rows per create_many call

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]: ...

    def fetch_changes(self, starts: dict[str, datetime], now: datetime) -> ChangeSet:
        """Every change of each kind since its start, deletions included, for the kinds the system can
        tell completely; the others are left out of the ChangeSet and read by `fetch_reference`."""
        ...

    def server_time(self) -> datetime | None:
        """The accounting system's clock at its last answer, if it tells."""
        ...

    def warns_on_duplicate_bill_numbers(self) -> bool: ...

    def payload(self, record: Export, key: str) -> tuple[str, dict[str, Any]]:
        """(target object name, payload) for the outbox; the payload carries `key` where it can."""
        ...

    def create_many(self, items: list[Outgoing], batch_key: str) -> dict[str, Created | Exception | Awaiting]:
        """Create each item once; per item ref, Created, the RecordRejected/OutcomeUnknown for it, or
        Awaiting when the answer comes later.

        Raises TransientError or ReconnectRequired when nothing was applied, OutcomeUnknown when
        the outcome of the whole call is unknown.
        """
        ...

    def find_existing_many(self, items: list[Outgoing]) -> dict[str, Created | Exception | Awaiting]:
        """For items whose outcome is not known here: ref -> Created (it exists), RecordRejected (the
        system refused it), Awaiting (still on its way); absent when it never arrived."""
        ...

    def fetch_documents(self, target: str, external_ids: list[str]) -> dict[str, RemoteDocument]: ...
