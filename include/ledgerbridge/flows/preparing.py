"""What every kind of export shares: checks, resolving a linked party, and the check-then-queue loop.

A record that fails a check goes to quarantine with every reason; one that passes gets its single
outbox row; one waiting on something that is not its fault (its party is being created, the
document it pays is not confirmed yet) simply waits for a later run.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ledgerbridge.flows import outbox, quarantine
from ledgerbridge.flows.quarantine import Reason
from ledgerbridge.ledger.models import LinkStatus, OutboxEntry, Party, RecordType

MAX_DOC_NUMBER = 21  # QuickBooks Online's DocNumber limit
MONEY_PLACES = 2  # QuickBooks Online keeps amounts in cents; more places would be rounded there


class Waiting(Exception):
    """Not exportable yet, through no fault of the record."""


def too_precise(amount: Decimal) -> bool:
    return amount != amount.quantize(Decimal(1).scaleb(-MONEY_PLACES))


def check_currency(ctx, currency: str, reasons: list[Reason]) -> None:
    if currency != ctx.entity.base_currency:
        reasons.append(Reason("currency", f"{currency} is not the entity's currency {ctx.entity.base_currency}",
                              currency))


def check_doc_number(ctx, doc_number: str | None, reasons: list[Reason], required: bool = False) -> None:
    """Within the accounting system's limit (QuickBooks Online 21 characters, Desktop 20)."""
    limit = getattr(ctx.connector, "doc_number_limit", MAX_DOC_NUMBER)
    if doc_number and len(doc_number) > limit:
        reasons.append(Reason("doc_number", f"longer than {limit} characters", doc_number))
    if required and not doc_number and getattr(ctx.connector, "doc_number_required", False):
        reasons.append(Reason("doc_number", "missing; the accounting system needs a document number"))


def not_in_outbox(session, entity_id: str, model, record_type: RecordType):
    queued = select(OutboxEntry.record_id).where(
        OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == record_type
    )
    return select(model).where(model.entity_id == entity_id, model.id.not_in(queued)).order_by(model.id)


def linked_party_id(party: Party | None, kind: str, record: str, reasons: list[Reason]) -> str | None:
    """The linked vendor's or customer's external id, or a reason why there is none; raises Waiting
    while it is being created."""
    if party is None:
        reasons.append(Reason(kind, f"{record} has no {kind}"))
        return None
    link = party.link
    if link is not None and link.status == LinkStatus.LINKED and link.external_id:
        return link.external_id
    if link is not None and link.status == LinkStatus.PENDING_CREATE:
        raise Waiting(f"{kind} {party.hub_id} {party.name!r} is being created in the accounting system")
    state = "in review" if link is not None and link.status == LinkStatus.REVIEW else "not linked"
    note = f" ({link.note})" if link is not None and link.note else ""
    reasons.append(Reason(kind, f"{kind} {party.hub_id} {party.name!r} is {state} to a {kind} of the "
                                f"accounting system{note}: link it, or allow create_missing_{kind}s", party.hub_id))
    return None


def queue_checked(ctx, session, dataset: str, label: str, records: Iterable[Any],
                  build: Callable[[Any], tuple[Any, list[Reason]]], record_type: RecordType,
                  snapshot: Callable[[Any], dict]) -> Counter:
    """Check each record with `build`; queue what passes, quarantine what fails, skip what waits."""
    counts: Counter = Counter()
    dismissed = quarantine.dismissed_keys(session, ctx.entity.id, dataset)
    passed = []
    for record in records:
        if record.hub_id in dismissed:
            counts["dismissed"] += 1  # a person decided it is never exported
            continue
        try:
            export, reasons = build(record)
        except Waiting as wait:
            counts["waiting"] += 1
            ctx.log.info("%s %s waits: %s", label, record.hub_id, wait)
            continue
        if reasons:
            quarantine.hold(session, ctx.entity.id, dataset, record.hub_id, reasons, snapshot(record))
            counts["quarantined"] += 1
            ctx.log.warning("%s %s quarantined: %s", label, record.hub_id, "; ".join(map(str, reasons)))
            continue
        outbox.enqueue(session, ctx, record_type, record.id, f"{label.replace(' ', '_')}:{record.hub_id}", export)
        passed.append(record.hub_id)
        counts["queued"] += 1
    counts["released_from_quarantine"] = quarantine.resolve(session, ctx.entity.id, dataset, passed)
    plural = f"{label[:-1]}ies" if label.endswith("y") else f"{label}s"
    ctx.log.info("%s: %d queued for export, %d quarantined, %d waiting, %d fixed since last quarantined, "
                 "%d dismissed by a person", plural, counts["queued"], counts["quarantined"], counts["waiting"],
                 counts["released_from_quarantine"], counts["dismissed"])
    return counts
