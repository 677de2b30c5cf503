"""pull_reference: mirror the accounting system's lists (accounts, vendors, ...) into the ledger."""
from __future__ import annotations

from datetime import datetime, time, timezone

from sqlalchemy import select

from ledgerbridge.connectors.base import ReferenceData
from ledgerbridge.ledger.models import ReferenceRecord, Watermark
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.registry import Flow

_BATCH = 500


def pull_reference(ctx) -> dict:
    if not ctx.entity.runs(Flow.REFERENCE):
        ctx.log.info("reference flow is not enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "reference flow not enabled"}
    summary = {}
    for kind in ctx.connector.reference_kinds:
        stream = f"reference.{kind}"
        since = _since(ctx, stream)
        counts = {"received": 0, "new": 0, "updated": 0, "inactive": 0}
        newest: datetime | None = None
        batch: list[ReferenceData] = []
        for ref in ctx.connector.fetch_reference(kind, since):
            batch.append(ref)
            if ref.updated_at and (newest is None or ref.updated_at > newest):
                newest = ref.updated_at
            if len(batch) >= _BATCH:
                _upsert(ctx, kind, batch, counts)
                batch = []
        _upsert(ctx, kind, batch, counts)
        _advance(ctx, stream, newest)
        ctx.log.info(
            "%s: %d received since %s (%d new, %d updated, %d inactive)",
            kind, counts["received"], since.isoformat() if since else "the beginning (full pull)",
            counts["new"], counts["updated"], counts["inactive"],
        )
        summary[kind] = counts
    return summary


def _since(ctx, stream: str) -> datetime | None:
    """Where to start reading: sync_from, nothing for a full refresh, else the watermark.

    A run whose data interval starts before the watermark (a backfill) re-reads from its window.
    """
    if ctx.params.sync_from:
        return datetime.combine(ctx.params.sync_from, time.min, tzinfo=timezone.utc)
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


def _advance(ctx, stream: str, newest: datetime | None) -> None:
    if newest is None:
        return
    with ctx.ledger.session() as session:
        mark = session.get(Watermark, (ctx.entity.id, stream))
        if mark is None:
            session.add(Watermark(entity_id=ctx.entity.id, stream=stream, value=newest))
        elif newest > mark.value:  # never backwards: a backfill must not re-open old windows
            mark.value = newest
            mark.updated_at = utcnow()


def _upsert(ctx, kind: str, batch: list[ReferenceData], counts: dict[str, int]) -> None:
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
            if row is None:
                row = ReferenceRecord(entity_id=ctx.entity.id, kind=kind, external_id=ref.external_id)
                session.add(row)
                existing[ref.external_id] = row
                counts["new"] += 1
            else:
                counts["updated"] += 1
            row.name = ref.name
            row.number = ref.number
            row.account_type = ref.account_type
            row.email = ref.email
            row.tax_id = ref.tax_id
            row.city = ref.city
            row.postcode = ref.postcode
            row.currency = ref.currency
            row.active = ref.active
            row.data = ref.raw
            row.source_updated_at = ref.updated_at
            counts["received"] += 1
            counts["inactive"] += 0 if ref.active else 1
