"""The outbox: every record to create in the accounting system, sent exactly once.

A row is committed as `sending` before the request leaves, so a worker killed mid-request leaves a
trace; any row whose outcome is unknown (`sending` or `uncertain`) is looked up in the accounting
system before it is sent again, and always re-sent with the same idempotency key.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledgerbridge.connectors.errors import (
    CompanyMismatch,
    OutcomeUnknown,
    ReconnectRequired,
    RecordRejected,
    TransientError,
)
from ledgerbridge.flows.audit import record
from ledgerbridge.ledger.models import OutboxEntry, OutboxState
from ledgerbridge.ledger.types import utcnow

_KEY_NAMESPACE = uuid.UUID("6f1d7c52-3a1e-4e55-9a57-1d1b5c2b7a10")
UNSETTLED = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.UNCERTAIN)


def idempotency_key(entity_id: str, record_type: str, hub_key: str, operation: str = "create") -> str:
    """Stable for the life of the record (36 chars: fits QBO's requestid and Xero's Idempotency-Key)."""
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{entity_id}/{record_type}/{hub_key}/{operation}"))


def enqueue(session: Session, ctx, record_type: str, record_id: int, hub_key: str, export: Any) -> OutboxEntry:
    """Add the outbox row of a record, or return the one it already has (one row per record, ever).

    The row is bound to the company its payload was resolved against: its ids (vendor, accounts)
    mean nothing in any other company.
    """
    existing = session.scalars(
        select(OutboxEntry).where(
            OutboxEntry.entity_id == ctx.entity.id,
            OutboxEntry.record_type == record_type,
            OutboxEntry.record_id == record_id,
            OutboxEntry.operation == "create",
        )
    ).one_or_none()
    if existing is not None:
        return existing
    key = idempotency_key(ctx.entity.id, record_type, hub_key)
    target, payload = ctx.connector.payload(export, key)
    row = OutboxEntry(
        entity_id=ctx.entity.id,
        record_type=record_type,
        record_id=record_id,
        record_key=hub_key,
        target=target,
        company_id=ctx.connector.company_id,
        idempotency_key=key,
        payload=payload,
        state=OutboxState.PENDING,
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class SendReport:
    sent: int = 0
    confirmed: int = 0
    adopted: int = 0  # found already in the accounting system after an unknown outcome
    rejected: int = 0
    uncertain: int = 0
    left_pending: int = 0
    would_send: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        summary = {k: v for k, v in self.__dict__.items() if k != "errors"}
        summary["created"] = self.confirmed - self.adopted
        summary["errors"] = self.errors[:20]
        return summary


def send(ctx, targets: tuple[str, ...], actor: str = "pipeline") -> SendReport:
    """Send every unsettled row of `targets` for the entity; one commit per row."""
    report = SendReport()
    with ctx.ledger.session() as session:
        row_ids = session.scalars(
            select(OutboxEntry.id)
            .where(OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.target.in_(targets),
                   OutboxEntry.state.in_(UNSETTLED))
            .order_by(OutboxEntry.id)
        ).all()
    if ctx.params.dry_run:
        report.would_send = len(row_ids)
        ctx.log.info("dry run: %d %s record(s) would be sent; nothing sent", len(row_ids), "/".join(targets))
        return report
    connector = ctx.connector
    total = len(row_ids)
    for position, row_id in enumerate(row_ids, start=1):
        try:
            _send_one(ctx, connector, row_id, report, actor)
        except TransientError as exc:
            report.left_pending = total - position + 1
            report.errors.append(f"stopped: {exc}")
            ctx.log.warning("stopped sending after %d of %d: %s; the rest stay pending for the next run",
                            position - 1, total, exc)
            break
        if position % 100 == 0 or position == total:
            ctx.log.info("sent %d/%d %s (confirmed %d, rejected %d, uncertain %d)", position, total,
                         "/".join(targets), report.confirmed, report.rejected, report.uncertain)
    return report


def _send_one(ctx, connector, row_id: int, report: SendReport, actor: str) -> None:
    with ctx.ledger.session() as session:
        row = session.get(OutboxEntry, row_id)
        if row.company_id != connector.company_id:
            raise CompanyMismatch(
                f"{row.record_key} (outbox #{row.id}) was prepared for company {row.company_id}, but the "
                f"connection now reaches company {connector.company_id}: not sent")
        seen_state = row.state
        target, payload, key, label = row.target, row.payload, row.idempotency_key, row.record_key
        queued_at = row.created_at
    if seen_state in (OutboxState.SENDING, OutboxState.UNCERTAIN):
        existing = connector.find_existing(target, payload, key, queued_at)
        if existing is not None:
            _settle(ctx, row_id, OutboxState.CONFIRMED, actor, external_id=existing, adopted=True)
            report.adopted += 1
            report.confirmed += 1
            return
    if not _claim(ctx, row_id, seen_state):
        ctx.log.info("%s (outbox #%d) was taken by another sender meanwhile: skipped", label, row_id)
        return
    report.sent += 1
    try:
        created = connector.create(target, payload, key)
    except RecordRejected as exc:
        _settle(ctx, row_id, OutboxState.REJECTED, actor, error=str(exc))
        report.rejected += 1
        report.errors.append(f"{label}: {exc}")
        ctx.log.warning("rejected %s (%s, outbox #%d): %s", label, target, row_id, exc)
    except OutcomeUnknown as exc:
        _settle(ctx, row_id, OutboxState.UNCERTAIN, actor, error=str(exc))
        report.uncertain += 1
        ctx.log.warning("outcome unknown for %s (%s, outbox #%d): %s; it will be looked up before any re-send",
                        label, target, row_id, exc)
    except (TransientError, ReconnectRequired) as exc:
        # The client raises these only when nothing can have been applied: back to pending,
        # sent again next time with the same key.
        _settle(ctx, row_id, OutboxState.PENDING, actor, error=str(exc))
        report.sent -= 1
        raise
    else:
        _settle(ctx, row_id, OutboxState.CONFIRMED, actor, external_id=created.external_id, adopted=created.adopted)
        report.confirmed += 1
        report.adopted += 1 if created.adopted else 0


def _claim(ctx, row_id: int, seen_state: str) -> bool:
    """Mark the row `sending` only if nobody changed it since we read it (one sender per row)."""
    with ctx.ledger.session() as session:
        claimed = session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id == row_id, OutboxEntry.state == seen_state)
            .values(state=OutboxState.SENDING, attempts=OutboxEntry.attempts + 1, last_attempt_at=utcnow(),
                    updated_at=utcnow())
        ).rowcount
    return claimed == 1


def _settle(ctx, row_id: int, state: OutboxState, actor: str, external_id: str | None = None,
            error: str | None = None, adopted: bool = False) -> None:
    with ctx.ledger.session() as session:
        row = session.get(OutboxEntry, row_id)
        row.state = state
        row.error = error
        if external_id is not None:
            row.external_id = external_id
            row.confirmed_at = utcnow()
        if state != OutboxState.PENDING:
            record(session, ctx.entity.id, actor, f"outbox_{state.value}", row.record_type, row.record_id,
                   {"outbox_id": row.id, "record": row.record_key, "target": row.target, "external_id": external_id,
                    "error": error, "adopted": adopted, "company_id": row.company_id, "run_id": ctx.run_id})
