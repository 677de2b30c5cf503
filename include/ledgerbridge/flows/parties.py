"""match_parties: link hub vendors/customers to the accounting system's, without creating duplicates.

The matching engine (ledgerbridge.matching) decides auto / review / none for every hub party not
settled yet. Settled, and never touched again by a run: a link, a person's decision, a creation in
flight, a creation the accounting system refused. A party is created in the accounting system only
when nothing matches (no review candidate either), the entity's policy says so, its name is free
among all the company's customers and vendors (QuickBooks DisplayNames are unique across both), and
it passes the `parties` data-quality suite (a name QuickBooks would refuse is quarantined, not sent).
Parties that exist only in the accounting system are adopted into the hub when the policy says so.
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ledgerbridge import kinds
from ledgerbridge.context import RunContext
from ledgerbridge.flows import outbox
from ledgerbridge.flows.errors import SystemicQualityFailure
from ledgerbridge.flows.preparing import store_result
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.audit import record
from ledgerbridge.ledger.mirror import usable_references
from ledgerbridge.ledger.models import (
    LinkStatus,
    OutboxEntry,
    OutboxState,
    Party,
    PartyKind,
    PartyLink,
    RecordType,
    ReferenceRecord,
)
from ledgerbridge.ledger.quarantine import Reason
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.matching import review
from ledgerbridge.matching.engine import AUTO, REVIEW, PartyRecord, Thresholds, match
from ledgerbridge.registry import Flow

ENGINE = "engine"


def match_parties(ctx: RunContext) -> dict:
    if not ctx.entity.runs(Flow.PARTIES):
        ctx.log.info("parties flow is not enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "parties flow not enabled"}
    summary: dict = {}
    systemic = []
    with ctx.ledger.session() as session:
        taken_names = _taken_names(session, ctx.entity.id)  # one set for both kinds: names are unique across
    for kind in (PartyKind.VENDOR, PartyKind.CUSTOMER):
        summary[kind.value], problem = _match_kind(ctx, kind, taken_names)
        if problem:
            systemic.append(problem)
    report = outbox.send(ctx, tuple(kind.name for kind in kinds.parties()))
    summary["party_creation"] = report.as_dict()
    summary["created"] = report.confirmed - report.adopted
    summary["settled"] = _settle_created(ctx)
    for kind in (PartyKind.VENDOR, PartyKind.CUSTOMER):
        counts = summary[kind.value]
        ctx.log.info(
            "%ss: %d linked before, %d newly linked (%s), %d to create, %d quarantined before creation, %d adopted "
            "from the accounting system, %d in review, %d unmatched, %d held by a person's decision",
            kind.value, counts.get("already_linked", 0), counts.get("linked", 0),
            ", ".join(f"{m} {n}" for m, n in sorted(counts.get("by_method", {}).items())) or "none",
            counts.get("to_create", 0), counts.get("quarantined", 0), counts.get("adopted", 0),
            counts.get("review", 0), counts.get("unmatched", 0), counts.get("held", 0),
        )
    if report.sent or report.adopted or summary["settled"]["rejected"]:
        ctx.log.info("created in the accounting system: %d, adopted after an unknown outcome: %d, refused: %d",
                     summary["created"], report.adopted, summary["settled"]["rejected"])
    _log_review_queue(ctx)
    if systemic:  # what passed elsewhere is created first
        raise SystemicQualityFailure(f"{ctx.entity.id}: " + " | ".join(systemic))
    return summary


def _thresholds(ctx: RunContext) -> Thresholds:
    policy = ctx.entity.matching
    return Thresholds(auto=policy.auto_link_threshold, review=policy.review_threshold)


def _match_kind(ctx: RunContext, kind: PartyKind, taken_names: set[str]) -> dict:
    policy = ctx.entity.matching
    create_missing = policy.create_missing_vendors if kind == PartyKind.VENDOR else policy.create_missing_customers
    counts: Counter = Counter()
    by_method: Counter = Counter()
    with ctx.ledger.session() as session:
        mirror = usable_references(session, ctx.entity.id, kind.value)
        parties = session.scalars(
            select(Party).where(Party.entity_id == ctx.entity.id, Party.kind == kind)
            .options(selectinload(Party.link)).order_by(Party.id)
        ).all()
        linked_to = {p.link.external_id: p for p in parties if p.link and p.link.status == LinkStatus.LINKED}
        refused = set(session.scalars(select(OutboxEntry.record_id).where(
            OutboxEntry.entity_id == ctx.entity.id, OutboxEntry.record_type == RecordType.PARTY,
            OutboxEntry.state == OutboxState.REJECTED)))
        open_parties, rejected_by_person = [], []
        to_create: list[tuple[Party, PartyLink, list | None]] = []
        dismissed = quarantine.dismissed_keys(session, ctx.entity.id, f"{kind.value}s")
        for party in parties:
            settled = _settled(party.link)
            if settled == "held" and _create_asked(party.link, create_missing) and party.id not in refused:
                rejected_by_person.append(party)  # a person said "none of these, create it"
            elif settled:
                counts[settled] += 1
            else:
                open_parties.append(party)
        # Linked accounting parties stay in: a hub party that matches one is likely a duplicate in the hub.
        results = match(
            [PartyRecord(str(p.id), p.name, kind.value, p.email, p.tax_id, p.city, p.postcode) for p in open_parties],
            [PartyRecord(r.external_id, r.name or "", kind.value, r.email, r.tax_id, r.city, r.postcode)
             for r in mirror if r.name],
            _thresholds(ctx),
        ) if open_parties else []
        names = {r.external_id: r.name for r in mirror}
        for party, result in zip(open_parties, results, strict=True):
            link = party.link or PartyLink(party=party, entity_id=ctx.entity.id, status=LinkStatus.UNMATCHED,
                                           method="none")
            session.add(link)
            candidates = [{"external_id": c, "name": names.get(c), "score": s} for c, s in result.candidates]
            owner = linked_to.get(result.accounting_id) if result.accounting_id else None
            if owner is not None:
                _set(link, LinkStatus.REVIEW, result.method, None, result.score,
                     f"matches {result.accounting_id} {names.get(result.accounting_id)!r}, already linked to hub "
                     f"{kind.value} {owner.hub_id} {owner.name!r}: a duplicate in the hub?", candidates)
                counts["review"] += 1
            elif result.decision == AUTO:
                _set(link, LinkStatus.LINKED, result.method, result.accounting_id, result.score, None, candidates)
                counts["linked"] += 1
                by_method[result.method] += 1
                record(session, ctx.entity.id, ENGINE, "party_linked", "party", party.id,
                       {"external_id": result.accounting_id, "method": result.method, "score": result.score})
            elif result.decision == REVIEW:
                best = candidates[0] if candidates else {}
                _set(link, LinkStatus.REVIEW, result.method, result.accounting_id, result.score,
                     f"best candidate {best.get('external_id')} {best.get('name')!r} scores {result.score}: "
                     "not sure enough to link", candidates)
                counts["review"] += 1
            elif candidates:
                # Candidates came close but were taken or unclear: never create beside them.
                _set(link, LinkStatus.REVIEW, result.method, None, result.score,
                     f"close to {candidates[0]['external_id']} {candidates[0]['name']!r} ({candidates[0]['score']}), "
                     "which is linked to another hub party", candidates)
                counts["review"] += 1
            elif create_missing and _name(party.name) in taken_names:
                _set(link, LinkStatus.REVIEW, "name_taken", None, None,
                     f"no {kind.value} matches, but the accounting system already has a party named "
                     f"{party.name!r} (names are unique across customers and vendors): link it or rename",
                     candidates)
                counts["review"] += 1
            elif create_missing and party.hub_id in dismissed:
                _set(link, LinkStatus.UNMATCHED, "none", None, None,
                     f"held in quarantine and dismissed by a person: never created (`ledgerbridge quarantine "
                     f"reopen {ctx.entity.id} {kind.value}s {party.hub_id}` undoes it)", candidates)
                counts["dismissed"] += 1
            elif create_missing:
                to_create.append((party, link, candidates))
                taken_names.add(_name(party.name))  # reserved, even if the checks hold it back
            else:
                _set(link, LinkStatus.UNMATCHED, "none", None, None,
                     f"no {kind.value} in the accounting system matches and the policy does not create one",
                     candidates)
                counts["unmatched"] += 1
        for party in rejected_by_person:
            if party.hub_id in dismissed:
                counts["held"] += 1
                continue
            if _name(party.name) in taken_names:
                _set(party.link, LinkStatus.REVIEW, "name_taken", None, None,
                     f"to be created as a person asked, but the accounting system already has a party named "
                     f"{party.name!r} (names are unique across customers and vendors): link it or rename",
                     party.link.candidates)
                counts["review"] += 1
                continue
            to_create.append((party, party.link, None))  # a person's "none of these": the link keeps it
            taken_names.add(_name(party.name))
        problem = _create_checked(ctx, session, kind, to_create, counts)
        # A held party no longer up for creation (linked since, in review, the policy changed): its entry ends.
        up_for_creation = {party.hub_id for party, _, _ in to_create}
        quarantine.resolve(session, ctx.entity.id, f"{kind.value}s",
                           [party.hub_id for party in parties if party.hub_id not in up_for_creation])
        if policy.adopt_accounting_parties:
            counts["adopted"] = _adopt(session, ctx, kind, mirror)
    return {**counts, "by_method": dict(by_method)}, problem


def _create_checked(ctx: RunContext, session, kind: PartyKind, to_create: list[tuple[Party, PartyLink, list | None]],
                    counts: Counter) -> str | None:
    """The parties suite over what is about to be created: queue what passes, quarantine what fails
    (dataset vendors / customers; the party stays unmatched, with the reasons on its link). Returns
    the message of a systemic batch, of which nothing is created or held."""
    if not to_create:
        return None
    from ledgerbridge.quality import PartyParams, check, format_table

    dataset = f"{kind.value}s"
    policy = ctx.entity.quality
    params = PartyParams(currency=ctx.entity.base_currency, allowed_currencies=frozenset(policy.allowed_currencies),
                         name_limit=ctx.connector.capabilities.name_limit,
                         max_failure_rate=policy.max_failure_rate("parties"))
    records = [{"hub_id": party.hub_id, "kind": kind.value, "name": party.name, "email": party.email,
                "currency": party.currency} for party, _, _ in to_create]
    result = check("parties", records, params, carried_over=quarantine.held_keys(session, ctx.entity.id, dataset))
    ctx.log.info("parties, %ss to create:\n%s", kind.value, format_table(result, only_failed=True))
    if result.systemic:
        store_result(session, ctx, "match_parties", f"parties.{dataset}", result, {})
        ctx.log.error("%ss to create: %s Nothing of this batch is created or quarantined.", kind.value, result.message)
        return f"{kind.value}s to create: {result.message}"
    outcome: Counter = Counter()
    for party, link, candidates in to_create:
        failures = result.failures.get(party.hub_id)
        if failures:
            reasons = [Reason(**failure.reason()) for failure in failures]
            quarantine.hold(session, ctx.entity.id, dataset, party.hub_id, reasons,
                            {"hub_id": party.hub_id, "name": party.name, "email": party.email})
            if candidates is not None:
                _set(link, LinkStatus.UNMATCHED, "none", None, None,
                     "held in quarantine before its creation: " + "; ".join(map(str, reasons)), candidates)
            outcome["quarantined"] += 1
            ctx.log.warning("%s %s %r not created, quarantined: %s", kind.value, party.hub_id, party.name,
                            "; ".join(map(str, reasons)))
            continue
        if candidates is not None:
            _set(link, LinkStatus.PENDING_CREATE, "created", None, None, None, candidates)
        else:
            link.status = LinkStatus.PENDING_CREATE
        record_kind = kinds.get(kind.value)
        outbox.enqueue(session, ctx, record_kind, party.id, record_kind.record_key(party.hub_id),
                       record_kind.export(party))
        outcome["queued"] += 1
    outcome["released_from_quarantine"] = quarantine.resolve(session, ctx.entity.id, dataset, result.passed)
    store_result(session, ctx, "match_parties", f"parties.{dataset}", result, outcome)
    counts["to_create"] += outcome["queued"]
    counts["quarantined"] += outcome["quarantined"]
    return None


def _create_asked(link: PartyLink, create_missing: bool) -> bool:
    """A person said none of the candidates is this party and asked for its creation (or, before
    Create new existed, rejected them under a policy that creates missing parties)."""
    if link.status != LinkStatus.UNMATCHED:
        return False
    return link.method == review.CREATE_NEW or (create_missing and link.method == review.CONFIRMED)


def _settled(link: PartyLink | None) -> str | None:
    """Why a run must leave this party alone, or None if the engine may (re)decide it."""
    if link is None:
        return None
    if link.status == LinkStatus.LINKED:
        return "already_linked"
    if link.status == LinkStatus.PENDING_CREATE:
        return "to_create"
    if link.decided_by != ENGINE or link.method == "created":
        return "held"  # a person decided, or the accounting system refused to create it
    return None


def _name(name: str) -> str:
    return " ".join(name.split()).casefold()


def _taken_names(session, entity_id: str) -> set[str]:
    """Names a new party may not take: every customer and vendor of the accounting company (inactive
    ones included), and the hub parties being created there right now."""
    mirrored = session.scalars(select(ReferenceRecord.name).where(
        ReferenceRecord.entity_id == entity_id, ReferenceRecord.kind.in_(("vendor", "customer"))))
    in_flight = session.scalars(select(Party.name).join(PartyLink).where(
        PartyLink.entity_id == entity_id, PartyLink.status == LinkStatus.PENDING_CREATE))
    return {_name(name) for name in [*mirrored, *in_flight] if name}


def _adopt(session, ctx, kind: PartyKind, mirror: list[ReferenceRecord]) -> int:
    """Hub parties for accounting parties nobody links to, nor has as a review candidate."""
    links = session.scalars(select(PartyLink).join(Party).where(
        PartyLink.entity_id == ctx.entity.id, Party.kind == kind)).all()
    claimed = {link.external_id for link in links if link.external_id}
    claimed |= {c["external_id"] for link in links if link.status == LinkStatus.REVIEW for c in link.candidates or []}
    # A party we are creating may already be there (its answer lost): it is ours, not one to adopt.
    being_created = {_name(link.party.name) for link in links if link.status == LinkStatus.PENDING_CREATE}
    adopted = 0
    for reference in mirror:
        if reference.external_id in claimed or _name(reference.name or "") in being_created:
            continue
        party = Party(entity_id=ctx.entity.id, kind=kind, hub_id=f"{ctx.entity.accounting.kind.value}:"
                      f"{reference.external_id}", name=reference.name, email=reference.email,
                      tax_id=reference.tax_id, city=reference.city, postcode=reference.postcode,
                      currency=reference.currency)
        session.add(party)
        session.add(PartyLink(party=party, entity_id=ctx.entity.id, external_id=reference.external_id,
                              status=LinkStatus.LINKED, method="adopted", score=1.0, decided_by=ENGINE))
        session.flush()
        record(session, ctx.entity.id, ENGINE, "party_adopted", "party", party.id,
               {"external_id": reference.external_id, "name": reference.name})
        adopted += 1
    return adopted


def _settle_created(ctx: RunContext) -> dict:
    """Turn confirmed party creations into links; a refused creation goes to review with the reason."""
    settled = Counter()
    with ctx.ledger.session() as session:
        rows = session.execute(
            select(PartyLink, OutboxEntry)
            .join(OutboxEntry, (OutboxEntry.record_id == PartyLink.party_id)
                  & (OutboxEntry.record_type == RecordType.PARTY) & (OutboxEntry.entity_id == PartyLink.entity_id))
            .where(PartyLink.entity_id == ctx.entity.id, PartyLink.status == LinkStatus.PENDING_CREATE)
        ).all()
        for link, row in rows:
            if row.state == OutboxState.CONFIRMED:
                _set(link, LinkStatus.LINKED, "created", row.external_id, 1.0, None, link.candidates)
                settled["linked"] += 1
            elif row.state == OutboxState.REJECTED:
                _set(link, LinkStatus.REVIEW, "created", None, None, f"creation refused: {row.error}", link.candidates)
                settled["rejected"] += 1
    return {"linked": settled["linked"], "rejected": settled["rejected"]}


def _log_review_queue(ctx: RunContext, shown: int = 10) -> None:
    with ctx.ledger.session() as session:
        queue = session.execute(
            select(Party, PartyLink).join(PartyLink)
            .where(PartyLink.entity_id == ctx.entity.id, PartyLink.status == LinkStatus.REVIEW)
            .order_by(Party.kind, Party.hub_id)
        ).all()
    if not queue:
        return
    lines = [f"review queue: {len(queue)} part{'y' if len(queue) == 1 else 'ies'} wait for a person "
             f"(`ledgerbridge review list --entity {ctx.entity.id}`)"]
    for party, link in queue[:shown]:
        lines.append(f"  {party.kind} {party.hub_id} {party.name!r}: {link.note}")
    if len(queue) > shown:
        lines.append(f"  ... and {len(queue) - shown} more")
    ctx.log.info("\n".join(lines))


def _set(link: PartyLink, status: LinkStatus, method: str, external_id: str | None, score: float | None,
         note: str | None, candidates: list) -> None:
    link.status, link.method, link.external_id, link.score, link.note = status, method, external_id, score, note
    link.candidates = candidates
    link.decided_by = ENGINE
    link.decided_at = utcnow()
