"""Where each legal entity stands, as its operators see it (the Airflow UI's entities page, the CLI).

Read from the ledger in four queries whatever the number of entities: each entity's row with the
standing of its last run (kept there by every step: its state, counts, reconciliation, whether the
company must be reconnected; see record_standing), and the open quarantine, reviews and refused
records counted per entity. Sorting, filtering and paging happen on those rows.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.flows import outbox
from ledgerbridge.flows.reconcile import ALWAYS_SHOWN, BUCKET_ORDER, difference, reconciled_kinds
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import LegalEntityRow, SyncRun
from ledgerbridge.ledger.paging import Page, bounds
from ledgerbridge.matching import review
from ledgerbridge.money import shown
from ledgerbridge.registry import LegalEntity
from ledgerbridge.steps import CONNECTED_STEPS, REALTIME_RUN_PREFIX, STEP_NAMES

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
    # A few entities (one entity's page): their own rows; a fleet: every row, each table read once.
    only = list(rows) if len(rows) <= 20 else None
    query = select(LegalEntityRow.id, LegalEntityRow.company_id, LegalEntityRow.last_run)
    known = {entity_id: (company_id, standing) for entity_id, company_id, standing in session.execute(
        query.where(LegalEntityRow.id.in_(only)) if only else query)}
    quarantined = quarantine.open_counts(session, only)
    in_review = review.open_counts(session, only)
    refused = outbox.rejected_counts(session, only)
    for entity_id, row in rows.items():
        company_id, standing = known.get(entity_id, (None, None))
        row.company_id = company_id
        row.open_quarantine = quarantined.get(entity_id, 0)
        row.open_reviews = in_review.get(entity_id, 0)
        row.refused = refused.get(entity_id, 0)
        if standing is None and entity_id in known:
            standing = _standing_of_latest_run(session, entity_id)  # a ledger older than legal_entities.last_run
        if standing:
            _apply(row, standing)
    for row in rows.values():
        row.problems = _problems(row)


# -- the standing of an entity's last run, kept on its row by the pipeline (pipeline.run_step) ----------

def record_standing(session: Session, entity_id: str, run_id: str) -> None:
    """Keep the standing of `run_id` on the entity's row, if it is the entity's latest started sync run: the
    entities page reads 1,000 of these instead of 10,000 step summaries."""
    if _latest_main_run(session, entity_id) == run_id:
        standing = run_standing(session, entity_id, run_id)
        standing["reconnect_needed"] = reconnect_needed(session, entity_id)
        session.get(LegalEntityRow, entity_id).last_run = standing


def run_standing(session: Session, entity_id: str, run_id: str) -> dict[str, Any]:
    """A run as its operators see it: state, when, the failed step, counts, reconciliation (JSON-ready)."""
    steps = session.scalars(select(SyncRun).where(SyncRun.entity_id == entity_id, SyncRun.run_id == run_id)).all()
    order = {name: position for position, name in enumerate(STEP_NAMES)}
    steps = sorted(steps, key=lambda step: order.get(step.step, len(order)))
    failed = next((step for step in steps if step.status == "failed"), None)
    if failed is not None:
        state = "failed"
    elif any(step.status == "running" for step in steps) or len(steps) < len(STEP_NAMES):
        state = "running"
    else:
        state = "success"
    standing: dict[str, Any] = {
        "run_id": run_id, "state": state, "started_at": min(step.started_at for step in steps).isoformat(),
        "finished_at": max((step.finished_at for step in steps if step.finished_at), default=None),
        "failed_step": failed.step if failed else None, "error": failed.error if failed else None,
        "exported": 0, "confirmed": 0, "rejected": 0, "waiting": None, "reconciliation": "not run",
        "difference": None, "mismatches": 0}
    if state == "running" or standing["finished_at"] is None:
        standing["finished_at"] = None
    else:
        standing["finished_at"] = standing["finished_at"].isoformat()
    for step in steps:
        summary = step.summary or {}
        if step.step in EXPORT_STEPS:
            standing["exported"] += int(summary.get("created", 0) or 0)
            standing["confirmed"] += int(summary.get("confirmed", 0) or 0)
            standing["rejected"] += int(summary.get("rejected", 0) or 0)
        elif step.step == "collect_confirmations":
            standing["confirmed"] += int(summary.get("settled_by_lookup", 0) or 0)
            standing["rejected"] += int(summary.get("rejected", 0) or 0)
        elif step.step == "reconcile" and step.status in ("success", "failed"):
            standing.update(_reconciled(summary))
    return standing


def _reconciled(report: dict) -> dict[str, Any]:
    if not report:
        return {"reconciliation": "failed"}
    money = difference(report)
    mismatches = len(report.get("mismatches", ()))
    verdict = "unbalanced" if mismatches else "balanced" if money is not None else "not compared"
    return {"reconciliation": verdict, "difference": None if money is None else str(money), "mismatches": mismatches,
            "waiting": sum(int(part.get("buckets", {}).get(bucket, 0)) for kind in reconciled_kinds()
                           for part in [report.get(kind.flow.value) or {}] for bucket in STILL_TO_GO)}


def _standing_of_latest_run(session: Session, entity_id: str) -> dict[str, Any] | None:
    latest = _latest_main_run(session, entity_id)
    if latest is None:
        return None
    return {**run_standing(session, entity_id, latest), "reconnect_needed": reconnect_needed(session, entity_id)}


def _latest_main_run(session: Session, entity_id: str) -> str | None:
    """The entity's latest started run of its sync DAG: those begin with pull_source (the file drop's inbound
    DAG runs a few steps of its own, never that one; the realtime DAG's runs are told by their prefix)."""
    return session.scalar(select(SyncRun.run_id).where(SyncRun.entity_id == entity_id, SyncRun.step == STEP_NAMES[0],
                                                       ~SyncRun.run_id.startswith(REALTIME_RUN_PREFIX, autoescape=True))
                          .order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(1))


def _apply(row: EntityStatus, standing: dict[str, Any]) -> None:
    row.last_run = LastRun(
        run_id=standing["run_id"], state=standing["state"], started_at=datetime.fromisoformat(standing["started_at"]),
        finished_at=datetime.fromisoformat(standing["finished_at"]) if standing["finished_at"] else None,
        failed_step=standing["failed_step"], error=standing["error"], exported=standing["exported"],
        confirmed=standing["confirmed"], rejected=standing["rejected"], waiting=standing["waiting"])
    row.reconciliation, row.mismatches = standing["reconciliation"], standing["mismatches"]
    row.difference = None if standing["difference"] is None else Decimal(standing["difference"])
    row.reconnect_needed = standing.get("reconnect_needed")


def reconnect_needed(session: Session, entity_id: str) -> str | None:
    """The refusal, when the entity's latest finished connected step was refused access (ReconnectRequired):
    its company must be reconnected. A later success clears it."""
    latest = session.execute(
        select(SyncRun.status, SyncRun.error).where(SyncRun.entity_id == entity_id, SyncRun.step.in_(CONNECTED_STEPS),
                                                    SyncRun.finished_at.is_not(None))
        .order_by(SyncRun.finished_at.desc()).limit(1)).first()
    if latest is None or latest.status != "failed" or RECONNECT not in (latest.error or ""):
        return None
    return latest.error.partition(": ")[2] or latest.error


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
