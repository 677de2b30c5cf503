"""A customer invoice: accounts receivable, lines by item."""
from ledgerbridge.connectors.base import InvoiceExport, SalesLineExport
from ledgerbridge.kinds.document import DocumentRecordKind, line_tax_rates
from ledgerbridge.ledger.models import Document, RecordType
from ledgerbridge.registry import Flow


def sales_lines(document: Document, resolve) -> tuple[SalesLineExport, ...]:
    """Lines by item (invoices, credit notes), every code resolved against the mirror."""
    return tuple(SalesLineExport(line.amount, resolve.items.get(line.item_code).external_id, line.quantity,
                                 line.unit_price, line.description, resolve.class_id(line.class_code),
                                 resolve.tax_code_id(line.tax_code), line.tax_amount if line.tax_code else None,
                                 line_tax_rates(line, resolve, purchase=False))
                 for line in document.lines)


def _export(invoice: Document, customer_id: str, resolve) -> InvoiceExport:
    return InvoiceExport(invoice.hub_id, customer_id, invoice.doc_number, invoice.doc_date, invoice.due_date,
                         invoice.currency, invoice.total, sales_lines(invoice, resolve), invoice.memo,
                         resolve.amounts_include_tax, resolve.journal_code_id(invoice.journal_code))


KIND = DocumentRecordKind(name="invoice", record_type=RecordType.DOCUMENT, model=Document, dataset="invoices",
                    flow=Flow.INVOICES, party_role="customer", mirror_kind="invoice", ledger_kind="invoice",
                    build=_export, tracks_payment=True)
