"""XLSX entry files read back with openpyxl: one sheet, bold header, exact amounts, real dates."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

from entry_samples import sample_rows
from ledgerbridge.entryfiles import (
    COLUMNS,
    Entry,
    EntryLine,
    EntryRow,
    Side,
    entry_rows,
    render_xlsx,
)
from openpyxl import load_workbook


def _sheet(data: bytes):
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["entries"]
    return workbook.active


def _amount(value) -> Decimal | None:
    # openpyxl reads numbers as floats; their shortest repr is the decimal text the sheet holds.
    return None if value is None else Decimal(repr(value))


def _row(cells) -> EntryRow:
    journal, day, account, subsidiary, label, debit, credit, reference, attachments, foreign, currency = \
        (c.value for c in cells)
    assert isinstance(day, datetime), "dates are real dates, not text"
    return EntryRow(journal, day.date(), account, subsidiary or "", label, _amount(debit), _amount(credit),
                    reference, attachments or "", _amount(foreign), currency or "")


def test_xlsx_round_trip_gives_back_the_exact_rows():
    rows = sample_rows()
    sheet = _sheet(render_xlsx(rows))
    header, *body = sheet.iter_rows()
    assert tuple(cell.value for cell in header) == COLUMNS
    assert all(cell.font.bold for cell in header)
    assert [_row(cells) for cells in body] == rows


def test_amounts_are_numbers_with_two_decimals_and_dates_have_a_date_format():
    sheet = _sheet(render_xlsx(sample_rows()))
    debit, credit, day = sheet["F3"], sheet["G2"], sheet["B2"]
    assert (debit.data_type, debit.number_format, debit.value) == ("n", "0.00", 746.07)
    assert (credit.data_type, credit.number_format) == ("n", "0.00")
    assert (day.is_date, day.number_format, day.value.date()) == (True, "yyyy-mm-dd", date(2025, 3, 31))


def test_the_sheet_holds_the_exact_decimal_text_not_a_float_rendering():
    with zipfile.ZipFile(io.BytesIO(render_xlsx(sample_rows()))) as package:
        xml = package.read("xl/worksheets/sheet1.xml").decode("utf-8")
    for text in ("746.07", "0.10", "9999999999.99", "10000000746.16", "75632761.01"):
        assert f"<v>{text}</v>" in xml
    assert "746.0700000000001" not in xml and "75632761.01000001" not in xml


def test_unicode_labels_and_attachment_names_survive():
    sheet = _sheet(render_xlsx(sample_rows()))
    assert sheet["E2"].value == "Søren & Müller, Grüße F-2025-0042"
    assert sheet["E3"].value == "Café; «crème» et thé, \"spécial\""
    assert sheet["I2"].value == "facture-été.pdf | reçu ø.png"


def test_a_label_that_looks_like_a_formula_stays_text():
    entry = Entry("bill B-1", "PUR", date(2025, 1, 2), "=HYPERLINK(\"x\")",
                  (EntryLine("601", Side.DEBIT, Decimal(1), "=1+1"), EntryLine("401", Side.CREDIT, Decimal(1))))
    sheet = _sheet(render_xlsx(entry_rows(entry)))
    assert (sheet["E2"].data_type, sheet["E2"].value) == ("s", "=1+1")
    assert sheet["H2"].value == "=HYPERLINK(\"x\")"
