"""collect_confirmations and write_back: settle what is still open, then confirm it onto the hub records.

For an API system the confirmation of a create arrives with its answer; what is left to collect is
(1) the outcome of any row still uncertain, looked up in the accounting system, and (2) what the
accounting system now says about our documents: their open balance (paid, partially paid), and the
exchange rate it booked a foreign-currency document at when it applied its own (Xero's daily rate). A
file-drop agent speaking protocol version 5 says its booked rate in the confirmation itself: that is kept
when the outbox row is settled (flows.outbox), the same way.
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import or_, select

from ledgerbridge import kinds
from ledgerbridge.connectors.base import CREATE, VOID, Awaiting, Created
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.context import RunContext
from ledgerbridge.flows.outbox import UNSETTLED, outgoing, settle_many
from ledgerbridge.ledger.audit import record
from ledgerbridge.ledger.models import (
    Document,
    OutboxEntry,
    OutboxState,
    PaidStatus,
    Payment,
    RecordType,
)
from ledgerbridge.ledger.types import utcnow


def collect_confirmations(ctx: RunContext) -> dict:
    """Settle every row whose outcome is still open, from what the accounting system says of it."""
    connector = ctx.connector
    counts: Counter = Counter()
    with ctx.ledger.session() as session:
        unsettled = session.scalars(
            select(OutboxEntry).where(
                OutboxEntry.entity_id == ctx.entity.id,
                OutboxEntry.company_id == connector.company_id,
                OutboxEntry.state.in_((OutboxState.SENDING, OutboxState.UNCERTAIN)),
                # Rows a live sender holds are its business; their answer is on its way.
                or_(OutboxEntry.claim_expires_at.is_(None), OutboxEntry.claim_expires_at <= utcnow()),
            )
        ).all()
        items = [outgoing(row) for row in unsettled]
    found = connector.find_existing_many(items) if items else {}
    outcomes = {int(ref): outcome for ref, outcome in found.items() if not isinstance(outcome, Awaiting)}
    settle_many(ctx, outcomes, "pipeline")
    connector.acknowledge()  # the answers are committed: a file drop's files may go to processed/
    counts["settled_by_lookup"] = sum(isinstance(o, Created) for o in outcomes.values())
    counts["rejected"] = sum(isinstance(o, RecordRejected) for o in outcomes.values())
    counts["awaiting"] = sum(isinstance(o, Awaiting) for o in found.values())
    counts["still_uncertain"] = len(items) - len(found)
    for outcome in outcomes.values():
        if isinstance(outcome, RecordRejected):
            ctx.log.warning("refused by the accounting system: %s", outcome)
    if counts["awaiting"]:
        ctx.log.info("%d record(s) handed over and awaiting the accounting system's answer", counts["awaiting"])
    if counts["still_uncertain"]:
        ctx.log.warning("%d record(s) still of unknown outcome and not found in the accounting system: "
                        "they are re-sent with the same idempotency key on the next run", counts["still_uncertain"])
    if connector.capabilities.reads_documents:
        counts.update(_refresh_balances(ctx))
        if connector.capabilities.own_exchange_rates:
            counts.update(_read_booked_rates(ctx))
    else:
        ctx.log.info("the accounting system cannot be read back document by document: open balances come in "
                     "with its payments")
    ctx.log.info("confirmations: %d settled by look-up, %d refused, %d awaiting an answer, %d still uncertain; "
                 "balances read for %d bill(s) and invoice(s), %d changed", counts["settled_by_lookup"],
                 counts["rejected"], counts["awaiting"], counts["still_uncertain"], counts["balances_read"],
                 counts["balances_changed"])
    return dict(counts)


def _exported(ctx: RunContext, kind: str):
    """The entity's documents of `kind` created in this accounting company, with their external ids."""
    return (select(Document, OutboxEntry.external_id)
            .join(OutboxEntry, (OutboxEntry.record_id == Document.id)
                  & (OutboxEntry.record_type == RecordType.DOCUMENT) & (OutboxEntry.entity_id == Document.entity_id))
            .where(Document.entity_id == ctx.entity.id, OutboxEntry.state == OutboxState.CONFIRMED,
                   OutboxEntry.operation == CREATE, OutboxEntry.kind == kind,
                   OutboxEntry.company_id == ctx.connector.company_id))


def _read_booked_rates(ctx: RunContext) -> Counter:
    """The rate, and the home total it gave, of each exported foreign-currency document that went without
    one (the system applied its own): read once, then kept beside the document as a source's rate is."""
    counts: Counter = Counter()
    for kind in kinds.documents():
        with ctx.ledger.session() as session:
            rows = session.execute(_exported(ctx, kind.name).where(
                Document.currency != ctx.entity.base_currency, Document.exchange_rate.is_(None))).all()
            if not rows:
                continue
            remote = ctx.connector.fetch_documents(kind.name, [external_id for _, external_id in rows])
            for document, external_id in rows:
                found = remote.get(external_id)
                if found is None or found.exchange_rate is None:
                    counts["rates_not_told"] += 1
                    continue
                document.exchange_rate, document.home_total = found.exchange_rate, found.home_total
                counts["rates_read"] += 1
                record(session, ctx.entity.id, "pipeline", "booked_rate_kept", RecordType.DOCUMENT, document.id,
                       {"record": f"{kind.name}:{document.hub_id}", "external_id": external_id,
                        "exchange_rate": str(found.exchange_rate), "home_total": str(found.home_total),
                        "run_id": ctx.run_id})
                ctx.log.info("%s %s (%s %s) was booked at the accounting system's rate %s %s per 1 %s: %s %s",
                             kind.name, document.hub_id, document.total, document.currency, found.exchange_rate,
                             ctx.entity.base_currency, document.currency, found.home_total,
                             ctx.entity.base_currency)
    if counts["rates_not_told"]:
        ctx.log.warning("%d foreign-currency document(s) exported without a rate: the accounting system did not say "
                        "which rate it booked them at (asked again next run)", counts["rates_not_told"])
    return counts


def _refresh_balances(ctx: RunContext) -> Counter:
    """Paid status from the accounting system's balance of every exported, not fully paid bill and invoice."""
    counts: Counter = Counter()
    for kind in kinds.documents():
        if not kind.tracks_payment:
            continue
        with ctx.ledger.session() as session:
            # Voided there (a void the accounting system refused leaves the document as it was, and read).
            voided = select(OutboxEntry.record_id).where(
                OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == RecordType.DOCUMENT,
                OutboxEntry.operation == VOID, OutboxEntry.state == OutboxState.CONFIRMED)
            rows = session.execute(_exported(ctx, kind.name).where(
                Document.id.not_in(voided), Document.paid_status != PaidStatus.PAID)).all()
            if not rows:
                continue
            remote = ctx.connector.fetch_documents(kind.name, [external_id for _, external_id in rows])
            for document, external_id in rows:
                found = remote.get(external_id)
                if found is None:
                    counts["missing_remotely"] += 1
                    ctx.log.warning("%s %s (accounting id %s) was not found in the accounting system",
                                    document.kind, document.hub_id, external_id)
                    continue
                if found.voided:
                    counts["voided_remotely"] += 1
                    ctx.log.warning("%s %s (accounting id %s) is voided in the accounting system: its paid "
                                    "status is left as it was (%s); reconcile reports it", document.kind,
                                    document.hub_id, external_id, document.paid_status)
                    continue
                counts["balances_read"] += 1
                status = (PaidStatus.PAID if found.balance == 0
                          else PaidStatus.PARTIALLY_PAID if found.balance < found.total else PaidStatus.UNPAID)
                if document.open_balance != found.balance or document.paid_status != status:
                    document.open_balance, document.paid_status = found.balance, status
                    counts["balances_changed"] += 1
    return counts


def write_back(ctx: RunContext) -> dict:
    """Put external ids onto the hub's records, once per confirmed outbox row; then tell the entity's
    source what happened to its records (flows.source)."""
    from ledgerbridge.flows.source import write_back_to_source

    counts: Counter = Counter()
    with ctx.ledger.session() as session:
        rows = session.scalars(
            select(OutboxEntry).where(
                OutboxEntry.entity_id == ctx.entity.id,
                OutboxEntry.state == OutboxState.CONFIRMED,
                OutboxEntry.written_back_at.is_(None),
            )
        ).all()
        models = {kind.record_type: kind.model for kind in kinds.KINDS.values()}
        records = {}
        for record_type, model in models.items():
            ids = [row.record_id for row in rows if row.record_type == record_type]
            for start in range(0, len(ids), 500):
                for record_ in session.scalars(select(model).where(model.id.in_(ids[start:start + 500]))):
                    records[(record_type, record_.id)] = record_
        for row in rows:
            target = records.get((row.record_type, row.record_id))
            if target is None or target.entity_id != ctx.entity.id:
                raise RuntimeError(f"outbox row {row.id} points at a missing or foreign {row.record_type}")
            if isinstance(target, (Document, Payment)):
                target.external_id = row.external_id
                target.synced_at = utcnow()
            row.written_back_at = utcnow()
            record(session, ctx.entity.id, "pipeline", "written_back", row.record_type, row.record_id,
                   {"external_id": row.external_id, "run_id": ctx.run_id})
            counts[row.record_type] += 1
        unsettled = session.scalars(
            select(OutboxEntry.id).where(OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.state.in_(UNSETTLED))
        ).all()
    ctx.log.info("written back: %d document(s), %d payment(s), %d part(y/ies); %d outbox row(s) not settled yet",
                 counts[RecordType.DOCUMENT], counts[RecordType.PAYMENT], counts[RecordType.PARTY], len(unsettled))
    return {"documents": counts[RecordType.DOCUMENT], "payments": counts[RecordType.PAYMENT],
            "parties": counts[RecordType.PARTY], "not_settled": len(unsettled), "source": write_back_to_source(ctx)}
