"""pull_source and write_back_to_source: the source side of the bridge (ledgerbridge.sources).

pull_source reads what the entity's source changed, takes it into the ledger record by record
(sources.intake), commits, and only then acknowledges it to the source: a crash in between reads the
same records again, and intake upserts by hub id.

write_back_to_source tells the source what happened to its records since the last write-back,
each fact exactly once: it is recorded in `source_write_backs` under an idempotency key derived
from the fact (state `sending`) before it is sent, and marked `written` after. An item left
`sending` (sent, then a crash before the ledger heard) is looked up with `find_written` before it
is ever sent again.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ledgerbridge.connectors.base import CREATE, UPDATE_PREFIX, VOID, is_update
from ledgerbridge.context import RunContext
from ledgerbridge.ledger.models import (
    Document,
    OutboxEntry,
    OutboxState,
    PaidStatus,
    Payment,
    QuarantineEntry,
    QuarantineStatus,
    RecordType,
    ReferenceKind,
    ReferenceRecord,
    SourceWriteBack,
    Watermark,
    WriteBackState,
)
from ledgerbridge.ledger.quarantine import describe
from ledgerbridge.registry import ERP_KINDS
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.sources.base import WriteBack, WriteBackStatus
from ledgerbridge.sources.intake import (
    CHANGED_AFTER_EXPORT,
    IntakeReport,
    Outcome,
    take_in,
)
from ledgerbridge.sources.records import KINDS_BY_KEY, RECORD_KINDS

WATERMARK_STREAM = "source"
CLAIM = timedelta(minutes=10)  # how long another run leaves items this run is writing back alone
SHOWN = 50  # refused or held records named one by one in the task log; the rest are counted
_BATCH_NAMESPACE = uuid.UUID("0b1d6a8e-5c2f-4f57-9a55-4c1e1f0c7a01")


def _no_source(ctx: RunContext, what: str) -> dict:
    ctx.log.info("%s has no source in the registry (no `source:`): %s", ctx.entity.id, what)
    return {"skipped": "no source"}


# -- pull_source ---------------------------------------------------------------------------------


def pull_source(ctx: RunContext) -> dict:
    """The source's changes into the ledger, record by record; acknowledged once committed."""
    if ctx.entity.source is None:
        return _no_source(ctx, "hub data reaches the ledger only through ledgerbridge.hub_import; nothing to pull")
    source = ctx.source
    since = _watermark(ctx) if source.capabilities.changes_since_watermark else None
    batch = source.fetch_changes(since)
    if source.capabilities.changes_since_watermark:
        ctx.log.info("%s: %s %s: %d record(s) changed since %s (the watermark, less an overlap re-read)",
                     ctx.entity.id, source.kind, source.where, len(batch.records),
                     since.isoformat() if since else "the beginning (no watermark yet)")
    else:
        ctx.log.info("%s: %s %s: %d file(s) to take in%s, %d refused whole", ctx.entity.id, source.kind,
                     source.where, len(batch.inputs), f" ({', '.join(_names(batch.inputs))})" if batch.inputs else "",
                     len(batch.refused))
    for refused in batch.refused:
        ctx.log.warning("%s refused whole, %s: %s", refused.name,
                        f"moved to {refused.moved_to} with {refused.name}.error.json" if refused.moved_to
                        else "left in place (read again next run)", refused.reason)
    with ctx.ledger.session() as session:
        report = take_in(session, ctx.entity, batch.records)
        if source.capabilities.changes_since_watermark and batch.as_of is not None:
            _advance_watermark(session, ctx.entity.id, batch.as_of)
    acknowledged = source.acknowledge(batch) if batch.inputs else 0
    _log_intake(ctx, report, len(batch.records))
    if acknowledged:
        ctx.log.info("%d file(s) taken in are acknowledged (moved to processed/)", acknowledged)
    return {"files": len(batch.inputs), "files_refused": len(batch.refused), "records": len(batch.records),
            **report.as_summary()}


def _names(paths: Iterable[str]) -> list[str]:
    return [path.rsplit("/", 1)[-1] for path in paths]


def _log_intake(ctx: RunContext, report: IntakeReport, received: int) -> None:
    if not received:
        ctx.log.info("nothing new from the source")
        return
    journals = report.journals
    if sum(journals.values()):
        ctx.log.info("journals declared: %d new, %d updated, %d unchanged, %d quarantined", journals[Outcome.NEW],
                     journals[Outcome.UPDATED], journals[Outcome.UNCHANGED], journals[Outcome.QUARANTINED])
    for kind in RECORD_KINDS:
        counts = report.counts.get(kind.key)
        if counts and sum(counts.values()):
            ctx.log.info("%s: %d new, %d updated, %d unchanged, %d quarantined, %d changed after export and held, "
                         "%d changed after export for the accounting system to follow (update or void)",
                         kind.key.replace("_", " "), counts[Outcome.NEW], counts[Outcome.UPDATED],
                         counts[Outcome.UNCHANGED], counts[Outcome.QUARANTINED], counts[Outcome.CHANGED_AFTER_EXPORT],
                         counts[Outcome.FOLLOWED])
    for refusal in report.refused[:SHOWN]:
        ctx.log.warning("%s quarantined (%s), not taken in: %s; held in %s until the source sends it fixed",
                        refusal.who, refusal.origin, "; ".join(f"field '{r.field}': {r.problem}"
                                                               for r in refusal.reasons),
                        refusal.kind.quarantine_dataset)
    for held in report.held_after_export[:SHOWN]:
        ctx.log.warning("%s %r changed at the source after export (%s; %s): the ledger keeps the exported version "
                        "and nothing is sent again; held in %s, change it in the accounting system by hand",
                        held.kind.label, held.hub_id, ", ".join(held.fields), held.origin,
                        held.kind.quarantine_dataset)
    more = max(0, len(report.refused) - SHOWN) + max(0, len(report.held_after_export) - SHOWN)
    if more:
        ctx.log.warning("... and %d more held record(s): `ledgerbridge quarantine list --entity %s` shows them all",
                        more, ctx.entity.id)
    if report.released:
        ctx.log.info("%d record(s) held at intake earlier came fixed and are taken in (quarantine resolved)",
                     report.released)


def _watermark(ctx: RunContext):
    with ctx.ledger.session() as session:
        mark = session.get(Watermark, (ctx.entity.id, WATERMARK_STREAM))
        return mark.value if mark else None


def _advance_watermark(session, entity_id: str, as_of) -> None:
    mark = session.get(Watermark, (entity_id, WATERMARK_STREAM))
    if mark is None:
        session.add(Watermark(entity_id=entity_id, stream=WATERMARK_STREAM, value=as_of))
    elif as_of > mark.value:  # never backwards
        mark.value = as_of


# -- write_back_to_source ------------------------------------------------------------------------


def write_back_to_source(ctx: RunContext) -> dict:
    """What happened to the source's records since the last write-back, each fact exactly once."""
    if ctx.entity.source is None:
        return _no_source(ctx, "nothing to write back")
    source = ctx.source
    if not source.capabilities.write_back:
        ctx.log.info("the %s source of %s takes no write-back: skipped", source.kind, ctx.entity.id)
        return {"skipped": "the source takes no write-back"}
    if ctx.params.dry_run:
        with ctx.ledger.session() as session:
            new = len(_new_facts(session, ctx.entity.id))
        ctx.log.info("dry run: %d item(s) would be written back to the source; nothing written", new)
        return {"would_write": new}

    untraced = _report_untraced_payments(ctx)
    traced = {} if untraced is None else {"untraced_payments": untraced}
    found = _settle_unknown(ctx, source)
    new = _record_new_facts(ctx)
    with ctx.ledger.session() as session:
        rows = session.scalars(select(SourceWriteBack).where(
            SourceWriteBack.entity_id == ctx.entity.id, SourceWriteBack.state == WriteBackState.SENDING,
            SourceWriteBack.claimed_by == ctx.run_id).order_by(SourceWriteBack.id)).all()
        items = [WriteBack.from_record(row.item) for row in rows]
        batch_key = str(uuid.uuid5(_BATCH_NAMESPACE, "\n".join(sorted(item.key for item in items))))
        renewed = utcnow() + CLAIM  # the claim runs from now: the write itself has the whole of it
        for row in rows:
            row.batch_key, row.attempts, row.claim_expires_at = batch_key, row.attempts + 1, renewed
    if not items:
        ctx.log.info("write-back to the source: nothing new to tell it%s",
                     f" ({found} item(s) found written by an earlier attempt)" if found else "")
        return {"written": 0, "found_written": found, "new": 0, **traced}
    written = source.write_back(items, batch_key)
    with ctx.ledger.session() as session:
        for row in session.scalars(select(SourceWriteBack).where(SourceWriteBack.id.in_([r.id for r in rows]))):
            landed = written.get(row.idempotency_key)
            if landed is not None:
                row.state, row.location, row.written_at = WriteBackState.WRITTEN, landed.location, utcnow()
                row.claimed_by = row.claim_expires_at = None
    counts = {status.value: sum(1 for item in items if item.status == status) for status in WriteBackStatus}
    locations = sorted({landed.location for landed in written.values()})
    ctx.log.info("written back to the source: %d item(s) (%s) in %s; %d re-sent after an unknown outcome, "
                 "%d found written by an earlier attempt", len(written),
                 ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items() if n),
                 ", ".join(_names(locations)), len(items) - new, found)
    missing = len(items) - len(written)
    if missing:
        ctx.log.warning("%d item(s) were not confirmed by the source: looked up, and sent again if absent, "
                        "next run", missing)
    return {"written": len(written), "found_written": found, "new": new, "resent": len(items) - new,
            **traced, **{status: n for status, n in counts.items() if n}}


def _report_untraced_payments(ctx: RunContext) -> int | None:
    """An ERP's invoices all come from its orders: a customer payment in the accounting system applied to
    an invoice LedgerBridge did not create cannot be traced to an order, and is reported (never dropped
    silently). Returns how many (None: the source is no ERP)."""
    if ctx.entity.source.kind not in ERP_KINDS:
        return None
    with ctx.ledger.session() as session:
        ours = {(_LINKED_AS["invoice"], external_id) for external_id in session.scalars(select(
            Document.external_id).where(Document.entity_id == ctx.entity.id, Document.kind == "invoice",
                                        Document.external_id.is_not(None)))}
        untraced = []
        for external_id, number, data in session.execute(select(
                ReferenceRecord.external_id, ReferenceRecord.number, ReferenceRecord.data).where(
                ReferenceRecord.entity_id == ctx.entity.id, ReferenceRecord.kind == ReferenceKind.PAYMENT,
                ReferenceRecord.deleted_at.is_(None)).order_by(ReferenceRecord.id)):
            foreign = sorted(document_id for linked_as, document_id in
                             {linked for _, linked in _applications(data)} - ours if linked_as == _LINKED_AS["invoice"])
            if foreign:
                untraced.append(f"payment {external_id}{f' ({number})' if number else ''} -> invoice(s) "
                                f"{', '.join(foreign)}")
    if untraced:
        ctx.log.warning("%d customer payment(s) in the accounting system apply to invoices LedgerBridge did not "
                        "create from an order, so nothing is written back for them: %s%s", len(untraced),
                        "; ".join(untraced[:SHOWN]), " ..." if len(untraced) > SHOWN else "")
    return len(untraced)


def _settle_unknown(ctx: RunContext, source) -> int:
    """Claim items left `sending` (by this run's earlier attempt, or a run whose claim lapsed); those the
    source already holds are marked written, the others stay claimed for this run to send."""
    now = utcnow()
    with ctx.ledger.session() as session:
        session.execute(update(SourceWriteBack).where(
            SourceWriteBack.entity_id == ctx.entity.id, SourceWriteBack.state == WriteBackState.SENDING,
            or_(SourceWriteBack.claimed_by.is_(None), SourceWriteBack.claimed_by == ctx.run_id,
                SourceWriteBack.claim_expires_at <= now),
        ).values(claimed_by=ctx.run_id, claim_expires_at=now + CLAIM))
        unknown = session.scalars(select(SourceWriteBack).where(
            SourceWriteBack.entity_id == ctx.entity.id, SourceWriteBack.state == WriteBackState.SENDING,
            SourceWriteBack.claimed_by == ctx.run_id)).all()
        if not unknown:
            return 0
        ctx.log.info("%d write-back item(s) of unknown outcome (sent, then interrupted before the ledger heard): "
                     "looked up at the source before anything is sent again", len(unknown))
        found = source.find_written([WriteBack.from_record(row.item) for row in unknown])
        for row in unknown:
            landed = found.get(row.idempotency_key)
            if landed is not None:
                row.state, row.location, row.written_at = WriteBackState.WRITTEN, landed.location, utcnow()
                row.claimed_by = row.claim_expires_at = None
    return len(found)


def _record_new_facts(ctx: RunContext, attempts: int = 3) -> int:
    """Record the facts not written back yet (state `sending`, claimed by this run) before sending any."""
    for attempt in range(attempts):
        try:
            with ctx.ledger.session() as session:
                facts = _new_facts(session, ctx.entity.id)
                claim_until = utcnow() + CLAIM
                session.add_all(SourceWriteBack(
                    entity_id=ctx.entity.id, idempotency_key=fact.key, record_kind=fact.record_kind,
                    record_key=(fact.hub_id or "")[:200], status=fact.status.value, item=fact.as_record(),
                    state=WriteBackState.SENDING, claimed_by=ctx.run_id, claim_expires_at=claim_until)
                    for fact in facts)
            return len(facts)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            ctx.log.info("another run recorded some of the same write-back items at the same moment: left to it")
    return 0


def _new_facts(session, entity_id: str) -> list[WriteBack]:
    known = set(session.scalars(select(SourceWriteBack.idempotency_key).where(SourceWriteBack.entity_id == entity_id)))
    return [fact for fact in what_happened(session, entity_id) if fact.key not in known]


def what_happened(session, entity_id: str) -> list[WriteBack]:
    """Every fact about the entity's hub records the source should know, each with its idempotency key."""
    return [*_outbox_facts(session, entity_id), *_quarantine_facts(session, entity_id),
            *_payment_status_facts(session, entity_id)]


def _fact(entity_id: str, record_kind: str, hub_id: str | None, status: WriteBackStatus, discriminator: str,
          **values) -> WriteBack:
    """The same fact always gets the same key; another fact about the same record gets another."""
    text = "\x1f".join((entity_id, record_kind, hub_id or "", status.value, discriminator))
    return WriteBack(hashlib.sha256(text.encode("utf-8")).hexdigest(), record_kind, hub_id, status, **values)


def _outbox_facts(session, entity_id: str) -> list[WriteBack]:
    rows = session.scalars(select(OutboxEntry).where(
        OutboxEntry.entity_id == entity_id,
        OutboxEntry.record_type.in_((RecordType.DOCUMENT, RecordType.PAYMENT, RecordType.PARTY)),
        OutboxEntry.state.in_((OutboxState.CONFIRMED, OutboxState.REJECTED))).order_by(OutboxEntry.id)).all()
    numbers = _external_numbers(session, entity_id, rows)
    facts = []
    for row in rows:
        record_kind, _, hub_id = row.record_key.partition(":")
        # A change after export is a fact of its own (its operation in the key): "update:2", "void".
        operation = "" if row.operation == CREATE else f"\x1f{row.operation}"
        if row.state == OutboxState.CONFIRMED:
            status = (WriteBackStatus.VOIDED if row.operation == VOID else WriteBackStatus.UPDATED
                      if is_update(row.operation) else WriteBackStatus.CONFIRMED)
            facts.append(_fact(entity_id, record_kind, hub_id, status, (row.external_id or "") + operation,
                               external_id=row.external_id,
                               external_number=numbers.get((row.record_type, row.record_id))))
        else:
            what = "" if row.operation == CREATE else f"the {_change(row.operation)} was refused: "
            facts.append(_fact(entity_id, record_kind, hub_id, WriteBackStatus.REJECTED, (row.error or "") + operation,
                               reason=what + (row.error or "refused by the accounting system")))
    return facts


def _change(operation: str) -> str:
    return "void" if operation == VOID else f"update to version {operation.removeprefix(UPDATE_PREFIX)}"


def _external_numbers(session, entity_id: str, rows: list[OutboxEntry]) -> dict[tuple[str, int], str | None]:
    """The number each record carries in the accounting system: the document number or payment reference sent."""
    numbers: dict[tuple[str, int], str | None] = {}
    for record_type, model, column in ((RecordType.DOCUMENT, Document, Document.doc_number),
                                       (RecordType.PAYMENT, Payment, Payment.reference)):
        ids = [row.record_id for row in rows if row.record_type == record_type]
        for start in range(0, len(ids), 500):
            for record_id, number in session.execute(select(model.id, column).where(
                    model.entity_id == entity_id, model.id.in_(ids[start:start + 500]))):
                numbers[(record_type, record_id)] = number
    return numbers


def _quarantine_facts(session, entity_id: str) -> list[WriteBack]:
    """Hub records held (by intake or an export gate), with every reason; list records of the accounting
    system (dataset reference.*) are none of the source's business."""
    facts = []
    for entry in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.entity_id == entity_id, QuarantineEntry.status == QuarantineStatus.OPEN)
            .order_by(QuarantineEntry.id)):
        kind = KINDS_BY_KEY.get(entry.dataset.removeprefix("source."))
        if kind is None:
            continue
        hub_id = entry.payload.get("hub_id", entry.record_key) if entry.dataset.startswith("source.") else entry.record_key
        reason = "; ".join(describe(reason) for reason in entry.reasons)
        if not hub_id:
            reason = f"{entry.payload.get('origin', entry.record_key)}: {reason}"  # no hub id: where it was
        changed = any(r.get("expectation") == CHANGED_AFTER_EXPORT for r in entry.reasons)
        status = WriteBackStatus.CHANGED_AFTER_EXPORT if changed else WriteBackStatus.QUARANTINED
        facts.append(_fact(entity_id, kind.ledger_kind, hub_id or None, status, f"{entry.dataset}\x1f{reason}",
                           reason=reason))
    return facts


def _payment_status_facts(session, entity_id: str) -> list[WriteBack]:
    facts = []
    documents = session.scalars(select(Document).where(
        Document.entity_id == entity_id,
        Document.paid_status.in_((PaidStatus.PAID, PaidStatus.PARTIALLY_PAID))).order_by(Document.id)).all()
    dates = payment_dates(session, entity_id) if documents else {}
    for document in documents:
        balance = document.open_balance if document.open_balance is not None else (
            Decimal(0) if document.paid_status == PaidStatus.PAID else None)
        paid = document.total - balance if balance is not None else None
        status = WriteBackStatus(str(document.paid_status))
        facts.append(_fact(entity_id, str(document.kind), document.hub_id, status,
                           "" if balance is None else format(balance.normalize(), "f"),
                           external_id=document.external_id, paid_amount=paid, open_balance=balance,
                           currency=document.currency,
                           paid_date=dates.get((_LINKED_AS.get(str(document.kind)), document.external_id))))
    return facts


# The transaction type a payment's link names a document kind by (ids are unique per type only).
_LINKED_AS = {"invoice": "Invoice", "bill": "Bill"}


def payment_dates(session, entity_id: str) -> dict[tuple[str, str], date]:
    """(linked type, document external id) -> the date of the latest payment applied to it, from the
    mirrored payments of the accounting system (QuickBooks Online: Payment and BillPayment lines' LinkedTxn)."""
    latest: dict[tuple[str, str], date] = {}
    for (data,) in session.execute(select(ReferenceRecord.data).where(
            ReferenceRecord.entity_id == entity_id, ReferenceRecord.deleted_at.is_(None),
            ReferenceRecord.kind.in_((ReferenceKind.PAYMENT, ReferenceKind.BILL_PAYMENT)))):
        for paid, linked in _applications(data):
            if linked not in latest or paid > latest[linked]:
                latest[linked] = paid
    return latest


def _applications(data: dict) -> list[tuple[date, tuple[str, str]]]:
    try:
        paid = date.fromisoformat(str(data.get("TxnDate")))
    except ValueError:
        return []
    return [(paid, (str(linked.get("TxnType")), str(linked.get("TxnId"))))
            for line in data.get("Line") or () if isinstance(line, dict)
            for linked in line.get("LinkedTxn") or () if isinstance(linked, dict) and linked.get("TxnId")]
