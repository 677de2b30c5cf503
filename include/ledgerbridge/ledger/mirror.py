"""Resolving hub codes (account numbers, class names) to the accounting company's ids via the mirror."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.ledger.models import (
    QuarantineEntry,
    QuarantineStatus,
    ReferenceRecord,
)


def usable_references(session: Session, entity_id: str, kind: str) -> list[ReferenceRecord]:
    """Active mirrored records of `kind` that passed check_reference (or that a person released; a
    dismissed one is never used)."""
    held = select(QuarantineEntry.record_key).where(
        QuarantineEntry.entity_id == entity_id,
        QuarantineEntry.dataset == f"reference.{kind}",
        QuarantineEntry.status.in_((QuarantineStatus.OPEN, QuarantineStatus.DISMISSED)),
    )
    return list(
        session.scalars(
            select(ReferenceRecord).where(
                ReferenceRecord.entity_id == entity_id,
                ReferenceRecord.kind == kind,
                ReferenceRecord.active.is_(True),
                ReferenceRecord.external_id.not_in(held),
            )
        )
    )


class CodeIndex:
    """Look up a record by number (AcctNum) first, then by exact name, then case-insensitively."""

    def __init__(self, records: list[ReferenceRecord]):
        self.by_number = {r.number: r for r in records if r.number}
        self.by_name = {r.name: r for r in records if r.name}
        self.by_folded = {r.name.casefold(): r for r in records if r.name}

    def get(self, code: str | None) -> ReferenceRecord | None:
        if not code:
            return None
        code = code.strip()
        return self.by_number.get(code) or self.by_name.get(code) or self.by_folded.get(code.casefold())


class Resolver:
    """The entity's usable accounts, classes and items, by code."""

    def __init__(self, session: Session, entity_id: str):
        self.accounts = CodeIndex(usable_references(session, entity_id, "account"))
        self.classes = CodeIndex(usable_references(session, entity_id, "class"))
        self.items = CodeIndex(usable_references(session, entity_id, "item"))

    def class_id(self, code: str | None) -> str | None:
        return self.classes.get(code).external_id if code else None
