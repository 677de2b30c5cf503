"""Loading hub records into the ledger from plain mappings: vendors, customers, bills, invoices,
journal entries (with their attachments), bill payments and customer payments.

Used by the demo and the tests; the same validation applies to any hub feed. A bad record raises
HubRecordError naming the record and the field; records already in the ledger are left untouched
(import is idempotent on hub ids).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.context import ensure_entity
from ledgerbridge.ledger.models import (
    Attachment,
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


# QuickBooks Online takes files up to 100 MB per upload; the hub feed keeps them smaller.
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


class HubAttachment(_Record):
    file_name: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\:*?\"<>|]+$")
    content_type: str = Field(min_length=3, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")
    content_base64: str

    @field_validator("content_base64")
    @classmethod
    def _decodes(cls, value: str) -> str:
        try:
            content = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        if not content:
            raise ValueError("the file is empty")
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"the file has {len(content)} bytes; at most {MAX_ATTACHMENT_BYTES} are accepted")
        return value

    def content(self) -> bytes:
        return base64.b64decode(self.content_base64)


class _HubDocument(_Record):
    hub_id: str = Field(min_length=1, max_length=100)
    doc_number: str | None = None
    doc_date: date
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    status: Literal["draft", "approved", "void"] = "draft"
    memo: str | None = None
    attachments: list[HubAttachment] = Field(default_factory=list)

    @field_validator("attachments")
    @classmethod
    def _distinct_names(cls, value: list[HubAttachment]) -> list[HubAttachment]:
        names = [a.file_name for a in value]
        if len(set(names)) != len(names):
            raise ValueError("two attachments have the same file_name")
        return value


class HubBill(_HubDocument):
    vendor: str
    due_date: date | None = None
    total: Amount | None = None
    lines: list[HubLine] = Field(default_factory=list)


class HubSalesLine(_Record):
    item: str
    quantity: Amount | None = None
    unit_price: Amount | None = None
    amount: Amount | None = None
    description: str | None = None
    class_: str | None = Field(default=None, alias="class")

    @model_validator(mode="after")
    def _amount_known(self) -> HubSalesLine:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("give amount, or quantity and unit_price")
        return self

    def line_amount(self) -> Decimal:
        return self.amount if self.amount is not None else self.quantity * self.unit_price


class HubInvoice(_HubDocument):
    customer: str
    due_date: date | None = None
    total: Amount | None = None
    lines: list[HubSalesLine] = Field(default_factory=list)


class HubJournalLine(_Record):
    account: str
    debit: Amount | None = None
    credit: Amount | None = None
    description: str | None = None
    class_: str | None = Field(default=None, alias="class")

    @model_validator(mode="after")
    def _one_side(self) -> HubJournalLine:
        if (self.debit is None) == (self.credit is None):
            raise ValueError("give either debit or credit")
        return self


class HubJournalEntry(_HubDocument):
    lines: list[HubJournalLine] = Field(default_factory=list)


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


class HubCustomerPayment(_Record):
    hub_id: str = Field(min_length=1, max_length=100)
    customer: str
    payment_date: date
    amount: Amount
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    deposit_account: str | None = None
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


FEEDS = (  # key in the feed, model, what a person calls one
    ("vendors", HubVendor, "vendor"),
    ("customers", HubVendor, "customer"),
    ("bills", HubBill, "bill"),
    ("invoices", HubInvoice, "invoice"),
    ("journal_entries", HubJournalEntry, "journal entry"),
    ("bill_payments", HubBillPayment, "bill payment"),
    ("customer_payments", HubCustomerPayment, "customer payment"),
)


def import_hub_data(session: Session, entity: LegalEntity, data: dict[str, Any]) -> dict[str, int]:
    """Insert the records of `data` that the ledger does not have yet (by hub id); counts per feed."""
    feeds = {}
    for key, model, what in FEEDS:
        feeds[key] = [_parse(model, r, what, i) for i, r in enumerate(data.get(key) or [])]
        _refuse_repeats(what, feeds[key])
    ensure_entity(session, entity)
    counts = {key: 0 for key, _, _ in FEEDS}
    parties = {kind: _import_parties(session, entity, kind, feeds[f"{kind}s"], counts) for kind in ("vendor", "customer")}
    documents: dict[str, Document] = {}
    for key, kind, party_field in (("bills", "bill", "vendor"), ("invoices", "invoice", "customer"),
                                   ("journal_entries", "journal_entry", None)):
        documents.update({(kind, hub_id): doc for hub_id, doc in _import_documents(
            session, entity, kind, feeds[key], parties.get(party_field, {}), party_field, counts, key).items()})
    for key, kind, party_field, paid in (("bill_payments", "bill_payment", "vendor", "bill"),
                                         ("customer_payments", "customer_payment", "customer", "invoice")):
        _import_payments(session, entity, kind, feeds[key], parties[party_field], party_field,
                         {hub_id: doc for (doc_kind, hub_id), doc in documents.items() if doc_kind == paid},
                         paid, counts, key)
    session.flush()
    return counts


def _import_parties(session: Session, entity: LegalEntity, kind: str, records: list[HubVendor],
                    counts: dict[str, int]) -> dict[str, Party]:
    parties = {p.hub_id: p for p in session.scalars(
        select(Party).where(Party.entity_id == entity.id, Party.kind == kind))}
    for record in records:
        if record.hub_id not in parties:
            party = Party(entity_id=entity.id, kind=kind, hub_id=record.hub_id, name=record.name,
                          email=record.email, tax_id=record.tax_id, city=record.city, postcode=record.postcode)
            session.add(party)
            parties[record.hub_id] = party
            counts[f"{kind}s"] += 1
    session.flush()
    return parties


def _import_documents(session: Session, entity: LegalEntity, kind: str, records: list, parties: dict[str, Party],
                      party_field: str | None, counts: dict[str, int], key: str) -> dict[str, Document]:
    documents = {d.hub_id: d for d in session.scalars(
        select(Document).where(Document.entity_id == entity.id, Document.kind == kind))}
    what = kind.replace("_", " ")
    for record in records:
        if record.hub_id in documents:
            continue
        party = None
        if party_field is not None:
            party = parties.get(getattr(record, party_field))
            if party is None:
                raise HubRecordError(f"{what} {record.hub_id!r}: field '{party_field}': unknown hub {party_field} "
                                     f"{getattr(record, party_field)!r}")
        lines = _lines(kind, record)
        total = getattr(record, "total", None)
        if total is None:
            total = money_sum(line.amount for line in lines if line.posting_type != "credit")
        document = Document(
            entity_id=entity.id, kind=kind, hub_id=record.hub_id, party_id=party.id if party else None,
            doc_number=record.doc_number, doc_date=record.doc_date, due_date=getattr(record, "due_date", None),
            currency=record.currency or entity.base_currency, total=total, memo=record.memo,
            status=DocumentStatus(record.status), lines=lines,
        )
        session.add(document)
        for attachment in record.attachments:
            content = attachment.content()
            session.add(Attachment(entity_id=entity.id, document=document, file_name=attachment.file_name,
                                   content_type=attachment.content_type, size=len(content),
                                   sha256=hashlib.sha256(content).hexdigest(), content=content))
        documents[record.hub_id] = document
        counts[key] += 1
    session.flush()
    return documents


def _lines(kind: str, record) -> list[DocumentLine]:
    if kind == "invoice":
        return [DocumentLine(line_no=n, amount=line.line_amount(), item_code=line.item, quantity=line.quantity,
                             unit_price=line.unit_price, description=line.description, class_code=line.class_)
                for n, line in enumerate(record.lines, start=1)]
    if kind == "journal_entry":
        return [DocumentLine(line_no=n, amount=line.debit if line.debit is not None else line.credit,
                             posting_type="debit" if line.debit is not None else "credit",
                             account_code=line.account, description=line.description, class_code=line.class_)
                for n, line in enumerate(record.lines, start=1)]
    return [DocumentLine(line_no=n, amount=line.amount, account_code=line.account, description=line.description,
                         class_code=line.class_) for n, line in enumerate(record.lines, start=1)]


def _import_payments(session: Session, entity: LegalEntity, kind: str, records: list, parties: dict[str, Party],
                     party_field: str, documents: dict[str, Document], paid: str, counts: dict[str, int],
                     key: str) -> None:
    known = set(session.scalars(select(Payment.hub_id).where(Payment.entity_id == entity.id, Payment.kind == kind)))
    if records and not documents:
        documents.update({d.hub_id: d for d in session.scalars(
            select(Document).where(Document.entity_id == entity.id, Document.kind == paid))})
    what = kind.replace("_", " ")
    for record in records:
        if record.hub_id in known:
            continue
        party = parties.get(getattr(record, party_field))
        if party is None:
            raise HubRecordError(f"{what} {record.hub_id!r}: field '{party_field}': unknown hub {party_field} "
                                 f"{getattr(record, party_field)!r}")
        applications = []
        for document_id, amount in record.applied.items():
            if document_id not in documents:
                raise HubRecordError(f"{what} {record.hub_id!r}: field 'applied.{document_id}': unknown hub {paid}")
            applications.append(PaymentApplication(document=documents[document_id], amount=amount))
        session.add(Payment(
            entity_id=entity.id, kind=kind, hub_id=record.hub_id, party_id=party.id,
            payment_date=record.payment_date, amount=record.amount, currency=record.currency or entity.base_currency,
            bank_account_code=getattr(record, "bank_account", None) or getattr(record, "deposit_account", None),
            reference=record.reference, status=DocumentStatus(record.status), applications=applications,
        ))
        counts[key] += 1
