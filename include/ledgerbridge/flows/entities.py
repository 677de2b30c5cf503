"""The legal entity's own row in the ledger, and the pin to its one accounting company."""
from __future__ import annotations

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
        if row.company_id is None:
            row.company_id = company_id
            record(session, ctx.entity.id, "pipeline", "company_pinned", "legal_entity", ctx.entity.id,
                   {"company_id": company_id, "conn_id": ctx.entity.accounting.conn_id})
        elif row.company_id != company_id:
            raise CompanyMismatch(
                f"legal entity {ctx.entity.id!r} syncs with accounting company {row.company_id}, but connection "
                f"{ctx.entity.accounting.conn_id!r} now points at company {company_id}: nothing was sent. If the "
                "entity really moved to a new company, re-pin it with `ledgerbridge entity repin`."
            )
