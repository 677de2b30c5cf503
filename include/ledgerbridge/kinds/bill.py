"""A vendor's bill: accounts payable."""
from ledgerbridge.connectors.base import BillExport, LineExport
from ledgerbridge.kinds.document import DocumentRecordKind, line_tax_rates
from ledgerbridge.ledger.models import Document, RecordType
from ledgerbridge.registry import Flow


def _export(bill: Document, vendor_id: str, resolve) -> BillExport:
    lines = tuple(LineExport(line.amount, resolve.accounts.get(line.account_code).external_id, line.description,
                             resolve.class_id(line.class_code), resolve.tax_code_id(line.tax_code),
                             line.tax_amount if line.tax_code else None, line_tax_rates(line, resolve, purchase=True))
                  for line in bill.lines)
    return BillExport(bill.hub_id, vendor_id, bill.doc_number, bill.doc_date, bill.due_date, bill.currency,
                      bill.total, lines, bill.memo, resolve.amounts_include_tax,
                      resolve.journal_code_id(bill.journal_code),
                      payables_account_id=resolve.collective_account_id("vendor", vendor_id))


KIND = DocumentRecordKind(name="bill", record_type=RecordType.DOCUMENT, model=Document, dataset="bills", flow=Flow.BILLS,
                    party_role="vendor", mirror_kind="bill", ledger_kind="bill", build=_export, tracks_payment=True)
