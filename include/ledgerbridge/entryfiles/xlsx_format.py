"""Entry files as XLSX: one sheet, a bold header, amounts as numbers, dates as real dates."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook, load_workbook
from openpyxl.cell import Cell
from openpyxl.styles import Font

from .entries import CENT, COLUMNS, EntryRow
from .validation import MAX_PROBLEMS, LayoutChecks, ValidationReport

AMOUNT_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
COLUMN_WIDTHS = {"label": 40, "attachment_name": 30, "date": 12, "currency": 9}


def _amount_cell(cell: Cell, amount: Decimal) -> None:
    cell.value = amount  # makes it a numeric cell
    # openpyxl writes a Decimal as "%.16g" of a float, so 746.07 would land as 746.0700000000001:
    # hand its writer the exact decimal text instead (tests/entryfiles checks the sheet's XML).
    cell._value = f"{amount.quantize(CENT):f}"
    cell.number_format = AMOUNT_FORMAT


def _text_cell(cell: Cell, text: str) -> None:
    cell.value = text
    cell.data_type = "s"  # a label starting with '=' stays text, never becomes a formula


def _fill(cell: Cell, value: object) -> None:
    if isinstance(value, Decimal):
        _amount_cell(cell, value)
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = DATE_FORMAT
    elif value:
        _text_cell(cell, str(value))


def render_xlsx(rows: Iterable[EntryRow], sheet_title: str = "entries") -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row_number, row in enumerate(rows, start=2):
        for column, value in enumerate(row.values(), start=1):
            _fill(sheet.cell(row=row_number, column=column), value)
    _layout(sheet)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def _layout(sheet) -> None:
    sheet.freeze_panes = "A2"  # the header stays in view while scrolling
    for column, name in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=column).column_letter].width = \
            COLUMN_WIDTHS.get(name, 16)


def validate_xlsx(data: bytes, *, max_problems: int = MAX_PROBLEMS) -> ValidationReport:
    """Read an XLSX entry file back (row by row, read-only): header, real dates, one positive amount
    in whole cents per row, entries balanced."""
    report = ValidationReport(max_problems=max_problems)
    checks = LayoutChecks(report)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        report.add(None, None, f"is not an XLSX workbook ({exc})")
        checks.finish()
        return report
    try:
        if "entries" not in workbook.sheetnames:
            report.add(None, None, f"has no sheet 'entries' (sheets: {', '.join(workbook.sheetnames)}); "
                                   "reading the first one")
        sheet = workbook["entries"] if "entries" in workbook.sheetnames else workbook.worksheets[0]
        _check_sheet(report, checks, sheet.iter_rows(values_only=True))
    finally:
        workbook.close()
    checks.finish()
    return report


def _check_sheet(report: ValidationReport, checks: LayoutChecks, rows) -> None:
    header = next(rows, None)
    if header is None or tuple(header[:len(COLUMNS)]) != COLUMNS:
        report.add(1, None, f"the header row must be {', '.join(COLUMNS)}")
    for line, cells in enumerate(rows, start=2):
        cells = tuple(cells) + (None,) * (len(COLUMNS) - len(cells))
        if all(cell is None for cell in cells):
            continue  # a formatted but empty row
        if any(cell is not None for cell in cells[len(COLUMNS):]):
            report.add(line, None, f"has values beyond the {len(COLUMNS)} columns")
        journal, day, account, _subsidiary, _label, debit, credit, reference, _attachments, foreign, currency = \
            cells[:len(COLUMNS)]
        if isinstance(day, datetime):
            day = day.date()
        elif not isinstance(day, date):
            report.add(line, "date", f"{day!r} is not a date cell")
            day = None
        checks.row(line, _text(journal), day, _text(account), _xlsx_amount(report, line, "debit", debit),
                   _xlsx_amount(report, line, "credit", credit), _text(reference))
        checks.foreign(line, foreign not in (None, ""), _xlsx_amount(report, line, "foreign_amount", foreign),
                       _text(currency))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _xlsx_amount(report: ValidationReport, line: int, column: str, value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        report.add(line, column, f"{value!r} is not a number cell")
        return None
    # openpyxl hands number cells over as floats; below 10**13 with two decimals (15 significant
    # digits) the shortest repr of that float is exactly the decimal text the sheet holds.
    amount = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    if not amount.is_finite() or abs(amount) >= Decimal("1e13") or amount != amount.quantize(CENT):
        report.add(line, column, f"{amount} is not an amount in whole cents below 10^13")
        return None
    return amount
