"""A journal entry: debit and credit lines on accounts, no party."""
from ledgerbridge.connectors.base import JournalEntryExport, JournalLineExport
from ledgerbridge.kinds.document import DocumentRecordKind
from ledgerbridge.ledger.models import Document, RecordType
from ledgerbridge.registry import Flow


def _export(entry: Document, _: None, resolve) -> JournalEntryExport:
    lines = tuple(JournalLineExport(line.posting_type.capitalize(), line.amount,
                                    resolve.accounts.get(line.account_code).external_id, line.description,
                                    resolve.class_id(line.class_code)) for line in entry.lines)
    return JournalEntryExport(entry.hub_id, entry.doc_number, entry.doc_date, entry.currency, lines, entry.memo,
                              resolve.journal_code_id(entry.journal_code), exchange_rate=entry.exchange_rate)


KIND = DocumentRecordKind(name="journal_entry", record_type=RecordType.DOCUMENT, model=Document, dataset="journal_entries",
                    flow=Flow.JOURNAL_ENTRIES, mirror_kind="journal_entry", ledger_kind="journal_entry",
                    build=_export)
