"""An expense report (note de frais): what a payee spent for the company, one line per expense (account,
amount, tax, day). Paid by the company from its bank account where the report names one; otherwise owed to
the payee, as a bill is. The payee is a vendor of the hub (an employee is entered as one: QuickBooks pays a
bill to vendors only)."""
from ledgerbridge.connectors.base import ExpenseReportExport, LineExport
from ledgerbridge.kinds.document import DocumentRecordKind, line_tax_rates
from ledgerbridge.ledger.models import Document, DocumentKind, RecordType
from ledgerbridge.registry import Flow


def _export(report: Document, payee_id: str, resolve) -> ExpenseReportExport:
    lines = tuple(LineExport(line.amount, resolve.accounts.get(line.account_code).external_id, line.description,
                             resolve.class_id(line.class_code), resolve.tax_code_id(line.tax_code),
                             line.tax_amount if line.tax_code else None, line_tax_rates(line, resolve, purchase=True))
                  for line in report.lines)
    bank = resolve.accounts.get(report.bank_account).external_id if report.bank_account else None
    return ExpenseReportExport(report.hub_id, payee_id, report.doc_number, report.doc_date, report.currency,
                               report.total, lines, bank, report.memo, resolve.amounts_include_tax,
                               resolve.journal_code_id(report.journal_code))


KIND = DocumentRecordKind(name="expense_report", record_type=RecordType.DOCUMENT, model=Document,
                          dataset="expense_reports", flow=Flow.EXPENSE_REPORTS, party_role="vendor",
                          bank_account=True, ledger_kind=DocumentKind.EXPENSE_REPORT, build=_export)
