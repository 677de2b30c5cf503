"""The steps of a legal entity's sync, in order, as plain functions of a RunContext.

Airflow runs one step per task (plugins/ledgerbridge_airflow); `run_all` runs them in one process
(CLI, tests). Steps hand data to each other through the ledger, and return a small summary.
"""
from __future__ import annotations

import importlib
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from ledgerbridge.connectors.base import AccountingConnector
from ledgerbridge.ledger import Ledger
from ledgerbridge.ledger.models import SyncRun
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.base import SourceConnector
from ledgerbridge.steps import STEP_NAMES, STEPS


@dataclass(frozen=True)
class RunParams:
    full_refresh: bool = False
    sync_from: date | None = None
    dry_run: bool = False

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> RunParams:
        """Strict: a typo ("dryrun") or "false" as a string must never turn into a real send."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - {"full_refresh", "sync_from", "dry_run"})
        if unknown:
            raise ValueError(f"unknown run param(s) {', '.join(map(repr, unknown))}: "
                             "known are full_refresh, sync_from, dry_run")
        sync_from = raw.get("sync_from") or None
        if isinstance(sync_from, str):
            try:
                sync_from = date.fromisoformat(sync_from[:10])
            except ValueError:
                raise ValueError(f"param sync_from: {sync_from!r} is not a date (YYYY-MM-DD)") from None
        return cls(_flag(raw, "full_refresh"), sync_from, _flag(raw, "dry_run"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "full_refresh": self.full_refresh,
            "sync_from": self.sync_from.isoformat() if self.sync_from else None,
            "dry_run": self.dry_run,
        }


def _flag(raw: dict[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value is None:
        return False
    raise ValueError(f"param {name}: {value!r} is not true or false")


@dataclass
class RunContext:
    entity: LegalEntity
    ledger: Ledger
    run_id: str
    params: RunParams = field(default_factory=RunParams)
    # Returns the entity's connector; called only by steps that talk to the accounting system.
    connect: Callable[[], AccountingConnector] | None = None
    # Returns the entity's source (registry `source:`); called only by the steps reading or writing back to it.
    connect_source: Callable[[], SourceConnector] | None = None
    data_interval_start: datetime | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("ledgerbridge"))
    _connector: AccountingConnector | None = None
    _source: SourceConnector | None = None

    @property
    def connector(self) -> AccountingConnector:
        if self._connector is None:
            if self.connect is None:
                raise RuntimeError(f"step needs the accounting system of {self.entity.id} but no connector was given")
            self._connector = self.connect()
            from ledgerbridge.flows.entities import pin_company

            pin_company(self, self._connector.company_id)
        return self._connector

    @property
    def source(self) -> SourceConnector:
        if self._source is None:
            if self.connect_source is None:
                raise RuntimeError(f"step needs the source of {self.entity.id} but no source was given")
            self._source = self.connect_source()
        return self._source


Step = Callable[[RunContext], dict[str, Any]]


def _step(name: str) -> Step:
    module = importlib.import_module(f"ledgerbridge.flows.{dict(STEPS)[name]}")
    return getattr(module, name)


def run_step(ctx: RunContext, name: str) -> dict[str, Any]:
    """Run one step, recording it in sync_runs (a retried task updates the same row)."""
    from ledgerbridge.flows.entities import ensure_entity

    step = _step(name)
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
        run_pk = run.id
    ctx.log.info("%s: %s starting (run %s%s)", ctx.entity.id, name, ctx.run_id, ", dry run" if ctx.params.dry_run else "")
    try:
        summary = step(ctx)
    except Exception as exc:
        with ctx.ledger.session() as session:
            run = session.get(SyncRun, run_pk)
            run.status, run.finished_at = "failed", utcnow()
            run.error = "".join(traceback.format_exception_only(exc)).strip()
        raise
    with ctx.ledger.session() as session:
        run = session.get(SyncRun, run_pk)
        run.status, run.summary, run.finished_at = "success", summary, utcnow()
    return summary


def run_all(ctx: RunContext) -> dict[str, dict[str, Any]]:
    return {name: run_step(ctx, name) for name in STEP_NAMES}
