"""A person's decisions on party links: final, never overturned by a later run."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.ledger.audit import record
from ledgerbridge.ledger.models import LinkStatus, Party, PartyLink, ReferenceRecord
from ledgerbridge.ledger.types import utcnow


class ReviewError(ValueError):
    pass


def queue(session: Session, entity_id: str | None = None) -> list[tuple[Party, PartyLink]]:
    query = select(Party, PartyLink).join(PartyLink).where(PartyLink.status == LinkStatus.REVIEW)
    if entity_id:
        query = query.where(PartyLink.entity_id == entity_id)
    return [tuple(row) for row in session.execute(query.order_by(PartyLink.entity_id, Party.kind, Party.hub_id))]


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
    _decide(link, LinkStatus.LINKED, external_id, actor, f"confirmed by {actor}")
    record(session, entity_id, actor, "party_link_confirmed", "party", party.id, {"external_id": external_id})
    return f"{party.kind} {hub_id} {party.name!r} linked to {external_id} {reference.name!r}"


def reject(session: Session, entity_id: str, hub_id: str, actor: str, kind: str | None = None) -> str:
    party = _party(session, entity_id, hub_id, kind)
    link = _link(session, party)
    _decide(link, LinkStatus.UNMATCHED, None, actor, f"no candidate is this party ({actor})")
    record(session, entity_id, actor, "party_link_rejected", "party", party.id, {})
    return f"{party.kind} {hub_id} {party.name!r}: matches none of its candidates"


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


def _decide(link: PartyLink, status: LinkStatus, external_id: str | None, actor: str, note: str) -> None:
    link.status, link.external_id, link.note = status, external_id, note
    link.method, link.score, link.decided_by, link.decided_at = "person", 1.0 if external_id else None, actor, utcnow()
