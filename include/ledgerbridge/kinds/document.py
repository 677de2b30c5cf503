"""Documents (bills, invoices, journal entries): checked by the `documents` suite in prepare_exports,
exported with every reference resolved against the mirror, their totals read back by reconcile."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ledgerbridge.kinds.base import RecordKind, party_fields
from ledgerbridge.ledger.mirror import Resolver
from ledgerbridge.ledger.models import Document, DocumentStatus, OutboxEntry, OutboxState, Party

# (document, the party's external id or None, resolver) -> the neutral export
ExportBuilder = Callable[[Document, str | None, Resolver], Any]


@dataclass(frozen=True)
class DocumentRecordKind(RecordKind):
    ledger_kind: str = ""  # Document.kind
    build: ExportBuilder | None = None
    tracks_payment: bool = False  # paid / partially paid status read back from the accounting system

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
        party = party_fields(document.party, self.party_role, f"{self.label} {document.hub_id}") \
            if self.party_role else {}
        lines = [{
            "line_no": line.line_no, "amount": line.amount, "posting_type": line.posting_type,
            "account_code": line.account_code, "account_resolved": resolve.accounts.get(line.account_code) is not None,
            "item_code": line.item_code, "item_resolved": resolve.items.get(line.item_code) is not None,
            "item_problem": resolve.item_problem(line.item_code),
            "tax_code": line.tax_code, "tax_code_resolved": resolve.tax_codes.get(line.tax_code) is not None,
            "tax_amount": line.tax_amount,
            "tax_rate": resolve.tax_rate(line.tax_code, self.party_role == "vendor") if line.tax_amount is not None
            else None,
            "class_code": line.class_code,
            "class_resolved": resolve.classes.get(line.class_code) is not None if line.class_code else None,
            "quantity": line.quantity, "unit_price": line.unit_price,
        } for line in document.lines]
        record = {"hub_id": document.hub_id, "kind": str(document.kind), "doc_number": document.doc_number,
                  "doc_date": document.doc_date, "due_date": document.due_date, "currency": document.currency,
                  "total": document.total, "lines": lines, "journal_code": document.journal_code,
                  "journal_resolved": resolve.journal_codes.get(document.journal_code) is not None,
                  "exchange_rate": exchange_rate, "rate_problem": rate_problem,
                  "amounts_include_tax": resolve.amounts_include_tax, **party}
        return record, lambda: self._export(document, party.get("party_ref"), resolve, exchange_rate)

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
