"""prepare_exports, export_documents, export_payments: approved hub records into the outbox, then out.

Each approved record is checked and resolved against the mirror (vendor link, accounts, classes).
A record that fails goes to quarantine with every reason; one that passes gets its single outbox row.
A record waiting on something that is not its fault (its vendor is being created, the bill it pays
is not confirmed yet) simply waits for a later run.
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ledgerbridge.connectors.base import (
    AppliedTo,
    BillExport,
    BillPaymentExport,
    LineExport,
)
from ledgerbridge.flows import outbox, quarantine
from ledgerbridge.flows.quarantine import Reason
from ledgerbridge.flows.resolve import CodeIndex, usable_references
from ledgerbridge.ledger.models import (
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
from ledgerbridge.money import money_sum
from ledgerbridge.registry import Flow

MAX_DOC_NUMBER = 21  # QuickBooks Online's DocNumber limit
MONEY_PLACES = 2  # QuickBooks Online keeps amounts in cents; more places would be rounded there
BILLS = "bills"
BILL_PAYMENTS = "bill_payments"


class Waiting(Exception):
    """Not exportable yet, through no fault of the record."""


def prepare_exports(ctx) -> dict:
    if not ctx.entity.runs(Flow.BILLS):
        ctx.log.info("bills flow is not enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "bills flow not enabled"}
    counts: Counter = Counter()
    with ctx.ledger.session() as session:
        accounts = CodeIndex(usable_references(session, ctx.entity.id, "account"))
        classes = CodeIndex(usable_references(session, ctx.entity.id, "class"))
        bills = _not_in_outbox(session, ctx.entity.id, Document, RecordType.DOCUMENT).where(
            Document.kind == DocumentKind.BILL, Document.status == DocumentStatus.APPROVED
        ).options(selectinload(Document.lines), selectinload(Document.party).selectinload(Party.link))
        dismissed = quarantine.dismissed_keys(session, ctx.entity.id, BILLS)
        taken = _bill_numbers_taken(ctx, session)
        passed = []
        for bill in session.scalars(bills):
            if bill.hub_id in dismissed:
                counts["dismissed"] += 1  # a person decided it is never exported
                continue
            try:
                export, reasons = _bill_export(ctx, bill, accounts, classes)
                if export is not None and taken is not None:
                    reasons = _duplicate_number(export, taken)
            except Waiting as wait:
                counts["waiting"] += 1
                ctx.log.info("bill %s waits: %s", bill.hub_id, wait)
                continue
            if reasons:
                quarantine.hold(session, ctx.entity.id, BILLS, bill.hub_id, reasons, _bill_snapshot(bill))
                counts["quarantined"] += 1
                ctx.log.warning("bill %s quarantined: %s", bill.hub_id, "; ".join(map(str, reasons)))
                continue
            outbox.enqueue(session, ctx, RecordType.DOCUMENT, bill.id, f"bill:{bill.hub_id}", export)
            passed.append(bill.hub_id)
            counts["queued"] += 1
        counts["released_from_quarantine"] = quarantine.resolve(session, ctx.entity.id, BILLS, passed)
    ctx.log.info("bills: %d queued for export, %d quarantined, %d waiting, %d fixed since last quarantined, "
                 "%d dismissed by a person", counts["queued"], counts["quarantined"], counts["waiting"],
                 counts["released_from_quarantine"], counts["dismissed"])
    return dict(counts)


def export_documents(ctx) -> dict:
    if not ctx.entity.runs(Flow.BILLS):
        return {"skipped": "bills flow not enabled"}
    report = outbox.send(ctx, ("Bill",))
    ctx.log.info("bills: %d sent, %d confirmed (%d adopted after an unknown outcome), %d rejected, %d uncertain",
                 report.sent, report.confirmed, report.adopted, report.rejected, report.uncertain)
    return report.as_dict()


def export_payments(ctx) -> dict:
    if not ctx.entity.runs(Flow.BILL_PAYMENTS):
        ctx.log.info("bill_payments flow is not enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "bill_payments flow not enabled"}
    prepared = _prepare_bill_payments(ctx)
    report = outbox.send(ctx, ("BillPayment",))
    ctx.log.info("bill payments: %d sent, %d confirmed, %d rejected, %d uncertain",
                 report.sent, report.confirmed, report.rejected, report.uncertain)
    return {"prepared": prepared, **report.as_dict()}


def _not_in_outbox(session, entity_id: str, model, record_type: RecordType):
    queued = select(OutboxEntry.record_id).where(
        OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == record_type
    )
    return select(model).where(model.entity_id == entity_id, model.id.not_in(queued)).order_by(model.id)


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


def _vendor_id(party: Party | None, record: str, reasons: list[Reason]) -> str | None:
    """The linked vendor's external id, or a reason why there is none; raises Waiting while it is
    being created."""
    if party is None:
        reasons.append(Reason("vendor", f"{record} has no vendor"))
        return None
    link = party.link
    if link is not None and link.status == LinkStatus.LINKED and link.external_id:
        return link.external_id
    if link is not None and link.status == LinkStatus.PENDING_CREATE:
        raise Waiting(f"vendor {party.hub_id} {party.name!r} is being created in the accounting system")
    state = "in review" if link is not None and link.status == LinkStatus.REVIEW else "not linked"
    note = f" ({link.note})" if link is not None and link.note else ""
    reasons.append(Reason("vendor", f"vendor {party.hub_id} {party.name!r} is {state} to a vendor of the "
                                    f"accounting system{note}: link it, or allow create_missing_vendors", party.hub_id))
    return None


def _check_currency(ctx, currency: str, reasons: list[Reason]) -> None:
    if currency != ctx.entity.base_currency:
        reasons.append(Reason("currency", f"{currency} is not the entity's currency {ctx.entity.base_currency}",
                              currency))


def _bill_export(ctx, bill: Document, accounts: CodeIndex, classes: CodeIndex) -> tuple[BillExport | None, list[Reason]]:
    reasons: list[Reason] = []
    vendor_id = _vendor_id(bill.party, f"bill {bill.hub_id}", reasons)
    _check_currency(ctx, bill.currency, reasons)
    if bill.doc_number and len(bill.doc_number) > MAX_DOC_NUMBER:
        reasons.append(Reason("doc_number", f"longer than {MAX_DOC_NUMBER} characters", bill.doc_number))
    if bill.due_date and bill.due_date < bill.doc_date:
        reasons.append(Reason("due_date", f"before the document date {bill.doc_date}", str(bill.due_date)))
    if bill.total <= 0:
        reasons.append(Reason("total", "must be positive", bill.total))
    if not bill.lines:
        reasons.append(Reason("lines", "the bill has no lines"))
    elif money_sum(line.amount for line in bill.lines) != bill.total:
        reasons.append(Reason("total", f"{bill.total} differs from the sum of its lines "
                                       f"{money_sum(line.amount for line in bill.lines)}", bill.total))
    lines = []
    for line in bill.lines:
        where = f"lines[{line.line_no}]"
        if line.amount <= 0:
            reasons.append(Reason(f"{where}.amount", "must be positive", line.amount))
        if _too_precise(line.amount):
            reasons.append(Reason(f"{where}.amount", f"more than {MONEY_PLACES} decimal places", line.amount))
        account = accounts.get(line.account_code)
        if account is None:
            problem = "missing" if not line.account_code else "no active account with this number or name"
            reasons.append(Reason(f"{where}.account_code", problem, line.account_code))
        klass = classes.get(line.class_code) if line.class_code else None
        if line.class_code and klass is None:
            reasons.append(Reason(f"{where}.class_code", "no active class with this name", line.class_code))
        if account is not None:
            lines.append(LineExport(line.amount, account.external_id, line.description,
                                    klass.external_id if klass else None))
    if reasons:
        return None, reasons
    return BillExport(bill.hub_id, vendor_id, bill.doc_number, bill.doc_date, bill.due_date, bill.currency,
                      bill.total, tuple(lines), bill.memo), []


def _too_precise(amount: Decimal) -> bool:
    return amount != amount.quantize(Decimal(1).scaleb(-MONEY_PLACES))


def _bill_snapshot(bill: Document) -> dict:
    return {
        "hub_id": bill.hub_id, "doc_number": bill.doc_number, "vendor": bill.party.hub_id if bill.party else None,
        "doc_date": bill.doc_date.isoformat(), "currency": bill.currency, "total": bill.total,
        "lines": [{"line_no": l.line_no, "amount": l.amount, "account_code": l.account_code} for l in bill.lines],
    }


def _prepare_bill_payments(ctx) -> dict:
    counts: Counter = Counter()
    with ctx.ledger.session() as session:
        banks = CodeIndex([a for a in usable_references(session, ctx.entity.id, "account") if a.account_type == "Bank"])
        bill_outbox = {record_id: (state, external_id) for record_id, state, external_id in session.execute(
            select(OutboxEntry.record_id, OutboxEntry.state, OutboxEntry.external_id).where(
                OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == RecordType.DOCUMENT))}
        held_bills = quarantine.held_keys(session, ctx.entity.id, BILLS)
        applied_total = _applied_per_document(session, ctx.entity.id)
        payments = _not_in_outbox(session, ctx.entity.id, Payment, RecordType.PAYMENT).where(
            Payment.kind == PaymentKind.BILL_PAYMENT, Payment.status == DocumentStatus.APPROVED
        ).order_by(None).order_by(Payment.payment_date, Payment.id).options(
            selectinload(Payment.applications).selectinload(PaymentApplication.document),
            selectinload(Payment.party).selectinload(Party.link))
        dismissed = quarantine.dismissed_keys(session, ctx.entity.id, BILL_PAYMENTS)
        passed = []
        for payment in session.scalars(payments):
            if payment.hub_id in dismissed:
                counts["dismissed"] += 1
                continue
            try:
                export, reasons = _payment_export(ctx, payment, banks, bill_outbox, held_bills, applied_total)
            except Waiting as wait:
                counts["waiting"] += 1
                ctx.log.info("bill payment %s waits: %s", payment.hub_id, wait)
                continue
            if reasons:
                quarantine.hold(session, ctx.entity.id, BILL_PAYMENTS, payment.hub_id, reasons,
                                {"hub_id": payment.hub_id, "amount": payment.amount,
                                 "applied": {a.document.hub_id: a.amount for a in payment.applications}})
                counts["quarantined"] += 1
                ctx.log.warning("bill payment %s quarantined: %s", payment.hub_id, "; ".join(map(str, reasons)))
                continue
            outbox.enqueue(session, ctx, RecordType.PAYMENT, payment.id, f"bill_payment:{payment.hub_id}", export)
            for application in payment.applications:
                applied_total[application.document_id] = (
                    applied_total.get(application.document_id, Decimal(0)) + application.amount)
            passed.append(payment.hub_id)
            counts["queued"] += 1
        counts["released_from_quarantine"] = quarantine.resolve(session, ctx.entity.id, BILL_PAYMENTS, passed)
    ctx.log.info("bill payments: %d queued, %d quarantined, %d waiting for their bills",
                 counts["queued"], counts["quarantined"], counts["waiting"])
    return dict(counts)


def _payment_export(ctx, payment: Payment, banks: CodeIndex, bill_outbox: dict[int, tuple[str, str | None]],
                    held_bills: set[str], applied_total: dict[int, Decimal]
                    ) -> tuple[BillPaymentExport | None, list[Reason]]:
    reasons: list[Reason] = []
    vendor_id = _vendor_id(payment.party, f"bill payment {payment.hub_id}", reasons)
    if payment.amount <= 0:
        reasons.append(Reason("amount", "must be positive", payment.amount))
    if _too_precise(payment.amount) or any(_too_precise(a.amount) for a in payment.applications):
        reasons.append(Reason("amount", f"more than {MONEY_PLACES} decimal places", payment.amount))
    _check_currency(ctx, payment.currency, reasons)
    bank = banks.get(payment.bank_account_code)
    if bank is None:
        reasons.append(Reason("bank_account_code", "no active Bank account with this number or name",
                              payment.bank_account_code))
    if not payment.applications:
        reasons.append(Reason("applications", "the payment is not applied to any bill"))
    elif money_sum(a.amount for a in payment.applications) != payment.amount:
        reasons.append(Reason("amount", f"{payment.amount} differs from the sum applied to bills "
                                        f"{money_sum(a.amount for a in payment.applications)}", payment.amount))
    applied = []
    waiting_for = []
    for application in payment.applications:
        document = application.document
        where = f"applications[{document.hub_id}]"
        if application.amount <= 0:
            reasons.append(Reason(f"{where}.amount", "must be positive", application.amount))
        open_balance = document.total - applied_total.get(document.id, Decimal(0))
        if application.amount > open_balance:
            reasons.append(Reason(f"{where}.amount", f"more than the bill's open balance {open_balance}",
                                  application.amount))
        if document.party_id != payment.party_id:
            reasons.append(Reason(where, "the bill belongs to another vendor", document.hub_id))
        if payment.payment_date < document.doc_date:
            reasons.append(Reason("payment_date", f"before the date of bill {document.hub_id}",
                                  str(payment.payment_date)))
        state, external_id = bill_outbox.get(document.id, (None, None))
        if state == OutboxState.CONFIRMED:
            applied.append(AppliedTo(external_id, application.amount))
        elif document.status != DocumentStatus.APPROVED:
            reasons.append(Reason(where, f"the bill it pays is {document.status}, not approved", document.hub_id))
        elif state == OutboxState.REJECTED:
            reasons.append(Reason(where, "the bill it pays was rejected by the accounting system", document.hub_id))
        elif document.hub_id in held_bills:
            reasons.append(Reason(where, "the bill it pays is quarantined", document.hub_id))
        else:
            waiting_for.append(document.hub_id)  # queued, on its way, or waiting for its vendor
    if reasons:
        return None, reasons
    if waiting_for:
        raise Waiting(f"bill(s) {', '.join(waiting_for)} not confirmed in the accounting system yet")
    return BillPaymentExport(payment.hub_id, vendor_id, payment.payment_date, payment.amount, payment.currency,
                             bank.external_id, tuple(applied), payment.reference), []


def _applied_per_document(session, entity_id: str) -> dict[int, Decimal]:
    """What the bill payments already on their way (queued, sent or confirmed) apply to each document.

    Payments are then taken in date order, so the one that would over-pay a bill is the one held back.
    """
    totals: dict[int, Decimal] = {}
    rows = session.execute(
        select(PaymentApplication.document_id, PaymentApplication.amount)
        .join(Payment)
        .join(OutboxEntry, (OutboxEntry.record_id == Payment.id) & (OutboxEntry.record_type == RecordType.PAYMENT)
              & (OutboxEntry.entity_id == Payment.entity_id))
        .where(Payment.entity_id == entity_id, OutboxEntry.state != OutboxState.REJECTED)
    ).all()
    for document_id, amount in rows:
        totals[document_id] = totals.get(document_id, Decimal(0)) + amount
    return totals
