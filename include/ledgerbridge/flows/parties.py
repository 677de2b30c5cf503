"""match_parties: link hub vendors/customers to the accounting system's, creating them only when allowed.

Order of evidence: an existing link, then tax id, then email, then the normalised name. Links are
one-to-one. A person's decision (decided_by != "engine") is never changed by a run. A party is created
in the accounting system only when nothing matches and the entity's policy says so; an ambiguous
match goes to review instead.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ledgerbridge.connectors.base import PartyExport
from ledgerbridge.flows import outbox
from ledgerbridge.flows.audit import record
from ledgerbridge.flows.resolve import usable_references
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
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.matching.names import name_key
from ledgerbridge.registry import Flow

PARTY_TARGETS = ("Vendor", "Customer")


def match_parties(ctx) -> dict:
    if not ctx.entity.runs(Flow.PARTIES):
        ctx.log.info("parties flow is not enabled for %s: skipped", ctx.entity.id)
        return {"skipped": "parties flow not enabled"}
    summary: dict = {}
    for kind in (PartyKind.VENDOR, PartyKind.CUSTOMER):
        summary[kind.value] = _match_kind(ctx, kind)
    report = outbox.send(ctx, PARTY_TARGETS)
    summary["party_creation"] = report.as_dict()
    summary["created"] = report.confirmed - report.adopted
    settled = _settle_created(ctx)
    for kind in (PartyKind.VENDOR, PartyKind.CUSTOMER):
        counts = summary[kind.value]
        ctx.log.info(
            "%ss: %d linked before, %d newly linked (%s), %d to create, %d in review, %d unmatched",
            kind.value, counts.get("already_linked", 0), counts.get("linked", 0),
            ", ".join(f"{m} {n}" for m, n in sorted(counts.get("by_method", {}).items())) or "none",
            counts.get("to_create", 0), counts.get("review", 0), counts.get("unmatched", 0),
        )
    if report.sent or report.adopted or settled["rejected"]:
        ctx.log.info("created in the accounting system: %d, adopted after an unknown outcome: %d, refused: %d",
                     report.confirmed - report.adopted, report.adopted, settled["rejected"])
    summary["settled"] = settled
    return summary


def _match_kind(ctx, kind: PartyKind) -> dict:
    create_missing = (
        ctx.entity.matching.create_missing_vendors if kind == PartyKind.VENDOR
        else ctx.entity.matching.create_missing_customers
    )
    counts: Counter = Counter()
    by_method: Counter = Counter()
    with ctx.ledger.session() as session:
        mirror = usable_references(session, ctx.entity.id, kind.value)
        parties = session.scalars(
            select(Party).where(Party.entity_id == ctx.entity.id, Party.kind == kind).options(selectinload(Party.link))
            .order_by(Party.id)
        ).all()
        taken = {p.link.external_id for p in parties if p.link and p.link.status == LinkStatus.LINKED}
        index = _Index(mirror)
        for party in parties:
            link = party.link
            if link is not None and link.status == LinkStatus.LINKED:
                counts["already_linked"] += 1
                continue
            if link is not None and link.status == LinkStatus.PENDING_CREATE:
                counts["to_create"] += 1
                continue
            if link is not None and (link.decided_by != "engine" or link.method == "created"):
                # A person decided, or the accounting system refused to create it: a person must act.
                counts["review" if link.status == LinkStatus.REVIEW else "held"] += 1
                continue
            method, candidates = index.candidates(party)
            candidates = [c for c in candidates if c.external_id not in taken]
            if link is None:
                link = PartyLink(party=party, entity_id=ctx.entity.id, status=LinkStatus.UNMATCHED, method="none")
                session.add(link)
            if len(candidates) == 1:
                _set(link, LinkStatus.LINKED, method, candidates[0].external_id, 1.0, None)
                taken.add(candidates[0].external_id)
                counts["linked"] += 1
                by_method[method] += 1
                record(session, ctx.entity.id, "engine", "party_linked", "party", party.id,
                       {"external_id": candidates[0].external_id, "method": method})
            elif candidates:
                names = ", ".join(f"{c.external_id} {c.name!r}" for c in candidates[:5])
                _set(link, LinkStatus.REVIEW, method, None, None, f"several {kind.value}s match by {method}: {names}")
                counts["review"] += 1
            elif create_missing:
                _set(link, LinkStatus.PENDING_CREATE, "created", None, None, None)
                outbox.enqueue(session, ctx, RecordType.PARTY, party.id, f"{kind.value}:{party.hub_id}",
                               PartyExport(kind.value, party.name, party.email, party.currency, party.hub_id))
                counts["to_create"] += 1
            else:
                _set(link, LinkStatus.UNMATCHED, "none", None, None,
                     f"no {kind.value} in the accounting system matches and the policy does not create one")
                counts["unmatched"] += 1
    return {**counts, "by_method": dict(by_method)}


def _settle_created(ctx) -> dict:
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
                _set(link, LinkStatus.LINKED, "created", row.external_id, 1.0, None)
                settled["linked"] += 1
            elif row.state == OutboxState.REJECTED:
                _set(link, LinkStatus.REVIEW, "created", None, None, f"creation refused: {row.error}")
                settled["rejected"] += 1
    return {"linked": settled["linked"], "rejected": settled["rejected"]}


def _set(link: PartyLink, status: LinkStatus, method: str, external_id: str | None, score: float | None,
         note: str | None) -> None:
    link.status, link.method, link.external_id, link.score, link.note = status, method, external_id, score, note
    link.decided_by = "engine"
    link.decided_at = utcnow()


class _Index:
    def __init__(self, mirror: list[ReferenceRecord]):
        self.by_tax_id: dict[str, list[ReferenceRecord]] = defaultdict(list)
        self.by_email: dict[str, list[ReferenceRecord]] = defaultdict(list)
        self.by_base: dict[str, list[tuple]] = defaultdict(list)
        for record_ in mirror:
            if record_.tax_id and _tax_id(record_.tax_id):
                self.by_tax_id[_tax_id(record_.tax_id)].append(record_)
            if record_.email:
                self.by_email[record_.email.strip().casefold()].append(record_)
            if record_.name:
                key = name_key(record_.name)
                self.by_base[key.base].append((key, record_))

    def candidates(self, party: Party) -> tuple[str, list[ReferenceRecord]]:
        if party.tax_id and self.by_tax_id.get(_tax_id(party.tax_id)):
            return "tax_id", self.by_tax_id[_tax_id(party.tax_id)]
        if party.email and self.by_email.get(party.email.strip().casefold()):
            return "email", self.by_email[party.email.strip().casefold()]
        key = name_key(party.name)
        return "name", [r for other, r in self.by_base.get(key.base, []) if key.matches(other)]


def _tax_id(value: str) -> str:
    # QuickBooks masks all but the last four characters of a tax id; compare what both sides show.
    digits = re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return digits if "X" not in digits[:-4] else ""
