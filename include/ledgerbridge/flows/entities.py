"""The legal entity's own row in the ledger, and the pin to its one accounting company."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.connectors.errors import CompanyMismatch
from ledgerbridge.flows.audit import record
from ledgerbridge.ledger.models import LegalEntityRow
from ledgerbridge.registry import LegalEntity


def ensure_entity(session: Session, entity: LegalEntity) -> LegalEntityRow:
    row = session.get(LegalEntityRow, entity.id)
    if row is None:
        row = LegalEntityRow(id=entity.id)
        session.add(row)
    row.name = entity.name
    row.base_currency = entity.base_currency
    row.accounting_kind = entity.accounting.kind.value
    row.conn_id = entity.accounting.conn_id
    session.flush()
    return row


def pin_company(ctx, company_id: str) -> None:
    """Refuse a connection that points at another company than the entity's first one.

    This is the isolation guard: without it, editing a connection would silently send this
    entity's bills into someone else's books.
    """
    with ctx.ledger.session() as session:
        row = ensure_entity(session, ctx.entity)
        owner = session.scalars(select(LegalEntityRow.id).where(
            LegalEntityRow.company_id == company_id, LegalEntityRow.id != ctx.entity.id)).first()
        if owner is not None:
            raise CompanyMismatch(
                f"legal entity {ctx.entity.id!r}: connection {ctx.entity.accounting.conn_id!r} reaches accounting "
                f"company {company_id}, which legal entity {owner!r} already syncs with: nothing was sent")
        if row.company_id is None:
            row.company_id = company_id
            record(session, ctx.entity.id, "pipeline", "company_pinned", "legal_entity", ctx.entity.id,
                   {"company_id": company_id, "conn_id": ctx.entity.accounting.conn_id})
        elif row.company_id != company_id:
            raise CompanyMismatch(
                f"legal entity {ctx.entity.id!r} syncs with accounting company {row.company_id}, but connection "
                f"{ctx.entity.accounting.conn_id!r} now points at company {company_id}: nothing was sent. If the "
                f"entity really moved to a new company, re-pin it: `ledgerbridge entity repin {ctx.entity.id}`."
            )


def repin(session: Session, entity_id: str, actor: str) -> str | None:
    """Forget the company an entity is pinned to; its next run pins the company it then reaches.

    Outbox rows still unsettled were resolved against the old company and stay bound to it: the
    sender refuses them rather than send old ids into the new company.
    """
    row = session.get(LegalEntityRow, entity_id)
    if row is None:
        raise KeyError(f"legal entity {entity_id!r} has never run: nothing to re-pin")
    previous, row.company_id = row.company_id, None
    record(session, entity_id, actor, "company_unpinned", "legal_entity", entity_id, {"previous": previous})
    return previous
