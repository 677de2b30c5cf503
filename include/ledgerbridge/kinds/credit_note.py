"""A customer credit note: accounts receivable, what the customer is credited, lines by item like an invoice.

Its paid status is not tracked: what the accounting system holds open on it is credit not yet
applied, not money owed, so there is no paid / partially paid to write back."""
from ledgerbridge.connectors.base import CreditNoteExport
from ledgerbridge.kinds.document import DocumentRecordKind
from ledgerbridge.kinds.invoice import sales_lines
from ledgerbridge.ledger.models import Document, DocumentKind, RecordType
from ledgerbridge.registry import Flow


def _export(credit_note: Document, customer_id: str, resolve) -> CreditNoteExport:
    return CreditNoteExport(credit_note.hub_id, customer_id, credit_note.doc_number, credit_note.doc_date,
                            credit_note.currency, credit_note.total, sales_lines(credit_note, resolve),
                            credit_note.memo, resolve.amounts_include_tax,
                            resolve.journal_code_id(credit_note.journal_code),
                            exchange_rate=credit_note.exchange_rate)


KIND = DocumentRecordKind(name="credit_note", record_type=RecordType.DOCUMENT, model=Document, dataset="credit_notes",
                          flow=Flow.CREDIT_NOTES, party_role="customer", mirror_kind="credit_note",
                          ledger_kind=DocumentKind.CREDIT_NOTE, build=_export)
