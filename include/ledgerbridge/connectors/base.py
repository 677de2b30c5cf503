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
    number: str | None = None
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
class Created:
    external_id: str
    adopted: bool = False  # it already existed: created by an earlier attempt whose answer was lost


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

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]: ...

    def payload(self, record: PartyExport | BillExport | BillPaymentExport, key: str) -> tuple[str, dict[str, Any]]:
        """(target object name, payload) for the outbox; the payload carries `key` where it can."""
        ...

    def create(self, target: str, payload: dict[str, Any], key: str) -> Created:
        """Create once. Raises connectors.errors on failure."""
        ...

    def find_existing(self, target: str, payload: dict[str, Any], key: str, queued_at: datetime) -> str | None:
        """The external id of an object created from this payload (queued at `queued_at`), if any."""
        ...

    def fetch_documents(self, target: str, external_ids: list[str]) -> dict[str, RemoteDocument]: ...
