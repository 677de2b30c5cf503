"""A bank entry: money out of or into a bank account (from a bank transaction), lines on the counterpart
accounts; a vendor or a customer where the transaction names one. Its direction is its lines' posting type:
"debit" (the counterparts debited: money out), "credit" (money in)."""
from ledgerbridge.connectors.base import BankEntryExport, LineExport
from ledgerbridge.kinds.document import DocumentRecordKind, line_tax_rates
from ledgerbridge.ledger.models import Document, DocumentKind, RecordType
from ledgerbridge.registry import Flow

OUT, IN = "out", "in"


def direction(entry: Document) -> str:
    return IN if any(line.posting_type == "credit" for line in entry.lines) else OUT


def _export(entry: Document, party_id: str | None, resolve) -> BankEntryExport:
    purchase = direction(entry) == OUT
    lines = tuple(LineExport(line.amount, resolve.accounts.get(line.account_code).external_id, line.description,
                             resolve.class_id(line.class_code), resolve.tax_code_id(line.tax_code),
                             line.tax_amount if line.tax_code else None, line_tax_rates(line, resolve, purchase))
                  for line in entry.lines)
    return BankEntryExport(entry.hub_id, resolve.accounts.get(entry.bank_account).external_id, direction(entry),
                           entry.doc_number, entry.doc_date, entry.currency, entry.total, lines,
                           entry.party.kind if entry.party is not None else None, party_id, entry.memo,
                           resolve.amounts_include_tax, resolve.journal_code_id(entry.journal_code))


KIND = DocumentRecordKind(name="bank_entry", record_type=RecordType.DOCUMENT, model=Document,
                          dataset="bank_entries", flow=Flow.BANK_ENTRIES, optional_party=True, bank_account=True,
                          ledger_kind=DocumentKind.BANK_ENTRY, build=_export)
