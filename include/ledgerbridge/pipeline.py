"""The steps of a legal entity's sync, in order, as plain functions of a RunContext.

Airflow runs one step per task (plugins/ledgerbridge_airflow); `run_all` runs them in one process
(CLI, tests). Steps hand data to each other through the ledger, and return a small summary.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from ledgerbridge.alerts import API_CALLS_LEFT
from ledgerbridge.context import RunContext, RunParams, ensure_entity
from ledgerbridge.flows.checks import check_reference
from ledgerbridge.flows.confirmations import collect_confirmations, write_back
from ledgerbridge.flows.fiscal_year import fiscal_year_fec
from ledgerbridge.flows.exports import (
    export_documents,
    export_payments,
    prepare_exports,
)
from ledgerbridge.flows.parties import match_parties
from ledgerbridge.flows.reconcile import reconcile
from ledgerbridge.flows.reference import pull_reference
from ledgerbridge.flows.source import pull_source
from ledgerbridge.ledger.models import SyncRun
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.observability import observe_step
from ledgerbridge.status import record_standing
from ledgerbridge.steps import STEP_NAMES

Step = Callable[[RunContext], dict[str, Any]]

# Every step of ledgerbridge.steps.STEP_NAMES, by name (a test keeps the two the same).
STEPS: dict[str, Step] = {
    "pull_source": pull_source,
    "pull_reference": pull_reference,
    "check_reference": check_reference,
    "match_parties": match_parties,
    "prepare_exports": prepare_exports,
    "export_documents": export_documents,
    "export_payments": export_payments,
    "collect_confirmations": collect_confirmations,
    "write_back": write_back,
    "reconcile": reconcile,
    "fiscal_year_fec": fiscal_year_fec,
}

__all__ = ["RunContext", "RunParams", "STEPS", "run_step", "run_all"]


def run_step(ctx: RunContext, name: str) -> dict[str, Any]:
    """Run one step, recording it in sync_runs (a retried task updates the same row)."""
    step = STEPS[name]
    with ctx.ledger.session() as session:
        ensure_entity(session, ctx.entity)
        run = session.scalars(
            select(SyncRun).where(SyncRun.entity_id == ctx.entity.id, SyncRun.run_id == ctx.run_id, SyncRun.step == name)
        ).one_or_none()
        if run is None:
            run = SyncRun(entity_id=ctx.entity.id, run_id=ctx.run_id, step=name)
            session.add(run)
        run.status, run.params, run.started_at, run.error = "running", ctx.params.as_dict(), utcnow(), None
        session.flush()
        record_standing(session, ctx.entity.id, ctx.run_id)
        run_pk = run.id
    ctx.log.info("%s: %s starting (run %s%s)", ctx.entity.id, name, ctx.run_id, ", dry run" if ctx.params.dry_run else "")
    observed = observe_step(ctx, name)  # the step's counts, its summary line and metrics
    try:
        summary = step(ctx)
        recorded = summary
        if ctx.connected is not None and (budget := ctx.connected.api_calls_left_today()) is not None:
            recorded = {**summary, API_CALLS_LEFT: list(budget)}  # for the alerts, on the step's row only
    except Exception as exc:
        observed.finish(error=exc)
        with ctx.ledger.session() as session:
            run = session.get(SyncRun, run_pk)
            run.status, run.finished_at = "failed", utcnow()
            run.error = "".join(traceback.format_exception_only(exc)).strip()
            run.summary = getattr(exc, "summary", None) or {}  # what a failing step still has to say
            session.flush()
            record_standing(session, ctx.entity.id, ctx.run_id)
        raise
    except BaseException as exc:  # a task timeout or a kill: said in the log; Airflow records the task failed
        observed.finish(error=exc)
        raise
    try:
        with ctx.ledger.session() as session:
            run = session.get(SyncRun, run_pk)
            run.status, run.summary, run.finished_at = "success", recorded, utcnow()
            session.flush()
            record_standing(session, ctx.entity.id, ctx.run_id)
    except BaseException as exc:  # the work is done but not recorded as done: the step fails
        observed.finish(error=exc)
        raise
    observed.finish()
    return summary


def run_all(ctx: RunContext) -> dict[str, dict[str, Any]]:
    return {name: run_step(ctx, name) for name in STEP_NAMES}
