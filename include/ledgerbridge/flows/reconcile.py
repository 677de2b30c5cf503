"""reconcile: hub vs accounting system, counts and amounts, for the person reading the task log.

Every approved bill, invoice, journal entry, bill payment and customer payment is in exactly one
bucket: confirmed, rejected, quarantined, or still on its way (pending / sending / uncertain /
waiting). Confirmed documents are read back from the accounting system and their totals compared;
a difference, or a document gone from the accounting system, fails the task.
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlalchemy import select

from ledgerbridge import kinds
from ledgerbridge.connectors.base import CREATE, UPDATE_PREFIX, VOID
from ledgerbridge.context import RunContext
from ledgerbridge.kinds import RecordKind
from ledgerbridge.kinds.document import DocumentRecordKind
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import (
    Document,
    DocumentStatus,
    OutboxEntry,
    OutboxState,
    QualityResult,
    RecordType,
    SyncRun,
)

BUCKET_ORDER = ("confirmed", "quarantined", "rejected", "retry", "waiting", "pending", "sending", "uncertain")
# What a data-quality gate did with the records it checked (flows.preparing.check_and_queue).
OUTCOMES = ("accepted", "queued", "quarantined", "released_by_a_person", "released_from_quarantine", "waiting")


class ReconciliationError(Exception):
    """Hub and accounting system disagree; `summary` is the full report (kept with the failed step)."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


def reconciled_kinds() -> tuple[RecordKind, ...]:
    """Documents and payments, in report order; each report section is keyed by the kind's flow."""
    return (*kinds.documents(), *kinds.payments())


ALWAYS_SHOWN = (kinds.BILL.name, "bill_payment")


def reconcile(ctx: RunContext) -> dict:
    report: dict = {}
    records = {}
    with ctx.ledger.session() as session:
        outbox = {(row.record_type, row.record_id): row for row in session.scalars(
            select(OutboxEntry).where(OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.operation == CREATE,
                                      OutboxEntry.record_type.in_((RecordType.DOCUMENT, RecordType.PAYMENT))))}
        changing = _changes_not_confirmed(session, ctx.entity.id)
        for kind in reconciled_kinds():
            model = kind.model
            amount = model.total if model is Document else model.amount
            records[kind.name] = session.execute(
                select(model.id, model.hub_id, amount)
                .where(model.entity_id == ctx.entity.id, model.kind == kind.ledger_kind,
                       model.status == DocumentStatus.APPROVED)
            ).all()
            # Held by the export gate, or at intake (the source's newer version could not be taken in).
            held = (quarantine.held_keys(session, ctx.entity.id, kind.dataset)
                    | quarantine.held_keys(session, ctx.entity.id, f"source.{kind.dataset}"))
            report[kind.flow.value] = _buckets(records[kind.name], kind.record_type, outbox, held)
        exported_this_run = created_in_run(session, ctx.entity.id, ctx.run_id)
        open_quarantine = quarantine.open_count(session, ctx.entity.id)
        open_by_dataset = quarantine.open_counts_by_dataset(session, ctx.entity.id)
        data_quality = quality_this_run(session, ctx.entity.id, ctx.run_id)

    company_id = ctx.connector.company_id
    mismatches: list[str] = []
    earlier = 0
    for kind in kinds.documents():
        record_type = kind.record_type
        confirmed = [(outbox[(record_type, record_id)], hub_id, total) for record_id, hub_id, total in records[kind.name]
                     if (record_type, record_id) in outbox and record_id not in changing
                     and outbox[(record_type, record_id)].state == OutboxState.CONFIRMED]
        # Documents confirmed in a company the entity was pinned to before a re-pin are not in this one.
        here = {row.external_id: (hub_id, total) for row, hub_id, total in confirmed if row.company_id == company_id}
        earlier += len(confirmed) - len(here)
        report[f"accounting_total_of_confirmed_{kind.flow.value}"] = _compare(ctx, kind, here, mismatches)
        report[f"hub_total_of_confirmed_{kind.flow.value}"] = sum((total for _, total in here.values()), Decimal(0))
    report.update({
        "compared": ctx.connector.capabilities.reads_documents and not ctx.params.dry_run,
        "confirmed_in_earlier_companies": earlier,
        "changes_not_confirmed": len(changing),
        "mismatches": mismatches,
        "exported_this_run": exported_this_run,
        "open_quarantine": open_quarantine,
        "open_quarantine_by_dataset": open_by_dataset,
        "data_quality": data_quality,
    })
    _log(ctx, report)
    if mismatches:
        raise ReconciliationError(f"{ctx.entity.id}: {len(mismatches)} mismatch(es) between hub and accounting "
                                  f"system: " + "; ".join(mismatches[:10]), report)
    return report


def difference(report: dict) -> Decimal | None:
    """Hub less accounting system over the confirmed documents compared (None: the system cannot be read back)."""
    if "compared" in report and not report["compared"]:
        return None
    if any(f"hub_total_of_confirmed_{kind.flow.value}" not in report for kind in kinds.documents()
           if f"accounting_total_of_confirmed_{kind.flow.value}" in report):
        return None  # a report from before hub totals were kept
    return sum((Decimal(str(report.get(f"hub_total_of_confirmed_{kind.flow.value}", 0)))
                - Decimal(str(report.get(f"accounting_total_of_confirmed_{kind.flow.value}", 0)))
                for kind in kinds.documents()), Decimal(0))


def _changes_not_confirmed(session, entity_id: str) -> set[int]:
    """Documents changed at the source after export whose latest change the accounting system has not
    confirmed (on its way, or refused and held): their totals there are not the ledger's yet."""
    versions = dict(session.execute(select(Document.id, Document.version).where(
        Document.entity_id == entity_id, Document.version > 0)).all())
    if not versions:
        return set()
    confirmed: set[tuple[int, str]] = set()
    ids = list(versions)
    for start in range(0, len(ids), 500):
        confirmed.update(session.execute(select(OutboxEntry.record_id, OutboxEntry.operation).where(
            OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == RecordType.DOCUMENT,
            OutboxEntry.record_id.in_(ids[start:start + 500]), OutboxEntry.state == OutboxState.CONFIRMED)).all())
    return {document_id for document_id, version in versions.items()
            if (document_id, f"{UPDATE_PREFIX}{version}") not in confirmed and (document_id, VOID) not in confirmed}


def _compare(ctx: RunContext, kind: DocumentRecordKind, confirmed: dict[str, tuple[str, Decimal]],
             mismatches: list[str]) -> Decimal:
    """Read the confirmed documents back; note each that is missing or whose total differs."""
    remote_total = Decimal(0)
    what = kind.label
    if not confirmed or ctx.params.dry_run or not ctx.connector.capabilities.reads_documents:
        return remote_total
    remote = ctx.connector.fetch_documents(kind.name, list(confirmed))
    for external_id, (hub_id, total) in confirmed.items():
        found = remote.get(external_id)
        if found is None:
            mismatches.append(f"{what} {hub_id}: accounting id {external_id} not found")
            continue
        if found.voided:
            mismatches.append(f"{what} {hub_id}: voided in the accounting system (accounting id {external_id})")
            continue
        remote_total += found.total - found.added_tax
        if found.total - found.added_tax != total:
            added = f" ({found.total} with {found.added_tax} of tax added)" if found.added_tax else ""
            mismatches.append(f"{what} {hub_id}: hub total {total} but accounting total "
                              f"{found.total - found.added_tax}{added}")
    return remote_total


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


def quality_this_run(session, entity_id: str, run_id: str) -> list[dict]:
    """The data-quality suites the run's steps ran, in step order: counts and whether systemic."""
    rows = session.scalars(select(QualityResult).where(
        QualityResult.entity_id == entity_id, QualityResult.run_id == run_id).order_by(QualityResult.id)).all()
    return [{"step": row.step, "suite": row.suite, "version": row.suite_version, "checked": row.checked,
             "failed": row.failed, "carried_over": row.result.get("carried_over", 0),
             "waiting_on_review": row.result.get("waiting_on_review", 0), "systemic": row.systemic,
             "outcome": row.result.get("outcome", {}),
             "most_failed": [(stat["expectation"], stat["failed_records"]) for stat in sorted(
                 row.result.get("expectations", ()), key=lambda stat: -stat["failed_records"])
                 if stat["failed_records"]][:3]}
            for row in rows]


def _log(ctx: RunContext, report: dict) -> None:
    currency = ctx.entity.base_currency
    lines = [f"reconciliation of {ctx.entity.id} ({ctx.entity.name}), run {ctx.run_id}"]
    for kind in reconciled_kinds():
        part = report[kind.flow.value]
        if not part["approved"] and kind.name not in ALWAYS_SHOWN:
            continue
        lines.append(f"  approved {kind.plural:<17}: {part['approved']:>6}  {part['approved_total']:>14} {currency}")
        for bucket in BUCKET_ORDER:
            if part["buckets"].get(bucket):
                lines.append(f"    {bucket:<24}: {part['buckets'][bucket]:>6}  {part['amounts'][bucket]:>14} {currency}")
    readable = ctx.connector.capabilities.reads_documents
    if not readable:
        lines.append("  the accounting system cannot be read back document by document (file drop): "
                     "totals are those its agent confirmed")
    for kind in kinds.documents():
        key = kind.flow.value
        if readable and (report[key]["buckets"].get("confirmed") or kind.name in ALWAYS_SHOWN):
            lines.append(f"  confirmed {kind.plural}, per the accounting system: "
                         f"{report[f'accounting_total_of_confirmed_{key}']} {currency}")
    if report["changes_not_confirmed"]:
        lines.append(f"  ({report['changes_not_confirmed']} document(s) changed at the source after export, the change "
                     "not confirmed by the accounting system yet: their totals there are not compared)")
    earlier = report["confirmed_in_earlier_companies"]
    if earlier:
        lines.append(f"  ({earlier} more confirmed in a company the entity was pinned to before)")
    lines.append("  data quality this run:" if report["data_quality"] else
                 "  data quality this run: no suite ran (nothing new to check)")
    for result in report["data_quality"]:
        held = "".join(f", {result[count]:,} of them {what}" for count, what in (
            ("carried_over", "held from earlier runs"), ("waiting_on_review", "waiting on a review")) if result[count])
        outcome = result["outcome"]
        verdict = "SYSTEMIC, nothing of the batch queued or held" if result["systemic"] else ", ".join(
            f"{outcome[name]:,} {name.replace('_', ' ')}" for name in OUTCOMES if outcome.get(name)) or "nothing to do"
        most = "; most failed: " + ", ".join(f"{name} ({count:,})" for name, count in result["most_failed"]) \
            if result["most_failed"] else ""
        lines.append(f"    {result['step']:<15} {result['suite']} {result['version']}: {result['checked']:,} "
                     f"checked{held}, {result['failed']:,} failed: {verdict}{most}")
    by_dataset = ", ".join(f"{dataset} {count}" for dataset, count in report["open_quarantine_by_dataset"].items())
    lines.append(f"  documents and payments created this run: {report['exported_this_run']}; open quarantine "
                 f"entries: {report['open_quarantine']}{f' ({by_dataset})' if by_dataset else ''}; mismatches: "
                 f"{len(report['mismatches'])}")
    ctx.log.info("\n".join(lines))
