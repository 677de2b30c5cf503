"""Resolving hub codes (account numbers, class names) to the accounting company's ids via the mirror."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledgerbridge.ledger.models import (
    QuarantineEntry,
    QuarantineStatus,
    ReferenceRecord,
    SourceJournal,
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


def source_journals(session: Session, entity_id: str) -> dict[str, SourceJournal]:
    """The journals the entity's source declared (its hub feed's `journals`), by code, active or not."""
    return {journal.code: journal for journal in session.scalars(
        select(SourceJournal).where(SourceJournal.entity_id == entity_id))}


class CodeIndex:
    """Look up a record by number (an account's AcctNum, an item's SKU) first, then by exact name, then
    case-insensitively; `aliases` maps a code to the one to look up instead (a registry's item_map)."""

    def __init__(self, records: list[ReferenceRecord], aliases: dict[str, str] | None = None):
        self.by_number = {r.number: r for r in records if r.number}
        self.by_name = {r.name: r for r in records if r.name}
        self.by_folded = {r.name.casefold(): r for r in records if r.name}
        self.aliases = aliases or {}

    def get(self, code: str | None) -> ReferenceRecord | None:
        if not code:
            return None
        code = code.strip()
        code = self.aliases.get(code, code)
        return self.by_number.get(code) or self.by_name.get(code) or self.by_folded.get(code.casefold())


def collective_accounts(session: Session, entity_id: str, party_kind: str) -> dict[str, str]:
    """Party id -> the id of its own payables (vendor) or receivables (customer) account, for the parties that have one."""
    return {record.external_id: record.collective_account
            for record in usable_references(session, entity_id, party_kind) if record.collective_account}


class Resolver:
    """The entity's usable accounts, classes, items and tax codes, by code; `item_map` names the item
    some source codes stand for; `amounts_include_tax`: the source's line amounts include their tax."""

    def __init__(self, session: Session, entity_id: str, item_map: dict[str, str] | None = None,
                 amounts_include_tax: bool = False):
        self.session, self.entity_id = session, entity_id
        self.amounts_include_tax = amounts_include_tax
        self.accounts = CodeIndex(usable_references(session, entity_id, "account"))
        self.classes = CodeIndex(usable_references(session, entity_id, "class"))
        self.items = CodeIndex(usable_references(session, entity_id, "item"), item_map)
        self.tax_codes = CodeIndex(usable_references(session, entity_id, "tax_code"))
        self.journal_codes = CodeIndex(usable_references(session, entity_id, "journal_code"))
        self.source_journals = source_journals(session, entity_id)
        self._inactive_items: CodeIndex | None = None
        self._collective_accounts: dict[str, dict[str, str]] = {}  # party kind -> party id -> account id
        self.unrated_tax_codes: set[str] = set()  # codes asked for a rate the mirror does not know

    def item_problem(self, code: str | None) -> str | None:
        """Why an item code does not resolve, when the mirror knows better than "no such item"."""
        if not code or self.items.get(code) is not None:
            return None
        if self._inactive_items is None:
            self._inactive_items = CodeIndex(list(self.session.scalars(select(ReferenceRecord).where(
                ReferenceRecord.entity_id == self.entity_id, ReferenceRecord.kind == "item",
                ReferenceRecord.active.is_(False), ReferenceRecord.deleted_at.is_(None)))), self.items.aliases)
        found = self._inactive_items.get(code)
        return f"the accounting system's item {found.name!r} (id {found.external_id}) is inactive" if found else None

    def class_id(self, code: str | None) -> str | None:
        return self.classes.get(code).external_id if code else None

    def tax_code_id(self, code: str | None) -> str | None:
        return self.tax_codes.get(code).external_id if code else None

    def journal_code_id(self, code: str | None) -> str | None:
        return self.journal_codes.get(code).external_id if code else None

    def collective_account_id(self, party_kind: str, party_id: str) -> str | None:
        """The payables (receivables) account a vendor (customer) of the accounting system rolls up to, where
        it has its own (QuickBooks France's APAccountRef), else None: the system's default applies."""
        if party_kind not in self._collective_accounts:
            self._collective_accounts[party_kind] = collective_accounts(self.session, self.entity_id, party_kind)
        return self._collective_accounts[party_kind].get(party_id)

    def tax_rate(self, code: str | None, purchase: bool = False) -> Decimal | None:
        """The rate (percent) of the tax code named `code`, on the purchase or the sales side; None when
        the code does not resolve or its rate is not mirrored (then noted in `unrated_tax_codes`)."""
        record = self.tax_codes.get(code)
        rate = tax_rate(record, purchase)
        if record is not None and rate is None:
            self.unrated_tax_codes.add(record.name or str(code))
        return rate

    def tax_rate_parts(self, code: str | None, purchase: bool = False) -> tuple[tuple[str, Decimal], ...]:
        """The rates (id, percent) the tax code named `code` applies on the purchase or the sales side,
        as mirrored in `data["purchase_tax_rates"]` / `data["sales_tax_rates"]` (QuickBooks Online keeps
        them); () when the code does not resolve or its connector keeps no rate ids."""
        record = self.tax_codes.get(code)
        listed = ((record.data or {}).get("purchase_tax_rates" if purchase else "sales_tax_rates")
                  if record is not None else None)
        try:
            return tuple((str(part["id"]), Decimal(str(part["percent"]))) for part in listed or ())
        except (KeyError, TypeError, ArithmeticError):
            return ()  # a mirror row not of this shape: the connector then books no given tax per rate


def tax_rate(record: ReferenceRecord | None, purchase: bool = False) -> Decimal | None:
    """A mirrored tax code's rate in percent, None when its connector does not know it. Connectors keep it
    in `data` as a string: "rate", or "purchase_rate" / "sales_rate" where a code's two sides differ
    (QuickBooks Online); the side of the document comes first."""
    if record is None:
        return None
    data = record.data or {}
    value = data.get("purchase_rate" if purchase else "sales_rate")
    value = data.get("rate") if value in (None, "") else value
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None
