"""A vendor's credit (avoir fournisseur): the reverse of a bill, accounts payable, lines by account.

Its paid status is not tracked: what the accounting system holds open on it is credit not yet applied
to a bill, not money owed."""
from ledgerbridge.connectors.base import LineExport, VendorCreditExport
from ledgerbridge.kinds.document import DocumentRecordKind, line_tax_rates
from ledgerbridge.ledger.models import Document, DocumentKind, RecordType
from ledgerbridge.registry import Flow


def _export(credit: Document, vendor_id: str, resolve) -> VendorCreditExport:
    lines = tuple(LineExport(line.amount, resolve.accounts.get(line.account_code).external_id, line.description,
                             resolve.class_id(line.class_code), resolve.tax_code_id(line.tax_code),
                             line.tax_amount if line.tax_code else None, line_tax_rates(line, resolve, purchase=True))
                  for line in credit.lines)
    return VendorCreditExport(credit.hub_id, vendor_id, credit.doc_number, credit.doc_date, credit.currency,
                              credit.total, lines, credit.memo, resolve.amounts_include_tax,
                              resolve.journal_code_id(credit.journal_code),
                              payables_account_id=resolve.collective_account_id("vendor", vendor_id))


KIND = DocumentRecordKind(name="vendor_credit", record_type=RecordType.DOCUMENT, model=Document,
                          dataset="vendor_credits", flow=Flow.VENDOR_CREDITS, party_role="vendor",
                          mirror_kind="vendor_credit", ledger_kind=DocumentKind.VENDOR_CREDIT, build=_export)
