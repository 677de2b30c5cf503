"""QuickBooks Desktop IIF: written, read back line by line and by validate_iif; bad files named precisely."""
from __future__ import annotations

from decimal import Decimal

import pytest
from fec_samples import accrual, purchase
from ledgerbridge.entryfiles import EntryError, Side, render_iif, validate_iif
from ledgerbridge.entryfiles.iif import HEADER_LINES


def _lines(data: bytes) -> list[list[str]]:
    text = data.decode("cp1252")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "every line ends with CRLF"
    return [line.split("\t") for line in text.split("\r\n")[:-1]]


def test_each_entry_is_one_general_journal_transaction_with_signed_amounts():
    entries = [purchase(), accrual()]
    lines = _lines(render_iif(entries))
    assert ["\t".join(line) for line in lines[:3]] == list(HEADER_LINES)
    assert lines[3][0] == "TRNS" and lines[4][0] == "SPL" and lines[5] == ["ENDTRNS"]
    assert [line[0] for line in lines[6:]] == ["TRNS", "SPL", "SPL", "ENDTRNS"]
    splits = [line for line in lines[3:] if line[0] in ("TRNS", "SPL")]
    expected = [(entry, line) for entry in entries for line in entry.lines]
    for fields, (entry, line) in zip(splits, expected, strict=True):
        kind, trnstype, day, account, name, amount, docnum, memo = fields
        assert trnstype == "GENERAL JOURNAL"
        assert day == entry.entry_date.strftime("%m/%d/%Y")
        assert (account, name, docnum, memo) == (line.account, line.subsidiary_account, entry.reference, line.label)
        assert Decimal(amount) == (line.amount if line.side == Side.DEBIT else -line.amount)
    report = validate_iif(render_iif(entries))
    assert report.ok, report.problems
    assert (report.entries, report.lines) == (2, 5)
    assert report.total_debit == report.total_credit == Decimal("75633507.18")


def test_text_is_windows_1252_and_a_character_it_lacks_is_refused():
    assert "Søren & Müller".encode("cp1252") in render_iif([purchase()])
    with pytest.raises(EntryError, match=r"bill 7: line 1 MEMO 'Łódź F-2025-0042': 'Ł' is not in Windows-1252"):
        render_iif([purchase(vendor_name="Łódź")])


def _file(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in (*HEADER_LINES, *lines)).encode("cp1252")


TRNS = "TRNS\tGENERAL JOURNAL\t03/31/2025\t401000\tV-7\t-10.00\tF-1\tAchat"
SPL = "SPL\tGENERAL JOURNAL\t03/31/2025\t601000\t\t10.00\tF-1\tAchat"


@pytest.mark.parametrize(("lines", "problem"), [
    ([TRNS, SPL.replace("10.00", "9.00"), "ENDTRNS"],
     "line 4, AMOUNT: transaction 1 (from this line) does not balance: debits 9.00, credits 10.00"),
    ([TRNS, SPL.replace("03/31/2025", "04/01/2025"), "ENDTRNS"],
     "line 5, DATE: transaction 1 has the date 04/01/2025 here but 03/31/2025"),
    ([TRNS, SPL.replace("03/31/2025", "31/03/2025"), "ENDTRNS"], "line 5, DATE: '31/03/2025' is not a date as MM/DD"),
    ([TRNS, SPL.replace("10.00", "10,00"), "ENDTRNS"], "line 5, AMOUNT: '10,00' is not an amount"),
    ([TRNS, SPL.replace("10.00", "1,010.00"), "ENDTRNS"], "line 5, AMOUNT: '1,010.00' is not an amount"),
    ([TRNS.replace("GENERAL JOURNAL", "CHECK"), SPL, "ENDTRNS"], "line 4, TRNSTYPE: 'CHECK' is not 'GENERAL JOURNAL'"),
    ([TRNS, SPL.replace("601000", ""), "ENDTRNS"], "line 5, ACCNT: is empty"),
    ([TRNS, SPL], "line 4: the transaction starting here has no ENDTRNS"),
    ([SPL, "ENDTRNS"], "line 4: SPL outside a transaction"),
    ([TRNS, "ENDTRNS"], "line 4: the transaction has fewer than two lines"),
    ([TRNS, SPL, TRNS, SPL, "ENDTRNS"], "line 6: TRNS before the ENDTRNS of the transaction of line 4"),
    ([TRNS, SPL + "\textra", "ENDTRNS"], "line 5: has 8 fields; the !SPL header names 7"),
    ([TRNS, SPL, "ENDTRNS", "CUST\tDupont"], "line 7: starts with 'CUST'"),
])
def test_each_problem_names_the_line_and_the_column(lines, problem):
    report = validate_iif(_file(*lines))
    assert any(found.startswith(problem) for found in report.problems), report.problems


def test_a_file_without_header_lines_is_named():
    report = validate_iif((TRNS + "\r\n" + SPL + "\r\nENDTRNS\r\n").encode())
    assert "line 1: a TRNS line before the !TRNS header line" in report.problems
    assert "the header line !ENDTRNS is missing" in report.problems
    assert validate_iif(b"").problems[0].startswith("the file is empty")
    no_amount = _file().replace(b"\tAMOUNT", b"")
    assert validate_iif(no_amount).problems[0] == "line 1, AMOUNT: the !TRNS header has no AMOUNT column; " \
                                                  "QuickBooks requires it"
