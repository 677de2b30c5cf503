"""prepare_exports, export_documents, export_payments: approved hub records into the outbox, then out.

Documents (bills, invoices, journal entries) are checked and resolved against the mirror (party
link, accounts, classes, items) in prepare_exports and sent in export_documents, followed by their
attachments once they exist in the accounting system. Payments (bill payments, customer payments)
are prepared and sent in export_payments, after the documents they pay are confirmed.
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
from ledgerbridge.flows.preparing import (
    MONEY_PLACES,
    Waiting,
    check_currency,
    check_doc_number,
    linked_party_id,
    not_in_outbox,
    queue_checked,
    too_precise,
)
from ledgerbridge.flows.quarantine import Reason
from ledgerbridge.flows.resolve import CodeIndex, usable_references
from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    DocumentKind,
    DocumentStatus,
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
from ledgerbridge.money import money_sum
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

    def account(self, code: str | None, where: str, reasons: list[Reason]):
        account = self.accounts.get(code)
        if account is None:
            problem = "missing" if not code else "no active account with this number or name"
            reasons.append(Reason(f"{where}.account_code", problem, code))
        return account

    def class_id(self, code: str | None, where: str, reasons: list[Reason]) -> str | None:
        if not code:
            return None
        klass = self.classes.get(code)
        if klass is None:
            reasons.append(Reason(f"{where}.class_code", "no active class with this name", code))
            return None
        return klass.external_id

    def item(self, code: str | None, where: str, reasons: list[Reason]):
        item = self.items.get(code)
        if item is None:
            problem = "missing" if not code else "no active product or service with this name"
            reasons.append(Reason(f"{where}.item_code", problem, code))
        return item


def prepare_exports(ctx) -> dict:
    enabled = [flow for flow in DOCUMENT_TARGETS if ctx.entity.runs(flow)]
    if not enabled:
        ctx.log.info("no document flow (bills, invoices, journal_entries) is enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "no document flow enabled"}
    summary: dict = {}
    with ctx.ledger.session() as session:
        resolve = _Resolver(session, ctx.entity.id)
        if Flow.BILLS in enabled:
            summary.update(_prepare_bills(ctx, session, resolve))  # bills' counts stay at the top level
        if Flow.INVOICES in enabled:
            summary["invoices"] = dict(_prepare_documents(
                ctx, session, DocumentKind.INVOICE, INVOICES, "invoice",
                lambda invoice: _invoice_export(ctx, invoice, resolve)))
        if Flow.JOURNAL_ENTRIES in enabled:
            summary["journal_entries"] = dict(_prepare_documents(
                ctx, session, DocumentKind.JOURNAL_ENTRY, JOURNAL_ENTRIES, "journal entry",
                lambda entry: _journal_entry_export(ctx, entry, resolve)))
    return summary


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


def export_payments(ctx) -> dict:
    flows = [flow for flow in PAYMENT_TARGETS if ctx.entity.runs(flow)]
    if not flows:
        ctx.log.info("no payment flow (bill_payments, customer_payments) is enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "no payment flow enabled"}
    prepared = {flow.value: dict(_prepare_payments(ctx, PAYMENT_KINDS[flow])) for flow in flows}
    targets = tuple(PAYMENT_TARGETS[flow] for flow in flows)
    report = outbox.send(ctx, targets)
    ctx.log.info("payments (%s): %d sent, %d confirmed, %d rejected, %d uncertain", "/".join(targets),
                 report.sent, report.confirmed, report.rejected, report.uncertain)
    # A bill-payments-only entity keeps the flat shape: {"prepared": counts, ...}.
    return {"prepared": prepared[flows[0].value] if len(flows) == 1 else prepared, **report.as_dict()}


# -- documents ---------------------------------------------------------------------------------

def _approved(session, ctx, kind: DocumentKind):
    return not_in_outbox(session, ctx.entity.id, Document, RecordType.DOCUMENT).where(
        Document.kind == kind, Document.status == DocumentStatus.APPROVED
    ).options(selectinload(Document.lines), selectinload(Document.party).selectinload(Party.link))


def _prepare_documents(ctx, session, kind: DocumentKind, dataset: str, label: str, build) -> Counter:
    return queue_checked(ctx, session, dataset, label, session.scalars(_approved(session, ctx, kind)), build,
                         RecordType.DOCUMENT, _document_snapshot)


def _prepare_bills(ctx, session, resolve: _Resolver) -> Counter:
    taken = _bill_numbers_taken(ctx, session)

    def build(bill: Document):
        export, reasons = _bill_export(ctx, bill, resolve)
        if export is not None and taken is not None:
            reasons = _duplicate_number(export, taken)
        return export, reasons

    return _prepare_documents(ctx, session, DocumentKind.BILL, BILLS, "bill", build)


def _check_document(ctx, document: Document, reasons: list[Reason], positive_lines: bool = True) -> None:
    """What every document must satisfy: currency, number, dates, a positive total equal to its lines."""
    what = document.kind.replace("_", " ")
    check_currency(ctx, document.currency, reasons)
    check_doc_number(ctx, document.doc_number, reasons, required=document.kind != DocumentKind.JOURNAL_ENTRY)
    if document.due_date and document.due_date < document.doc_date:
        reasons.append(Reason("due_date", f"before the document date {document.doc_date}", str(document.due_date)))
    if document.total <= 0:
        reasons.append(Reason("total", "must be positive", document.total))
    if not document.lines:
        reasons.append(Reason("lines", f"the {what} has no lines"))
    for line in document.lines:
        where = f"lines[{line.line_no}]"
        if positive_lines and line.amount <= 0:
            reasons.append(Reason(f"{where}.amount", "must be positive", line.amount))
        if too_precise(line.amount):
            reasons.append(Reason(f"{where}.amount", f"more than {MONEY_PLACES} decimal places", line.amount))


def _check_total(document: Document, reasons: list[Reason]) -> None:
    lines_total = money_sum(line.amount for line in document.lines)
    if document.lines and lines_total != document.total:
        reasons.append(Reason("total", f"{document.total} differs from the sum of its lines {lines_total}",
                              document.total))


def _bill_export(ctx, bill: Document, resolve: _Resolver) -> tuple[BillExport | None, list[Reason]]:
    reasons: list[Reason] = []
    vendor_id = linked_party_id(bill.party, "vendor", f"bill {bill.hub_id}", reasons)
    _check_document(ctx, bill, reasons)
    _check_total(bill, reasons)
    lines = []
    for line in bill.lines:
        where = f"lines[{line.line_no}]"
        account = resolve.account(line.account_code, where, reasons)
        class_id = resolve.class_id(line.class_code, where, reasons)
        if account is not None:
            lines.append(LineExport(line.amount, account.external_id, line.description, class_id))
    if reasons:
        return None, reasons
    return BillExport(bill.hub_id, vendor_id, bill.doc_number, bill.doc_date, bill.due_date, bill.currency,
                      bill.total, tuple(lines), bill.memo), []


def _invoice_export(ctx, invoice: Document, resolve: _Resolver) -> tuple[InvoiceExport | None, list[Reason]]:
    reasons: list[Reason] = []
    customer_id = linked_party_id(invoice.party, "customer", f"invoice {invoice.hub_id}", reasons)
    _check_document(ctx, invoice, reasons)
    _check_total(invoice, reasons)
    lines = []
    for line in invoice.lines:
        where = f"lines[{line.line_no}]"
        if line.quantity is not None and line.quantity <= 0:
            reasons.append(Reason(f"{where}.quantity", "must be positive", line.quantity))
        if line.quantity is not None and line.unit_price is not None and \
                (line.quantity * line.unit_price).quantize(Decimal("0.01")) != line.amount:
            reasons.append(Reason(f"{where}.amount", f"differs from quantity x unit price "
                                                     f"{line.quantity * line.unit_price}", line.amount))
        item = resolve.item(line.item_code, where, reasons)
        class_id = resolve.class_id(line.class_code, where, reasons)
        if item is not None:
            lines.append(SalesLineExport(line.amount, item.external_id, line.quantity, line.unit_price,
                                         line.description, class_id))
    if reasons:
        return None, reasons
    return InvoiceExport(invoice.hub_id, customer_id, invoice.doc_number, invoice.doc_date, invoice.due_date,
                         invoice.currency, invoice.total, tuple(lines), invoice.memo), []


def _journal_entry_export(ctx, entry: Document, resolve: _Resolver) -> tuple[JournalEntryExport | None, list[Reason]]:
    reasons: list[Reason] = []
    _check_document(ctx, entry, reasons)
    debits = money_sum(line.amount for line in entry.lines if line.posting_type == "debit")
    credits = money_sum(line.amount for line in entry.lines if line.posting_type == "credit")
    if debits != credits:
        reasons.append(Reason("lines", f"debits {debits} and credits {credits} do not balance", debits - credits))
    elif entry.lines and debits != entry.total:
        reasons.append(Reason("total", f"{entry.total} differs from the total of its debits {debits}", entry.total))
    lines = []
    for line in entry.lines:
        where = f"lines[{line.line_no}]"
        if line.posting_type not in ("debit", "credit"):
            reasons.append(Reason(f"{where}.posting_type", "must be debit or credit", line.posting_type))
            continue
        account = resolve.account(line.account_code, where, reasons)
        class_id = resolve.class_id(line.class_code, where, reasons)
        if account is not None:
            lines.append(JournalLineExport(line.posting_type.capitalize(), line.amount, account.external_id,
                                           line.description, class_id))
    if reasons:
        return None, reasons
    return JournalEntryExport(entry.hub_id, entry.doc_number, entry.doc_date, entry.currency, tuple(lines),
                              entry.memo), []


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


def _duplicate_number(export: BillExport, taken: dict[tuple[str, str], str]) -> list[Reason]:
    """QuickBooks would refuse the number (6140): say so before sending, naming the holder."""
    if not export.doc_number:
        return []
    holder = taken.setdefault((export.vendor_id, export.doc_number), f"bill:{export.hub_id}")
    if holder == f"bill:{export.hub_id}":
        return []
    return [Reason("doc_number", f"the vendor already has a bill with this number ({holder}); the company "
                                 "refuses duplicate bill numbers", export.doc_number)]


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


def _prepare_payments(ctx, rules: PaymentKindRules) -> Counter:
    with ctx.ledger.session() as session:
        accounts = CodeIndex([a for a in usable_references(session, ctx.entity.id, "account")
                              if a.account_type in rules.account_types])
        document_outbox = {record_id: (state, external_id) for record_id, state, external_id in session.execute(
            select(OutboxEntry.record_id, OutboxEntry.state, OutboxEntry.external_id).where(
                OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == RecordType.DOCUMENT))}
        held = quarantine.held_keys(session, ctx.entity.id, rules.document_dataset)
        applied_total, unconfirmed = _applied_per_document(session, ctx.entity.id)
        # In date order, so the payment that would over-pay a document is the one held back.
        payments = not_in_outbox(session, ctx.entity.id, Payment, RecordType.PAYMENT).where(
            Payment.kind == rules.kind, Payment.status == DocumentStatus.APPROVED
        ).order_by(None).order_by(Payment.payment_date, Payment.id).options(
            selectinload(Payment.applications).selectinload(PaymentApplication.document),
            selectinload(Payment.party).selectinload(Party.link))

        def build(payment: Payment):
            export, reasons = _payment_export(ctx, rules, payment, accounts, document_outbox, held,
                                              (applied_total, unconfirmed))
            if export is not None:
                for application in payment.applications:
                    for totals in (applied_total, unconfirmed):
                        totals[application.document_id] = (
                            totals.get(application.document_id, Decimal(0)) + application.amount)
            return export, reasons

        def snapshot(payment: Payment) -> dict:
            return {"hub_id": payment.hub_id, "amount": payment.amount,
                    "applied": {a.document.hub_id: a.amount for a in payment.applications}}

        return queue_checked(ctx, session, rules.dataset, rules.label, session.scalars(payments), build,
                             RecordType.PAYMENT, snapshot)


def _payment_export(ctx, rules: PaymentKindRules, payment: Payment, accounts: CodeIndex,
                    document_outbox: dict[int, tuple[str, str | None]], held: set[str],
                    applied_so_far: tuple[dict[int, Decimal], dict[int, Decimal]]):
    reasons: list[Reason] = []
    party_id = linked_party_id(payment.party, rules.party, f"{rules.label} {payment.hub_id}", reasons)
    if payment.amount <= 0:
        reasons.append(Reason("amount", "must be positive", payment.amount))
    if too_precise(payment.amount) or any(too_precise(a.amount) for a in payment.applications):
        reasons.append(Reason("amount", f"more than {MONEY_PLACES} decimal places", payment.amount))
    check_currency(ctx, payment.currency, reasons)
    account = accounts.get(payment.bank_account_code)
    if account is None and (rules.account_required or payment.bank_account_code):
        kinds = " or ".join(sorted(rules.account_types))
        reasons.append(Reason("bank_account_code", f"no active {kinds} account with this number or name",
                              payment.bank_account_code))
    if not payment.applications:
        reasons.append(Reason("applications", f"the payment is not applied to any {rules.document}"))
    elif money_sum(a.amount for a in payment.applications) != payment.amount:
        reasons.append(Reason("amount", f"{payment.amount} differs from the sum applied to {rules.document}s "
                                        f"{money_sum(a.amount for a in payment.applications)}", payment.amount))
    applied, waiting_for = [], []
    for application in payment.applications:
        applied_to = _check_application(rules, payment, application, document_outbox, held, applied_so_far, reasons)
        if applied_to == "waiting":
            waiting_for.append(application.document.hub_id)  # queued, on its way, or waiting for its party
        elif applied_to is not None:
            applied.append(applied_to)
    if reasons:
        return None, reasons
    if waiting_for:
        raise Waiting(f"{rules.document}(s) {', '.join(waiting_for)} not confirmed in the accounting system yet")
    if rules.kind == PaymentKind.BILL_PAYMENT:
        return BillPaymentExport(payment.hub_id, party_id, payment.payment_date, payment.amount, payment.currency,
                                 account.external_id, tuple(applied), payment.reference), []
    return CustomerPaymentExport(payment.hub_id, party_id, payment.payment_date, payment.amount, payment.currency,
                                 account.external_id if account else None, tuple(applied), payment.reference), []


def _check_application(rules: PaymentKindRules, payment: Payment, application: PaymentApplication,
                       document_outbox: dict, held: set[str],
                       applied_so_far: tuple[dict[int, Decimal], dict[int, Decimal]],
                       reasons: list[Reason]) -> AppliedTo | str | None:
    """What the application pays in the accounting system; "waiting" while that is not confirmed."""
    document = application.document
    where = f"applications[{document.hub_id}]"
    if application.amount <= 0:
        reasons.append(Reason(f"{where}.amount", "must be positive", application.amount))
    open_balance = _open_balance(document, *applied_so_far)
    if application.amount > open_balance:
        reasons.append(Reason(f"{where}.amount", f"more than the {rules.document}'s open balance {open_balance}",
                              application.amount))
    if document.party_id != payment.party_id:
        reasons.append(Reason(where, f"the {rules.document} belongs to another {rules.party}", document.hub_id))
    if payment.payment_date < document.doc_date:
        reasons.append(Reason("payment_date", f"before the date of {rules.document} {document.hub_id}",
                              str(payment.payment_date)))
    state, external_id = document_outbox.get(document.id, (None, None))
    if state == OutboxState.CONFIRMED:
        return AppliedTo(external_id, application.amount)
    if document.status != DocumentStatus.APPROVED:
        reasons.append(Reason(where, f"the {rules.document} it pays is {document.status}, not approved",
                              document.hub_id))
    elif state == OutboxState.REJECTED:
        reasons.append(Reason(where, f"the {rules.document} it pays was rejected by the accounting system",
                              document.hub_id))
    elif document.hub_id in held:
        reasons.append(Reason(where, f"the {rules.document} it pays is quarantined", document.hub_id))
    else:
        return "waiting"
    return None


def _open_balance(document, applied_total: dict[int, Decimal], unconfirmed: dict[int, Decimal]) -> Decimal:
    """What a new payment may still apply to the document: the hub's view (total less our payments on
    their way), and the accounting system's last-read balance less our payments it has not seen yet
    (someone may have paid there directly): the lower of the two."""
    open_balance = document.total - applied_total.get(document.id, Decimal(0))
    if document.open_balance is not None:
        open_balance = min(open_balance, document.open_balance - unconfirmed.get(document.id, Decimal(0)))
    return open_balance


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
