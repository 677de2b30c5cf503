"""Read-back of the generic CSV and XLSX files, and the one seam: render_entries / validate for every format."""
from __future__ import annotations

import io
import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from entry_samples import ENTITY, sample_rows
from fec_samples import accrual, purchase
from ledgerbridge.entryfiles import (
    FILE_FORMATS,
    CsvFormat,
    EntryError,
    fec_file_name,
    render,
    render_csv,
    render_entries,
    render_xlsx,
    rows_for,
    validate,
    validate_csv,
    validate_xlsx,
    write_entry_file,
)
from ledgerbridge.entryfiles.writer import check_entry
from openpyxl import load_workbook

MOMENT = datetime(2025, 4, 1, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize("fmt", [CsvFormat(), CsvFormat(delimiter=";"), CsvFormat.french(),
                                 CsvFormat(byte_order_mark=True)], ids=["comma", "semicolon", "french", "bom"])
def test_a_written_csv_reads_back_ok(fmt):
    report = validate_csv(render_csv(sample_rows(), fmt), fmt)
    assert report.ok, report.problems
    assert (report.entries, report.lines) == (2, 6)
    assert report.total_debit == report.total_credit


CSV_HEADER = ("journal_code,date,account,subsidiary_account,label,debit,credit,document_reference,attachment_name,"
              "foreign_amount,currency")
DEBIT = "PUR,2025-03-31,601000,,Achat,10.00,,F-1,,,"
CREDIT = "PUR,2025-03-31,401000,V-7,Achat,,10.00,F-1,,,"


@pytest.mark.parametrize(("lines", "problem"), [
    ([DEBIT, CREDIT.replace("10.00", "9.00")],
     "line 2, debit/credit: entry 'F-1' of journal 'PUR' dated 2025-03-31 (from this line) does not balance"),
    ([DEBIT.replace("10.00", "10.001"), CREDIT], "line 2, debit: '10.001' is not an amount with exactly two"),
    ([DEBIT.replace("10.00", "10"), CREDIT], "line 2, debit: '10' is not an amount with exactly two decimals"),
    ([DEBIT.replace(",10.00,,", ",10.00,10.00,"), CREDIT], "line 2, debit/credit: a row has exactly one amount"),
    ([DEBIT.replace(",10.00,,", ",,,"), CREDIT], "line 2, debit/credit: a row has exactly one amount"),
    ([DEBIT.replace("10.00", "-10.00"), CREDIT], "line 2, debit: -10.00 must be positive"),
    ([DEBIT.replace("2025-03-31", "31/03/2025"), CREDIT], "line 2, date: '31/03/2025' is not a date as %Y-%m-%d"),
    ([DEBIT + ",extra", CREDIT], "line 2: has 12 columns instead of 11"),
    ([DEBIT.replace("601000", ""), CREDIT], "line 2, account: is empty"),
])
def test_csv_problems_name_the_line_and_the_column(lines, problem):
    data = "\r\n".join([CSV_HEADER, *lines, ""]).encode()
    report = validate_csv(data)
    assert any(found.startswith(problem) for found in report.problems), report.problems


def test_csv_header_encoding_and_entries_that_follow_each_other():
    assert validate_csv(b"a,b\r\n").problems[0].startswith("line 1: the header must be journal_code,date,")
    assert validate_csv(b"").problems == ["the file is empty; it starts with the header row"]
    latin = ("\r\n".join([CSV_HEADER, DEBIT.replace("Achat", "Café"), CREDIT, ""])).encode("latin-1")
    assert validate_csv(latin).problems[0].startswith("is not UTF-8")
    other = [DEBIT.replace("F-1", "F-2"), CREDIT.replace("F-1", "F-2")]
    again = "\r\n".join([CSV_HEADER, DEBIT, CREDIT, *other, DEBIT, CREDIT, ""]).encode()
    assert validate_csv(again).entries == 3, "the same reference again after another entry is a new entry"


def test_a_written_xlsx_reads_back_ok_and_an_edited_one_is_named():
    data = render_xlsx(sample_rows())
    report = validate_xlsx(data)
    assert report.ok, report.problems
    assert (report.entries, report.lines) == (2, 6)
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.active
    sheet["F3"] = 746.075  # a debit off by half a cent
    sheet["B5"] = "2025-03-31"  # a date typed as text
    sheet["G6"] = 1  # a credit beside the debit of the row
    edited = io.BytesIO()
    workbook.save(edited)
    problems = validate_xlsx(edited.getvalue()).problems
    assert "line 3, debit: 746.075 is not an amount in whole cents below 10^13" in problems
    assert "line 5, date: '2025-03-31' is not a date cell" in problems
    assert "line 6, debit/credit: a row has exactly one amount, in debit or in credit" in problems
    assert validate_xlsx(b"not a workbook").problems[0].startswith("is not an XLSX workbook")


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_every_format_renders_from_entries_and_validates_through_the_one_seam(file_format):
    data = render_entries([purchase(), accrual()], file_format)
    report = validate(data, file_format)
    assert report.ok, report.problems
    assert (report.entries, report.lines) == (2, 5)
    assert render(iter([purchase(), accrual()]), file_format) == data


def test_the_seam_passes_options_and_refuses_what_a_format_cannot_take():
    french = CsvFormat.french()
    data = render_entries([purchase()], "csv", csv_format=french)
    assert data == render_csv(rows_for([purchase()]), french)
    assert validate(data, "csv", csv_format=french).ok
    assert b"|" in render_entries([purchase()], "fec", separator="|").split(b"\r\n")[0]
    assert validate(render_entries([purchase()], "fec"), "fec", closing_date=date(2024, 12, 31)).problems
    with pytest.raises(ValueError, match="file format 'qif' must be one of"):
        render_entries([purchase()], "qif")
    with pytest.raises(ValueError, match="file format 'qif' must be one of"):
        validate(b"", "qif")
    with pytest.raises(TypeError):
        render_entries([purchase()], "iif", separator="|")
    with pytest.raises(ValueError, match="the fec format is written from entries, not rows"):
        render(sample_rows(), "fec")


def test_write_entry_file_writes_any_format_under_its_extension_or_the_name_given(tmp_path):
    path = write_entry_file(tmp_path, ENTITY, "bills", [purchase()], file_format="iif", now=MOMENT)
    assert path == "acme_fr-bills-20250401T093015.123Z.iif"
    path = write_entry_file(tmp_path, ENTITY, "bills", [purchase()], file_format="sage50", now=MOMENT)
    assert path == "acme_fr-bills-20250401T093015.123Z.csv"
    fec_name = fec_file_name("732829320", date(2025, 12, 31))
    path = write_entry_file(tmp_path, ENTITY, "journal_entries", [purchase(), accrual()], file_format="fec",
                            file_name=fec_name, separator="|")
    assert path == "732829320FEC20251231.txt"
    assert validate((tmp_path / path).read_bytes(), "fec").ok
    assert sorted(os.listdir(tmp_path)) == sorted([fec_name, "acme_fr-bills-20250401T093015.123Z.iif",
                                                   "acme_fr-bills-20250401T093015.123Z.csv"])
    with pytest.raises(ValueError, match="must be a plain name"):
        write_entry_file(tmp_path, ENTITY, "bills", [purchase()], file_format="fec", file_name="../x.txt")


def test_the_generic_layout_carries_a_foreign_entry_s_amount_and_currency_on_every_row():
    entry = purchase(currency="USD", foreign="800.10")
    rows = rows_for([entry])
    assert {(row.foreign_amount, row.currency) for row in rows} == {(Decimal("800.10"), "USD")}
    text = render_entries([entry], "csv").decode()
    assert text.splitlines()[1].endswith(",800.10,USD")
    for file_format in ("csv", "xlsx"):
        report = validate(render_entries([entry, accrual()], file_format), file_format)
        assert report.ok, (file_format, report.problems)


@pytest.mark.parametrize(("line", "problem"), [
    (DEBIT[:-1] + ",USD", "line 2, foreign_amount: is empty while currency is 'USD'; give both or neither"),
    (DEBIT[:-1] + "12.00,", "line 2, currency: is empty while foreign_amount is set; give both or neither"),
    (DEBIT[:-1] + "12.00,usd", "line 2, currency: 'usd' is not a 3-letter ISO currency code"),
    (DEBIT[:-1] + "12.0,USD", "line 2, foreign_amount: '12.0' is not an amount with exactly two decimals"),
    (DEBIT[:-1] + "-12.00,USD", "line 2, foreign_amount: -12.00 must be positive"),
])
def test_foreign_amount_and_currency_are_both_or_neither_and_well_formed(line, problem):
    report = validate_csv("\r\n".join([CSV_HEADER, line, CREDIT, ""]).encode())
    assert any(found.startswith(problem) for found in report.problems), report.problems


@pytest.mark.parametrize(("file_format", "said"), [("iif", "the iif layout carries no currency"),
                                                   ("sage50", "Sage 50 journals (JD/JC) are in base currency only")])
def test_the_desktop_layouts_refuse_a_foreign_entry_with_the_reason(file_format, said):
    with pytest.raises(EntryError, match=rf"bill 7: is in USD: {re.escape(said)}"):
        render_entries([purchase(currency="USD", foreign="800.10")], file_format)
    with pytest.raises(EntryError, match=rf"bill 7: is in USD: {re.escape(said)}"):
        check_entry(purchase(currency="USD", foreign="800.10"), file_format)
    check_entry(purchase(), file_format)  # home currency: fine
