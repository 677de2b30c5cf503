"""Whether a realtime entity has anything to send: the cheap look its every-minute DAG
(ledgerbridge__<id>__realtime) takes after pulling the source and before its export steps.

A few indexed counts in the ledger, no call to the accounting system. Something is to send when:
- an approved document or payment that has no outbox row yet arrived or changed since the last
  export pass of the entity (`prepare_exports` of any run, full or realtime) started, of a kind the
  accounting connector carries (the rest stay in the ledger whatever runs: they start no run);
- since then, a person released a held record, or decided a party in the review queue:
  what waited on them may go now;
- an outbox row is unsettled: queued, uncertain, to retry, or sending with its lease run out.
A record the last pass left waiting for something else (a payment whose document is on its way) is
tried again by the next pass that something new starts, or by the entity's full run.
Nothing is looked at while another run of the entity is in its export steps: that run sends it.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

from ledgerbridge import kinds
from ledgerbridge.flows.parties import ENGINE
from ledgerbridge.ledger import Ledger
from ledgerbridge.ledger.models import (
    OutboxEntry,
    OutboxState,
    PartyLink,
    QuarantineEntry,
    QuarantineStatus,
    SyncRun,
)
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.registry import LegalEntity

EXPORT_STEPS = ("prepare_exports", "export_documents", "export_payments")
# A step still `running` after this long is a dead worker's row, not a run busy exporting.
BUSY_AT_MOST = timedelta(hours=1)


@dataclass(frozen=True)
class Waiting:
    busy_run: str | None = None  # another run of the entity exporting right now
    new_approved: dict[str, int] = field(default_factory=dict)  # record kind (plural) -> count
    unsettled: int = 0  # outbox rows still to send or to look up
    decided: int = 0  # held records released and parties linked by a person since the last pass
    since: datetime | None = None  # when the last export pass started (None: never)

    def skip_reason(self, entity_id: str) -> str | None:
        """Why the export steps have nothing to do (a line for the task log), or None to run them."""
        if self.busy_run:
            return (f"{entity_id}: run {self.busy_run} is in its export steps right now and sends what is waiting; "
                    "export steps skipped")
        if self.new_approved or self.unsettled or self.decided:
            return None
        since = f"since the last export pass ({self.since.isoformat(timespec='seconds')})" if self.since else "yet"
        return (f"{entity_id}: nothing to send: no approved document or payment new or changed {since}, no "
                "release or party decision of a person, no outbox row waiting; export steps skipped")

    def describe(self) -> str:
        parts = [f"{count} {plural}" for plural, count in sorted(self.new_approved.items())]
        if self.unsettled:
            parts.append(f"{self.unsettled} outbox row(s) to send or look up")
        if self.decided:
            parts.append(f"{self.decided} decision(s) of a person (a release, a party decided)")
        return ", ".join(parts) or "nothing"


def exports_waiting(ledger: Ledger, entity: LegalEntity, run_id: str, carried: Collection[str]) -> Waiting:
    """`carried`: the record kinds the entity's accounting connector creates (its capabilities.kinds)."""
    now = utcnow()
    with ledger.session() as session:
        busy = session.scalars(select(SyncRun.run_id).where(
            SyncRun.entity_id == entity.id, SyncRun.run_id != run_id, SyncRun.step.in_(EXPORT_STEPS),
            SyncRun.status == "running", SyncRun.started_at > now - BUSY_AT_MOST).limit(1)).first()
        if busy is not None:
            return Waiting(busy_run=busy)
        since = session.scalar(select(func.max(SyncRun.started_at)).where(
            SyncRun.entity_id == entity.id, SyncRun.step == "prepare_exports", SyncRun.status == "success"))
        new_approved: dict[str, int] = {}
        for kind in (*kinds.documents(), *kinds.payments()):
            if not entity.runs(kind.flow) or kind.name not in carried:
                continue
            model = kind.model
            changed_at = getattr(model, "updated_at", None) or model.created_at
            candidates = kind.approved(entity.id).with_only_columns(model.id)
            if since is not None:
                candidates = candidates.where(changed_at >= since)
            count = session.scalar(select(func.count()).select_from(candidates.subquery()))
            if count:
                new_approved[kind.plural] = count
        unsettled = session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.entity_id == entity.id,
            or_(OutboxEntry.state.in_((OutboxState.PENDING, OutboxState.UNCERTAIN, OutboxState.RETRY)),
                and_(OutboxEntry.state == OutboxState.SENDING,
                     or_(OutboxEntry.claim_expires_at.is_(None), OutboxEntry.claim_expires_at <= now)))))
        decided = 0
        if since is not None:
            decided = session.scalar(select(func.count()).select_from(QuarantineEntry).where(
                QuarantineEntry.entity_id == entity.id, QuarantineEntry.status == QuarantineStatus.RELEASED,
                QuarantineEntry.resolved_at >= since)) + session.scalar(select(func.count()).select_from(PartyLink).where(
                    PartyLink.entity_id == entity.id, PartyLink.decided_by != ENGINE, PartyLink.decided_at >= since))
    return Waiting(new_approved=new_approved, unsettled=int(unsettled or 0), decided=decided, since=since)
