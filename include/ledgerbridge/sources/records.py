"""The records a source hands over, one pydantic model per kind (the schema of docs/hub-feed.md).

Every limit is the ledger's own: a string longer than its column, a NUL byte (no database column
takes one), a float amount (already imprecise) or an amount past what the ledger holds is refused
here, naming the field, instead of failing as a raw database error later.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from ledgerbridge import kinds
from ledgerbridge.kinds import RecordKind
from ledgerbridge.kinds.payment import PaymentRecordKind
from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentLine,
    Party,
    Payment,
    ReferenceKind,
    SourceJournal,
)
from ledgerbridge.money import MAX_AMOUNT, to_money, to_rate


def _length(column) -> int:
    """The length of a String column of the ledger, so the schema never drifts from the tables."""
    return column.property.columns[0].type.length


HUB_ID = _length(Document.hub_id)
CODE = _length(DocumentLine.account_code)  # account, class and item codes alike
DOC_NUMBER = _length(Document.doc_number)
REFERENCE = _length(Payment.reference)
AUXILIARY_ACCOUNT = 17  # what French packages take for an auxiliary account (Sage: 17)

# Amounts are parsed exactly (strings or Decimal); a float in the input is refused, not rounded.
Amount = Annotated[Decimal, BeforeValidator(to_money)]
Rate = Annotated[Decimal, BeforeValidator(to_rate)]
HubId = Annotated[str, Field(min_length=1, max_length=HUB_ID)]
Code = Annotated[str, Field(max_length=CODE)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Status = Literal["draft", "approved", "void"]

# QuickBooks Online takes files up to 100 MB per upload; the hub feed keeps them smaller.
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul_byte(cls, value: Any) -> Any:
        # (A lone surrogate, from JSON's "\ud800" escape, pydantic refuses itself.) A mapping's keys are
        # checked too: `applied` names documents by hub id, and those reach database queries.
        texts = [value] if isinstance(value, str) else list(value) if isinstance(value, dict) else []
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("holds a NUL byte, which no ledger column takes")
        return value


class HubParty(_Record):
    """A vendor or a customer."""

    hub_id: HubId
    name: str = Field(min_length=1, max_length=_length(Party.name))
    email: str | None = Field(default=None, max_length=_length(Party.email))
    tax_id: str | None = Field(default=None, max_length=_length(Party.tax_id))
    city: str | None = Field(default=None, max_length=_length(Party.city))
    postcode: str | None = Field(default=None, max_length=_length(Party.postcode))
    # Its sub-ledger account (compte auxiliaire), for entry files' CompAuxNum: what French packages take.
    auxiliary_account: str | None = Field(default=None, min_length=1, max_length=AUXILIARY_ACCOUNT)


# The journals a source declares (a feed's top-level `journals`): not a record kind of the ledger, taken in
# first, into source_journals; documents name them by code (`journal`).
JOURNALS = "journals"
JOURNAL_TYPES = ("purchases", "sales", "bank", "cash", "payroll", "opening", "general")


class HubJournal(_Record):
    """A journal of the source: its code (what documents name), name, type; `active: false` retires it."""

    code: str = Field(min_length=1, max_length=_length(SourceJournal.code))
    name: str = Field(min_length=1, max_length=_length(SourceJournal.name))
    type: Literal["purchases", "sales", "bank", "cash", "payroll", "opening", "general"] | None = None
    active: StrictBool = True


class HubLine(_Record):
    amount: Amount
    account: Code | None = None
    description: str | None = None
    # "class" is a Python keyword: accepted under its plain name in the input.
    class_: Code | None = Field(default=None, alias="class")
    tax_code: Code | None = None
    tax_amount: Amount | None = None  # the tax the source computed on the line, checked against the code's rate


class HubAttachment(_Record):
    file_name: str = Field(min_length=1, max_length=_length(Attachment.file_name), pattern=r"^[^/\\:*?\"<>|]+$")
    content_type: str = Field(min_length=3, max_length=_length(Attachment.content_type),
                              pattern=r"^[\w.+-]+/[\w.+-]+$")
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
    hub_id: HubId
    doc_number: str | None = Field(default=None, max_length=DOC_NUMBER)
    doc_date: date
    currency: Currency | None = None
    # Home currency per unit of `currency`; without it, the accounting system's rate for doc_date.
    exchange_rate: Rate | None = None
    status: Status = "draft"
    memo: str | None = None
    journal: str | None = Field(default=None, min_length=1, max_length=_length(Document.journal_code))  # its code
    attachments: list[HubAttachment] = Field(default_factory=list)

    @field_validator("attachments")
    @classmethod
    def _distinct_names(cls, value: list[HubAttachment]) -> list[HubAttachment]:
        names = [a.file_name for a in value]
        if len(set(names)) != len(names):
            raise ValueError("two attachments have the same file_name")
        return value


class HubBill(_HubDocument):
    vendor: HubId
    due_date: date | None = None
    total: Amount | None = None
    lines: list[HubLine] = Field(default_factory=list)


class HubSalesLine(_Record):
    item: Code
    quantity: Amount | None = None
    unit_price: Amount | None = None
    amount: Amount | None = None
    description: str | None = None
    class_: Code | None = Field(default=None, alias="class")
    tax_code: Code | None = None
    tax_amount: Amount | None = None

    @model_validator(mode="after")
    def _amount_known(self) -> HubSalesLine:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("give amount, or quantity and unit_price")
        if self.amount is None:
            to_money(self.quantity * self.unit_price, "quantity x unit_price")  # must fit the ledger too
        return self

    def line_amount(self) -> Decimal:
        return self.amount if self.amount is not None else self.quantity * self.unit_price


class HubInvoice(_HubDocument):
    customer: HubId
    due_date: date | None = None
    total: Amount | None = None
    lines: list[HubSalesLine] = Field(default_factory=list)


class HubCreditNote(_HubDocument):
    """What a customer is credited (positive amounts), lines by item as on an invoice; never due."""

    customer: HubId
    total: Amount | None = None
    lines: list[HubSalesLine] = Field(default_factory=list)


class HubVendorCredit(_HubDocument):
    """What a vendor credits us (positive amounts), lines by account as on a bill; never due."""

    vendor: HubId
    total: Amount | None = None
    lines: list[HubLine] = Field(default_factory=list)


class HubBankLine(_Record):
    """A bank entry's line: the counterpart account of the money moved, by code."""

    account: Code
    amount: Amount
    description: str | None = None
    class_: Code | None = Field(default=None, alias="class")
    tax_code: Code | None = None
    tax_amount: Amount | None = None


class HubBankEntry(_HubDocument):
    """Money out of (`direction: out`) or into (`in`) a bank account, from a bank transaction; a vendor or a
    customer where the transaction names one (not both); lines on the counterpart accounts."""

    bank_account: Code = Field(min_length=1)
    direction: Literal["in", "out"]
    vendor: HubId | None = None
    customer: HubId | None = None
    total: Amount | None = None
    lines: list[HubBankLine] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_party(self) -> HubBankEntry:
        if self.vendor is not None and self.customer is not None:
            raise ValueError("name a vendor or a customer, not both")
        return self


class HubExpenseLine(_Record):
    """One expense of a report: its account, amount, tax, description and day."""

    account: Code
    amount: Amount
    description: str | None = None
    # "date" would shadow the type in the class body: accepted under its plain name in the input.
    day: date | None = Field(default=None, alias="date")
    class_: Code | None = Field(default=None, alias="class")
    tax_code: Code | None = None
    tax_amount: Amount | None = None


class HubExpenseReport(_HubDocument):
    """What a payee (a vendor of the hub; an employee is entered as one) spent for the company, one line per
    expense; `bank_account`: the company paid it from that account, else it is owed to the payee."""

    vendor: HubId
    bank_account: Code | None = Field(default=None, min_length=1)
    total: Amount | None = None
    lines: list[HubExpenseLine] = Field(default_factory=list)


class HubSalesReceipt(_HubDocument):
    """A sale paid on the spot (a cash sale): lines by item as on an invoice; nothing falls due.
    `deposit_account`: the account the money went into (Xero needs a bank account; QuickBooks without one
    books it to Undeposited Funds)."""

    customer: HubId
    deposit_account: Code | None = Field(default=None, min_length=1)
    total: Amount | None = None
    lines: list[HubSalesLine] = Field(default_factory=list)


class HubJournalLine(_Record):
    account: Code
    debit: Amount | None = None
    credit: Amount | None = None
    description: str | None = None
    class_: Code | None = Field(default=None, alias="class")

    @model_validator(mode="after")
    def _one_side(self) -> HubJournalLine:
        if (self.debit is None) == (self.credit is None):
            raise ValueError("give either debit or credit")
        return self


class HubJournalEntry(_HubDocument):
    lines: list[HubJournalLine] = Field(default_factory=list)


class _HubPayment(_Record):
    hub_id: HubId
    payment_date: date
    amount: Amount
    currency: Currency | None = None
    exchange_rate: Rate | None = None  # a foreign payment's: the rate the money was converted at
    reference: str | None = Field(default=None, max_length=REFERENCE)
    status: Status = "approved"


class HubBillPayment(_HubPayment):
    vendor: HubId
    bank_account: Code
    applied: dict[HubId, Amount]


class HubCustomerPayment(_HubPayment):
    customer: HubId
    deposit_account: Code | None = None
    applied: dict[HubId, Amount]


@dataclass(frozen=True)
class FeedKind:
    """How a source hands over one record kind (ledgerbridge.kinds): its schema, its key in a feed
    file (the kind's plural dataset name, e.g. "bills"). The rest (what a person calls it, the party it
    names, the documents it pays) is the kind's own."""

    kind: RecordKind
    model: type[_Record]

    @property
    def key(self) -> str:
        return self.kind.dataset

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def ledger_kind(self) -> str:
        """Party.kind, Document.kind or Payment.kind: the kind's name."""
        return self.kind.name

    @property
    def party(self) -> str | None:
        """"vendor" | "customer": the field naming the party."""
        return self.kind.party_role

    @property
    def party_fields(self) -> tuple[str, ...]:
        """The fields that may name a party: the kind's own, or either where it is optional (a bank entry's)."""
        if self.kind.party_role:
            return (self.kind.party_role,)
        return ("vendor", "customer") if getattr(self.kind, "optional_party", False) else ()

    @property
    def pays(self) -> str | None:
        """The document kind a payment applies to."""
        return self.kind.pays.name if isinstance(self.kind, PaymentRecordKind) else None

    @property
    def quarantine_dataset(self) -> str:
        """Where intake holds a record of this kind: apart from the export gate's own `bills`."""
        return f"source.{self.key}"


VENDORS = FeedKind(kinds.get("vendor"), HubParty)
CUSTOMERS = FeedKind(kinds.get("customer"), HubParty)
BILLS = FeedKind(kinds.get("bill"), HubBill)
INVOICES = FeedKind(kinds.get("invoice"), HubInvoice)
CREDIT_NOTES = FeedKind(kinds.get("credit_note"), HubCreditNote)
SALES_RECEIPTS = FeedKind(kinds.get("sales_receipt"), HubSalesReceipt)
JOURNAL_ENTRIES = FeedKind(kinds.get("journal_entry"), HubJournalEntry)
VENDOR_CREDITS = FeedKind(kinds.get("vendor_credit"), HubVendorCredit)
BANK_ENTRIES = FeedKind(kinds.get("bank_entry"), HubBankEntry)
EXPENSE_REPORTS = FeedKind(kinds.get("expense_report"), HubExpenseReport)
BILL_PAYMENTS = FeedKind(kinds.get("bill_payment"), HubBillPayment)
CUSTOMER_PAYMENTS = FeedKind(kinds.get("customer_payment"), HubCustomerPayment)

# In intake order: parties before the documents naming them, documents before the payments paying them.
RECORD_KINDS = (VENDORS, CUSTOMERS, BILLS, INVOICES, CREDIT_NOTES, SALES_RECEIPTS, JOURNAL_ENTRIES, VENDOR_CREDITS,
                BANK_ENTRIES, EXPENSE_REPORTS, BILL_PAYMENTS, CUSTOMER_PAYMENTS)
PARTY_KINDS = (VENDORS, CUSTOMERS)
DOCUMENT_KINDS = (BILLS, INVOICES, CREDIT_NOTES, SALES_RECEIPTS, JOURNAL_ENTRIES, VENDOR_CREDITS, BANK_ENTRIES,
                  EXPENSE_REPORTS)
PAYMENT_KINDS = (BILL_PAYMENTS, CUSTOMER_PAYMENTS)
KINDS_BY_KEY = {kind.key: kind for kind in RECORD_KINDS}
# One sale is an invoice or, paid on the spot, a sales receipt, never both: a hub id that moves from one to
# the other (an ERP order switched between credit and cash) is the same document.
SAME_SALE = {"invoice": "sales_receipt", "sales_receipt": "invoice"}
KINDS_BY_LEDGER_KIND = {kind.ledger_kind: kind for kind in RECORD_KINDS}


JOURNALS_DATASET = f"source.{JOURNALS}"  # where intake holds a journal it could not take


def fits_the_ledger(amount: Decimal) -> bool:
    return abs(amount) < MAX_AMOUNT


def quarantine_datasets() -> tuple[str, ...]:
    """Every dataset a quarantine entry can be under: each kind's export gate (`bills`), intake's
    (`source.bills`, and `source.journals` for the journals a source declares) and the reference checks' (`reference.account`)."""
    return (*(kind.dataset for kind in kinds.KINDS.values()), *(feed.quarantine_dataset for feed in RECORD_KINDS),
            JOURNALS_DATASET,
            *(f"reference.{kind.value}" for kind in ReferenceKind))
