"""Entry files: bills and journal entries as CSV or XLSX rows, for accounting software with no connector.

docs/entry-files.md documents the column layout and the conventions. Plain Python (no Airflow):
convert ledger documents to `Entry`s, turn them into checked `EntryRow`s, render and write them.
"""
from .convert import (
    Converted,
    EntryConfig,
    attachment_names_by_document,
    bill_entry,
    convert_documents,
    default_party_code,
    document_entry,
    journal_entry_entry,
)
from .csv_format import PLAIN_CSV, CsvFormat, format_amount, render_csv
from .entries import (
    ATTACHMENT_SEPARATOR,
    COLUMNS,
    Entry,
    EntryError,
    EntryLine,
    EntryRow,
    Side,
    UnbalancedEntry,
    entry_rows,
    rows_for,
)
from .writer import ENTRY_KINDS, FILE_FORMATS, entry_file_name, render, write_entry_file
from .xlsx_format import render_xlsx

__all__ = [
    "ATTACHMENT_SEPARATOR",
    "COLUMNS",
    "ENTRY_KINDS",
    "FILE_FORMATS",
    "PLAIN_CSV",
    "Converted",
    "CsvFormat",
    "Entry",
    "EntryConfig",
    "EntryError",
    "EntryLine",
    "EntryRow",
    "Side",
    "UnbalancedEntry",
    "attachment_names_by_document",
    "bill_entry",
    "convert_documents",
    "default_party_code",
    "document_entry",
    "entry_file_name",
    "entry_rows",
    "format_amount",
    "journal_entry_entry",
    "render",
    "render_csv",
    "render_xlsx",
    "rows_for",
    "write_entry_file",
]
