"""The ledger: the hub's store and the sync state of every legal entity.

Every row that belongs to a legal entity carries `entity_id`; queries always filter on it, which is
what keeps one entity's data out of another's accounting company.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Date,
    LargeBinary,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ledgerbridge.ledger.types import DecimalJSON, ExchangeRate, Money, UTCDateTime, utcnow


class Base(DeclarativeBase):
    type_annotation_map = {
        Decimal: Money(),
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: DecimalJSON(),
        list[Any]: DecimalJSON(),
    }


def _enum(cls: type[StrEnum]) -> String:
    # Plain strings (not native enums) so adding a state is a code change, not a schema migration.
    return String(max(len(m.value) for m in cls) + 8)


class ReferenceKind(StrEnum):
    ACCOUNT = "account"
    VENDOR = "vendor"
    CUSTOMER = "customer"
    CLASS = "class"
    DEPARTMENT = "department"
    TERM = "term"
    TAX_CODE = "tax_code"
    ITEM = "item"
    CURRENCY = "currency"  # where the system lists the currencies it takes (Xero): by ISO code
    JOURNAL_CODE = "journal_code"  # the journals entries go to (QuickBooks France's JournalCode, entry files)
    # Transactions, mirrored to see what exists (duplicate bill numbers) and what was deleted.
    PURCHASE_ORDER = "purchase_order"
    BILL = "bill"
    BILL_PAYMENT = "bill_payment"
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    SALES_RECEIPT = "sales_receipt"
    PAYMENT = "payment"
    JOURNAL_ENTRY = "journal_entry"
    VENDOR_CREDIT = "vendor_credit"
    # Where bank entries and expense reports appear (QuickBooks: money spent from / deposited to a bank account).
    PURCHASE = "purchase"
    DEPOSIT = "deposit"


class PartyKind(StrEnum):
    VENDOR = "vendor"
    CUSTOMER = "customer"


class LinkStatus(StrEnum):
    LINKED = "linked"  # decided: by the engine (auto), by a person, or adopted from the accounting system
    PENDING_CREATE = "pending_create"  # nothing matched; the party is being created in the accounting system
    REVIEW = "review"  # a person must decide
    UNMATCHED = "unmatched"  # nothing matched and the policy does not create it


class DocumentKind(StrEnum):
    BILL = "bill"
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    SALES_RECEIPT = "sales_receipt"
    JOURNAL_ENTRY = "journal_entry"
    VENDOR_CREDIT = "vendor_credit"
    BANK_ENTRY = "bank_entry"  # money in or out of a bank account, lines on counterpart accounts
    EXPENSE_REPORT = "expense_report"  # what an employee (or a vendor) spent for the company, one line per expense


class DocumentStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    VOID = "void"


class PaidStatus(StrEnum):
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


class PaymentKind(StrEnum):
    BILL_PAYMENT = "bill_payment"
    CUSTOMER_PAYMENT = "customer_payment"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    UNCERTAIN = "uncertain"
    # A person asked to send a refused creation again, after a fix: the next run checks the record
    # again and re-prepares it, with a key of its own (the accounting system remembers the refused one).
    RETRY = "retry"


class RecordType(StrEnum):
    PARTY = "party"
    DOCUMENT = "document"
    PAYMENT = "payment"
    ATTACHMENT = "attachment"


class QuarantineStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"  # the record changed upstream and passed its checks
    RELEASED = "released"  # a person let it through
    DISMISSED = "dismissed"  # a person decided it will never be exported


class LegalEntityRow(Base):
    __tablename__ = "legal_entities"
    # One entity per company and per source, held by the database: two runs pinning at the same moment
    # cannot both pass the check in ledgerbridge.context._pin.
    __table_args__ = (
        Index("uq_legal_entities_company_id", "company_id", unique=True),
        Index("uq_legal_entities_source_identity", "source_identity", unique=True),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    base_currency: Mapped[str] = mapped_column(String(3))
    accounting_kind: Mapped[str] = mapped_column(String(40))
    conn_id: Mapped[str] = mapped_column(String(200))
    # The accounting company this entity was first connected to; a connection that later points
    # elsewhere is refused rather than sending this entity's records to another company.
    company_id: Mapped[str | None] = mapped_column(String(64))
    # Likewise the source it was first read from, when the source tells who it is (an ERP's company).
    source_identity: Mapped[str | None] = mapped_column(String(300))
    # Its latest run as the operators' pages show it (ledgerbridge.status.run_standing), kept by each step.
    last_run: Mapped[dict[str, Any] | None] = mapped_column(DecimalJSON())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReferenceRecord(Base):
    """A mirror of one object of the accounting system: a list object (account, vendor, class, ...)
    or a transaction (bill, payment, ...; `number` is its document number)."""

    __tablename__ = "reference_records"
    __table_args__ = (UniqueConstraint("entity_id", "kind", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    kind: Mapped[str] = mapped_column(_enum(ReferenceKind))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(500))
    number: Mapped[str | None] = mapped_column(String(100))  # account number (AcctNum)
    account_type: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    tax_id: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(default=True)
    party_external_id: Mapped[str | None] = mapped_column(String(64))  # a transaction's vendor/customer
    # A vendor's/customer's own sub-ledger account (compte auxiliaire) and the external id of the
    # payables/receivables account it rolls up to (QuickBooks France's APAccountRef/ARAccountRef).
    auxiliary_account: Mapped[str | None] = mapped_column(String(100))
    collective_account: Mapped[str | None] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None]  # deleted (or merged away) in the accounting system
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_updated_at: Mapped[datetime | None]
    synced_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Party(Base):
    """A vendor or customer as the hub knows it."""

    __tablename__ = "parties"
    __table_args__ = (UniqueConstraint("entity_id", "kind", "hub_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    kind: Mapped[str] = mapped_column(_enum(PartyKind))
    hub_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    tax_id: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))
    auxiliary_account: Mapped[str | None] = mapped_column(String(100))  # the sub-ledger account the source gives it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    link: Mapped[PartyLink | None] = relationship(back_populates="party", uselist=False)


class SourceJournal(Base):
    """A journal the source declares (its hub feed): the code its documents name and the journal's name and type."""

    __tablename__ = "source_journals"
    __table_args__ = (UniqueConstraint("entity_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    journal_type: Mapped[str | None] = mapped_column(String(20))  # purchases, sales, bank, cash, ...
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PartyLink(Base):
    """How a hub party maps to a party of the accounting system; a person's decision is final."""

    __tablename__ = "party_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), unique=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(_enum(LinkStatus))
    method: Mapped[str] = mapped_column(String(40))  # tax_id, email, name, created, person, ...
    score: Mapped[float | None]
    decided_by: Mapped[str] = mapped_column(String(100), default="engine")
    note: Mapped[str | None] = mapped_column(Text)
    # For review: [{"external_id", "name", "score"}, ...], best first.
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    party: Mapped[Party] = relationship(back_populates="link")


class Document(Base):
    """A bill, invoice, credit note, sales receipt, journal entry, vendor credit, bank entry or expense report
    of the hub."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("entity_id", "kind", "hub_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    kind: Mapped[str] = mapped_column(_enum(DocumentKind))
    hub_id: Mapped[str] = mapped_column(String(100))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    doc_number: Mapped[str | None] = mapped_column(String(100))
    doc_date: Mapped[date]
    due_date: Mapped[date | None]
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal]
    # A foreign-currency document's rate (home currency per unit of its currency): the source's, else the
    # accounting system's for its date, taken when it is prepared; `home_total` is the total in home currency.
    exchange_rate: Mapped[Decimal | None] = mapped_column(ExchangeRate())
    home_total: Mapped[Decimal | None]
    # The bank, card or cash account the money moves through (bank entries, expense reports), by code.
    bank_account: Mapped[str | None] = mapped_column(String(100))
    memo: Mapped[str | None] = mapped_column(Text)
    # The journal it goes to, by code (QuickBooks France's JournalCode, an entry file's journal);
    # None: the accounting system's default for its kind.
    journal_code: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(_enum(DocumentStatus), default=DocumentStatus.DRAFT)
    # Confirmation written back from the accounting system.
    external_id: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime | None]
    paid_status: Mapped[str] = mapped_column(_enum(PaidStatus), default=PaidStatus.UNPAID)
    open_balance: Mapped[Decimal | None]
    # Changes taken in after export that the accounting system is to follow (an update, or a void):
    # each is one outbox operation, "update:<version>" or "void".
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    party: Mapped[Party | None] = relationship()
    lines: Mapped[list[DocumentLine]] = relationship(
        back_populates="document", order_by="DocumentLine.line_no", cascade="all, delete-orphan"
    )


class DocumentLine(Base):
    __tablename__ = "document_lines"
    __table_args__ = (UniqueConstraint("document_id", "line_no"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    line_no: Mapped[int]
    description: Mapped[str | None] = mapped_column(Text)
    account_code: Mapped[str | None] = mapped_column(String(100))  # the account's number or name
    class_code: Mapped[str | None] = mapped_column(String(100))
    item_code: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[Decimal | None]
    unit_price: Mapped[Decimal | None]
    amount: Mapped[Decimal]
    # debit / credit: journal entries; bank entries, the side of the counterpart (debit: money out, credit: in)
    posting_type: Mapped[str | None] = mapped_column(String(6))
    tax_code: Mapped[str | None] = mapped_column(String(100))  # sales lines: the tax code's name
    tax_amount: Mapped[Decimal | None]  # the tax the source computed, checked against the tax code's rate
    line_date: Mapped[date | None]  # an expense report's line: the day of that expense
    document: Mapped[Document] = relationship(back_populates="lines")


class Attachment(Base):
    """A supporting document (the scanned invoice, a receipt) to attach to a hub document once it
    exists in the accounting system."""

    __tablename__ = "attachments"
    __table_args__ = (UniqueConstraint("document_id", "file_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    document: Mapped[Document] = relationship()


class Payment(Base):
    """A payment made (bill payment) or received (customer payment), applied to documents."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("entity_id", "kind", "hub_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    kind: Mapped[str] = mapped_column(_enum(PaymentKind))
    hub_id: Mapped[str] = mapped_column(String(100))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    payment_date: Mapped[date]
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    # A foreign payment's rate (home currency per unit of its currency), as a document's: the source's (the
    # rate the bank converted at), else the accounting system's for its date; `home_amount` is the amount in it.
    exchange_rate: Mapped[Decimal | None] = mapped_column(ExchangeRate())
    home_amount: Mapped[Decimal | None]
    bank_account_code: Mapped[str | None] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(_enum(DocumentStatus), default=DocumentStatus.DRAFT)
    external_id: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    party: Mapped[Party | None] = relationship()
    applications: Mapped[list[PaymentApplication]] = relationship(
        back_populates="payment", cascade="all, delete-orphan"
    )


class PaymentApplication(Base):
    """The part of a payment applied to one document; partial payments are ordinary."""

    __tablename__ = "payment_applications"
    __table_args__ = (UniqueConstraint("payment_id", "document_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    amount: Mapped[Decimal]
    payment: Mapped[Payment] = relationship(back_populates="applications")
    document: Mapped[Document] = relationship()


class PurchaseOrder(Base):
    """A purchase order mirrored from the accounting system."""

    __tablename__ = "purchase_orders"
    __table_args__ = (UniqueConstraint("entity_id", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    vendor_external_id: Mapped[str | None] = mapped_column(String(64))
    doc_number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str | None] = mapped_column(String(20))
    txn_date: Mapped[date | None]
    total: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_updated_at: Mapped[datetime | None]


class OutboxEntry(Base):
    """One operation on a record in the accounting system, exactly once: its creation, and later
    each change the source made after export (an update to a version, a void).

    pending -> sending -> confirmed | rejected | uncertain. The idempotency key never changes, so a
    re-send after a crash or an unknown outcome is recognised by the accounting system (or looked up).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("entity_id", "record_type", "record_id", "operation"),
        Index("ix_outbox_entity_state", "entity_id", "state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"))
    record_type: Mapped[str] = mapped_column(_enum(RecordType))
    record_id: Mapped[int]
    record_key: Mapped[str] = mapped_column(String(200))  # the hub's name for it, e.g. "bill:B-1001"
    operation: Mapped[str] = mapped_column(String(20), default="create")  # create | update:<version> | void
    target_id: Mapped[str | None] = mapped_column(String(64))  # an update's or void's object there
    kind: Mapped[str] = mapped_column(String(40))  # the record kind (ledgerbridge.kinds): bill, vendor, ...
    # Beside the payload, in the core's terms: checks (bill numbers on their way) never parse a payload.
    doc_number: Mapped[str | None] = mapped_column(String(100))
    party_ref: Mapped[str | None] = mapped_column(String(64))  # the vendor's or customer's external id
    company_id: Mapped[str | None] = mapped_column(String(64))  # the company it was sent to
    state: Mapped[str] = mapped_column(_enum(OutboxState), default=OutboxState.PENDING)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]]
    external_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_attempt_at: Mapped[datetime | None]
    # The sender holding a `sending` row, until when: another run leaves the row to it meanwhile.
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claim_expires_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    written_back_at: Mapped[datetime | None]


class QuarantineEntry(Base):
    """A record held back with every reason a person needs to fix it."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("entity_id", "dataset", "record_key"),
        # A page of one entity's entries of one status in listing order, its count, and the open counts.
        Index("ix_quarantine_entity_status", "entity_id", "status", "dataset", "record_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(60))
    record_key: Mapped[str] = mapped_column(String(200))
    reasons: Mapped[list[Any]]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(_enum(QuarantineStatus), default=QuarantineStatus.OPEN)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    # A person's release: the expectations they waived for this record, who, and why.
    waived: Mapped[list[Any]] = mapped_column(default=list)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)


class QualityResult(Base):
    """One data-quality suite run by one step of one DAG run: counts, the per-expectation table, and
    the first failures (every failure of a held record is on its quarantine entry)."""

    __tablename__ = "quality_results"
    __table_args__ = (UniqueConstraint("entity_id", "run_id", "step", "suite"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    run_id: Mapped[str] = mapped_column(String(250))
    step: Mapped[str] = mapped_column(String(60))
    suite: Mapped[str] = mapped_column(String(60))  # "documents", or "documents.bills" per dataset
    suite_version: Mapped[str] = mapped_column(String(20))
    checked: Mapped[int]
    failed: Mapped[int]
    systemic: Mapped[bool]
    message: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncRun(Base):
    """One step of one DAG run of one entity, with the summary it returned."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        UniqueConstraint("entity_id", "run_id", "step"),
        # Each entity's latest run (ledgerbridge.status), from the index.
        Index("ix_sync_runs_entity_started", "entity_id", "started_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), index=True)
    run_id: Mapped[str] = mapped_column(String(250))
    step: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="running")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Watermark(Base):
    """How far an incremental stream has read, per entity (never moves backwards)."""

    __tablename__ = "watermarks"
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEvent(Base):
    """Append-only: who did what to which record, and when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    entity_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OAuthToken(Base):
    """The newest OAuth tokens of one accounting company, encrypted at rest."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (UniqueConstraint("conn_id", "company_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conn_id: Mapped[str] = mapped_column(String(200))
    company_id: Mapped[str] = mapped_column(String(64))
    # Fingerprint of the connection's own refresh token: when a person reconnects the company and
    # puts a new token in the connection, it wins over the one rotated here.
    seed_fingerprint: Mapped[str] = mapped_column(String(64))
    refresh_token: Mapped[str] = mapped_column(Text)
    access_token: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WriteBackState(StrEnum):
    SENDING = "sending"  # recorded before it is sent: a crash leaves it here, looked up before any re-send
    WRITTEN = "written"  # the source holds it


class SourceWriteBack(Base):
    """One item written back to an entity's source (what happened to a hub record), exactly once.

    The idempotency key is derived from the fact itself (record, status, external id, reason,
    amounts): the same fact is never sent twice, a new one (paid after partially paid) is a new item.
    """

    __tablename__ = "source_write_backs"
    __table_args__ = (Index("ix_source_write_backs_entity_state", "entity_id", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    record_kind: Mapped[str] = mapped_column(String(30))
    record_key: Mapped[str] = mapped_column(String(200))  # the hub id ("" for a record refused before it was read)
    status: Mapped[str] = mapped_column(String(30))
    item: Mapped[dict[str, Any]]  # as sent (sources.base.WriteBack.as_record)
    state: Mapped[str] = mapped_column(_enum(WriteBackState), default=WriteBackState.SENDING)
    batch_key: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(500))  # where the source holds it (a file)
    attempts: Mapped[int] = mapped_column(default=0)
    # The run sending it and until when: another run leaves the item to it meanwhile.
    claimed_by: Mapped[str | None] = mapped_column(String(250))
    claim_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    written_at: Mapped[datetime | None]


class AlertState(Base):
    """The problem of one kind an entity has now, as last said to its people (ledgerbridge.alerts): a message
    goes out when a problem appears or changes, and once when it is gone; not at every run or retry."""

    __tablename__ = "alert_states"
    entity_id: Mapped[str] = mapped_column(ForeignKey("legal_entities.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(300))  # which problem it is (a failed step and its error type)
    level: Mapped[int] = mapped_column(default=0)  # how big it was when last said (a queue's size in thresholds)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    said_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]  # set once its resolution was said; a new problem re-opens it
    run_id: Mapped[str | None] = mapped_column(String(250))  # the run it was last said of
