"""A sales receipt: a sale paid on the spot (an ERP's cash sale), lines by item as on an invoice.

Nothing is left to pay on it, so its paid status is not tracked: it is paid when it exists."""
from ledgerbridge.connectors.base import SalesReceiptExport
from ledgerbridge.kinds.document import DocumentRecordKind
from ledgerbridge.kinds.invoice import sales_lines
from ledgerbridge.ledger.models import Document, DocumentKind, RecordType
from ledgerbridge.registry import Flow


def _export(receipt: Document, customer_id: str, resolve) -> SalesReceiptExport:
    return SalesReceiptExport(receipt.hub_id, customer_id, receipt.doc_number, receipt.doc_date, receipt.currency,
                              receipt.total, sales_lines(receipt, resolve), receipt.memo,
                              resolve.amounts_include_tax,
                              journal_code_id=resolve.journal_code_id(receipt.journal_code),
                              exchange_rate=receipt.exchange_rate)


KIND = DocumentRecordKind(name="sales_receipt", record_type=RecordType.DOCUMENT, model=Document,
                          dataset="sales_receipts", flow=Flow.SALES_RECEIPTS, party_role="customer",
                          mirror_kind="sales_receipt", ledger_kind=DocumentKind.SALES_RECEIPT, build=_export)
