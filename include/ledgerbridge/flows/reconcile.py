"""reconcile: hub vs accounting system, counts and amounts, for the person reading the task log.

Every approved bill is in exactly one bucket: confirmed, rejected, quarantined, or still on its way
(queued / waiting). Confirmed bills are read back from the accounting system and their amounts compared.
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlalchemy import select

from ledgerbridge.flows import quarantine
from ledgerbridge.flows.exports import BILLS
from ledgerbridge.ledger.models import (
    Document,
    DocumentKind,
    DocumentStatus,
    OutboxEntry,
    OutboxState,
    QuarantineEntry,
    QuarantineStatus,
    RecordType,
    SyncRun,
)


def reconcile(ctx) -> dict:
    with ctx.ledger.session() as session:
        bills = session.execute(
            select(Document.id, Document.hub_id, Document.total)
            .where(Document.entity_id == ctx.entity.id, Document.kind == DocumentKind.BILL,
                   Document.status == DocumentStatus.APPROVED)
        ).all()
        outbox_rows = {
            row.record_id: row
            for row in session.scalars(select(OutboxEntry).where(
                OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == RecordType.DOCUMENT))
        }
        held = set(session.scalars(select(QuarantineEntry.record_key).where(
            QuarantineEntry.entity_id == ctx.entity.id, QuarantineEntry.dataset == BILLS,
            QuarantineEntry.status.in_((QuarantineStatus.OPEN, QuarantineStatus.DISMISSED)))))
        exported_this_run = created_in_run(session, ctx.entity.id, ctx.run_id)
        open_quarantine = quarantine.open_count(session, ctx.entity.id)
    buckets: Counter = Counter()
    amounts: dict[str, Decimal] = {}
    confirmed: dict[str, tuple[str, Decimal]] = {}
    for document_id, hub_id, total in bills:
        row = outbox_rows.get(document_id)
        if row is not None and row.state == OutboxState.CONFIRMED:
            bucket = "confirmed"
            confirmed[row.external_id] = (hub_id, total)
        elif row is not None:
            bucket = row.state  # pending / sending / uncertain / rejected
        elif hub_id in held:
            bucket = "quarantined"
        else:
            bucket = "waiting"
        buckets[bucket] += 1
        amounts[bucket] = amounts.get(bucket, Decimal(0)) + total

    mismatches = []
    remote_total = Decimal(0)
    if confirmed and not ctx.params.dry_run:
        remote = ctx.connector.fetch_documents("Bill", list(confirmed))
        for external_id, (hub_id, total) in confirmed.items():
            found = remote.get(external_id)
            if found is None:
                mismatches.append(f"bill {hub_id}: QuickBooks id {external_id} not found")
            else:
                remote_total += found.total
                if found.total != total:
                    mismatches.append(f"bill {hub_id}: hub total {total} but accounting total {found.total}")
    hub_total = sum(amounts.values(), Decimal(0))
    report = {
        "approved_bills": len(bills),
        "approved_total": hub_total,
        "buckets": dict(buckets),
        "amounts": amounts,
        "accounting_total_of_confirmed": remote_total,
        "mismatches": mismatches,
        "exported_this_run": exported_this_run,
        "open_quarantine": open_quarantine,
    }
    _log(ctx, report)
    if mismatches:
        raise ReconciliationError(f"{ctx.entity.id}: {len(mismatches)} mismatch(es) between hub and accounting "
                                  f"system: " + "; ".join(mismatches[:10]))
    return report


class ReconciliationError(Exception):
    pass


def created_in_run(session, entity_id: str, run_id: str) -> int:
    """Documents and payments created in the accounting system by a run (adoptions of earlier sends excluded)."""
    summaries = session.scalars(select(SyncRun.summary).where(
        SyncRun.entity_id == entity_id, SyncRun.run_id == run_id,
        SyncRun.step.in_(("export_documents", "export_payments"))))
    return sum(int(summary.get("created", 0)) for summary in summaries)


def _log(ctx, report: dict) -> None:
    currency = ctx.entity.base_currency
    lines = [f"reconciliation of {ctx.entity.id} ({ctx.entity.name}), run {ctx.run_id}",
             f"  approved bills in the hub : {report['approved_bills']:>6}  {report['approved_total']:>14} {currency}"]
    for bucket in ("confirmed", "quarantined", "rejected", "waiting", "pending", "sending", "uncertain"):
        if report["buckets"].get(bucket):
            lines.append(f"    {bucket:<22}: {report['buckets'][bucket]:>6}  {report['amounts'][bucket]:>14} {currency}")
    lines.append(f"  confirmed, per accounting: {report['buckets'].get('confirmed', 0):>6}  "
                 f"{report['accounting_total_of_confirmed']:>14} {currency}")
    lines.append(f"  documents and payments created this run: {report['exported_this_run']}; open quarantine entries: "
                 f"{report['open_quarantine']}; mismatches: {len(report['mismatches'])}")
    ctx.log.info("\n".join(lines))
