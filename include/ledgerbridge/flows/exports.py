"""prepare_exports, export_documents, export_payments: approved hub records into the outbox, then out.

Documents (bills, invoices, journal entries) are resolved against the mirror (party link, accounts,
classes, items) and checked by the `documents` suite (ledgerbridge.quality) in prepare_exports, and
sent in export_documents, followed by their attachments once they exist in the accounting system.
Payments (bill payments, customer payments) are checked by the `payments` suite and sent in
export_payments, once the documents they pay are confirmed.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ledgerbridge.connectors.base import (
    AppliedTo,
    AttachmentExport,
    BillExport,
    BillPaymentExport,
    CustomerPaymentExport,
    InvoiceExport,
    JournalEntryExport,
    JournalLineExport,
    LineExport,
    SalesLineExport,
)
from ledgerbridge.flows import outbox, quarantine
from ledgerbridge.flows.errors import SystemicQualityFailure
from ledgerbridge.flows.preparing import (
    Gate,
    Waiting,
    check_and_queue,
    not_in_outbox,
    party_fields,
)
from ledgerbridge.flows.resolve import CodeIndex, usable_references
from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentKind,
    DocumentStatus,
    LinkStatus,
    OutboxEntry,
    OutboxState,
    Party,
    Payment,
    PaymentApplication,
    PaymentKind,
    RecordType,
    ReferenceKind,
    ReferenceRecord,
)
from ledgerbridge.quality.documents import DOC_NUMBER_LIMITS, DocumentParams
from ledgerbridge.quality.payments import CONFIRMED, ON_ITS_WAY, PaymentParams
from ledgerbridge.registry import Flow

# Quarantine datasets.
BILLS = "bills"
INVOICES = "invoices"
JOURNAL_ENTRIES = "journal_entries"
BILL_PAYMENTS = "bill_payments"
CUSTOMER_PAYMENTS = "customer_payments"
DOCUMENT_TARGETS = {Flow.BILLS: "Bill", Flow.INVOICES: "Invoice", Flow.JOURNAL_ENTRIES: "JournalEntry"}
PAYMENT_TARGETS = {Flow.BILL_PAYMENTS: "BillPayment", Flow.CUSTOMER_PAYMENTS: "Payment"}
DOCUMENT_KINDS_BY_TARGET = {"Bill": "bill", "Invoice": "invoice", "JournalEntry": "journal_entry"}


class _Resolver:
    """The entity's usable accounts, classes and items, by code."""

    def __init__(self, session, entity_id: str):
        self.accounts = CodeIndex(usable_references(session, entity_id, "account"))
        self.classes = CodeIndex(usable_references(session, entity_id, "class"))
        self.items = CodeIndex(usable_references(session, entity_id, "item"))

    def class_id(self, code: str | None) -> str | None:
        return self.classes.get(code).external_id if code else None


@dataclass(frozen=True)
class DocumentFlow:
    kind: DocumentKind
    dataset: str
    label: str
    party: str | None  # vendor | customer | None (journal entries)


DOCUMENT_FLOWS = {
    Flow.BILLS: DocumentFlow(DocumentKind.BILL, BILLS, "bill", "vendor"),
    Flow.INVOICES: DocumentFlow(DocumentKind.INVOICE, INVOICES, "invoice", "customer"),
    Flow.JOURNAL_ENTRIES: DocumentFlow(DocumentKind.JOURNAL_ENTRY, JOURNAL_ENTRIES, "journal entry", None),
}


def prepare_exports(ctx) -> dict:
    """Approved documents through the `documents` suite into the outbox, one batch per kind."""
    enabled = [flow for flow in DOCUMENT_FLOWS if ctx.entity.runs(flow)]
    if not enabled:
        ctx.log.info("no document flow (bills, invoices, journal_entries) is enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "no document flow enabled"}
    summary: dict = {}
    systemic: list[str] = []
    with ctx.ledger.session() as session:
        resolve = _Resolver(session, ctx.entity.id)
        params = _document_params(ctx, session, Flow.BILLS in enabled)
        for flow in enabled:
            rules = DOCUMENT_FLOWS[flow]
            gate = Gate("prepare_exports", "documents", rules.dataset, rules.label, RecordType.DOCUMENT, params)
            counts, problem = check_and_queue(
                ctx, session, gate, session.scalars(_approved(session, ctx, rules.kind)),
                lambda document, rules=rules: _document_check(document, rules, resolve), _document_snapshot)
            if flow == Flow.BILLS:
                summary.update(counts)  # bills' counts stay at the top level
            else:
                summary[flow.value] = dict(counts)
            if problem:
                systemic.append(problem)
    if systemic:  # the results and the other kinds' queueing are committed first
        raise SystemicQualityFailure(f"{ctx.entity.id}: " + " | ".join(systemic))
    return summary


def _document_params(ctx, session, bills: bool) -> DocumentParams:
    taken = _bill_numbers_taken(ctx, session) if bills else None
    policy = ctx.entity.quality
    return DocumentParams(
        currency=ctx.entity.base_currency, allowed_currencies=frozenset(policy.allowed_currencies),
        doc_number_limit=getattr(ctx.connector, "doc_number_limit", DOC_NUMBER_LIMITS["quickbooks_online"]),
        doc_number_required=getattr(ctx.connector, "doc_number_required", False),
        unique_bill_numbers=taken is not None, taken_numbers=taken or frozenset(),
        max_failure_rate=policy.max_failure_rate("documents"))


def _document_check(document: Document, rules: DocumentFlow, resolve: _Resolver):
    """The suite's record of a document (references resolved against the mirror), and its export."""
    party = party_fields(document.party, rules.party, f"{rules.label} {document.hub_id}") if rules.party else {}
    lines = [{
        "line_no": line.line_no, "amount": line.amount, "posting_type": line.posting_type,
        "account_code": line.account_code, "account_resolved": resolve.accounts.get(line.account_code) is not None,
        "item_code": line.item_code, "item_resolved": resolve.items.get(line.item_code) is not None,
        "class_code": line.class_code,
        "class_resolved": resolve.classes.get(line.class_code) is not None if line.class_code else None,
        "quantity": line.quantity, "unit_price": line.unit_price,
    } for line in document.lines]
    record = {"hub_id": document.hub_id, "kind": str(document.kind), "doc_number": document.doc_number,
              "doc_date": document.doc_date, "due_date": document.due_date, "currency": document.currency,
              "total": document.total, "lines": lines, **party}
    return record, lambda: EXPORT_BUILDERS[document.kind](document, party.get("party_ref"), resolve)


def _bill_export(bill: Document, vendor_id: str, resolve: _Resolver) -> BillExport:
    lines = tuple(LineExport(line.amount, resolve.accounts.get(line.account_code).external_id, line.description,
                             resolve.class_id(line.class_code)) for line in bill.lines)
    return BillExport(bill.hub_id, vendor_id, bill.doc_number, bill.doc_date, bill.due_date, bill.currency,
                      bill.total, lines, bill.memo)


def _invoice_export(invoice: Document, customer_id: str, resolve: _Resolver) -> InvoiceExport:
    lines = tuple(SalesLineExport(line.amount, resolve.items.get(line.item_code).external_id, line.quantity,
                                  line.unit_price, line.description, resolve.class_id(line.class_code))
                  for line in invoice.lines)
    return InvoiceExport(invoice.hub_id, customer_id, invoice.doc_number, invoice.doc_date, invoice.due_date,
                         invoice.currency, invoice.total, lines, invoice.memo)


def _journal_entry_export(entry: Document, _: None, resolve: _Resolver) -> JournalEntryExport:
    lines = tuple(JournalLineExport(line.posting_type.capitalize(), line.amount,
                                    resolve.accounts.get(line.account_code).external_id, line.description,
                                    resolve.class_id(line.class_code)) for line in entry.lines)
    return JournalEntryExport(entry.hub_id, entry.doc_number, entry.doc_date, entry.currency, lines, entry.memo)


EXPORT_BUILDERS = {DocumentKind.BILL: _bill_export, DocumentKind.INVOICE: _invoice_export,
                   DocumentKind.JOURNAL_ENTRY: _journal_entry_export}


def export_documents(ctx) -> dict:
    targets = tuple(target for flow, target in DOCUMENT_TARGETS.items() if ctx.entity.runs(flow))
    if not targets:
        return {"skipped": "no document flow enabled"}
    report = outbox.send(ctx, targets)
    ctx.log.info("documents (%s): %d sent, %d confirmed (%d adopted after an unknown outcome), %d rejected, "
                 "%d uncertain", "/".join(targets), report.sent, report.confirmed, report.adopted, report.rejected,
                 report.uncertain)
    summary = report.as_dict()
    summary["attachments"] = _export_attachments(ctx, targets)
    return summary


# -- documents ---------------------------------------------------------------------------------

def _approved(session, ctx, kind: DocumentKind):
    return not_in_outbox(session, ctx.entity.id, Document, RecordType.DOCUMENT).where(
        Document.kind == kind, Document.status == DocumentStatus.APPROVED
    ).options(selectinload(Document.lines), selectinload(Document.party).selectinload(Party.link))


def _document_snapshot(document: Document) -> dict:
    return {
        "hub_id": document.hub_id, "doc_number": document.doc_number,
        "party": document.party.hub_id if document.party else None,
        "doc_date": document.doc_date.isoformat(), "currency": document.currency, "total": document.total,
        "lines": [{"line_no": line.line_no, "amount": line.amount, "account_code": line.account_code,
                   "item_code": line.item_code, "posting_type": line.posting_type} for line in document.lines],
    }


def _bill_numbers_taken(ctx, session) -> dict[tuple[str, str], str] | None:
    """(vendor id, bill number) -> which bill holds it, when the company refuses a vendor's bill number
    twice; None when it allows duplicates. From the mirrored bills and the bills on their way."""
    if not ctx.connector.warns_on_duplicate_bill_numbers():
        return None
    taken = {(vendor, number): f"bill {external_id} in the accounting system"
             for vendor, number, external_id in session.execute(
                 select(ReferenceRecord.party_external_id, ReferenceRecord.number, ReferenceRecord.external_id)
                 .where(ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.kind == ReferenceKind.BILL,
                        ReferenceRecord.deleted_at.is_(None), ReferenceRecord.number.is_not(None)))}
    for key, payload in session.execute(
            select(OutboxEntry.record_key, OutboxEntry.payload).where(
                OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.target == "Bill",
                OutboxEntry.state.in_(outbox.UNSETTLED))):
        if payload.get("DocNumber"):
            taken.setdefault((payload["VendorRef"]["value"], payload["DocNumber"]), f"{key}, on its way")
    return taken


# -- attachments -------------------------------------------------------------------------------

def _export_attachments(ctx, targets: tuple[str, ...]) -> dict:
    """Queue the files of documents now confirmed in the accounting system, then send them."""
    if not getattr(ctx.connector, "supports_attachments", True):
        with ctx.ledger.session() as session:
            waiting = session.scalar(select(func.count(Attachment.id)).where(Attachment.entity_id == ctx.entity.id))
        if waiting:
            ctx.log.info("attachments: %d file(s) kept in the ledger, not sent: the accounting connector takes no "
                         "attachments", waiting)
        return {"skipped": "the accounting connector takes no attachments", "kept": waiting}
    with ctx.ledger.session() as session:
        rows = session.execute(
            select(Attachment, Document.hub_id, OutboxEntry.target, OutboxEntry.external_id)
            .join(Document, Attachment.document_id == Document.id)
            .join(OutboxEntry, (OutboxEntry.record_id == Document.id)
                  & (OutboxEntry.record_type == RecordType.DOCUMENT) & (OutboxEntry.entity_id == Document.entity_id))
            .where(Attachment.entity_id == ctx.entity.id, OutboxEntry.state == OutboxState.CONFIRMED,
                   OutboxEntry.target.in_(targets),
                   Attachment.id.not_in(select(OutboxEntry.record_id).where(
                       OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == RecordType.ATTACHMENT)))
            .order_by(Attachment.id)
        ).all()
        for attachment, hub_id, target, external_id in rows:
            # The document's kind too: a bill and an invoice may share a hub id and a file name.
            key = f"{DOCUMENT_KINDS_BY_TARGET[target]}:{hub_id}/{attachment.file_name}"
            export = AttachmentExport(key, attachment.file_name, attachment.content_type, target, external_id)
            outbox.enqueue(session, ctx, RecordType.ATTACHMENT, attachment.id, f"attachment:{key}", export)
    report = outbox.send(ctx, ("Attachable",))
    if rows or report.sent:
        ctx.log.info("attachments: %d queued, %d sent, %d confirmed, %d rejected, %d uncertain", len(rows),
                     report.sent, report.confirmed, report.rejected, report.uncertain)
    return {"queued": len(rows), **report.as_dict()}


# -- payments ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentKindRules:
    kind: PaymentKind
    label: str  # "bill payment"
    dataset: str
    party: str  # vendor | customer
    document: str  # bill | invoice
    document_dataset: str
    account_types: frozenset[str]  # where the money comes from / goes to
    account_required: bool


PAYMENT_KINDS = {
    Flow.BILL_PAYMENTS: PaymentKindRules(PaymentKind.BILL_PAYMENT, "bill payment", BILL_PAYMENTS, "vendor", "bill",
                                         BILLS, frozenset({"Bank"}), True),
    # Without a deposit account QuickBooks puts a customer payment in Undeposited Funds.
    Flow.CUSTOMER_PAYMENTS: PaymentKindRules(PaymentKind.CUSTOMER_PAYMENT, "customer payment", CUSTOMER_PAYMENTS,
                                             "customer", "invoice", INVOICES,
                                             frozenset({"Bank", "Other Current Asset"}), False),
}


def export_payments(ctx) -> dict:
    """Approved payments through the `payments` suite into the outbox, then out."""
    flows = [flow for flow in PAYMENT_TARGETS if ctx.entity.runs(flow)]
    if not flows:
        ctx.log.info("no payment flow (bill_payments, customer_payments) is enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "no payment flow enabled"}
    prepared, systemic = {}, []
    for flow in flows:
        counts, problem = _prepare_payments(ctx, PAYMENT_KINDS[flow])
        prepared[flow.value] = dict(counts)
        if problem:
            systemic.append(problem)
    targets = tuple(PAYMENT_TARGETS[flow] for flow in flows)
    report = outbox.send(ctx, targets)  # what earlier runs queued goes out even when this batch is systemic
    ctx.log.info("payments (%s): %d sent, %d confirmed, %d rejected, %d uncertain", "/".join(targets),
                 report.sent, report.confirmed, report.rejected, report.uncertain)
    if systemic:
        raise SystemicQualityFailure(f"{ctx.entity.id}: " + " | ".join(systemic))
    # A bill-payments-only entity keeps the flat shape: {"prepared": counts, ...}.
    return {"prepared": prepared[flows[0].value] if len(flows) == 1 else prepared, **report.as_dict()}


def _prepare_payments(ctx, rules: PaymentKindRules) -> tuple[Counter, str | None]:
    policy = ctx.entity.quality
    params = PaymentParams(currency=ctx.entity.base_currency, allowed_currencies=frozenset(policy.allowed_currencies),
                           max_failure_rate=policy.max_failure_rate("payments"))
    gate = Gate("export_payments", "payments", rules.dataset, rules.label, RecordType.PAYMENT, params)
    with ctx.ledger.session() as session:
        accounts = CodeIndex([a for a in usable_references(session, ctx.entity.id, "account")
                              if a.account_type in rules.account_types])
        documents = _DocumentStates(session, ctx.entity.id, rules)
        # In date order: the suite holds back the payment that would over-pay a document, not an earlier one.
        payments = not_in_outbox(session, ctx.entity.id, Payment, RecordType.PAYMENT).where(
            Payment.kind == rules.kind, Payment.status == DocumentStatus.APPROVED
        ).order_by(None).order_by(Payment.payment_date, Payment.id).options(
            selectinload(Payment.applications).selectinload(PaymentApplication.document)
            .selectinload(Document.party).selectinload(Party.link),
            selectinload(Payment.party).selectinload(Party.link))

        def snapshot(payment: Payment) -> dict:
            return {"hub_id": payment.hub_id, "amount": payment.amount,
                    "applied": {a.document.hub_id: a.amount for a in payment.applications}}

        return check_and_queue(ctx, session, gate, session.scalars(payments),
                               lambda payment: _payment_check(rules, payment, accounts, documents), snapshot)


class _DocumentStates:
    """Where each document a payment may pay stands: confirmed (with its id), on its way, or why never."""

    def __init__(self, session, entity_id: str, rules: PaymentKindRules):
        self.outbox = {record_id: (state, external_id) for record_id, state, external_id in session.execute(
            select(OutboxEntry.record_id, OutboxEntry.state, OutboxEntry.external_id).where(
                OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == RecordType.DOCUMENT))}
        self.quarantined = quarantine.open_keys(session, entity_id, rules.document_dataset)
        self.dismissed = quarantine.dismissed_keys(session, entity_id, rules.document_dataset)
        self.applied_total, self.unconfirmed = _applied_per_document(session, entity_id)

    def state(self, document: Document) -> str:
        state, _ = self.outbox.get(document.id, (None, None))
        if state == OutboxState.CONFIRMED:
            return CONFIRMED
        if document.status != DocumentStatus.APPROVED:
            return f"{document.status}, not approved"
        if state == OutboxState.REJECTED:
            return "rejected by the accounting system"
        if document.hub_id in self.dismissed:
            return "dismissed by a person (never exported)"
        link = document.party.link if document.party else None
        if document.hub_id in self.quarantined and not (link and link.status == LinkStatus.PENDING_CREATE):
            return "quarantined"
        return ON_ITS_WAY  # queued, being sent, or waiting for its party to be created

    def external_id(self, document: Document) -> str:
        return self.outbox[document.id][1]

    def open_balance(self, document: Document) -> Decimal:
        """What a new payment may still apply: the hub's view (total less our payments on their way),
        and the accounting system's last-read balance less our payments it has not seen yet (someone
        may have paid there directly): the lower of the two."""
        open_balance = document.total - self.applied_total.get(document.id, Decimal(0))
        if document.open_balance is not None:
            open_balance = min(open_balance, document.open_balance - self.unconfirmed.get(document.id, Decimal(0)))
        return open_balance


def _payment_check(rules: PaymentKindRules, payment: Payment, accounts: CodeIndex, documents: _DocumentStates):
    """The suite's record of a payment, and its export (which waits while a document is on its way)."""
    party = party_fields(payment.party, rules.party, f"{rules.label} {payment.hub_id}")
    account = accounts.get(payment.bank_account_code)
    states = {application.document_id: documents.state(application.document) for application in payment.applications}
    record = {
        "hub_id": payment.hub_id, "kind": str(rules.kind), "payment_date": payment.payment_date,
        "currency": payment.currency, "amount": payment.amount, **party,
        "bank_account_code": payment.bank_account_code,
        "bank_account_resolved": (account is not None if rules.account_required or payment.bank_account_code
                                  else None),
        "applications": [{
            "document": application.document.hub_id, "document_kind": rules.document, "amount": application.amount,
            "open_balance": documents.open_balance(application.document),
            "document_date": application.document.doc_date, "document_state": states[application.document_id],
            "same_party": application.document.party_id == payment.party_id,
        } for application in payment.applications],
    }

    def build():
        waiting_for = [a.document.hub_id for a in payment.applications if states[a.document_id] == ON_ITS_WAY]
        if waiting_for:
            raise Waiting(f"{rules.document}(s) {', '.join(waiting_for)} not confirmed in the accounting system yet")
        applied = tuple(AppliedTo(documents.external_id(a.document), a.amount) for a in payment.applications)
        if rules.kind == PaymentKind.BILL_PAYMENT:
            return BillPaymentExport(payment.hub_id, party["party_ref"], payment.payment_date, payment.amount,
                                     payment.currency, account.external_id, applied, payment.reference)
        return CustomerPaymentExport(payment.hub_id, party["party_ref"], payment.payment_date, payment.amount,
                                     payment.currency, account.external_id if account else None, applied,
                                     payment.reference)

    return record, build


def _applied_per_document(session, entity_id: str) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """What our payments on their way (queued, sent or confirmed) apply to each document, and the
    part of it not confirmed yet."""
    totals: dict[int, Decimal] = {}
    unconfirmed: dict[int, Decimal] = {}
    rows = session.execute(
        select(PaymentApplication.document_id, PaymentApplication.amount, OutboxEntry.state)
        .join(Payment)
        .join(OutboxEntry, (OutboxEntry.record_id == Payment.id) & (OutboxEntry.record_type == RecordType.PAYMENT)
              & (OutboxEntry.entity_id == Payment.entity_id))
        .where(Payment.entity_id == entity_id, OutboxEntry.state != OutboxState.REJECTED)
    ).all()
    for document_id, amount, state in rows:
        totals[document_id] = totals.get(document_id, Decimal(0)) + amount
        if state != OutboxState.CONFIRMED:
            unconfirmed[document_id] = unconfirmed.get(document_id, Decimal(0)) + amount
    return totals, unconfirmed
