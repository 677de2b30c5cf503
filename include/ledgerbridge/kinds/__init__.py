"""The record kinds LedgerBridge moves, one module each; adding a kind means adding its module here.

`KINDS` is the registry, in the order the flows treat them; `get(name)` names one, and `documents()`,
`payments()`, `parties()` select by family.
"""
from __future__ import annotations

from ledgerbridge.kinds import (
    attachment,
    bank_entry,
    bill,
    bill_payment,
    credit_note,
    customer,
    customer_payment,
    expense_report,
    invoice,
    journal_entry,
    sales_receipt,
    vendor,
    vendor_credit,
)
from ledgerbridge.kinds.attachment import AttachmentRecordKind
from ledgerbridge.kinds.base import RecordKind, Waiting
from ledgerbridge.kinds.document import DocumentRecordKind
from ledgerbridge.kinds.party import PartyRecordKind
from ledgerbridge.kinds.payment import PaymentRecordKind

KINDS: dict[str, RecordKind] = {module.KIND.name: module.KIND for module in (
    vendor, customer, bill, invoice, credit_note, sales_receipt, journal_entry, vendor_credit, bank_entry, expense_report,
    bill_payment, customer_payment, attachment)}

BILL = bill.KIND
ATTACHMENT: AttachmentRecordKind = attachment.KIND


def get(name: str) -> RecordKind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"no record kind {name!r}: known are {', '.join(KINDS)}") from None


def documents() -> tuple[DocumentRecordKind, ...]:
    return tuple(kind for kind in KINDS.values() if isinstance(kind, DocumentRecordKind))


def payments() -> tuple[PaymentRecordKind, ...]:
    return tuple(kind for kind in KINDS.values() if isinstance(kind, PaymentRecordKind))


def parties() -> tuple[PartyRecordKind, ...]:
    return tuple(kind for kind in KINDS.values() if isinstance(kind, PartyRecordKind))


__all__ = ["KINDS", "RecordKind", "Waiting", "get", "documents", "payments", "parties", "BILL", "ATTACHMENT"]
