"""A person's decisions on party links: final, never overturned by a later run.

Confirm links the hub party to an accounting party; Create new says none of the candidates is it and
has the next run create it there; Reject says none of them is it and keeps it out of the accounting
system (its documents wait). The link's method keeps which: `person`, `person_create`, `person_reject`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.ledger.audit import record
from ledgerbridge.ledger.models import (
    LinkStatus,
    OutboxEntry,
    OutboxState,
    Party,
    PartyLink,
    RecordType,
    ReferenceRecord,
)
from ledgerbridge.ledger.paging import Page, page_of
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.matching.engine import PartyRecord, explain

CONFIRMED, CREATE_NEW, REJECTED = "person", "person_create", "person_reject"


class ReviewError(ValueError):
    pass


def queue(session: Session, entity_id: str | None = None) -> list[tuple[Party, PartyLink]]:
    query = select(Party, PartyLink).join(PartyLink).where(PartyLink.status == LinkStatus.REVIEW)
    if entity_id:
        query = query.where(PartyLink.entity_id == entity_id)
    return [tuple(row) for row in session.execute(query.order_by(PartyLink.entity_id, Party.kind, Party.hub_id))]


@dataclass(frozen=True)
class ReviewItem:
    """A hub party waiting for a person, beside its candidates in the accounting system."""

    party: Party
    link: PartyLink
    candidates: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        party, link = self.party, self.link
        return {"entity_id": party.entity_id, "kind": party.kind, "hub_id": party.hub_id, "name": party.name,
                "email": party.email, "tax_id": party.tax_id, "city": party.city, "postcode": party.postcode,
                "note": link.note, "method": link.method, "score": link.score, "candidates": self.candidates}


def queue_page(session: Session, entity_id: str, offset: int = 0, limit: int = 50) -> Page[ReviewItem]:
    """One entity's review queue, each party with its candidates as the accounting system has them
    (name, email, tax id, address) and why each scores as it does."""
    query = (select(Party, PartyLink).join(PartyLink)
             .where(PartyLink.status == LinkStatus.REVIEW, PartyLink.entity_id == entity_id)
             .order_by(Party.kind, Party.hub_id))
    rows, total = page_of(session, query, offset, limit)
    wanted = {(party.kind, candidate["external_id"]) for party, link in rows for candidate in link.candidates or ()}
    references = {(ref.kind, ref.external_id): ref for ref in session.scalars(select(ReferenceRecord).where(
        ReferenceRecord.entity_id == entity_id, ReferenceRecord.kind.in_({kind for kind, _ in wanted}),
        ReferenceRecord.external_id.in_({external_id for _, external_id in wanted})))} if wanted else {}
    items = []
    for party, link in rows:
        hub = PartyRecord(party.hub_id, party.name, party.kind, party.email, party.tax_id, party.city, party.postcode)
        candidates = []
        for candidate in link.candidates or ():
            ref = references.get((party.kind, candidate["external_id"]))
            shown = {"external_id": candidate["external_id"], "name": candidate.get("name"),
                     "score": candidate.get("score"), "in_mirror": ref is not None}
            if ref is not None:
                _, why = explain(hub, PartyRecord(ref.external_id, ref.name or "", ref.kind, ref.email, ref.tax_id,
                                                  ref.city, ref.postcode))
                shown.update(name=ref.name, email=ref.email, tax_id=ref.tax_id, city=ref.city, postcode=ref.postcode,
                             active=ref.active and ref.deleted_at is None, why=why)
            candidates.append(shown)
        items.append(ReviewItem(party, link, candidates))
    return Page(items, total, offset, limit)


def open_counts(session: Session, entity_ids: list[str] | None = None) -> dict[str, int]:
    """Parties in review per entity (of `entity_ids`, or all), in one query."""
    from sqlalchemy import func

    query = select(PartyLink.entity_id, func.count(PartyLink.id)).where(PartyLink.status == LinkStatus.REVIEW)
    if entity_ids is not None:
        query = query.where(PartyLink.entity_id.in_(entity_ids))
    return dict(session.execute(query.group_by(PartyLink.entity_id)).all())


def describe(row: tuple[Party, PartyLink]) -> str:
    party, link = row
    candidates = ", ".join(f"{c['external_id']} {c.get('name')!r} ({c['score']})" for c in (link.candidates or [])[:5])
    return (f"{party.entity_id}  {party.kind} {party.hub_id} {party.name!r}: {link.note or ''}"
            + (f"\n    candidates: {candidates}" if candidates else ""))


def confirm(session: Session, entity_id: str, hub_id: str, external_id: str, actor: str,
            kind: str | None = None) -> str:
    party = _party(session, entity_id, hub_id, kind)
    reference = session.scalars(select(ReferenceRecord).where(
        ReferenceRecord.entity_id == entity_id, ReferenceRecord.kind == party.kind,
        ReferenceRecord.external_id == external_id)).one_or_none()
    if reference is None:
        raise ReviewError(f"{entity_id}: no {party.kind} with id {external_id!r} in the accounting system's mirror")
    other = session.scalars(select(Party).join(PartyLink).where(
        PartyLink.entity_id == entity_id, PartyLink.external_id == external_id, PartyLink.status == LinkStatus.LINKED,
        Party.kind == party.kind, Party.id != party.id)).first()
    if other is not None:
        raise ReviewError(f"{entity_id}: {party.kind} {external_id} {reference.name!r} is already linked to hub "
                          f"party {other.hub_id} {other.name!r}: links are one to one")
    link = _link(session, party)
    _decide(link, LinkStatus.LINKED, CONFIRMED, external_id, actor, f"confirmed by {actor}")
    record(session, entity_id, actor, "party_link_confirmed", "party", party.id, {"external_id": external_id})
    return f"{party.kind} {hub_id} {party.name!r} linked to {external_id} {reference.name!r}"


def reject(session: Session, entity_id: str, hub_id: str, actor: str, kind: str | None = None) -> str:
    """None of the candidates is this party, and it is not created either: it stays out of the
    accounting system, and its documents wait."""
    party = _party(session, entity_id, hub_id, kind)
    link = _link(session, party)
    _decide(link, LinkStatus.UNMATCHED, REJECTED, None, actor,
            f"rejected by {actor}: none of its candidates, and not created")
    record(session, entity_id, actor, "party_link_rejected", "party", party.id, {})
    return f"{party.kind} {hub_id} {party.name!r}: matches none of its candidates; not created, its documents wait"


def create_new(session: Session, entity_id: str, hub_id: str, actor: str, kind: str | None = None, *,
               creates_parties: bool = True) -> str:
    """None of the candidates is this party: the next run creates it in the accounting system (unless
    its name is taken there, which sends it back here). `creates_parties`: whether the entity's
    accounting connector can (a file drop cannot: the party is created in the company file)."""
    if not creates_parties:
        raise ReviewError(f"{entity_id}: its accounting system is reached by file drop, which cannot create "
                          f"parties: create {hub_id!r} in the company file (it arrives with its lists), then confirm")
    party = _party(session, entity_id, hub_id, kind)
    link = _link(session, party)
    _decide(link, LinkStatus.UNMATCHED, CREATE_NEW, None, actor,
            f"{actor}: none of its candidates; to be created in the accounting system")
    # A creation the accounting system refused before: the person's fix is a new attempt, with a key of its own.
    refused = session.scalars(select(OutboxEntry).where(
        OutboxEntry.entity_id == entity_id, OutboxEntry.record_type == RecordType.PARTY,
        OutboxEntry.record_id == party.id, OutboxEntry.state == OutboxState.REJECTED)).one_or_none()
    if refused is not None:
        refused.state = OutboxState.RETRY
    record(session, entity_id, actor, "party_create_requested", "party", party.id,
           {"refused_before": refused.error if refused is not None else None})
    return f"{party.kind} {hub_id} {party.name!r}: matches none of its candidates; created on the next run"


def _party(session: Session, entity_id: str, hub_id: str, kind: str | None) -> Party:
    query = select(Party).where(Party.entity_id == entity_id, Party.hub_id == hub_id)
    if kind:
        query = query.where(Party.kind == kind)
    parties = session.scalars(query).all()
    if not parties:
        raise ReviewError(f"{entity_id}: no hub party {hub_id!r}")
    if len(parties) > 1:
        raise ReviewError(f"{entity_id}: {hub_id!r} is both a vendor and a customer: say which with --kind")
    return parties[0]


def _link(session: Session, party: Party) -> PartyLink:
    link = session.scalars(select(PartyLink).where(PartyLink.party_id == party.id)).one_or_none()
    if link is not None and link.status == LinkStatus.PENDING_CREATE:
        raise ReviewError(f"{party.entity_id}: {party.kind} {party.hub_id} {party.name!r} is being created in the "
                          "accounting system: decide after the next run, once it is settled")
    if link is None:
        link = PartyLink(party_id=party.id, entity_id=party.entity_id, status=LinkStatus.UNMATCHED, method="person")
        session.add(link)
    return link


def _decide(link: PartyLink, status: LinkStatus, method: str, external_id: str | None, actor: str, note: str) -> None:
    if link.decided_by not in (None, "engine") and link.method in (CONFIRMED, CREATE_NEW, REJECTED) \
            and link.status != LinkStatus.REVIEW:
        raise ReviewError(f"{link.entity_id}: hub party #{link.party_id} was decided already by {link.decided_by} "
                          f"({link.note}): decisions are final")
    link.status, link.external_id, link.note = status, external_id, note
    link.method, link.score, link.decided_by, link.decided_at = method, 1.0 if external_id else None, actor, utcnow()
