"""Loading hub records (vendors, bills, bill payments) into the ledger from plain mappings.

Used by the demo and the tests; the same validation applies to any hub feed. A bad record raises
HubRecordError naming the record and the field; records already in the ledger are left untouched
(import is idempotent on hub ids).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.flows.entities import ensure_entity
from ledgerbridge.ledger.models import (
    Document,
    DocumentLine,
    DocumentStatus,
    Party,
    Payment,
    PaymentApplication,
)
from ledgerbridge.money import money_sum, to_money
from ledgerbridge.registry import LegalEntity


class HubRecordError(ValueError):
    pass


# Amounts are parsed exactly (strings or Decimal); a float in the input is refused, not rounded.
Amount = Annotated[Decimal, BeforeValidator(to_money)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HubVendor(_Record):
    hub_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=500)
    email: str | None = None
    tax_id: str | None = None
    city: str | None = None
    postcode: str | None = None


class HubLine(_Record):
    amount: Amount
    account: str | None = None
    description: str | None = None
    # "class" is a Python keyword: accepted under its plain name in the input.
    class_: str | None = Field(default=None, alias="class")


class HubBill(_Record):
    hub_id: str = Field(min_length=1, max_length=100)
    vendor: str
    doc_number: str | None = None
    doc_date: date
    due_date: date | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    status: Literal["draft", "approved", "void"] = "draft"
    total: Amount | None = None
    memo: str | None = None
    lines: list[HubLine] = Field(default_factory=list)


class HubBillPayment(_Record):
    hub_id: str = Field(min_length=1, max_length=100)
    vendor: str
    payment_date: date
    amount: Amount
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    bank_account: str
    reference: str | None = None
    status: Literal["draft", "approved", "void"] = "approved"
    applied: dict[str, Amount]


def _parse(model: type[_Record], raw: Any, what: str, position: int) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        hub_id = raw.get("hub_id") if isinstance(raw, dict) else None
        who = f"{what} {hub_id!r}" if hub_id else f"{what} #{position + 1}"
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in e['loc']) or what}': {e['msg']}" for e in exc.errors()
        )
        raise HubRecordError(f"{who}: {problems}") from None


def _refuse_repeats(what: str, records: list) -> None:
    seen: dict[str, int] = {}
    for position, record in enumerate(records):
        if record.hub_id in seen:
            raise HubRecordError(f"{what} {record.hub_id!r}: field 'hub_id': repeated (records #{seen[record.hub_id] + 1}"
                                 f" and #{position + 1} of the feed)")
        seen[record.hub_id] = position


def import_hub_data(session: Session, entity: LegalEntity, data: dict[str, Any]) -> dict[str, int]:
    """Insert the vendors, bills and bill payments of `data` that the ledger does not have yet."""
    vendors = [_parse(HubVendor, r, "vendor", i) for i, r in enumerate(data.get("vendors") or [])]
    bills = [_parse(HubBill, r, "bill", i) for i, r in enumerate(data.get("bills") or [])]
    payments = [_parse(HubBillPayment, r, "bill payment", i) for i, r in enumerate(data.get("bill_payments") or [])]
    for what, records in (("vendor", vendors), ("bill", bills), ("bill payment", payments)):
        _refuse_repeats(what, records)
    ensure_entity(session, entity)
    counts = {"vendors": 0, "bills": 0, "bill_payments": 0}

    parties = {p.hub_id: p for p in session.scalars(
        select(Party).where(Party.entity_id == entity.id, Party.kind == "vendor"))}
    for vendor in vendors:
        if vendor.hub_id not in parties:
            party = Party(entity_id=entity.id, kind="vendor", hub_id=vendor.hub_id, name=vendor.name,
                          email=vendor.email, tax_id=vendor.tax_id, city=vendor.city, postcode=vendor.postcode)
            session.add(party)
            parties[vendor.hub_id] = party
            counts["vendors"] += 1
    session.flush()

    documents = {d.hub_id: d for d in session.scalars(
        select(Document).where(Document.entity_id == entity.id, Document.kind == "bill"))}
    for bill in bills:
        if bill.hub_id in documents:
            continue
        party = parties.get(bill.vendor)
        if party is None:
            raise HubRecordError(f"bill {bill.hub_id!r}: field 'vendor': unknown hub vendor {bill.vendor!r}")
        total = bill.total if bill.total is not None else money_sum(line.amount for line in bill.lines)
        document = Document(
            entity_id=entity.id, kind="bill", hub_id=bill.hub_id, party_id=party.id, doc_number=bill.doc_number,
            doc_date=bill.doc_date, due_date=bill.due_date, currency=bill.currency or entity.base_currency,
            total=total, memo=bill.memo, status=DocumentStatus(bill.status),
            lines=[DocumentLine(line_no=n, amount=line.amount, account_code=line.account,
                                description=line.description, class_code=line.class_)
                   for n, line in enumerate(bill.lines, start=1)],
        )
        session.add(document)
        documents[bill.hub_id] = document
        counts["bills"] += 1
    session.flush()

    known_payments = set(session.scalars(select(Payment.hub_id).where(
        Payment.entity_id == entity.id, Payment.kind == "bill_payment")))
    for payment in payments:
        if payment.hub_id in known_payments:
            continue
        party = parties.get(payment.vendor)
        if party is None:
            raise HubRecordError(f"bill payment {payment.hub_id!r}: field 'vendor': unknown hub vendor "
                                 f"{payment.vendor!r}")
        applications = []
        for bill_id, amount in payment.applied.items():
            if bill_id not in documents:
                raise HubRecordError(f"bill payment {payment.hub_id!r}: field 'applied.{bill_id}': unknown hub bill")
            applications.append(PaymentApplication(document=documents[bill_id], amount=amount))
        session.add(Payment(
            entity_id=entity.id, kind="bill_payment", hub_id=payment.hub_id, party_id=party.id,
            payment_date=payment.payment_date, amount=payment.amount,
            currency=payment.currency or entity.base_currency, bank_account_code=payment.bank_account,
            reference=payment.reference, status=DocumentStatus(payment.status), applications=applications,
        ))
        counts["bill_payments"] += 1
    session.flush()
    return counts
