"""check_reference: the mirrored lists are usable before anything is matched or exported against them.

The checks are the reference suite of ledgerbridge.quality (Great Expectations, docs/data-quality.md).
A failing list record is quarantined (dataset `reference.<kind>`) with every failed expectation and is
then invisible to matching and to reference resolution, so no document is exported against it. Too
many failures at once (or a list that suddenly shrank) fail the task: that is a systemic problem.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ledgerbridge.flows import quarantine
from ledgerbridge.flows.quarantine import Reason
from ledgerbridge.ledger.models import ReferenceRecord, SyncRun

# Lists things are exported against; mirrored transactions are only looked at, and not checked here.
LIST_KINDS = ("account", "vendor", "customer", "class", "department", "term", "tax_code", "item")


def check_reference(ctx) -> dict:
    """The reference suite (Great Expectations, ledgerbridge.quality.reference) over the mirrored lists."""
    from ledgerbridge.quality import check, format_table
    from ledgerbridge.quality.reference import ReferenceParams

    with ctx.ledger.session() as session:
        rows = session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.deleted_at.is_(None),
            ReferenceRecord.kind.in_(LIST_KINDS))).all()
        records = [{"kind": row.kind, "external_id": row.external_id, "name": row.name, "active": row.active,
                    "account_type": row.account_type, "currency": row.currency} for row in rows]
        result = check("reference", records, ReferenceParams(last_counts=_last_counts(session, ctx.entity.id)))
        summary = {}
        by_kind: dict[str, list[ReferenceRecord]] = defaultdict(list)
        for row in rows:
            by_kind[row.kind].append(row)
        for kind, kind_rows in sorted(by_kind.items()):
            dataset, passed, failed = f"reference.{kind}", [], 0
            for row in kind_rows:
                reasons = result.reasons(f"{kind}:{row.external_id}")
                if reasons:
                    failed += 1
                    quarantine.hold(session, ctx.entity.id, dataset, row.external_id, [Reason(**r) for r in reasons],
                                    {"external_id": row.external_id, "name": row.name, "kind": kind})
                else:
                    passed.append(row.external_id)
            quarantine.resolve(session, ctx.entity.id, dataset, passed)
            summary[kind] = {"checked": len(kind_rows), "failed": failed}
            log = ctx.log.warning if failed else ctx.log.info
            log("%s: %d checked, %d quarantined", kind, len(kind_rows), failed)
    ctx.log.info("reference suite %s:\n%s", result.version, format_table(result))
    if result.systemic:
        raise SystemicQualityFailure(f"{ctx.entity.id}: reference data: {result.message}")
    return summary


class SystemicQualityFailure(Exception):
    """Too many records fail at once: a wrong mapping or a half-empty pull, not bad records."""


def _last_counts(session, entity_id: str) -> dict[str, int]:
    """Rows per kind the last successful check saw: a sudden drop against them is systemic."""
    last = session.scalar(select(SyncRun.summary).where(
        SyncRun.entity_id == entity_id, SyncRun.step == "check_reference", SyncRun.status == "success")
        .order_by(SyncRun.started_at.desc()).limit(1)) or {}
    return {kind: counts["checked"] for kind, counts in last.items() if isinstance(counts, dict) and "checked" in counts}
