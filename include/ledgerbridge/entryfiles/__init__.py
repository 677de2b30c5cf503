"""Entry files: documents of every kind as files accounting software imports, for software with no connector.

docs/entry-files.md documents the layouts and the conventions. Plain Python (no Airflow): convert
ledger documents to `Entry`s, render them (`render_entries`: generic CSV or XLSX, the French FEC,
QuickBooks Desktop IIF, Sage 50 journals), write them, and read a file back (`validate`).
"""
from .convert import (
    Converted,
    EntryConfig,
    TaxCode,
    attachment_names_by_document,
    convert_documents,
    default_party_code,
    document_entry,
)
from .csv_format import PLAIN_CSV, CsvFormat, format_amount, render_csv, validate_csv
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
from .fec import FEC_COLUMNS, FecReport, fec_file_name, render_fec, validate_fec
from .iif import render_iif, validate_iif
from .sage50 import SAGE50_COLUMNS, render_sage50, validate_sage50
from .validation import ValidationReport
from .writer import (
    ENTRY_KINDS,
    FILE_EXTENSIONS,
    FILE_FORMATS,
    entry_file_name,
    render,
    render_entries,
    validate,
    write_entry_file,
)
from .xlsx_format import render_xlsx, validate_xlsx

__all__ = [
    "ATTACHMENT_SEPARATOR",
    "COLUMNS",
    "ENTRY_KINDS",
    "FEC_COLUMNS",
    "FILE_EXTENSIONS",
    "FILE_FORMATS",
    "PLAIN_CSV",
    "SAGE50_COLUMNS",
    "Converted",
    "CsvFormat",
    "Entry",
    "EntryConfig",
    "TaxCode",
    "EntryError",
    "EntryLine",
    "EntryRow",
    "FecReport",
    "Side",
    "UnbalancedEntry",
    "ValidationReport",
    "attachment_names_by_document",
    "convert_documents",
    "default_party_code",
    "document_entry",
    "entry_file_name",
    "entry_rows",
    "fec_file_name",
    "format_amount",
    "render",
    "render_csv",
    "render_entries",
    "render_fec",
    "render_iif",
    "render_sage50",
    "render_xlsx",
    "rows_for",
    "validate",
    "validate_csv",
    "validate_fec",
    "validate_iif",
    "validate_sage50",
    "validate_xlsx",
    "write_entry_file",
]
