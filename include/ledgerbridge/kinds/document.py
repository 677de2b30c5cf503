"""Documents (bills, invoices, journal entries): checked by the `documents` suite in prepare_exports,
exported with every reference resolved against the mirror, their totals read back by reconcile."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ledgerbridge.connectors.base import TaxRatePart
from ledgerbridge.kinds.base import RecordKind, party_fields
from ledgerbridge.ledger.mirror import Resolver
from ledgerbridge.ledger.models import Document, DocumentStatus, OutboxEntry, OutboxState, Party


def line_tax_rates(line, resolve: Resolver, purchase: bool) -> tuple[TaxRatePart, ...]:
    """The rates of a line's tax code on the document's side, for a line carrying the source's tax amount
    (a connector booking that tax per rate needs them); () otherwise."""
    if line.tax_amount is None or not line.tax_code:
        return ()
    return tuple(TaxRatePart(rate_id, percent) for rate_id, percent in resolve.tax_rate_parts(line.tax_code, purchase))


def _suite_account_type(account_type: str | None) -> str | None:
    """An account type as the documents suite names it (QuickBooks' "Bank"): Xero's mirror says BANK for the
    same thing; any other type is shown as the system has it."""
    return "Bank" if account_type == "BANK" else account_type


def _declared_journal(code: str | None, resolve: Resolver) -> dict:
    """Whether the source declared the document's journal, active (journal_declared None: it declares none)."""
    declared = getattr(resolve, "source_journals", None) or {}
    if not code or not declared:
        return {"journal_declared": None, "journal_inactive": False}
    journal = declared.get(code)
    return {"journal_declared": journal is not None and journal.active,
            "journal_inactive": journal is not None and not journal.active}


# (document, the party's external id or None, resolver) -> the neutral export
ExportBuilder = Callable[[Document, str | None, Resolver], Any]


@dataclass(frozen=True)
class DocumentRecordKind(RecordKind):
    ledger_kind: str = ""  # Document.kind
    build: ExportBuilder | None = None
    tracks_payment: bool = False  # paid / partially paid status read back from the accounting system
    # Without a party role: a vendor or a customer may still be named (a bank entry's); checked when it is.
    optional_party: bool = False
    bank_account: bool = False  # it moves money through a bank account of the chart (Document.bank_account)

    def purchase(self, document: Document) -> bool:
        """Whether the document's tax is on the purchase side: a vendor's document, money going out."""
        if self.optional_party:
            return any(line.posting_type == "debit" for line in document.lines)
        return self.party_role == "vendor"

    def approved(self, entity_id: str):
        """Approved documents of this kind without an outbox row yet (or to be retried), oldest first."""
        queued = select(OutboxEntry.record_id).where(OutboxEntry.entity_id == entity_id,
                                                     OutboxEntry.record_type == self.record_type,
                                                     OutboxEntry.state != OutboxState.RETRY)
        return (select(Document).where(Document.entity_id == entity_id, Document.id.not_in(queued),
                                       Document.kind == self.ledger_kind, Document.status == DocumentStatus.APPROVED)
                .order_by(Document.id)
                .options(selectinload(Document.lines), selectinload(Document.party).selectinload(Party.link)))

    def check(self, document: Document, resolve: Resolver, exchange_rate: Decimal | None = None,
              rate_problem: str | None = None) -> tuple[dict, Callable[[], Any]]:
        """The suite's record of a document (references resolved against the mirror), and its export with the
        exchange rate it goes with (flows/currencies.py; `rate_problem`: why a foreign document has none)."""
        role = self.party_role or (document.party.kind if self.optional_party and document.party is not None
                                   else None)
        party = {**party_fields(document.party, role, f"{self.label} {document.hub_id}"), "party_kind": role} \
            if role else {}
        purchase = self.purchase(document)
        lines = [{
            "line_no": line.line_no, "amount": line.amount, "posting_type": line.posting_type,
            "account_code": line.account_code, "account_resolved": resolve.accounts.get(line.account_code) is not None,
            "item_code": line.item_code, "item_resolved": resolve.items.get(line.item_code) is not None,
            "item_problem": resolve.item_problem(line.item_code),
            "tax_code": line.tax_code, "tax_code_resolved": resolve.tax_codes.get(line.tax_code) is not None,
            "tax_amount": line.tax_amount,
            "tax_rate": resolve.tax_rate(line.tax_code, purchase) if line.tax_amount is not None
            else None,
            "class_code": line.class_code,
            "class_resolved": resolve.classes.get(line.class_code) is not None if line.class_code else None,
            "quantity": line.quantity, "unit_price": line.unit_price,
        } for line in document.lines]
        record = {"hub_id": document.hub_id, "kind": str(document.kind), "doc_number": document.doc_number,
                  "doc_date": document.doc_date, "due_date": document.due_date, "currency": document.currency,
                  "total": document.total, "lines": lines, "journal_code": document.journal_code,
                  "journal_resolved": resolve.journal_codes.get(document.journal_code) is not None,
                  **_declared_journal(document.journal_code, resolve),
                  "exchange_rate": exchange_rate, "rate_problem": rate_problem,
                  "amounts_include_tax": resolve.amounts_include_tax, **self._bank_fields(document, resolve), **party}
        return record, lambda: self._export(document, party.get("party_ref"), resolve, exchange_rate)

    def _bank_fields(self, document: Document, resolve: Resolver) -> dict:
        """The bank account the money moves through, as the suite checks it; {} for kinds without one."""
        if not self.bank_account:
            return {}
        account = resolve.accounts.get(document.bank_account)
        return {"bank_account": document.bank_account, "bank_account_resolved": account is not None,
                "bank_account_type": _suite_account_type(account.account_type) if account is not None else None}

    def _export(self, document: Document, party_ref: str | None, resolve: Resolver, exchange_rate: Decimal | None):
        export = self.build(document, party_ref, resolve)
        return export if exchange_rate is None else replace(export, exchange_rate=exchange_rate)

    @staticmethod
    def snapshot(document: Document) -> dict:
        return {
            "hub_id": document.hub_id, "doc_number": document.doc_number,
            "party": document.party.hub_id if document.party else None,
            "doc_date": document.doc_date.isoformat(), "currency": document.currency, "total": document.total,
            "lines": [{"line_no": line.line_no, "amount": line.amount, "account_code": line.account_code,
                       "item_code": line.item_code, "posting_type": line.posting_type} for line in document.lines],
        }

    def outbox_columns(self, export: Any) -> tuple[str | None, str | None]:
        return export.doc_number, export.party_ref
