"""The outbox: every record to create in the accounting system, sent exactly once.

A row is committed as `sending`, leased to its sender, before the request leaves, so a worker killed
mid-request leaves a trace; any row whose outcome is unknown (`sending` past its lease, or
`uncertain`) is looked up in the accounting system before it is sent again, and always re-sent with
the same idempotency key. The sender is the task (entity, run, kinds), so a retry after a dead
worker takes its rows over at once; rows another run holds are waited for until they settle or the
lease ends, then taken over: a step never ends green with its records stuck.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ledgerbridge import observability
from ledgerbridge.connectors.base import CREATE, UPDATE_PREFIX, VOID, Awaiting, Created, Outgoing, is_update
from ledgerbridge.connectors.errors import (
    CompanyMismatch,
    OutcomeUnknown,
    ReconnectRequired,
    RecordRejected,
    TransientError,
)
from ledgerbridge.context import RunContext
from ledgerbridge.kinds import RecordKind
from ledgerbridge.kinds import get as get_kind
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.quarantine import Reason
from ledgerbridge.ledger.audit import record
from ledgerbridge.ledger.models import Attachment, Document, OutboxEntry, OutboxState, RecordType
from ledgerbridge.ledger.paging import Page, page_of
from ledgerbridge.ledger.types import utcnow

_KEY_NAMESPACE = uuid.UUID("6f1d7c52-3a1e-4e55-9a57-1d1b5c2b7a10")
UNSETTLED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.UNCERTAIN)
LEASE_POLL_SECONDS = 5.0  # how often a send waiting for another run's rows looks again


def idempotency_key(entity_id: str, record_type: str, hub_key: str, operation: str = "create") -> str:
    """Stable for the life of the record (36 chars: fits QBO's requestid and Xero's Idempotency-Key)."""
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{entity_id}/{record_type}/{hub_key}/{operation}"))


def enqueue(session: Session, ctx, kind: RecordKind, record_id: int, hub_key: str, export: Any,
            operation: str = CREATE, target_id: str | None = None, *, known_new: bool = False) -> OutboxEntry:
    """Add the outbox row of an operation on a record, or return the one it already has (one row per
    record and operation, ever): its creation, an update to a version ("update:<n>", `export` being the
    record as it is now) or its void (no export). An update or void names the `target_id` it changes.
    `known_new`: the caller looked for the rows of a whole batch at once (`queued`) and this one has none.

    The row is bound to the company its payload was resolved against: its ids (vendor, accounts)
    mean nothing in any other company. (The unique key refuses a second row at commit, whoever races.)
    """
    if not known_new:
        existing = session.scalars(
            select(OutboxEntry).where(
                OutboxEntry.entity_id == ctx.entity.id,
                OutboxEntry.record_type == kind.record_type,
                OutboxEntry.record_id == record_id,
                OutboxEntry.operation == operation,
            )
        ).one_or_none()
        if existing is not None:
            if existing.state == OutboxState.RETRY:
                _prepare_again(session, ctx, kind, existing, export)
            return existing
    key = idempotency_key(ctx.entity.id, kind.record_type, hub_key, operation)
    doc_number, party_ref = kind.outbox_columns(export) if export is not None else (None, None)
    row = OutboxEntry(
        entity_id=ctx.entity.id,
        record_type=kind.record_type,
        record_id=record_id,
        record_key=hub_key,
        operation=operation,
        target_id=target_id,
        kind=kind.name,
        doc_number=doc_number,
        party_ref=party_ref,
        company_id=ctx.connector.company_id,
        idempotency_key=key,
        payload=ctx.connector.payload(kind.name, export, key) if export is not None else {},
        state=OutboxState.PENDING,
    )
    session.add(row)
    return row


def _prepare_again(session: Session, ctx, kind: RecordKind, row: OutboxEntry, export: Any) -> None:
    """A refused creation a person asked to retry, as the record is now, under a key of its own: the
    accounting system answers a key it has seen with the refusal it gave (QBO's requestid, Xero's
    Idempotency-Key). `attempts` only grows, so each retry's key is new, and stable until it is sent."""
    row.idempotency_key = idempotency_key(ctx.entity.id, kind.record_type, row.record_key,
                                          f"{row.operation}/retry-after-{row.attempts}")
    row.doc_number, row.party_ref = kind.outbox_columns(export)
    row.company_id = ctx.connector.company_id
    row.payload = ctx.connector.payload(kind.name, export, row.idempotency_key)
    row.state, row.error = OutboxState.PENDING, None
    record(session, ctx.entity.id, "pipeline", "outbox_prepared_again", row.record_type, row.record_id,
           {"outbox_id": row.id, "record": row.record_key, "idempotency_key": row.idempotency_key,
            "company_id": row.company_id, "run_id": ctx.run_id})


def queued(session: Session, entity_id: str, record_type: str, record_ids: list[int]) -> set[tuple[int, str]]:
    """(record id, operation) of the rows these records have, a few queries for a whole batch."""
    found: set[tuple[int, str]] = set()
    for start in range(0, len(record_ids), 500):
        found.update(session.execute(select(OutboxEntry.record_id, OutboxEntry.operation).where(
            OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == record_type,
            OutboxEntry.record_id.in_(record_ids[start:start + 500]))).all())
    return found


@dataclass
class SendReport:
    sent: int = 0
    confirmed: int = 0
    adopted: int = 0  # found already in the accounting system after an unknown outcome
    updated: int = 0  # of the confirmed: changes after export, followed (updates)
    voided: int = 0  # of the confirmed: voids
    rejected: int = 0
    uncertain: int = 0
    awaiting: int = 0  # handed over, the accounting system's answer comes later (file drop)
    left_pending: int = 0
    would_send: int = 0
    taken_over: int = 0  # rows an earlier try of this task held when its worker stopped
    waited_for: int = 0  # rows another run held when this send started looking
    errors: list[str] = field(default_factory=list)
    handled: set[int] = field(default_factory=set)  # rows this send looked at (each once)

    def add(self, other: SendReport) -> None:
        """Count another send of the same step in (the files sent between a step's batches)."""
        for name, value in other.__dict__.items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.errors.extend(other.errors)
        self.handled.update(other.handled)

    def as_dict(self) -> dict[str, Any]:
        summary = {k: v for k, v in self.__dict__.items() if k not in ("errors", "handled")}
        summary["created"] = self.confirmed - self.adopted - self.updated - self.voided
        summary["errors"] = self.errors[:20]
        return summary


def send(ctx: RunContext, kinds: tuple[str, ...], actor: str = "pipeline",
         after_batch: Callable[[], None] | None = None) -> SendReport:
    """Send every unsettled row of these record kinds for the entity, in batches of the connector's size
    (`after_batch` runs after each: what depends on the rows just settled goes meanwhile).

    Rows whose outcome is unknown are looked up first and adopted when found. Each batch is
    claimed (`sending`, leased to this sender) and committed before it leaves, and settled in one
    commit when it returns. The sender is the task itself (entity, run and kinds): a retry after a
    worker died takes over the rows its earlier try held at once. A row another run holds a live lease
    on is waited for until it settles or the lease ends, then taken over: a step never ends with its
    records stuck behind a dead sender.
    """
    report = SendReport()
    what = "/".join(kinds)
    if ctx.params.dry_run:
        with ctx.ledger.session() as session:
            report.would_send = len(_unsettled_rows(session, ctx, kinds))
        ctx.log.info("dry run: %d %s record(s) would be sent; nothing sent", report.would_send, what)
        return report
    sender = sender_for(ctx, kinds)
    report.taken_over = _take_over_earlier_try(ctx, kinds, sender)
    if report.taken_over:
        ctx.log.warning("%d %s record(s) were held by an earlier try of this task (its worker stopped mid-send): "
                        "taken over, looked up before anything is sent again", report.taken_over, what)
    waited_for: set[int] = set()
    while True:
        now = utcnow()
        with ctx.ledger.session() as session:
            rows = _unsettled_rows(session, ctx, kinds)
        held = [row for row in rows if _leased(row.claim_expires_at, now)]
        free = [row for row in rows if not _leased(row.claim_expires_at, now) and row.id not in report.handled]
        if free:
            if not _send_rows(ctx, free, report, actor, sender, what, after_batch):
                return report  # stopped by a limit or an outage: the rest waits for the next try or run
        elif not report.handled and not held:
            ctx.log.info("%s: nothing to send", what)
        if not held:
            return report
        if not waited_for:
            ctx.log.info("%d %s record(s) are being sent by another run right now (lease until %s): waiting for "
                         "them to settle or for the lease to end", len(held), what,
                         max(row.claim_expires_at for row in held).isoformat(timespec="seconds"))
        waited_for.update(row.id for row in held)
        report.waited_for = len(waited_for)
        time.sleep(min(LEASE_POLL_SECONDS, max(0.05, (min(row.claim_expires_at for row in held) - now)
                                                .total_seconds())))


def sender_for(ctx: RunContext, kinds: tuple[str, ...]) -> str:
    """Who holds a claim: the same for every try of one task (an entity's run sending these kinds), so a
    retry recognises what its earlier try left behind (32 chars, the column's width)."""
    return uuid.uuid5(_KEY_NAMESPACE, f"sender/{ctx.entity.id}/{ctx.run_id}/{'/'.join(sorted(kinds))}").hex


def _take_over_earlier_try(ctx: RunContext, kinds: tuple[str, ...], sender: str) -> int:
    """Release the rows an earlier try of this task still holds: their outcome is unknown (`sending`), so
    they are looked up like any row a dead sender left."""
    with ctx.ledger.session() as session:
        return session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.kind.in_(kinds),
                   OutboxEntry.state.in_(UNSETTLED), OutboxEntry.claimed_by == sender)
            .values(claimed_by=None, claim_expires_at=None)
        ).rowcount


def _unsettled_rows(session: Session, ctx: RunContext, kinds: tuple[str, ...]) -> list:
    return session.execute(
        select(OutboxEntry.id, OutboxEntry.state, OutboxEntry.claim_expires_at)
        .where(OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.kind.in_(kinds),
               OutboxEntry.state.in_(UNSETTLED))
        .order_by(OutboxEntry.id)
    ).all()


def _send_rows(ctx: RunContext, rows: list, report: SendReport, actor: str, sender: str, what: str,
               after_batch: Callable[[], None] | None = None) -> bool:
    """Look up the rows of unknown outcome, then send the rest in batches; False when a limit or an
    outage stopped the sending (the rest left pending, each keeping its idempotency key)."""
    connector = ctx.connector
    report.handled.update(row.id for row in rows)
    unknown = [row.id for row in rows if row.state in (OutboxState.SENDING, OutboxState.UNCERTAIN)]
    done_with = _adopt_existing(ctx, connector, unknown, report, actor) if unknown else set()
    to_send = [(row.id, row.state) for row in rows if row.id not in done_with]
    size = max(1, connector.capabilities.batch_size)
    for done in range(0, len(to_send), size):
        try:
            _send_batch(ctx, connector, to_send[done: done + size], report, actor, sender)
        except TransientError as exc:
            report.left_pending = _unsettled(ctx, [row_id for row_id, _ in to_send[done:]])
            report.errors.append(f"stopped: {exc}")
            ctx.log.warning("stopped sending %s: %s. %d of %d left for the next run (each keeps its "
                            "idempotency key)", what, exc, report.left_pending, len(to_send))
            return False
        if after_batch is not None:
            after_batch()
        sent = min(done + size, len(to_send))
        if sent % (size * 10) == 0 or sent == len(to_send):
            ctx.log.info("sent %d/%d %s (confirmed %d, rejected %d, uncertain %d, awaiting an answer %d)", sent,
                         len(to_send), what, report.confirmed, report.rejected, report.uncertain, report.awaiting)
    return True


def _unsettled(ctx: RunContext, row_ids: list[int]) -> int:
    """How many of these rows are still to send (a batch cut short may have settled some of its rows)."""
    with ctx.ledger.session() as session:
        return len(session.scalars(select(OutboxEntry.id).where(
            OutboxEntry.id.in_(row_ids), OutboxEntry.state.in_(UNSETTLED))).all())


def _leased(expires_at, now) -> bool:
    return expires_at is not None and expires_at > now


def outgoing(row: OutboxEntry, content: bytes | None = None) -> Outgoing:
    """An outbox row as the connector sees it."""
    return Outgoing(ref=str(row.id), kind=row.kind, payload=row.payload, key=row.idempotency_key,
                    queued_at=row.created_at, content=content, operation=row.operation, target_id=row.target_id,
                    attempts=row.attempts)


def _load(ctx: RunContext, connector, row_ids: list[int]) -> tuple[list[Outgoing], dict[int, str]]:
    """The rows as they leave (and their hub names, for the log), refusing any prepared for another
    company than the connection reaches now."""
    with ctx.ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(row_ids)).order_by(OutboxEntry.id)).all()
        for row in rows:
            if row.company_id != connector.company_id:
                raise CompanyMismatch(
                    f"{row.record_key} (outbox #{row.id}) was prepared for company {row.company_id}, but the "
                    f"connection now reaches company {connector.company_id}: not sent")
        files = {row.record_id for row in rows if row.record_type == RecordType.ATTACHMENT}
        contents = {attachment_id: content for attachment_id, content in session.execute(
            select(Attachment.id, Attachment.content).where(Attachment.id.in_(files)))} if files else {}
        items = [outgoing(row, contents.get(row.record_id) if row.record_type == RecordType.ATTACHMENT else None)
                 for row in rows]
        return items, {row.id: row.record_key for row in rows}


def _adopt_existing(ctx: RunContext, connector, row_ids: list[int], report: SendReport, actor: str) -> set[int]:
    """Look up rows of unknown outcome; settle those found (or refused), leave those still on their
    way. Returns the ids not to send again."""
    rows, labels = _load(ctx, connector, row_ids)
    found = connector.find_existing_many(rows)
    settled = {int(ref): outcome for ref, outcome in found.items() if not isinstance(outcome, Awaiting)}
    waiting = {int(ref) for ref, outcome in found.items() if isinstance(outcome, Awaiting)}
    settle_many(ctx, settled, actor)
    by_ref = {int(item.ref): item for item in rows}
    for row_id, outcome in settled.items():
        _count(report, outcome, labels[row_id], ctx, by_ref[row_id])
    report.awaiting += len(waiting)
    ctx.log.info("%d record(s) of unknown outcome looked up: %d found, %d refused, %d still awaiting an answer, "
                 "%d to send again (each keeps its idempotency key)", len(rows),
                 sum(isinstance(o, Created) for o in settled.values()),
                 sum(isinstance(o, RecordRejected) for o in settled.values()), len(waiting),
                 len(rows) - len(settled) - len(waiting))
    return set(settled) | waiting


def _count(report: SendReport, outcome, label: str, ctx, item: Outgoing) -> None:
    kind, row_id = f"{item.kind} {item.operation}", item.ref
    if isinstance(outcome, Created):
        report.confirmed += 1
        if item.operation == VOID:
            report.voided += 1
        elif is_update(item.operation):
            report.updated += 1
        else:
            report.adopted += outcome.adopted
    elif isinstance(outcome, Awaiting):
        report.awaiting += 1
    elif isinstance(outcome, RecordRejected):
        report.rejected += 1
        report.errors.append(f"{label}: {outcome}")
        ctx.log.warning("rejected %s (%s, outbox #%s): %s", label, kind, row_id, outcome)
    elif isinstance(outcome, (TransientError, ReconnectRequired)):
        report.sent -= 1  # not sent after all: pending again
    else:
        report.uncertain += 1
        ctx.log.warning("outcome unknown for %s (%s, outbox #%s): %s; it will be looked up before any re-send",
                        label, kind, row_id, outcome)


def _send_batch(ctx: RunContext, connector, batch: list[tuple[int, str]], report: SendReport, actor: str, sender: str) -> None:
    items, labels = _load(ctx, connector, [row_id for row_id, _ in batch])  # refuses another company's rows first
    claimed_ids = set(_claim(ctx, batch, sender, connector.capabilities.claim_seconds))
    if len(claimed_ids) < len(batch):
        ctx.log.info("%d row(s) were taken by another sender meanwhile: skipped", len(batch) - len(claimed_ids))
    rows = {int(item.ref): item for item in items if int(item.ref) in claimed_ids}
    if not rows:
        return
    report.sent += len(rows)
    key = batch_key([item.key for item in rows.values()])
    try:
        outcomes = connector.create_many(list(rows.values()), key)
    except OutcomeUnknown as exc:
        outcomes = {str(row_id): exc for row_id in rows}
    except (TransientError, ReconnectRequired) as exc:
        # Raised only when nothing can have been applied: back to pending, re-sent with the same keys.
        settle_many(ctx, {row_id: exc for row_id in rows}, actor, sender=sender)
        report.sent -= len(rows)
        raise
    results: dict[int, Created | Exception | Awaiting] = {}
    for row_id, item in rows.items():
        outcome = outcomes.get(item.ref) or OutcomeUnknown(f"no outcome reported for outbox #{row_id}")
        _count(report, outcome, labels[row_id], ctx, item)
        results[row_id] = outcome
    observability.count("exported", sum(not isinstance(o, (TransientError, ReconnectRequired)) for o in results.values()))
    settle_many(ctx, results, actor, sender=sender)
    stop = next((o for o in results.values() if isinstance(o, (TransientError, ReconnectRequired))), None)
    if stop is not None:
        raise stop  # what was applied is settled; the rest waits for the next run


def batch_key(keys: list[str]) -> str:
    """The batch's requestid: the same rows sent again form the same key (36 chars, QBO's batch limit).

    Rows regrouped later get another key: their safety then is the look-up before any re-send."""
    return str(uuid.uuid5(_KEY_NAMESPACE, "batch/" + "/".join(sorted(keys))))


def _claim(ctx: RunContext, batch: list[tuple[int, str]], sender: str, lease_seconds: float) -> list[int]:
    """Mark rows `sending` and lease them to this sender, only if nobody changed or leased them since
    we read them (one sender per row at a time)."""
    claimed = []
    now = utcnow()
    with ctx.ledger.session() as session:
        for row_id, seen_state in batch:
            changed = session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == row_id, OutboxEntry.state == seen_state,
                       or_(OutboxEntry.claim_expires_at.is_(None), OutboxEntry.claim_expires_at <= now))
                .values(state=OutboxState.SENDING, attempts=OutboxEntry.attempts + 1, last_attempt_at=now,
                        updated_at=now, claimed_by=sender, claim_expires_at=now + timedelta(seconds=lease_seconds))
            ).rowcount
            if changed == 1:
                claimed.append(row_id)
    return claimed


def settle_many(ctx: RunContext, outcomes: dict[int, Created | Exception | Awaiting], actor: str, sender: str | None = None) -> None:
    """Record each row's outcome in one commit and release its lease: confirmed, rejected, uncertain,
    pending again (nothing was sent), or still `sending` (handed over, awaiting the answer).

    With `sender`, only rows still leased to it; without, only rows nobody holds a live lease on.
    """
    if not outcomes:
        return
    now = utcnow()
    with ctx.ledger.session() as session:
        owned = OutboxEntry.claimed_by == sender if sender else or_(
            OutboxEntry.claim_expires_at.is_(None), OutboxEntry.claim_expires_at <= now)
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(list(outcomes)), owned)).all()
        if len(rows) < len(outcomes):
            ctx.log.warning("%d outcome(s) not recorded: another sender holds those rows now; they are looked up "
                            "before any re-send", len(outcomes) - len(rows))
        for row in rows:
            _settle(session, ctx, row, outcomes[row.id], actor)
            row.claimed_by, row.claim_expires_at = None, None
        _keep_booked_rates(session, ctx, [
            (row, outcomes[row.id]) for row in rows
            if row.state == OutboxState.CONFIRMED and row.record_type == RecordType.DOCUMENT
            and isinstance(outcomes[row.id], Created) and outcomes[row.id].exchange_rate is not None])


def _keep_booked_rates(session, ctx, booked: list[tuple[OutboxEntry, Created]]) -> None:
    """The rate the accounting system says it booked each foreign-currency document at (a file-drop agent of
    protocol version 5), and its home total, kept on a document that went without one, in one query for the
    batch. A source's rate is never overwritten: one booked at another rate is said, naming both."""
    if not booked:
        return
    documents = {document.id: document for document in session.scalars(select(Document).where(
        Document.entity_id == ctx.entity.id, Document.id.in_([row.record_id for row, _ in booked])))}
    home = ctx.entity.base_currency
    for row, created in booked:
        document = documents.get(row.record_id)
        if document is None or document.currency == home:
            continue  # a home-currency document has no rate to keep (an agent says none for it)
        if document.exchange_rate is None:
            document.exchange_rate, document.home_total = created.exchange_rate, created.home_total
            record(session, ctx.entity.id, "pipeline", "booked_rate_kept", row.record_type, row.record_id,
                   {"record": row.record_key, "external_id": created.external_id,
                    "exchange_rate": str(created.exchange_rate), "home_total": str(created.home_total),
                    "run_id": ctx.run_id})
            ctx.log.info("%s %s (%.2f %s) was booked at the accounting system's rate %s %s per 1 %s: %.2f %s",
                         row.kind, document.hub_id, document.total, document.currency,
                         _rate_text(created.exchange_rate), home, document.currency, created.home_total, home)
        elif document.exchange_rate != created.exchange_rate:
            ctx.log.warning("%s %s (%.2f %s) went with the source's rate %s %s per 1 %s, but the accounting system "
                            "booked it at %s (%.2f %s); the ledger keeps the source's rate (%.2f %s): correct the "
                            "rate in the accounting system, or the source's", row.kind, document.hub_id,
                            document.total, document.currency, _rate_text(document.exchange_rate), home,
                            document.currency, _rate_text(created.exchange_rate), created.home_total, home,
                            document.home_total, home)


def _rate_text(rate) -> str:
    """A rate as people write it: "1.0856", not the column's "1.0856000000" (nor "1E+1")."""
    return format(rate.normalize(), "f")


def _hold_refused_change(session, ctx, row: OutboxEntry, error: str) -> None:
    """A change after export the accounting system refused (a stale version, a document paid meanwhile):
    the document there stands as it was; a person decides, and the next change at the source supersedes it."""
    kind = get_kind(row.kind)
    change = "void" if row.operation == VOID else f"update to version {row.operation.removeprefix(UPDATE_PREFIX)}"
    quarantine.hold(session, ctx.entity.id, kind.dataset, row.record_key.partition(":")[2], [Reason(
        "status" if row.operation == VOID else "version",
        f"the {change} was refused by the accounting system, which keeps its own version: {error}", None,
        "accounting.change_refused")], {"operation": row.operation, "target_id": row.target_id,
                                        "outbox_id": row.id, "error": error})


def _settle(session, ctx, row: OutboxEntry, outcome, actor: str) -> None:
    external_id, error, adopted = None, None, False
    if isinstance(outcome, Awaiting):
        row.error = None
        return  # stays `sending`: the answer comes later, and is looked up then
    if isinstance(outcome, Created):
        row.state, external_id, adopted = OutboxState.CONFIRMED, outcome.external_id, outcome.adopted
        row.external_id, row.confirmed_at = external_id, utcnow()
    else:
        error = str(outcome)
        if isinstance(outcome, RecordRejected):
            row.state = OutboxState.REJECTED
            if row.operation != CREATE:
                _hold_refused_change(session, ctx, row, error)
        elif isinstance(outcome, (TransientError, ReconnectRequired)):
            row.state = OutboxState.PENDING  # the connector says nothing was applied
        else:
            row.state = OutboxState.UNCERTAIN
    row.error = error
    if row.state in (OutboxState.CONFIRMED, OutboxState.REJECTED):
        observability.count(str(row.state))  # confirmed | rejected
    if row.state != OutboxState.PENDING:
        record(session, ctx.entity.id, actor, f"outbox_{row.state}", row.record_type, row.record_id,
               {"outbox_id": row.id, "record": row.record_key, "kind": row.kind, "external_id": external_id,
                "error": error, "adopted": adopted, "company_id": row.company_id, "run_id": ctx.run_id})


# -- refused records: what a person sees and retries ---------------------------------------------------

@dataclass(frozen=True)
class Refused:
    """A record the accounting system refused, with its error and what a person can do about it."""

    row: OutboxEntry

    @property
    def retry_blocked(self) -> str | None:
        """Why Retry does not apply to it (None: it does)."""
        row = self.row
        if row.state != OutboxState.REJECTED:
            return f"it is {row.state} now"
        if row.record_type == RecordType.PARTY:
            return "a refused party creation goes to the review queue: decide it there"
        if row.operation != CREATE:
            return ("a refused change after export is held in quarantine; the next change at the source "
                    "supersedes it (or release/dismiss it there)")
        return None

    def as_dict(self) -> dict[str, Any]:
        row = self.row
        return {"outbox_id": row.id, "entity_id": row.entity_id, "kind": row.kind, "record_key": row.record_key,
                "operation": row.operation, "doc_number": row.doc_number, "state": row.state, "error": row.error,
                "attempts": row.attempts, "company_id": row.company_id,
                "last_attempt_at": row.last_attempt_at.isoformat() if row.last_attempt_at else None,
                "retryable": self.retry_blocked is None, "retry_blocked": self.retry_blocked}


def rejected_page(session: Session, entity_id: str | None, offset: int = 0, limit: int = 50) -> Page[Refused]:
    """Records the accounting system refused (newest first), and those a person asked to retry."""
    query = select(OutboxEntry).where(OutboxEntry.state.in_((OutboxState.REJECTED, OutboxState.RETRY)))
    if entity_id:
        query = query.where(OutboxEntry.entity_id == entity_id)
    query = query.order_by(OutboxEntry.entity_id, OutboxEntry.updated_at.desc(), OutboxEntry.id.desc())
    rows, total = page_of(session, query, offset, limit)
    return Page([Refused(row[0]) for row in rows], total, offset, limit)


def rejected_counts(session: Session, entity_ids: list[str] | None = None) -> dict[str, int]:
    """Refused creations per entity (of `entity_ids`, or all) that wait for a Retry, in one query (a refused
    change is counted in quarantine, a refused party creation in the review queue)."""
    from sqlalchemy import func

    query = select(OutboxEntry.entity_id, func.count(OutboxEntry.id)).where(
        OutboxEntry.state == OutboxState.REJECTED, OutboxEntry.operation == CREATE,
        OutboxEntry.record_type != RecordType.PARTY)
    if entity_ids is not None:
        query = query.where(OutboxEntry.entity_id.in_(entity_ids))
    return dict(session.execute(query.group_by(OutboxEntry.entity_id)).all())


class RetryRefused(Exception):
    pass


def _not_exportable(session: Session, row: OutboxEntry) -> str | None:
    """Why the record itself would not go out again (None: it would): no longer approved, or dismissed."""
    kind = get_kind(row.kind)
    model = getattr(kind, "model", None)
    if model is None:
        return None
    status = session.scalar(select(model.status).where(model.id == row.record_id))
    if status != "approved":
        return f"it is {status or 'gone'} at the source now, not approved: nothing to send"
    if row.record_key.partition(":")[2] in quarantine.dismissed_keys(session, row.entity_id, kind.dataset):
        return "a person dismissed it in quarantine (reopen it there first)"
    return None


def withdraw_stale_retries(session: Session, ctx, kind: RecordKind) -> int:
    """Retries asked for records that will not go out after all (changed at the source to draft or void,
    or dismissed since): back to `rejected`, where the person sees them again."""
    rows = session.scalars(select(OutboxEntry).where(
        OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.kind == kind.name,
        OutboxEntry.state == OutboxState.RETRY)).all()
    withdrawn = 0
    for row in rows:
        why = _not_exportable(session, row)
        if why:
            row.state = OutboxState.REJECTED
            record(session, ctx.entity.id, "pipeline", "outbox_retry_withdrawn", row.record_type, row.record_id,
                   {"outbox_id": row.id, "record": row.record_key, "why": why, "run_id": ctx.run_id})
            ctx.log.warning("%s: the retry asked for is withdrawn: %s", row.record_key, why)
            withdrawn += 1
    return withdrawn


def retry(session: Session, entity_id: str, outbox_id: int, actor: str) -> str:
    """A person's Retry of a refused creation, after a fix (in the accounting system, or at the source):
    the next run checks the record again through its data-quality gate and sends it, once, under a new
    idempotency key. Only from `rejected`: a second click finds it on its way already."""
    row = session.scalars(select(OutboxEntry).where(OutboxEntry.id == outbox_id, OutboxEntry.entity_id == entity_id)
                          .with_for_update()).one_or_none()
    if row is None:
        raise RetryRefused(f"{entity_id}: no outbox record #{outbox_id}")
    blocked = Refused(row).retry_blocked or _not_exportable(session, row)
    if blocked:
        raise RetryRefused(f"{entity_id}: {row.record_key} (outbox #{outbox_id}) cannot be retried: {blocked}")
    previous_error, row.state = row.error, OutboxState.RETRY
    record(session, entity_id, actor, "outbox_retry_requested", row.record_type, row.record_id,
           {"outbox_id": row.id, "record": row.record_key, "refused_with": previous_error,
            "refused_key": row.idempotency_key, "attempts": row.attempts})
    return (f"{entity_id} {row.record_key}: to be retried; the next run checks it again and sends it with a new "
            "idempotency key")
