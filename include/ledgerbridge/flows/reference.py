"""pull_reference: mirror the accounting system's lists (accounts, vendors, ...) into the ledger."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ledgerbridge import kinds
from ledgerbridge.connectors.base import CREATE, VOID, ChangeSet, ReferenceData
from ledgerbridge.context import RunContext
from ledgerbridge.ledger.models import (
    OutboxEntry,
    OutboxState,
    ReferenceRecord,
    Watermark,
)
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.registry import Flow

_BATCH = 500
# A full pull may mark at most this share of a list deleted; more looks like a broken answer.
MAX_DELETED_SHARE = 0.5
QUIET_MARGIN = timedelta(minutes=1)


def pull_reference(ctx: RunContext) -> dict:
    """Mirror every reference kind: by Change Data Capture where the connector and the watermark
    allow it (deletions included), else by query."""
    if not ctx.entity.runs(Flow.REFERENCE):
        ctx.log.info("reference flow is not enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "reference flow not enabled"}
    connector = ctx.connector
    capabilities = connector.capabilities
    started = utcnow()
    starts = {kind: _since(ctx, f"reference.{kind}") for kind in capabilities.reference_kinds}
    changes_only = capabilities.changes_only
    if changes_only:
        # The system sends its changes (a file-drop agent's uploads): take them all, never a full list.
        changes = connector.fetch_changes(dict.fromkeys(capabilities.reference_kinds), started)
    else:
        changes, starts = _changes(ctx, connector, starts, started)
    summary = {}
    for kind in capabilities.reference_kinds:
        since = starts[kind]
        if changes_only:
            stream, source, began = iter(changes.changes[kind]), "uploaded files", None
        elif changes is not None and kind in changes.changes:
            # One request may have served several kinds from the oldest start: keep this kind's own.
            stream = (ref for ref in changes.changes[kind] if ref.updated_at is None or ref.updated_at >= since)
            source, began = "change data capture", changes.as_of
        else:
            stream, source, began = connector.fetch_reference(kind, since), "query", connector.server_time()
        counts = {"source": source, **_mirror(ctx, kind, stream, full=since is None and not changes_only)}
        _advance(ctx, f"reference.{kind}", _watermark(counts.pop("newest"), began or connector.server_time()))
        ctx.log.info(
            "%s: %d received by %s since %s (%d new, %d updated, %d inactive, %d deleted)",
            kind, counts["received"], source,
            "the last run" if changes_only else since.isoformat() if since else "the beginning (full pull)",
            counts["new"], counts["updated"], counts["inactive"], counts["deleted"],
        )
        summary[kind] = counts
    _warn_about_deleted_exports(ctx)
    connector.acknowledge()  # what a file drop's files said is committed: they may go to processed/
    return summary


def _watermark(newest: datetime | None, pull_began: datetime | None) -> datetime | None:
    """Where the next pull starts: past the newest change seen, and past the moment (on the
    accounting system's clock, less a margin) this pull began, so a quiet list keeps up too."""
    marks = [mark for mark in (newest, pull_began - QUIET_MARGIN if pull_began else None) if mark is not None]
    return max(marks, default=None)


def _changes(ctx: RunContext, connector, starts: dict[str, datetime | None], now: datetime
             ) -> tuple[ChangeSet | None, dict[str, datetime | None]]:
    """Change Data Capture for the kinds with a watermark, and where each kind starts reading.

    A transaction kind CDC cannot answer (its watermark over 29 days old, or 1000 changes or more)
    is read in full: a query never shows a deletion, a full pull does (what is gone is marked)."""
    incremental = {kind: since for kind, since in starts.items() if since is not None}
    if not incremental or not connector.capabilities.change_capture:
        return None, starts
    changes = connector.fetch_changes(incremental, now)
    unanswered = sorted(set(incremental) - set(changes.changes))
    if not unanswered:
        return changes, starts
    deletable = connector.capabilities.deletable_kinds
    ctx.log.info("change data capture cannot answer for %s (over 29 days since the last pull, or 1000 changes or "
                 "more): read by query instead, transactions in full so that deletions are still seen",
                 ", ".join(unanswered))
    return changes, {kind: None if kind in unanswered and kind in deletable else since
                     for kind, since in starts.items()}


def _mirror(ctx: RunContext, kind: str, stream, full: bool) -> dict:
    counts = {"received": 0, "new": 0, "updated": 0, "inactive": 0, "deleted": 0, "newest": None}
    seen: set[str] = set()
    batch: list[ReferenceData] = []
    for ref in stream:
        batch.append(ref)
        seen.add(ref.external_id)
        if ref.updated_at and (counts["newest"] is None or ref.updated_at > counts["newest"]):
            counts["newest"] = ref.updated_at
        if len(batch) >= _BATCH:
            _upsert(ctx, kind, batch, counts)
            batch = []
    _upsert(ctx, kind, batch, counts)
    if full:
        _mark_missing_as_deleted(ctx, kind, seen, counts)
    return counts


def _mark_missing_as_deleted(ctx: RunContext, kind: str, seen: set[str], counts: dict) -> None:
    """A full pull is the whole list: what the mirror holds beyond it was deleted or merged away.

    Unless that is most of the list: a half-empty answer must not wipe the mirror."""
    with ctx.ledger.session() as session:
        rows = session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.kind == kind,
            ReferenceRecord.deleted_at.is_(None))).all()
        missing = [row for row in rows if row.external_id not in seen]
        if not missing:
            return
        if len(missing) > len(rows) * MAX_DELETED_SHARE:
            ctx.log.warning("%s: the full pull lacks %d of the %d objects mirrored; that looks like an incomplete "
                            "answer, so none is marked deleted (check the connection, then run a full refresh)",
                            kind, len(missing), len(rows))
            return
        # A second look by id: an object changed while the list was read is not a deleted one.
        still_there = ctx.connector.existing_ids(kind, [row.external_id for row in missing])
        if still_there:
            ctx.log.info("%s: %d object(s) missing from the full pull are still there when asked by id",
                         kind, len(still_there))
        missing = [row for row in missing if row.external_id not in still_there]
        now = utcnow()
        for row in missing:
            row.active, row.deleted_at = False, now
        counts["deleted"] += len(missing)


def _warn_about_deleted_exports(ctx: RunContext) -> None:
    """Documents we created that were deleted (or, where a voided one reads as gone, voided) in the
    accounting system need a person; those we voided ourselves do not."""
    void = aliased(OutboxEntry)
    voided_by_us = select(void.id).where(
        void.entity_id == OutboxEntry.entity_id, void.record_type == OutboxEntry.record_type,
        void.record_id == OutboxEntry.record_id, void.operation == VOID, void.state == OutboxState.CONFIRMED)
    typed = ctx.connector.capabilities.typed_ids  # "Purchase:42" is the purchase mirrored as 42
    with ctx.ledger.session() as session:
        gone = session.execute(select(ReferenceRecord.kind, ReferenceRecord.external_id).where(
            ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.deleted_at.is_not(None))).all()
        if not gone:
            return
        gone_ids = {external_id for _, external_id in gone} | {
            f"{object_type}:{external_id}" for mirror_kind, external_id in gone
            for object_type, typed_kind in typed.items() if typed_kind == mirror_kind}
        exported, ids = [], sorted(gone_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            exported += session.execute(
                select(OutboxEntry.record_key, OutboxEntry.kind, OutboxEntry.external_id)
                .where(OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.state == OutboxState.CONFIRMED,
                       OutboxEntry.operation == CREATE, OutboxEntry.company_id == ctx.connector.company_id,
                       OutboxEntry.external_id.in_(chunk), ~voided_by_us.exists())).all()
    gone_set = {(mirror_kind, external_id) for mirror_kind, external_id in gone}

    def mirrored_as(kind: str, external_id: str) -> tuple[str | None, str]:
        object_type, sep, object_id = external_id.partition(":")
        if sep and object_type in typed:
            return typed[object_type], object_id
        return kinds.get(kind).mirror_kind, external_id

    # Ids are unique per object type only: the mirror's kind must be the one the record kind appears as.
    deleted = [(key, kind, external_id) for key, kind, external_id in exported
               if mirrored_as(kind, external_id) in gone_set]
    for record_key, kind, external_id in deleted:
        ctx.log.warning("%s was exported as %s %s, which has been deleted in the accounting system (or voided "
                        "there): it is not re-sent; re-create or void it there, or re-open it in the hub", record_key,
                        kinds.get(kind).label, external_id)


def _since(ctx: RunContext, stream: str) -> datetime | None:
    """Where to start reading: sync_from, nothing for a full refresh, else the watermark.

    A run whose data interval starts before the watermark (a backfill) re-reads from its window.
    """
    if ctx.params.sync_from:
        return datetime.combine(ctx.params.sync_from, time.min, tzinfo=UTC)
    if ctx.params.full_refresh:
        return None
    with ctx.ledger.session() as session:
        mark = session.get(Watermark, (ctx.entity.id, stream))
        watermark = mark.value if mark else None
    if watermark is None:
        return None
    if ctx.data_interval_start is not None and ctx.data_interval_start < watermark:
        return ctx.data_interval_start
    return watermark


def _advance(ctx: RunContext, stream: str, newest: datetime | None) -> None:
    if newest is None:
        return
    with ctx.ledger.session() as session:
        mark = session.get(Watermark, (ctx.entity.id, stream))
        if mark is None:
            session.add(Watermark(entity_id=ctx.entity.id, stream=stream, value=newest))
        elif newest > mark.value:  # never backwards: a backfill must not re-open old windows
            mark.value = newest
            mark.updated_at = utcnow()


def _upsert(ctx: RunContext, kind: str, batch: list[ReferenceData], counts: dict[str, int]) -> None:
    if not batch:
        return
    with ctx.ledger.session() as session:
        existing = {
            row.external_id: row
            for row in session.scalars(
                select(ReferenceRecord).where(
                    ReferenceRecord.entity_id == ctx.entity.id,
                    ReferenceRecord.kind == kind,
                    ReferenceRecord.external_id.in_([r.external_id for r in batch]),
                )
            )
        }
        for ref in batch:
            row = existing.get(ref.external_id)
            counts["received"] += 1
            if ref.deleted:
                if row is None:  # created and deleted between two pulls: the deletion is still worth knowing
                    row = ReferenceRecord(entity_id=ctx.entity.id, kind=kind, external_id=ref.external_id)
                    session.add(row)
                    existing[ref.external_id] = row
                if row.deleted_at is None:
                    row.active, row.deleted_at, row.source_updated_at = False, ref.updated_at or utcnow(), ref.updated_at
                    counts["deleted"] += 1
                continue
            if row is None:
                row = ReferenceRecord(entity_id=ctx.entity.id, kind=kind, external_id=ref.external_id)
                session.add(row)
                existing[ref.external_id] = row
                counts["new"] += 1
            else:
                counts["updated"] += 1
            row.deleted_at = None
            row.party_external_id = ref.party_external_id
            row.name = ref.name
            row.number = ref.number
            row.account_type = ref.account_type
            row.email = ref.email
            row.tax_id = ref.tax_id
            row.city = ref.city
            row.postcode = ref.postcode
            row.currency = ref.currency
            row.auxiliary_account = ref.auxiliary_account
            row.collective_account = ref.collective_account
            row.active = ref.active
            row.data = ref.raw
            row.source_updated_at = ref.updated_at
            counts["inactive"] += 0 if ref.active else 1
