"""Entry files as XLSX: one sheet, a bold header, amounts as numbers, dates as real dates."""
from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.styles import Font

from .entries import CENT, COLUMNS, EntryRow

AMOUNT_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"
COLUMN_WIDTHS = {"label": 40, "attachment_name": 30, "date": 12}


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
