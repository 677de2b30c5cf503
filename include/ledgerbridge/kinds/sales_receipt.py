"""A sales receipt: a sale paid on the spot (an ERP's cash sale), lines by item as on an invoice.

Nothing is left to pay on it, so its paid status is not tracked: it is paid when it exists."""
from ledgerbridge.connectors.base import SalesReceiptExport
from ledgerbridge.kinds.base import Waiting
from ledgerbridge.kinds.document import DocumentRecordKind
from ledgerbridge.kinds.invoice import sales_lines
from ledgerbridge.ledger.models import Document, DocumentKind, RecordType
from ledgerbridge.registry import Flow


def _deposit_account_id(receipt: Document, resolve) -> str | None:
    """The deposit account's id in the accounting system (the feed's `deposit_account`, kept as
    Document.bank_account); None when the receipt names none."""
    if not receipt.bank_account:
        return None
    account = resolve.accounts.get(receipt.bank_account)
    if account is None:  # the documents suite checks a bank entry's account, not this one: say so here
        raise Waiting(f"its deposit_account {receipt.bank_account!r} is no account of the accounting system's "
                      "chart as last read: it waits until the chart has it (or the feed names another)")
    return account.external_id


def _export(receipt: Document, customer_id: str, resolve) -> SalesReceiptExport:
    return SalesReceiptExport(receipt.hub_id, customer_id, receipt.doc_number, receipt.doc_date, receipt.currency,
                              receipt.total, sales_lines(receipt, resolve), receipt.memo,
                              resolve.amounts_include_tax,
                              deposit_account_id=_deposit_account_id(receipt, resolve),
                              journal_code_id=resolve.journal_code_id(receipt.journal_code))


KIND = DocumentRecordKind(name="sales_receipt", record_type=RecordType.DOCUMENT, model=Document,
                          dataset="sales_receipts", flow=Flow.SALES_RECEIPTS, party_role="customer",
                          mirror_kind="sales_receipt", ledger_kind=DocumentKind.SALES_RECEIPT, build=_export)
