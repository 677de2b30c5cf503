"""Where each legal entity stands, as its operators see it (the Airflow UI's entities page, the CLI).

Read from the ledger in a handful of grouped queries whatever the number of entities: the last run
of each (its steps' summaries), open quarantine and reviews, refused records, reconciliation and
whether the accounting company must be reconnected. Sorting, filtering and paging happen on those
rows, so a page of 1,000 entities costs the same queries as a page of 5.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledgerbridge.flows import outbox
from ledgerbridge.flows.reconcile import ALWAYS_SHOWN, BUCKET_ORDER, difference, reconciled_kinds
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import LegalEntityRow, SyncRun
from ledgerbridge.ledger.paging import Page, bounds
from ledgerbridge.matching import review
from ledgerbridge.money import shown
from ledgerbridge.registry import LegalEntity
from ledgerbridge.steps import CONNECTED_STEPS, STEP_NAMES

EXPORT_STEPS = ("export_documents", "export_payments")
RECONNECT = "ReconnectRequired"
# Buckets of the reconciliation that are neither settled nor held: what is still to go out.
STILL_TO_GO = tuple(bucket for bucket in BUCKET_ORDER if bucket not in ("confirmed", "quarantined", "rejected"))
SORTS = ("id", "name", "accounting", "source", "enabled", "last_run", "state", "exported", "confirmed", "rejected",
         "waiting", "open_quarantine", "open_reviews", "refused", "reconciliation", "reconnect")
FILTERS = ("all", "attention", "failed", "quarantine", "review", "refused", "reconnect", "unbalanced", "disabled")


@dataclass
class LastRun:
    run_id: str
    state: str  # success | failed | running
    started_at: datetime
    finished_at: datetime | None
    failed_step: str | None = None
    error: str | None = None
    exported: int = 0
    confirmed: int = 0
    rejected: int = 0
    waiting: int | None = None  # after the run: approved records not out yet (None: reconcile did not run)


@dataclass
class EntityStatus:
    id: str
    name: str
    dag_id: str
    accounting: str
    conn_id: str
    company_id: str | None
    source: str | None
    enabled: bool
    last_run: LastRun | None = None
    open_quarantine: int = 0
    open_reviews: int = 0
    refused: int = 0  # records the accounting system refused, waiting for a fix and a Retry
    reconciliation: str = "not run"  # balanced | unbalanced | not compared | not run
    difference: Decimal | None = None  # hub less accounting over the confirmed documents compared
    mismatches: int = 0
    reconnect_needed: str | None = None  # the refusal, when the company must be reconnected
    problems: list[str] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        return bool(self.problems)

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["difference"] = None if self.difference is None else shown(self.difference)
        if self.last_run is not None:
            for name in ("started_at", "finished_at"):
                value = getattr(self.last_run, name)
                row["last_run"][name] = value.isoformat() if value else None
        return row


def entities_page(session: Session, entities: Iterable[LegalEntity], *, search: str = "", show: str = "all",
                  sort: str = "id", descending: bool = False, offset: int = 0, limit: int = 50) -> Page[EntityStatus]:
    """The entities (of the registry, the caller's choice: e.g. those a user may see), each with where it stands.

    `search` matches id, name, accounting system, connection, company and source; `show` is one of
    FILTERS; `sort` one of SORTS."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if show not in FILTERS:
        raise ValueError(f"show must be one of {', '.join(FILTERS)}, not {show!r}")
    offset, limit = bounds(offset, limit)
    rows = [_status(entity) for entity in entities]
    if not rows:
        return Page([], 0, offset, limit)
    _fill(session, {row.id: row for row in rows})
    words = search.casefold().split()
    if words:
        rows = [row for row in rows if all(word in _haystack(row) for word in words)]
    rows = [row for row in rows if _in_view(row, show)]
    rows.sort(key=lambda row: (_sort_key(row, sort), row.id), reverse=descending)
    return Page(rows[offset:offset + limit], len(rows), offset, limit)


def entity_status(session: Session, entity: LegalEntity) -> EntityStatus:
    row = _status(entity)
    _fill(session, {row.id: row})
    return row


def reconciliation(session: Session, entity_id: str, run_id: str | None = None) -> dict[str, Any] | None:
    """The reconciliation report of a run (default: the entity's latest that has one), as its
    reconcile step left it, failed or not; None when that run did not reconcile."""
    query = select(SyncRun).where(SyncRun.entity_id == entity_id, SyncRun.step == "reconcile",
                                  SyncRun.status.in_(("success", "failed")))
    if run_id is not None:
        query = query.where(SyncRun.run_id == run_id)
    step = session.scalars(query.order_by(SyncRun.started_at.desc()).limit(1)).first()
    if step is None:
        return None
    report = dict(step.summary or {})
    kinds = []
    for kind in reconciled_kinds():
        part = report.get(kind.flow.value)
        if not part or (not part["approved"] and kind.name not in ALWAYS_SHOWN):
            continue
        hub = report.get(f"hub_total_of_confirmed_{kind.flow.value}")
        accounting = report.get(f"accounting_total_of_confirmed_{kind.flow.value}")
        kinds.append({"kind": kind.name, "label": kind.plural, "approved": part["approved"],
                      "approved_total": shown(part["approved_total"]),
                      "buckets": [{"bucket": bucket, "count": part["buckets"][bucket],
                                   "amount": shown(part["amounts"][bucket])}
                                  for bucket in BUCKET_ORDER if part["buckets"].get(bucket)],
                      "hub_total_of_confirmed": None if hub is None else shown(hub),
                      "accounting_total_of_confirmed": None if accounting is None else shown(accounting)})
    money = difference(report) if report else None
    return {
        "entity_id": entity_id, "run_id": step.run_id, "status": step.status, "error": step.error,
        "at": (step.finished_at or step.started_at).isoformat(),
        "verdict": _verdict(step, report), "difference": None if money is None else shown(money),
        "kinds": kinds, "mismatches": report.get("mismatches", []),
        "changes_not_confirmed": report.get("changes_not_confirmed", 0),
        "confirmed_in_earlier_companies": report.get("confirmed_in_earlier_companies", 0),
        "exported_this_run": report.get("exported_this_run", 0), "open_quarantine": report.get("open_quarantine", 0),
        "open_quarantine_by_dataset": report.get("open_quarantine_by_dataset", {}),
        "data_quality": report.get("data_quality", []),
    }


# -- the grouped reads ------------------------------------------------------------------------------

def _status(entity: LegalEntity) -> EntityStatus:
    return EntityStatus(id=entity.id, name=entity.name, dag_id=entity.dag_id, accounting=entity.accounting.kind.value,
                        conn_id=entity.accounting.conn_id, company_id=None,
                        source=entity.source.kind.value if entity.source else None, enabled=entity.enabled)


def _fill(session: Session, rows: dict[str, EntityStatus]) -> None:
    companies = dict(session.execute(select(LegalEntityRow.id, LegalEntityRow.company_id)).all())
    quarantined = quarantine.open_counts(session)
    in_review = review.open_counts(session)
    refused = outbox.rejected_counts(session)
    for entity_id, row in rows.items():
        row.company_id = companies.get(entity_id)
        row.open_quarantine = quarantined.get(entity_id, 0)
        row.open_reviews = in_review.get(entity_id, 0)
        row.refused = refused.get(entity_id, 0)
    _last_runs(session, rows)
    _reconnects(session, rows)
    for row in rows.values():
        row.problems = _problems(row)


def _last_runs(session: Session, rows: dict[str, EntityStatus]) -> None:
    """Each entity's latest run: the run of its latest started step, and all that run's steps."""
    latest = (select(SyncRun.entity_id, func.max(SyncRun.started_at).label("started_at"))
              .group_by(SyncRun.entity_id).subquery())
    run_ids = select(SyncRun.entity_id, SyncRun.run_id).join(
        latest, (SyncRun.entity_id == latest.c.entity_id) & (SyncRun.started_at == latest.c.started_at)).subquery()
    steps = session.execute(
        select(SyncRun.entity_id, SyncRun.run_id, SyncRun.step, SyncRun.status, SyncRun.summary, SyncRun.error,
               SyncRun.started_at, SyncRun.finished_at)
        .join(run_ids, (SyncRun.entity_id == run_ids.c.entity_id) & (SyncRun.run_id == run_ids.c.run_id))).all()
    by_entity: dict[str, list] = {}
    for step in steps:
        if step.entity_id in rows:
            by_entity.setdefault(step.entity_id, []).append(step)
    for entity_id, entity_steps in by_entity.items():
        rows[entity_id].last_run = _run_of(entity_steps)
        reconcile_step = next((step for step in entity_steps if step.step == "reconcile"), None)
        if reconcile_step is not None and reconcile_step.status in ("success", "failed"):
            report = reconcile_step.summary or {}
            row = rows[entity_id]
            row.mismatches = len(report.get("mismatches", ()))
            row.difference = difference(report) if report else None
            if not report:
                row.reconciliation = "failed"
            elif row.mismatches:
                row.reconciliation = "unbalanced"
            else:
                row.reconciliation = "balanced" if row.difference is not None else "not compared"


def _run_of(steps: list) -> LastRun:
    order = {name: position for position, name in enumerate(STEP_NAMES)}
    steps = sorted(steps, key=lambda step: order.get(step.step, len(order)))
    failed = next((step for step in steps if step.status == "failed"), None)
    if failed is not None:
        state = "failed"
    elif any(step.status == "running" for step in steps) or len(steps) < len(STEP_NAMES):
        state = "running"
    else:
        state = "success"
    summaries = {step.step: step.summary or {} for step in steps}
    run = LastRun(run_id=steps[0].run_id, state=state, started_at=min(step.started_at for step in steps),
                  finished_at=max((step.finished_at for step in steps if step.finished_at), default=None)
                  if state != "running" else None,
                  failed_step=failed.step if failed else None, error=failed.error if failed else None)
    for name in EXPORT_STEPS:
        summary = summaries.get(name, {})
        run.exported += int(summary.get("created", 0) or 0)
        run.confirmed += int(summary.get("confirmed", 0) or 0)
        run.rejected += int(summary.get("rejected", 0) or 0)
    confirmations = summaries.get("collect_confirmations", {})
    run.confirmed += int(confirmations.get("settled_by_lookup", 0) or 0)
    run.rejected += int(confirmations.get("rejected", 0) or 0)
    report = summaries.get("reconcile")
    if report:
        run.waiting = sum(int(part.get("buckets", {}).get(bucket, 0)) for kind in reconciled_kinds()
                          for part in [report.get(kind.flow.value) or {}] for bucket in STILL_TO_GO)
    return run


def _reconnects(session: Session, rows: dict[str, EntityStatus]) -> None:
    """An entity needs its company reconnected when its latest finished connected step was refused
    access (ReconnectRequired): a later success clears it."""
    latest = (select(SyncRun.entity_id, func.max(SyncRun.finished_at).label("finished_at"))
              .where(SyncRun.step.in_(CONNECTED_STEPS), SyncRun.finished_at.is_not(None))
              .group_by(SyncRun.entity_id).subquery())
    for entity_id, error in session.execute(
            select(SyncRun.entity_id, SyncRun.error)
            .join(latest, (SyncRun.entity_id == latest.c.entity_id) & (SyncRun.finished_at == latest.c.finished_at))
            .where(SyncRun.status == "failed", SyncRun.error.contains(RECONNECT))):
        if entity_id in rows:
            rows[entity_id].reconnect_needed = error.partition(": ")[2] or error


def _problems(row: EntityStatus) -> list[str]:
    problems = []
    if row.reconnect_needed:
        problems.append("reconnect needed")
    if row.last_run and row.last_run.state == "failed":
        problems.append(f"last run failed at {row.last_run.failed_step}")
    if row.reconciliation in ("unbalanced", "failed"):
        problems.append("not balanced")
    if row.open_quarantine:
        problems.append(f"{row.open_quarantine} held")
    if row.open_reviews:
        problems.append(f"{row.open_reviews} to review")
    if row.refused:
        problems.append(f"{row.refused} refused")
    return problems


def _verdict(step: SyncRun, report: dict) -> str:
    if not report:
        return "failed before it could compare"
    if report.get("mismatches"):
        return "unbalanced"
    return "balanced" if report.get("compared", True) else "not compared"


def _haystack(row: EntityStatus) -> str:
    return " ".join(filter(None, (row.id, row.name, row.accounting, row.conn_id, row.company_id, row.source))).casefold()


def _in_view(row: EntityStatus, show: str) -> bool:
    return {
        "all": True, "attention": row.needs_attention, "failed": bool(row.last_run and row.last_run.state == "failed"),
        "quarantine": row.open_quarantine > 0, "review": row.open_reviews > 0, "refused": row.refused > 0,
        "reconnect": row.reconnect_needed is not None, "unbalanced": row.reconciliation in ("unbalanced", "failed"),
        "disabled": not row.enabled,
    }[show]


def _sort_key(row: EntityStatus, sort: str) -> Any:
    run = row.last_run
    if sort == "last_run":
        return run.started_at.isoformat() if run else ""
    if sort == "state":
        return run.state if run else ""
    if sort in ("exported", "confirmed", "rejected", "waiting"):
        return (getattr(run, sort) or 0) if run else -1
    if sort == "reconciliation":
        return (abs(row.difference) if row.difference is not None else Decimal(-1), row.reconciliation)
    if sort == "reconnect":
        return row.reconnect_needed is not None
    if sort == "source":
        return row.source or ""
    return getattr(row, sort)
