"""What every step of a legal entity's sync is given: the entity, the ledger, the run, its params,
and (for the steps that talk to it) the accounting connector, pinned to the entity's one company.

Below the flows: every flow is a function of a RunContext.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import AccountingConnector
from ledgerbridge.connectors.errors import CompanyMismatch
from ledgerbridge.sources.base import SourceMismatch
from ledgerbridge.ledger import Ledger
from ledgerbridge.ledger.audit import record
from ledgerbridge.ledger.models import LegalEntityRow
from ledgerbridge.observability import MetricsEmitter, emitter_from_environment
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.base import SourceConnector

RUN_PARAMS = ("full_refresh", "sync_from", "dry_run")


@dataclass(frozen=True)
class RunParams:
    full_refresh: bool = False
    sync_from: date | None = None
    dry_run: bool = False

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> RunParams:
        """Strict: a typo ("dryrun") or "false" as a string must never turn into a real send."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(RUN_PARAMS))
        if unknown:
            raise ValueError(f"unknown run param(s) {', '.join(map(repr, unknown))}: "
                             f"known are {', '.join(RUN_PARAMS)}")
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
    # Where each step's metrics go (ledgerbridge.observability); in an Airflow task, Airflow's own client.
    metrics: MetricsEmitter = field(default_factory=emitter_from_environment)
    _connector: AccountingConnector | None = None
    _source: SourceConnector | None = None

    @property
    def connector(self) -> AccountingConnector:
        if self._connector is None:
            if self.connect is None:
                raise RuntimeError(f"step needs the accounting system of {self.entity.id} but no connector was given")
            self._connector = self.connect()
            pin_company(self, self._connector.company_id)
        return self._connector

    @property
    def connected(self) -> AccountingConnector | None:
        """The connector if this step made one (it talked to, or shaped payloads for, the accounting system)."""
        return self._connector

    @property
    def source(self) -> SourceConnector:
        if self._source is None:
            if self.connect_source is None:
                raise RuntimeError(f"step needs the source of {self.entity.id} but no source was given")
            self._source = self.connect_source()
            if self._source.identity is not None:
                pin_source(self, self._source.identity)
        return self._source


def ensure_entity(session: Session, entity: LegalEntity) -> LegalEntityRow:
    row = session.get(LegalEntityRow, entity.id)
    if row is None:
        row = LegalEntityRow(id=entity.id)
        session.add(row)
    row.name = entity.name
    row.base_currency = entity.base_currency
    row.accounting_kind = entity.accounting.kind.value
    row.conn_id = entity.accounting.conn_id
    session.flush()
    return row


@dataclass(frozen=True)
class _Pin:
    """What an entity is pinned to on first use, and what is said when a connection points elsewhere."""

    column: str  # of LegalEntityRow
    error: type[Exception]
    event: str
    taken: str  # another entity holds the value
    moved: str  # the entity holds another value


_COMPANY = _Pin(
    "company_id", CompanyMismatch, "company_pinned",
    "legal entity {entity!r}: connection {conn!r} reaches accounting company {value}, which legal entity "
    "{owner!r} already syncs with: nothing was sent",
    "legal entity {entity!r} syncs with accounting company {pinned}, but connection {conn!r} now points at "
    "company {value}: nothing was sent. If the entity really moved to a new company, re-pin it: "
    "`ledgerbridge entity repin {entity}`.")
_SOURCE = _Pin(
    "source_identity", SourceMismatch, "source_pinned",
    "legal entity {entity!r}: connection {conn!r} reaches {value}, which legal entity {owner!r} already "
    "reads: nothing was read or written",
    "legal entity {entity!r} reads {pinned}, but connection {conn!r} now reaches {value}: nothing was read or "
    "written. If the entity really moved, re-pin it: `ledgerbridge entity repin {entity}`.")


def pin_company(ctx: RunContext, company_id: str) -> None:
    """Refuse a connection that points at another company than the entity's first one.

    This is the isolation guard: without it, editing a connection would silently send this
    entity's bills into someone else's books.
    """
    _pin(ctx, _COMPANY, company_id, ctx.entity.accounting.conn_id)


def pin_source(ctx: RunContext, identity: str) -> None:
    """Refuse a source that is another system than the entity's first one (an ERP connection edited to
    another company): its orders would be exported into this entity's books, and this entity's ids
    written onto its orders."""
    _pin(ctx, _SOURCE, identity, ctx.entity.source.conn_id)


def company_pin_problem(session: Session, entity: LegalEntity, company_id: str) -> str | None:
    """Why a run of `entity` would refuse a connection reaching `company_id` (another entity syncs with
    it, or the entity is pinned to another company), or None; pins nothing (the Test buttons ask)."""
    return _pin_problem(session, _COMPANY, entity.id, company_id, entity.accounting.conn_id)


def _pin_problem(session: Session, pin: _Pin, entity_id: str, value: str, conn_id: str) -> str | None:
    column = getattr(LegalEntityRow, pin.column)
    owner = session.scalars(select(LegalEntityRow.id).where(column == value, LegalEntityRow.id != entity_id)).first()
    if owner is not None:
        return pin.taken.format(entity=entity_id, conn=conn_id, value=value, owner=owner)
    row = session.get(LegalEntityRow, entity_id)
    pinned = getattr(row, pin.column) if row is not None else None
    if pinned is not None and pinned != value:
        return pin.moved.format(entity=entity_id, pinned=pinned, conn=conn_id, value=value)
    return None


def _pin(ctx: RunContext, pin: _Pin, value: str, conn_id: str) -> None:
    try:
        with ctx.ledger.session() as session:
            row = ensure_entity(session, ctx.entity)
            problem = _pin_problem(session, pin, ctx.entity.id, value, conn_id)
            if problem is not None:
                raise pin.error(problem)
            if getattr(row, pin.column) is None:
                setattr(row, pin.column, value)
                record(session, ctx.entity.id, "pipeline", pin.event, "legal_entity", ctx.entity.id,
                       {pin.column: value, "conn_id": conn_id})
    except IntegrityError as exc:  # another entity pinned it between our check and our commit
        with ctx.ledger.session() as session:
            problem = _pin_problem(session, pin, ctx.entity.id, value, conn_id)
        if problem is None:
            raise
        raise pin.error(problem) from exc


class RepinRefused(ValueError):
    """A re-pin of an entity the ledger has no pin for."""


def repin(session: Session, entity_id: str, actor: str) -> str | None:
    """Forget the company an entity is pinned to; its next run pins the company it then reaches.

    Outbox rows still unsettled were resolved against the old company and stay bound to it: the
    sender refuses them rather than send old ids into the new company.
    """
    row = session.get(LegalEntityRow, entity_id)
    if row is None:
        raise RepinRefused(f"legal entity {entity_id!r} has never run: nothing to re-pin")
    previous, row.company_id = row.company_id, None
    source, row.source_identity = row.source_identity, None
    record(session, entity_id, actor, "company_unpinned", "legal_entity", entity_id,
           {"previous": previous, "previous_source": source})
    return previous
