"""The seam between the pipeline and an accounting system.

The pipeline resolves hub records into `*Export` values (every reference already an external id of
the target company), each of a record kind (ledgerbridge.kinds: "bill", "customer_payment", ...); a
connector maps each kind to its own object and payload, creates them, looks them up when an outcome
is uncertain, and reads back what the accounting system holds. What it can do is declared once, in
its `capabilities`: the flows never probe a connector.
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
    auxiliary_account: str | None = None  # a vendor's/customer's sub-ledger account (compte auxiliaire)
    collective_account: str | None = None  # external id of the payables/receivables account it rolls up to
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartyExport:
    kind: str  # vendor | customer
    name: str
    email: str | None
    currency: str | None
    hub_id: str
    auxiliary_account: str | None = None  # the sub-ledger account the source declared for it (entry files)


@dataclass(frozen=True)
class TaxRatePart:
    """One of the rates a tax code applies on a document's side (from the mirror): the accounting
    system's id of the rate and its percent. A connector that books a given tax per rate (QuickBooks
    Online's TxnTaxDetail) needs them; a code with two rates (a Canadian GST + PST) names both."""

    rate_id: str
    percent: Decimal


@dataclass(frozen=True)
class LineExport:
    amount: Decimal
    account_id: str
    description: str | None = None
    class_id: str | None = None
    tax_code_id: str | None = None
    # The source's tax on the line, checked against the tax code's rate before export (the documents
    # suite): a connector that can book a given tax sends it, so the books hold the source's tax exactly.
    tax_amount: Decimal | None = None
    tax_rates: tuple[TaxRatePart, ...] = ()  # the tax code's rates on the line's side, with a tax_amount


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
    # Line amounts include the tax their tax codes name (as a supplier's bill states them): the
    # accounting system takes the tax out; otherwise it adds the tax on top (an ERP's net prices).
    amounts_include_tax: bool = False
    journal_code_id: str | None = None  # the journal's id in the accounting system, where named
    exchange_rate: Decimal | None = None
    payables_account_id: str | None = None  # the vendor's own payables account, where it has one (France)

    @property
    def party_ref(self) -> str:
        return self.vendor_id


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
    payables_account_id: str | None = None  # the vendor's own payables account, which its bills credited
    exchange_rate: Decimal | None = None  # home currency per unit of the payment's (a foreign payment's)

    @property
    def party_ref(self) -> str:
        return self.vendor_id


@dataclass(frozen=True)
class SalesLineExport:
    amount: Decimal
    item_id: str
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    description: str | None = None
    class_id: str | None = None
    tax_code_id: str | None = None
    tax_amount: Decimal | None = None  # as on LineExport
    tax_rates: tuple[TaxRatePart, ...] = ()  # as on LineExport


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
    amounts_include_tax: bool = False  # as on BillExport
    journal_code_id: str | None = None  # the journal's id in the accounting system, where named
    exchange_rate: Decimal | None = None

    @property
    def party_ref(self) -> str:
        return self.customer_id


@dataclass(frozen=True)
class CreditNoteExport:
    """What a customer is credited, lines by item as on an invoice, amounts positive; it falls due never."""

    hub_id: str
    customer_id: str
    doc_number: str | None
    doc_date: date
    currency: str
    total: Decimal
    lines: tuple[SalesLineExport, ...]
    memo: str | None = None
    amounts_include_tax: bool = False  # as on BillExport
    journal_code_id: str | None = None  # the journal's id in the accounting system, where named
    exchange_rate: Decimal | None = None

    @property
    def party_ref(self) -> str:
        return self.customer_id


@dataclass(frozen=True)
class SalesReceiptExport:
    """A sale paid on the spot (a cash sale): lines by item as on an invoice, nothing left to pay."""

    hub_id: str
    customer_id: str
    doc_number: str | None
    doc_date: date
    currency: str
    total: Decimal
    lines: tuple[SalesLineExport, ...]
    memo: str | None = None
    amounts_include_tax: bool = False  # as on BillExport
    deposit_account_id: str | None = None  # None: the accounting system's default (Undeposited Funds)
    journal_code_id: str | None = None  # the journal's id in the accounting system, where named
    exchange_rate: Decimal | None = None

    @property
    def party_ref(self) -> str:
        return self.customer_id


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
    receivables_account_id: str | None = None  # the customer's own receivables account, where it has one
    exchange_rate: Decimal | None = None  # home currency per unit of the payment's (a foreign payment's)

    @property
    def party_ref(self) -> str:
        return self.customer_id


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
    journal_code_id: str | None = None  # the journal's id in the accounting system, where named
    exchange_rate: Decimal | None = None

    party_ref = None


@dataclass(frozen=True)
class VendorCreditExport:
    """A vendor's credit to us (the reverse of a bill): lines by account, no due date."""

    hub_id: str
    vendor_id: str
    doc_number: str | None
    doc_date: date
    currency: str
    total: Decimal
    lines: tuple[LineExport, ...]
    memo: str | None = None
    amounts_include_tax: bool = False
    journal_code_id: str | None = None
    exchange_rate: Decimal | None = None
    payables_account_id: str | None = None  # as a bill's

    @property
    def party_ref(self) -> str:
        return self.vendor_id


@dataclass(frozen=True)
class BankEntryExport:
    """Money out of a bank account ("out": the counterpart lines debited) or into it ("in": credited), lines on
    the counterpart accounts; a vendor or a customer where the bank transaction names one."""

    hub_id: str
    bank_account_id: str
    direction: str  # "in" | "out"
    doc_number: str | None
    doc_date: date
    currency: str
    total: Decimal
    lines: tuple[LineExport, ...]
    party_kind: str | None = None  # vendor | customer
    party_id: str | None = None
    memo: str | None = None
    amounts_include_tax: bool = False
    journal_code_id: str | None = None
    exchange_rate: Decimal | None = None

    @property
    def party_ref(self) -> str | None:
        return self.party_id


@dataclass(frozen=True)
class ExpenseReportExport:
    """What a payee (an employee, or a vendor) spent for the company, one line per expense: paid by the
    company from `bank_account_id` where named, else owed to the payee."""

    hub_id: str
    payee_id: str
    doc_number: str | None
    doc_date: date
    currency: str
    total: Decimal
    lines: tuple[LineExport, ...]
    bank_account_id: str | None = None
    memo: str | None = None
    amounts_include_tax: bool = False
    journal_code_id: str | None = None
    exchange_rate: Decimal | None = None

    @property
    def party_ref(self) -> str:
        return self.payee_id


@dataclass(frozen=True)
class AttachmentExport:
    """A file to attach to a document already in the accounting system (its bytes travel apart)."""

    hub_id: str
    file_name: str
    content_type: str
    document_kind: str  # bill, invoice, credit_note, journal_entry
    document_external_id: str


Export = (PartyExport | BillExport | BillPaymentExport | InvoiceExport | CreditNoteExport | SalesReceiptExport
          | CustomerPaymentExport | JournalEntryExport | VendorCreditExport | BankEntryExport | ExpenseReportExport
          | AttachmentExport)

CREATE, VOID = "create", "void"
UPDATE_PREFIX = "update:"  # an update's operation is "update:<the record's version>", one per change


def is_update(operation: str) -> bool:
    return operation.startswith(UPDATE_PREFIX)


@dataclass(frozen=True)
class Created:
    external_id: str
    adopted: bool = False  # it already existed: created by an earlier attempt whose answer was lost
    # The rate the system booked a foreign-currency document at (home currency per 1 of the document's) and
    # the home total that gave, when its answer says (a file-drop agent speaking protocol version 5); the
    # outbox keeps them on a document that went without a rate (flows.outbox). None: not said.
    exchange_rate: Decimal | None = None
    home_total: Decimal | None = None


@dataclass(frozen=True)
class Outgoing:
    """One outbox row on its way: `ref` names it inside a batch (<= 10 chars); `kind` is the record
    kind (the connector maps it to its own object). `operation` is "create", "update:<version>" (the
    record as it is now replaces what `target_id` holds) or "void" (of `target_id`); each operation
    of a record has its own `key`."""

    ref: str
    kind: str
    payload: dict[str, Any]
    key: str
    queued_at: datetime | None = None
    content: bytes | None = None  # an attachment's file
    operation: str = CREATE
    target_id: str | None = None  # the external id an update or void applies to
    attempts: int | None = None  # earlier attempts to send it (the outbox row's); None: not known, maybe sent


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
    voided: bool = False  # voided or deleted there: it counts for nothing (neither paid nor owed)
    added_tax: Decimal = Decimal(0)  # tax it added on top of the lines' amounts (net prices): not the hub's
    # The rate it booked a foreign-currency document at (home currency per 1 of the document's) and the
    # home total that gave, when the system applied its own rate and says which; None when it does not say.
    exchange_rate: Decimal | None = None
    home_total: Decimal | None = None


# How long a sender holds the rows it claimed by default: longer than a batch can take with every
# retry (QuickBooks: 5 attempts x 120 s read timeout + backoff). Past it, another run may look them up.
CLAIM_SECONDS = 15 * 60


@dataclass(frozen=True)
class Capabilities:
    """What an accounting connector can do, declared in one value the flows read."""

    kinds: frozenset[str]  # the record kinds it creates (ledgerbridge.kinds)
    reference_kinds: tuple[str, ...]  # what it mirrors into the ledger
    # Kinds whose exported records it can change afterwards: update to the current version, or void.
    updatable_kinds: frozenset[str] = frozenset()
    batch_size: int = 1  # records per create_many call
    deletable_kinds: frozenset[str] = frozenset()  # reference kinds deleted there (lists are deactivated)
    change_capture: bool = False  # fetch_changes answers every change since a moment, deletions included
    changes_only: bool = False  # it sends its changes (uploaded files) and cannot be listed in full
    reads_documents: bool = True  # a document can be read back by id (totals, open balances)
    attachments: bool = True
    doc_number_limit: int = 21
    doc_number_required: bool = False
    name_limit: int = 500  # a vendor's or customer's display name
    # Account types a payment of each kind may draw on (bill_payment) or deposit to (customer_payment).
    payment_account_types: dict[str, frozenset[str]] = field(default_factory=lambda: {
        "bill_payment": frozenset({"Bank"}), "customer_payment": frozenset({"Bank", "Other Current Asset"})})
    claim_seconds: float = CLAIM_SECONDS
    acknowledges: bool = False  # what it handed over is consumed only once acknowledge() says it is committed
    inbound_files: bool = False  # arrivals can be watched (inbound_files()) for a real-time DAG
    # A foreign document sent without a rate takes the system's own for its date (Xero, a desktop company);
    # otherwise the flows send one: the source's, else `exchange_rate()`'s.
    own_exchange_rates: bool = False
    # Why a rate the flows have cannot go with a record of a kind (a file-drop agent on an older protocol
    # version); a kind not named: it goes. A foreign record with a rate is then held, not booked at another
    # rate unsaid.
    rates_not_sent: dict[str, str] = field(default_factory=dict)
    # Why a record kind the flows know is not among `kinds` though the system has it (a file-drop agent on an
    # older protocol version): an enabled kind's approved records are then held in quarantine with that reason.
    # A kind absent from `kinds` and from here is only said to be skipped, its records waiting in the ledger.
    kinds_not_carried: dict[str, str] = field(default_factory=dict)
    # Why the files of a document kind it carries cannot be attached there (a file-drop agent before protocol
    # version 7 attaches to bills, invoices and journal entries only): such attachments are not queued but kept
    # in the ledger with that reason, and queued by the first run whose connector attaches to that kind.
    attachments_not_carried: dict[str, str] = field(default_factory=dict)
    # Typed external ids ("Purchase:42", of a kind that becomes one of several objects): the reference kind
    # each type's objects are mirrored as, so that a deletion there is told of the record exported as one.
    typed_ids: dict[str, str] = field(default_factory=dict)


class KeepsNoExchangeRates:
    """For a connector whose company gives no rates and lists the currencies it takes (or takes any)."""

    def single_currency(self) -> None:
        return None

    def exchange_rate(self, currency: str, on: date) -> None:
        return None


class AccountingConnector(Protocol):
    kind: str  # the registry's accounting kind
    company_id: str
    capabilities: Capabilities

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]: ...

    def fetch_changes(self, starts: dict[str, datetime], now: datetime) -> ChangeSet:
        """Every change of each kind since its start, deletions included, for the kinds the system can
        tell completely; the others are left out of the ChangeSet and read by `fetch_reference`."""
        ...

    def existing_ids(self, kind: str, external_ids: list[str]) -> set[str]:
        """Which of these ids of reference kind `kind` the company still has (a second look before a
        full pull marks anything deleted)."""
        ...

    def server_time(self) -> datetime | None:
        """The accounting system's clock at its last answer, if it tells."""
        ...

    def warns_on_duplicate_bill_numbers(self) -> bool: ...

    def single_currency(self) -> str | None:
        """The company's home currency when it takes no other (QuickBooks with multicurrency off), else None."""
        ...

    def exchange_rate(self, currency: str, on: date) -> Decimal | None:
        """The system's rate of `currency` in home currency on a day; None when it keeps no rates. Raises
        RecordRejected when it has none for that currency."""
        ...

    def api_calls_left_today(self) -> tuple[int, int] | None:
        """(left, of) the system's daily call budget for this company as its last answer told; None without one."""
        ...

    def payload(self, kind: str, record: Export, key: str) -> dict[str, Any]:
        """The payload of a record of `kind` for the outbox; it carries `key` where it can."""
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

    def fetch_documents(self, kind: str, external_ids: list[str]) -> dict[str, RemoteDocument]:
        """What the accounting system holds for these documents of record kind `kind`."""
        ...

    def acknowledge(self) -> int:
        """What was read is committed in the ledger: consume it (a file drop moves its files)."""
        ...

    def inbound_files(self) -> set[str]:
        """Ready inbound files waiting (the real-time watcher polls this); empty where there are none."""
        ...
