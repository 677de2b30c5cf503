"""reconcile: hub vs accounting system, counts and amounts, for the person reading the task log.

Every approved bill and bill payment is in exactly one bucket: confirmed, rejected, quarantined, or
still on its way (pending / sending / uncertain / waiting). Confirmed bills are read back from the
accounting system and their amounts compared; a difference fails the task.
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlalchemy import select

from ledgerbridge.flows import quarantine
from ledgerbridge.flows.exports import BILL_PAYMENTS, BILLS
from ledgerbridge.ledger.models import (
    Document,
    DocumentKind,
    DocumentStatus,
    OutboxEntry,
    OutboxState,
    Payment,
    PaymentKind,
    RecordType,
    SyncRun,
)

BUCKET_ORDER = ("confirmed", "quarantined", "rejected", "waiting", "pending", "sending", "uncertain")


class ReconciliationError(Exception):
    pass


def reconcile(ctx) -> dict:
    with ctx.ledger.session() as session:
        bills = session.execute(
            select(Document.id, Document.hub_id, Document.total)
            .where(Document.entity_id == ctx.entity.id, Document.kind == DocumentKind.BILL,
                   Document.status == DocumentStatus.APPROVED)
        ).all()
        payments = session.execute(
            select(Payment.id, Payment.hub_id, Payment.amount)
            .where(Payment.entity_id == ctx.entity.id, Payment.kind == PaymentKind.BILL_PAYMENT,
                   Payment.status == DocumentStatus.APPROVED)
        ).all()
        outbox = {(row.record_type, row.record_id): row for row in session.scalars(
            select(OutboxEntry).where(OutboxEntry.entity_id == ctx.entity.id,
                                      OutboxEntry.record_type.in_((RecordType.DOCUMENT, RecordType.PAYMENT))))}
        bill_report = _buckets(bills, RecordType.DOCUMENT, outbox, quarantine.held_keys(session, ctx.entity.id, BILLS))
        payment_report = _buckets(payments, RecordType.PAYMENT, outbox,
                                  quarantine.held_keys(session, ctx.entity.id, BILL_PAYMENTS))
        exported_this_run = created_in_run(session, ctx.entity.id, ctx.run_id)
        open_quarantine = quarantine.open_count(session, ctx.entity.id)

    rows = ((outbox.get((RecordType.DOCUMENT, record_id)), hub_id, total) for record_id, hub_id, total in bills)
    confirmed_rows = [(row, hub_id, total) for row, hub_id, total in rows
                      if row is not None and row.state == OutboxState.CONFIRMED]
    company_id = ctx.connector.company_id
    # Bills confirmed in a company the entity was pinned to before a re-pin are not in this one.
    confirmed_bills = {row.external_id: (hub_id, total) for row, hub_id, total in confirmed_rows
                       if row.company_id == company_id}
    mismatches = []
    remote_total = Decimal(0)
    if confirmed_bills and not ctx.params.dry_run:
        remote = ctx.connector.fetch_documents("Bill", list(confirmed_bills))
        for external_id, (hub_id, total) in confirmed_bills.items():
            found = remote.get(external_id)
            if found is None:
                mismatches.append(f"bill {hub_id}: accounting id {external_id} not found")
                continue
            remote_total += found.total
            if found.total != total:
                mismatches.append(f"bill {hub_id}: hub total {total} but accounting total {found.total}")
    report = {
        "bills": bill_report,
        "bill_payments": payment_report,
        "accounting_total_of_confirmed_bills": remote_total,
        "confirmed_in_earlier_companies": len(confirmed_rows) - len(confirmed_bills),
        "mismatches": mismatches,
        "exported_this_run": exported_this_run,
        "open_quarantine": open_quarantine,
    }
    _log(ctx, report)
    if mismatches:
        raise ReconciliationError(f"{ctx.entity.id}: {len(mismatches)} mismatch(es) between hub and accounting "
                                  f"system: " + "; ".join(mismatches[:10]))
    return report


def _buckets(records, record_type: RecordType, outbox: dict, held: set[str]) -> dict:
    counts: Counter = Counter()
    amounts: dict[str, Decimal] = {}
    for record_id, hub_id, amount in records:
        row = outbox.get((record_type, record_id))
        if row is not None:
            bucket = str(row.state)
        elif hub_id in held:
            bucket = "quarantined"
        else:
            bucket = "waiting"
        counts[bucket] += 1
        amounts[bucket] = amounts.get(bucket, Decimal(0)) + amount
    return {"approved": len(records), "approved_total": sum(amounts.values(), Decimal(0)),
            "buckets": dict(counts), "amounts": amounts}


def created_in_run(session, entity_id: str, run_id: str) -> int:
    """Documents and payments created in the accounting system by a run (adoptions of earlier sends excluded)."""
    summaries = session.scalars(select(SyncRun.summary).where(
        SyncRun.entity_id == entity_id, SyncRun.run_id == run_id,
        SyncRun.step.in_(("export_documents", "export_payments"))))
    return sum(int(summary.get("created", 0)) for summary in summaries)


def _log(ctx, report: dict) -> None:
    currency = ctx.entity.base_currency
    lines = [f"reconciliation of {ctx.entity.id} ({ctx.entity.name}), run {ctx.run_id}"]
    for title, part in (("bills", report["bills"]), ("bill payments", report["bill_payments"])):
        lines.append(f"  approved {title:<14}: {part['approved']:>6}  {part['approved_total']:>14} {currency}")
        for bucket in BUCKET_ORDER:
            if part["buckets"].get(bucket):
                lines.append(f"    {bucket:<21}: {part['buckets'][bucket]:>6}  {part['amounts'][bucket]:>14} {currency}")
    earlier = report["confirmed_in_earlier_companies"]
    lines.append(f"  confirmed bills, per the accounting system: "
                 f"{report['bills']['buckets'].get('confirmed', 0) - earlier}, "
                 f"{report['accounting_total_of_confirmed_bills']} {currency}"
                 + (f" ({earlier} more in a company the entity was pinned to before)" if earlier else ""))
    lines.append(f"  documents and payments created this run: {report['exported_this_run']}; open quarantine "
                 f"entries: {report['open_quarantine']}; mismatches: {len(report['mismatches'])}")
    ctx.log.info("\n".join(lines))
