"""Sage 50 journals: written, read back with the csv module and by validate_sage50; bad inputs named."""
from __future__ import annotations

import csv
import dataclasses
import io
from decimal import Decimal

import pytest
from fec_samples import accrual, purchase
from ledgerbridge.entryfiles import SAGE50_COLUMNS, EntryError, Side, render_sage50, validate_sage50


def _rows(data: bytes) -> list[dict[str, str]]:
    text = data.decode("cp1252")
    assert text.endswith("\r\n")
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert tuple(header) == SAGE50_COLUMNS
    return [dict(zip(SAGE50_COLUMNS, row, strict=True)) for row in rows]


def test_each_entry_line_is_a_journal_debit_or_credit_row():
    entries = [purchase(), accrual()]
    rows = _rows(render_sage50(entries))
    expected = [(entry, line) for entry in entries for line in entry.lines]
    for row, (entry, line) in zip(rows, expected, strict=True):
        assert row["Type"] == ("JD" if line.side == Side.DEBIT else "JC")
        assert (row["Account Reference"], row["Nominal A/C Ref"], row["Department Code"]) == ("", line.account, "0")
        assert row["Date"] == entry.entry_date.strftime("%d/%m/%Y")
        assert (row["Reference"], row["Details"]) == (entry.reference, line.label)
        assert Decimal(row["Net Amount"]) == line.amount and "." in row["Net Amount"]
        assert (row["Tax Code"], row["Tax Amount"]) == ("T9", "0.00")
        assert row["Extra Reference"] == line.subsidiary_account
    report = validate_sage50(render_sage50(entries))
    assert report.ok, report.problems
    assert (report.entries, report.lines) == (2, 5)


def _with_line(entry, number: int, **changes):
    lines = list(entry.lines)
    lines[number - 1] = dataclasses.replace(lines[number - 1], **changes)
    return dataclasses.replace(entry, lines=tuple(lines))


def test_details_are_cut_to_60_characters_and_longer_codes_are_refused():
    rows = _rows(render_sage50([_with_line(purchase(), 2, label="x" * 70)]))
    assert rows[1]["Details"] == "x" * 60
    with pytest.raises(EntryError, match=r"bill 7: line 2 Nominal A/C Ref '601000001' is longer than the 8"):
        render_sage50([_with_line(purchase(), 2, account="601000001")])
    with pytest.raises(EntryError, match=r"bill 7: line 1 Reference '.*' is longer than the 30"):
        render_sage50([purchase(reference="F" * 31)])
    with pytest.raises(EntryError, match=r"bill 7: line 1 Net Amount 100000000.00 has more than the 8 digits"):
        render_sage50([purchase(amount="100000000.00")])
    with pytest.raises(EntryError, match=r"bill 7: line 1 Details .*'Ł' is not in Windows-1252"):
        render_sage50([purchase(vendor_name="Łódź")])


HEADER = ",".join(SAGE50_COLUMNS)
DEBIT = "JD,,601000,0,31/03/2025,F-1,Achat,10.00,T9,0.00,,,,,"
CREDIT = "JC,,401000,0,31/03/2025,F-1,Achat,10.00,T9,0.00,,V-7,,,"


def _file(*lines: str, header: str = HEADER) -> bytes:
    return "".join(line + "\r\n" for line in (header, *lines)).encode("cp1252")


@pytest.mark.parametrize(("lines", "problem"), [
    ([DEBIT, CREDIT.replace("10.00", "9.00")],
     "line 2, Net Amount: journal 'F-1' of 2025-03-31 (from this line) does not balance: debits 10.00, credits 9.00"),
    ([DEBIT.replace("JD", "SI"), CREDIT], "line 2, Type: 'SI' is not JD or JC"),
    ([DEBIT.replace("31/03/2025", "2025-03-31"), CREDIT], "line 2, Date: '2025-03-31' is not a date as DD/MM/YYYY"),
    ([DEBIT.replace("10.00,T9", "1,000.00,T9"), CREDIT], "line 2: has 16 columns"),
    ([DEBIT.replace("10.00,T9", "-10.00,T9"), CREDIT], "line 2, Net Amount: '-10.00' is not a positive amount"),
    ([DEBIT.replace(",T9,", ",9,"), CREDIT], "line 2, Tax Code: '9' is not a tax code T0 to T99"),
    ([DEBIT.replace(",601000,0,", ",601000,1000,"), CREDIT], "line 2, Department Code: '1000' is not a number"),
    ([DEBIT.replace(",601000,", ",,"), CREDIT], "line 2, Nominal A/C Ref: is empty"),
    ([DEBIT.replace("Achat", "x" * 61), CREDIT], "line 2, Details: is longer than the 60 characters"),
])
def test_each_problem_names_the_line_and_the_column(lines, problem):
    report = validate_sage50(_file(*lines))
    assert any(found.startswith(problem) for found in report.problems), report.problems


def test_a_wrong_header_and_bytes_that_are_not_windows_1252_are_named():
    assert validate_sage50(_file(DEBIT, CREDIT, header=HEADER.replace("Type", "TYPE"))).problems[0].startswith(
        "line 1: the header must be Type,Account Reference,")
    assert validate_sage50(_file(DEBIT, CREDIT) + b"\x81").problems[0].startswith("is not Windows-1252 (byte 0x81)")
    assert validate_sage50(b"").problems == ["the file is empty; it starts with the header row"]
