"""CSV entry files read back with the csv module give the exact rows: Decimals, dates, unicode."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from entry_samples import sample_rows
from ledgerbridge.entryfiles import (
    COLUMNS,
    CsvFormat,
    EntryRow,
    format_amount,
    render_csv,
)


def _read(data: bytes, fmt: CsvFormat) -> list[list[str]]:
    text = data.decode("utf-8-sig" if fmt.byte_order_mark else "utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter))


def _amount(text: str, fmt: CsvFormat) -> Decimal | None:
    return Decimal(text.replace(fmt.decimal_point, ".")) if text else None


def _row(cells: list[str], fmt: CsvFormat) -> EntryRow:
    journal, day, account, subsidiary, label, debit, credit, reference, attachments, foreign, currency = cells
    return EntryRow(journal, datetime.strptime(day, fmt.date_format).date(), account, subsidiary, label,
                    _amount(debit, fmt), _amount(credit, fmt), reference, attachments, _amount(foreign, fmt), currency)


@pytest.mark.parametrize("fmt", [CsvFormat(), CsvFormat(delimiter=";"), CsvFormat.french(),
                                 CsvFormat(byte_order_mark=True)], ids=["comma", "semicolon", "french", "bom"])
def test_csv_round_trip_gives_back_the_exact_rows(fmt):
    rows = sample_rows()
    header, *body = _read(render_csv(rows, fmt), fmt)
    assert tuple(header) == COLUMNS
    assert [_row(cells, fmt) for cells in body] == rows


def test_amounts_are_text_with_two_decimals_and_the_unused_side_is_empty():
    body = _read(render_csv(sample_rows()), CsvFormat())[1:]
    assert [(cells[5], cells[6]) for cells in body] == [
        ("", "10000000746.16"), ("746.07", ""), ("0.10", ""), ("9999999999.99", ""),
        ("75632761.01", ""), ("", "75632761.01")]


def test_the_french_format_uses_a_decimal_comma_semicolons_and_day_first_dates():
    data = render_csv(sample_rows(), CsvFormat.french())
    second_line = data.decode("utf-8").split("\r\n")[2]
    assert second_line.startswith("PUR;31/03/2025;601000;;")
    assert ";746,07;;F-2025-0042;" in second_line
    assert format_amount(Decimal("1234.5"), ",") == "1234,50"


def test_unicode_labels_are_utf8_and_text_with_delimiters_is_quoted():
    data = render_csv(sample_rows(), CsvFormat(delimiter=";"))
    assert not data.startswith(b"\xef\xbb\xbf"), "no byte order mark unless asked"
    text = data.decode("utf-8")
    assert '"Café; «crème» et thé, ""spécial"""' in text
    assert "Søren & Müller, Grüße F-2025-0042" in text
    assert "facture-été.pdf | reçu ø.png" in text
    assert render_csv(sample_rows(), CsvFormat(byte_order_mark=True)).startswith(b"\xef\xbb\xbf")


def test_every_row_of_an_entry_names_its_attachments():
    body = _read(render_csv(sample_rows()), CsvFormat())[1:]
    assert [cells[8] for cells in body] == ["facture-été.pdf | reçu ø.png"] * 4 + ["", ""]


@pytest.mark.parametrize(("options", "problem"), [
    ({"delimiter": "\t"}, "delimiter"), ({"decimal_point": "'"}, "decimal point"),
    ({"decimal_point": ","}, "a decimal comma needs the ';' delimiter"),
])
def test_unsupported_csv_options_are_refused(options, problem):
    with pytest.raises(ValueError, match=problem):
        CsvFormat(**options)
