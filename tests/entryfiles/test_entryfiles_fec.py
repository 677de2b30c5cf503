"""The FEC: written, read back field by field and by validate_fec; bad entries and bad files named precisely."""
from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from fec_samples import accrual, purchase
from ledgerbridge.entryfiles import EntryError, Side, UnbalancedEntry
from ledgerbridge.entryfiles.fec import FEC_COLUMNS, fec_file_name, render_fec, validate_fec


def _lines(data: bytes, separator: str = "\t", encoding: str = "iso-8859-15") -> list[list[str]]:
    text = data.decode(encoding)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "every line ends with CRLF"
    return [line.split(separator) for line in text.split("\r\n")[:-1]]


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


@pytest.mark.parametrize("separator", ["\t", "|"])
def test_a_fec_reads_back_with_every_field_of_every_line(separator):
    entries = [purchase(), accrual()]
    data = render_fec(entries, separator)
    header, *lines = _lines(data, separator)
    assert tuple(header) == FEC_COLUMNS
    assert all(len(fields) == 18 for fields in lines)
    rows = [dict(zip(FEC_COLUMNS, fields, strict=True)) for fields in lines]
    expected = [(entry, line) for entry in entries for line in entry.lines]
    for row, (entry, line) in zip(rows, expected, strict=True):
        assert row["JournalCode"] == entry.journal_code
        assert row["JournalLib"] == entry.journal_label
        assert row["EcritureNum"] == entry.number
        assert row["EcritureDate"] == entry.entry_date.strftime("%Y%m%d")
        assert row["PieceDate"] == (entry.reference_date or entry.entry_date).strftime("%Y%m%d")
        assert row["ValidDate"] == (entry.validated_on or entry.entry_date).strftime("%Y%m%d")
        assert (row["CompteNum"], row["CompteLib"]) == (line.account, line.account_label)
        assert (row["CompAuxNum"], row["CompAuxLib"]) == (line.subsidiary_account, line.subsidiary_label)
        assert row["PieceRef"] == entry.reference
        assert row["EcritureLib"] == line.label.replace("|", " ")
        debit, credit = _amount(row["Debit"]), _amount(row["Credit"])
        assert (debit, credit) == ((line.amount, 0) if line.side == Side.DEBIT else (0, line.amount))
        assert (row["EcritureLet"], row["DateLet"], row["Montantdevise"], row["Idevise"]) == ("", "", "", "")
    report = validate_fec(data, closing_date=date(2025, 12, 31))
    assert report.ok, report.problems
    assert (report.entries, report.lines, report.separator) == (2, 5, separator)
    assert report.total_debit == report.total_credit == Decimal("75633507.18")


def test_amounts_have_a_decimal_comma_no_thousands_separator_and_zero_on_the_unused_side():
    lines = _lines(render_fec([accrual()]))[1:]
    assert [(fields[11], fields[12]) for fields in lines] == [
        ("75632761,01", "0,00"), ("0,10", "0,00"), ("0,00", "75632761,11")]


def test_iso_8859_15_by_default_without_byte_order_mark_and_utf8_on_request():
    data = render_fec([purchase()])
    assert data.startswith(b"JournalCode\tJournalLib\t")
    assert "Søren & Müller, Grüße".encode("iso-8859-15") in data
    assert validate_fec(data).encoding == "iso-8859-15"
    utf8 = render_fec([purchase(vendor_name="Łódź Sp. z o.o.")], encoding="utf-8")
    assert "Łódź".encode() in utf8
    assert validate_fec(utf8).encoding == "utf-8" and validate_fec(utf8).ok


def test_typographic_quotes_become_ascii_and_other_characters_latin9_lacks_are_refused():
    data = render_fec([purchase(vendor_name="L’Atelier – Paris")])
    assert b"L'Atelier - Paris" in data
    with pytest.raises(EntryError, match=r"bill 7: line 1 CompAuxLib .*'Ł' has no ISO-8859-15 code.*utf-8"):
        render_fec([purchase(vendor_name="Łódź")])


def test_a_separator_inside_a_text_becomes_a_space():
    entry = purchase(vendor_name="Dupont | Fils")
    lines = _lines(render_fec([entry], "|"), "|")
    assert all(len(fields) == 18 for fields in lines)
    assert lines[1][7] == "Dupont Fils" and lines[1][10] == "Dupont Fils F-2025-0042"
    assert "Dupont | Fils" in render_fec([entry], "\t").decode("iso-8859-15"), "a '|' is kept between tabs"


@pytest.mark.parametrize("separator", [",", ";", "", "\t|"])
def test_only_tab_and_pipe_separate_a_fec(separator):
    with pytest.raises(ValueError, match="separator"):
        render_fec([purchase()], separator)


def test_entries_are_written_in_order_of_validation_then_entry_date_then_number():
    late = purchase("10", day=date(2025, 1, 5), validated=date(2025, 2, 1))
    nine = purchase("9", day=date(2025, 1, 5), validated=date(2025, 2, 1), source="bill nine")
    early_day = purchase("11", day=date(2025, 1, 3), validated=date(2025, 2, 1))
    first = purchase("1", day=date(2025, 1, 20), validated=date(2025, 1, 20))
    numbers = [fields[2] for fields in _lines(render_fec([late, nine, early_day, first]))[1::2]]
    assert numbers == ["1", "11", "9", "10"], "9 comes before 10: numbers compare as numbers"


def test_a_foreign_currency_entry_carries_montantdevise_and_idevise_on_every_line():
    lines = _lines(render_fec([purchase(currency="usd", foreign="800.10")]))[1:]
    assert [(fields[16], fields[17]) for fields in lines] == [("800,10", "USD")] * 2
    with pytest.raises(EntryError, match=r"bill 7: line 1 has no foreign_amount \(FEC Montantdevise\)"):
        render_fec([purchase(currency="USD")])
    with pytest.raises(EntryError, match=r"line 1 foreign_amount \(FEC Montantdevise\) amount 1.005 has more"):
        render_fec([purchase(currency="USD", foreign="1.005")])
    with pytest.raises(EntryError, match=r"line 1 has a foreign_amount .* but the entry has no currency"):
        render_fec([purchase(foreign="800.10")])
    with pytest.raises(EntryError, match="not a 3-letter ISO code"):
        render_fec([purchase(currency="US$", foreign="800.10")])


def _without(entry, line_number: int | None = None, **changes):
    if line_number is None:
        return dataclasses.replace(entry, **changes)
    lines = list(entry.lines)
    lines[line_number - 1] = dataclasses.replace(lines[line_number - 1], **changes)
    return dataclasses.replace(entry, lines=tuple(lines))


@pytest.mark.parametrize(("entry", "problem"), [
    (_without(purchase(), journal_label=""), r"bill 7: has no journal label \(FEC JournalLib\)"),
    (_without(purchase(), reference=" "), r"bill 7: has no reference \(FEC PieceRef\)"),
    (_without(purchase(), 2, account_label=""), r"bill 7: line 2 has no account_label \(FEC CompteLib\)"),
    (_without(purchase(), 2, label="\t"), r"bill 7: line 2 has no label \(FEC EcritureLib\)"),
    (_without(purchase(), 1, subsidiary_label=""), r"line 1 has a subsidiary_account but no subsidiary_label"),
    (_without(purchase(), 2, subsidiary_label="Dupont"), r"line 2 has a subsidiary_label but no subsidiary_acc"),
    (_without(purchase(), 2, amount=Decimal("700.00")), r"bill 7: does not balance"),
    (_without(purchase(), 2, account=""), r"bill 7: line 2 has no account"),
    (_without(purchase(), entry_date="2025-03-31"), r"bill 7: entry_date '2025-03-31' is not a date"),
])
def test_an_entry_the_fec_cannot_hold_is_refused_naming_it_the_line_and_the_column(entry, problem):
    with pytest.raises(EntryError, match=problem):
        render_fec([accrual(), entry])


def test_an_unbalanced_entry_is_refused_by_the_shared_checks():
    with pytest.raises(UnbalancedEntry):
        render_fec([_without(purchase(), 1, amount=Decimal("1.00"))])


def test_two_entries_with_one_number_in_one_journal_are_refused():
    with pytest.raises(EntryError, match=r"bill two: has EcritureNum '7' in journal 'ACH', as bill 7 has"):
        render_fec([purchase("7"), purchase("7", source="bill two")])
    assert validate_fec(render_fec([purchase("7"), purchase("8")])).ok


def test_the_number_defaults_to_the_reference():
    lines = _lines(render_fec([_without(purchase(), number="")]))
    assert lines[1][2] == "F-2025-0042"


@pytest.mark.parametrize(("siren", "name"), [("732829320", "732829320FEC20251231.txt"),
                                              ("356000000", "356000000FEC20251231.txt")])
def test_the_file_name_holds_the_siren_and_the_closing_date(siren, name):
    assert fec_file_name(siren, date(2025, 12, 31)) == name


@pytest.mark.parametrize(("siren", "problem"), [("73282932", "9 digits"), ("732 829 320", "9 digits"),
                                                 ("73282932A", "9 digits"), ("732829321", "check digit")])
def test_a_siren_that_is_no_siren_is_refused(siren, problem):
    with pytest.raises(ValueError, match=f"SIREN '{siren}' .*{problem}"):
        fec_file_name(siren, date(2025, 12, 31))


# --- validate_fec on files that are not right --------------------------------------------------------

HEADER = "\t".join(FEC_COLUMNS)
GOOD = ["VT\tVentes\t1\t20250105\t411000\tClients\tC1\tDupont\tF1\t20250105\tVente\t120,00\t0,00\t\t\t20250105\t\t",
        "VT\tVentes\t1\t20250105\t706000\tPrestations\t\t\tF1\t20250105\tVente\t0,00\t120,00\t\t\t20250105\t\t"]


def _file(*lines: str, ending: str = "\r\n", header: str = HEADER) -> bytes:
    return "".join(line + ending for line in (header, *lines)).encode("iso-8859-15")


def _line(base: str = GOOD[0], **fields: str) -> str:
    values = base.split("\t")
    for name, value in fields.items():
        values[FEC_COLUMNS.index(name)] = value
    return "\t".join(values)


def test_a_good_file_is_ok_with_lf_line_ends_too():
    assert validate_fec(_file(*GOOD)).ok
    report = validate_fec(_file(*GOOD, ending="\n"))
    assert report.ok and report.line_ending == "LF"
    assert validate_fec(_file(*GOOD)[:-2]).ok, "the last line may have no line end"
    assert validate_fec(_file(*(line.replace("\t", "|") for line in GOOD), header=HEADER.replace("\t", "|"))).ok


@pytest.mark.parametrize(("lines", "problem"), [
    ([_line(EcritureDate="20250230"), GOOD[1]], "line 2, EcritureDate: '20250230' is not a date as YYYYMMDD"),
    ([_line(PieceDate="05/01/2025"), GOOD[1]], "line 2, PieceDate: '05/01/2025' is not a date"),
    ([_line(DateLet="2025"), GOOD[1]], "line 2, DateLet: '2025' is not a date"),
    ([_line(Debit="120.00"), GOOD[1]], "line 2, Debit: '120.00' has a decimal point"),
    ([_line(Debit="1 120,00"), GOOD[1]], "line 2, Debit: '1 120,00' has a thousands separator"),
    ([_line(Debit="1.120,00"), GOOD[1]], "line 2, Debit: '1.120,00' has a thousands separator"),
    ([_line(Debit="abc"), GOOD[1]], "line 2, Debit: 'abc' is not an amount"),
    ([_line(Credit="5,00"), _line(GOOD[1], Debit="5,00")], "line 2, Debit/Credit: both hold an amount"),
    ([_line(CompteLib=""), GOOD[1]], "line 2, CompteLib: is empty; the FEC requires it"),
    ([GOOD[0], _line(GOOD[1], ValidDate=" ")], "line 3, ValidDate: is empty"),
    ([_line(CompAuxLib=""), GOOD[1]], "line 2, CompAuxLib: is empty while CompAuxNum is set"),
    ([GOOD[0], _line(GOOD[1], CompAuxLib="Dupont")], "line 3, CompAuxNum: is empty while CompAuxLib is set"),
    ([_line(Montantdevise="130,00"), GOOD[1]], "line 2, Idevise: '' is not a 3-letter currency code"),
    ([_line(Montantdevise="130.00", Idevise="USD"), GOOD[1]], "line 2, Montantdevise: '130.00' has a decimal"),
    ([_line(Idevise="USD"), GOOD[1]], "line 2, Montantdevise: is empty while Idevise is 'USD'; give both or neither"),
    ([_line(Montantdevise="130,00", Idevise="usd"), GOOD[1]], "line 2, Idevise: 'usd' is not a 3-letter currency"),
    ([_line(Montantdevise="130,005", Idevise="USD"), GOOD[1]], "line 2, Montantdevise: '130,005' has more than 2"),
    ([GOOD[0], _line(GOOD[1], Credit="110,00")],
     "line 2, Debit/Credit: entry JournalCode 'VT' EcritureNum '1' (from this line) does not balance: "
     "debits 120.00, credits 110.00 (difference 10.00)"),
    ([GOOD[0], _line(GOOD[1], EcritureDate="20250106")],
     "line 3, EcritureDate: entry JournalCode 'VT' EcritureNum '1' has the date 20250106 here but 20250105"),
    ([_line(ValidDate="20250110"), GOOD[1]], "line 3, ValidDate: 20250105 comes after 20250110 (line 2)"),
    ([GOOD[0], GOOD[1] + "\textra"], "line 3: has 19 fields instead of 18"),
    ([GOOD[0], "", GOOD[1]], "line 3: is empty"),
])
def test_each_problem_names_the_line_and_the_column(lines, problem):
    report = validate_fec(_file(*lines))
    assert not report.ok
    assert any(found.startswith(problem) for found in report.problems), report.problems


def test_entry_dates_after_the_closing_date_are_named():
    report = validate_fec(_file(*GOOD), closing_date=date(2024, 12, 31))
    assert report.problems == ["line 2, EcritureDate: 20250105 is after the closing date 20241231",
                               "line 3, EcritureDate: 20250105 is after the closing date 20241231"]


def test_a_wrong_header_is_named_and_a_header_without_separator_stops_the_reading():
    report = validate_fec(_file(*GOOD, header=HEADER.replace("Montantdevise", "MontantDevise")))
    assert report.problems == ["line 1: the header must be exactly the 18 column names of A47 A-1 in order: "
                               "column 17 is 'MontantDevise', expected 'Montantdevise'"]
    assert report.lines == 2, "the lines are still checked"
    report = validate_fec(_file(*(line.replace("\t", ";") for line in GOOD), header=HEADER.replace("\t", ";")))
    assert report.problems == ["line 1: the header has neither tabs nor '|' between the column names; the FEC "
                               "is separated by one of them"]
    assert validate_fec(b"").problems == ["the file is empty; a FEC starts with the line of column names"]


def test_a_byte_order_mark_and_mixed_line_ends_are_problems():
    report = validate_fec(b"\xef\xbb\xbf" + _file(*GOOD))
    assert report.problems[0].startswith("line 1, JournalCode: the file starts with a UTF-8 byte order mark")
    mixed = _file(GOOD[0], ending="\r\n") + (GOOD[1] + "\n").encode()
    assert validate_fec(mixed).problems[0].startswith("line 3: holds a line break other than the file's CRLF")


def test_an_entry_whose_lines_are_apart_is_still_one_entry():
    other = [line.replace("VT\tVentes\t1\t", "VT\tVentes\t2\t") for line in GOOD]
    report = validate_fec(_file(GOOD[0], other[0], other[1], GOOD[1]))
    assert report.ok, report.problems
    assert report.entries == 2
    unbalanced = validate_fec(_file(GOOD[0], other[0], other[1], _line(GOOD[1], Credit="100,00")))
    assert unbalanced.problems == ["line 2, Debit/Credit: entry JournalCode 'VT' EcritureNum '1' (from this line) "
                                   "does not balance: debits 120.00, credits 100.00 (difference 20.00)"]


def test_the_problem_list_is_capped_and_says_how_many_more():
    report = validate_fec(_file(*[_line(Debit="1.0")] * 250))
    assert len(report.problems) == 101
    assert report.problems[-1] == "... and 150 more problems not listed"
    assert report.lines == 250


def test_a_latin9_file_and_a_utf8_file_are_both_read_and_a_mix_is_named():
    latin = _file(_line(CompAuxLib="Müller"), GOOD[1])
    assert validate_fec(latin).encoding == "iso-8859-15"
    utf8 = latin.decode("iso-8859-15").encode()
    assert validate_fec(utf8).encoding == "utf-8"
    mixed = utf8 + _line(GOOD[1], EcritureLib="Réglé").encode("iso-8859-15") + b"\r\n"
    assert any(problem.startswith("line 4: is not UTF-8 although earlier lines are")
               for problem in validate_fec(mixed).problems)
