"""check_reference: the mirrored lists are usable before anything is matched or exported against them.

The checks are the reference suite of ledgerbridge.quality (Great Expectations, docs/data-quality.md).
A failing list record is quarantined (dataset `reference.<kind>`) with every failed expectation and is
then invisible to matching and to reference resolution, so no document is exported against it. Too
many failures at once (or a list that suddenly shrank) fail the task: that is a systemic problem, and
no record is quarantined for it (records held by earlier runs do not count toward the rate).
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ledgerbridge.context import RunContext
from ledgerbridge.flows.errors import SystemicQualityFailure
from ledgerbridge.flows.preparing import store_result
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import (
    QuarantineEntry,
    QuarantineStatus,
    ReferenceRecord,
    SyncRun,
)
from ledgerbridge.ledger.quarantine import Reason

# Lists things are exported against; mirrored transactions are only looked at, and not checked here.
LIST_KINDS = ("account", "vendor", "customer", "class", "department", "term", "tax_code", "item", "journal_code")


def check_reference(ctx: RunContext) -> dict:
    """The reference suite (Great Expectations, ledgerbridge.quality.reference) over the mirrored lists."""
    from ledgerbridge.connectors.specs import accounting_spec
    from ledgerbridge.quality import check, format_table
    from ledgerbridge.quality.reference import ReferenceParams

    spec = accounting_spec(ctx.entity.accounting.kind)
    system = {"account_types": spec.account_types, "account_system": spec.label} if spec.account_types else {}

    with ctx.ledger.session() as session:
        rows = session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.deleted_at.is_(None),
            ReferenceRecord.kind.in_(LIST_KINDS))).all()
        records = [{"kind": row.kind, "external_id": row.external_id, "name": row.name, "active": row.active,
                    "account_type": row.account_type, "currency": row.currency,
                    "auxiliary_account": row.auxiliary_account, "collective_account": row.collective_account}
                   for row in rows]
        params = ReferenceParams(last_counts=_last_counts(session, ctx.entity.id),
                                 max_failure_rate=ctx.entity.quality.max_failure_rate("reference"), **system)
        result = check("reference", records, params, carried_over=_held(session, ctx.entity.id))
        summary = {}
        by_kind: dict[str, list[ReferenceRecord]] = defaultdict(list)
        for row in rows:
            by_kind[row.kind].append(row)
        for kind, kind_rows in sorted(by_kind.items()):
            failed = [row for row in kind_rows if f"{kind}:{row.external_id}" in result.failures]
            failed_ids = {row.external_id for row in failed}
            summary[kind] = {"checked": len(kind_rows), "failed": len(failed)}
            if result.systemic:
                continue  # a systemic failure holds no record: the cause is upstream, and the step fails
            dataset = f"reference.{kind}"
            for row in failed:
                reasons = [Reason(**r) for r in result.reasons(f"{kind}:{row.external_id}")]
                quarantine.hold(session, ctx.entity.id, dataset, row.external_id, reasons,
                                {"external_id": row.external_id, "name": row.name, "kind": kind})
            quarantine.resolve(session, ctx.entity.id, dataset,
                               [row.external_id for row in kind_rows if row.external_id not in failed_ids])
            log = ctx.log.warning if failed else ctx.log.info
            log("%s: %d checked, %d quarantined", kind, len(kind_rows), len(failed))
        store_result(session, ctx, "check_reference", "reference", result,
                     {} if result.systemic else {"accepted": len(result.passed), "quarantined": result.failed})
    ctx.log.info("reference suite %s:\n%s", result.version, format_table(result, only_failed=True))
    if result.systemic:
        raise SystemicQualityFailure(f"{ctx.entity.id}: reference data: {result.message}")
    return summary


def _held(session, entity_id: str) -> set[str]:
    """The reference suite's keys of list records held by an earlier run, or dismissed or released by a person."""
    return {f"{dataset.removeprefix('reference.')}:{key}" for dataset, key in session.execute(
        select(QuarantineEntry.dataset, QuarantineEntry.record_key).where(
            QuarantineEntry.entity_id == entity_id, QuarantineEntry.dataset.startswith("reference."),
            QuarantineEntry.status.in_((QuarantineStatus.OPEN, QuarantineStatus.DISMISSED,
                                        QuarantineStatus.RELEASED))))}


def _last_counts(session, entity_id: str) -> dict[str, int]:
    """Rows per kind the last successful check saw: a sudden drop against them is systemic."""
    last = session.scalar(select(SyncRun.summary).where(
        SyncRun.entity_id == entity_id, SyncRun.step == "check_reference", SyncRun.status == "success")
        .order_by(SyncRun.started_at.desc()).limit(1)) or {}
    return {kind: counts["checked"] for kind, counts in last.items() if isinstance(counts, dict) and "checked" in counts}
