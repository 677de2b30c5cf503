"""The French FEC (fichier des écritures comptables): article A47 A-1 of the Livre des procédures fiscales.

`render_fec` writes entries as the 18 legal columns, `validate_fec` reads a FEC back and checks what
the administration's test tool (Test Compta Demat, github.com/DGFiP/Test-Compta-Demat) checks, and
`fec_file_name` names the file. docs/entry-files.md describes every column.

Choices, from the text of A47 A-1 (legifrance LEGIARTI000027804775) and the test tool's source:
- Encoding: A47 A-1 III 1° names ASCII, ISO 8859-15 or EBCDIC; UTF-8 is not in the text (the test
  tool reads bytes as they are, and Odoo's FEC import takes both). ISO 8859-15 is the default, as the
  one the law names that holds French text and €; `encoding="utf-8"` is offered for text it cannot
  hold. Typographic quotes and dashes become their ASCII look-alikes in ISO 8859-15; any other
  character it lacks is refused (EntryError naming the entry, the line and the column).
- Line ends: A47 A-1 I 1° separates records by "Retour chariot et/ou Fin de ligne", so CRLF and LF
  are both legal; we write CRLF, both characters the text names, and what the Windows tools of the
  administration (Test Compta Demat, Alto 2) produce. The test tool takes the ending of the first
  line for the whole file, so a file never mixes endings.
- No byte order mark: the test tool would read it as part of the first column name.
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn
from datetime import date
from decimal import Decimal, InvalidOperation

from .csv_format import format_amount
from .entries import CURRENCY_CODE, Entry, EntryError, EntryLine, EntryRow, clean_text, entry_rows
from .validation import MAX_PROBLEMS, EntryBalances, ValidationReport, text_lines

FEC_COLUMNS = ("JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
               "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
               "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise")
SEPARATORS = ("\t", "|")
FEC_ENCODINGS = ("iso-8859-15", "utf-8")
LINE_END = "\r\n"
ZERO_AMOUNT = "0,00"
# La Poste's SIREN is accepted whatever the key rule says (its SIRETs follow a rule of their own).
LA_POSTE_SIREN = "356000000"
REQUIRED_COLUMNS = ("JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
                    "PieceRef", "PieceDate", "EcritureLib", "ValidDate")
_REQUIRED = tuple(FEC_COLUMNS.index(name) for name in REQUIRED_COLUMNS)
_AMOUNT = re.compile(r"-?\d+(?:,\d{1,2})?")
_DIGITS = re.compile(r"(\d+)")
# What ISO 8859-15 lacks but French text often holds, as the nearest character it has.
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"',
                             "\u201e": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u2009": " ",
                             "\u202f": " ", "\u2032": "'"})


# --- writing ---------------------------------------------------------------------------------------

def render_fec(entries: Iterable[Entry], separator: str = "\t", *, encoding: str = "iso-8859-15") -> bytes:
    """The FEC of the entries: header line, then one line per entry line, in order of validation.

    Every entry is checked by `entry_rows` (balance, accounts, two-decimal amounts) and for what the
    FEC adds (labels, currency amounts, a number unique in its journal); the first bad entry stops
    the file with an EntryError naming it, the line and the FEC column.
    """
    if separator not in SEPARATORS:
        raise ValueError(f"FEC separator {separator!r} must be a tab or '|'")
    if encoding not in FEC_ENCODINGS:
        raise ValueError(f"FEC encoding {encoding!r} must be one of {FEC_ENCODINGS}")
    numbers: dict[str, str] = {}  # "<journal> <number>" -> the entry's source
    blocks = []
    for entry in entries:
        lines = _entry_fields(entry, separator, encoding)
        journal, number = lines[0][0], lines[0][2]
        other = numbers.setdefault(f"{journal}\x1f{number}", entry.source)
        if other != entry.source:
            raise EntryError(entry.source, f"has EcritureNum {number!r} in journal {journal!r}, as {other} "
                                           "has; each entry needs its own number in its journal")
        text = "".join(separator.join(fields) + LINE_END for fields in lines)
        blocks.append((validation_order(entry), _encoded(entry, lines, text, encoding)))
    blocks.sort(key=lambda block: block[0])  # stable: entries alike keep their given order
    header = (separator.join(FEC_COLUMNS) + LINE_END).encode(encoding)
    return b"".join([header, *(data for _order, data in blocks)])  # one copy of the file, not two


def validation_order(entry: Entry) -> tuple:
    """ValidDate, then EcritureDate, then the number (digits compared as numbers: 9 before 10)."""
    number = clean_text(entry.number) or clean_text(entry.reference)
    parts = _DIGITS.split(number)
    natural = tuple(int(part) if index % 2 else part for index, part in enumerate(parts))
    return entry.validated_on or entry.entry_date, entry.entry_date, natural


def _entry_fields(entry: Entry, separator: str, encoding: str) -> list[list[str]]:
    rows = entry_rows(entry)  # the checks every entry file shares
    for name, value in (("entry_date", entry.entry_date), ("reference_date", entry.reference_date),
                        ("validated_on", entry.validated_on)):
        if value is not None and not isinstance(value, date):
            raise EntryError(entry.source, f"{name} {value!r} is not a date")

    text = _text_cleaner(separator, encoding)

    journal_label = text(entry.journal_label)
    if not journal_label:
        raise EntryError(entry.source, "has no journal label (FEC JournalLib)")
    reference = text(entry.reference)
    if not reference:
        raise EntryError(entry.source, "has no reference (FEC PieceRef)")
    number = text(entry.number) or reference
    entry_day = _yyyymmdd(entry.entry_date)
    piece_day = _yyyymmdd(entry.reference_date or entry.entry_date)
    valid_day = _yyyymmdd(entry.validated_on or entry.entry_date)
    head = [text(rows[0].journal_code), journal_label, number, entry_day]
    return [head + _line_fields(entry, number_, row, line, text)
            + [reference, piece_day, text(row.label) or _missing(entry, number_, "label", "EcritureLib"),
               format_amount(row.debit, ",") if row.debit is not None else ZERO_AMOUNT,
               format_amount(row.credit, ",") if row.credit is not None else ZERO_AMOUNT,
               "", "", valid_day, format_amount(row.foreign_amount, ","), row.currency]
            for number_, (row, line) in enumerate(zip(rows, entry.lines, strict=True), start=1)]


@lru_cache(maxsize=8)
def _text_cleaner(separator: str, encoding: str) -> Callable[[str | None], str]:
    """One line of text without the separator (a '|' in a label becomes a space); account and journal
    names repeat on every line, so the last few thousand results are kept."""

    @lru_cache(maxsize=4096)
    def text(value: str | None) -> str:
        value = clean_text(value)
        if separator in value:
            value = clean_text(value.replace(separator, " "))
        return value if encoding != "iso-8859-15" or value.isascii() else value.translate(_TYPOGRAPHY)

    return text


def _line_fields(entry: Entry, number: int, row: EntryRow, line: EntryLine,
                 text: Callable[[str | None], str]) -> list[str]:
    """CompteNum, CompteLib, CompAuxNum, CompAuxLib."""
    account_label = text(line.account_label) or _missing(entry, number, "account_label", "CompteLib")
    subsidiary, subsidiary_label = text(row.subsidiary_account), text(line.subsidiary_label)
    if bool(subsidiary) != bool(subsidiary_label):
        given, lacking = (("subsidiary_account", "subsidiary_label (FEC CompAuxLib)") if subsidiary
                          else ("subsidiary_label", "subsidiary_account (FEC CompAuxNum)"))
        raise EntryError(entry.source, f"line {number} has a {given} but no {lacking}; the FEC takes both or "
                                       "neither")
    return [text(row.account), account_label, subsidiary, subsidiary_label]


def _missing(entry: Entry, number: int, name: str, column: str) -> NoReturn:
    raise EntryError(entry.source, f"line {number} has no {name} (FEC {column}); the FEC requires it")


def _yyyymmdd(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _encoded(entry: Entry, lines: list[list[str]], text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        pass
    for number, fields in enumerate(lines, start=1):  # find the field to name; rare, so not fast
        for column, value in zip(FEC_COLUMNS, fields, strict=True):
            try:
                value.encode(encoding)
            except UnicodeEncodeError as exc:
                raise EntryError(entry.source, f"line {number} {column} {value!r}: {value[exc.start]!r} has no "
                                               f"{encoding.upper()} code; write the file with encoding='utf-8'") \
                    from None
    raise AssertionError("unreachable: the text encoded field by field")


def fec_file_name(siren: str, closing_date: date) -> str:
    """`<SIREN>FEC<closing date YYYYMMDD>.txt`, the name A47 A-1 gives the file."""
    if not isinstance(siren, str) or not re.fullmatch(r"\d{9}", siren):
        raise ValueError(f"SIREN {siren!r} must be 9 digits")
    if siren != LA_POSTE_SIREN and not _luhn_valid(siren):
        raise ValueError(f"SIREN {siren!r} fails its check digit (Luhn key); is a digit wrong?")
    return f"{siren}FEC{_yyyymmdd(closing_date)}.txt"


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


# --- reading back ----------------------------------------------------------------------------------

@dataclass
class FecReport(ValidationReport):
    separator: str = ""  # "\t" or "|", from the header
    encoding: str = ""  # "ascii", "utf-8" or "iso-8859-15", as the bytes read
    line_ending: str = ""  # "CRLF", "LF" or "CR", from the first line


class _Decoder:
    """UTF-8 when the bytes are UTF-8, else ISO 8859-15, decided by the first line that is not ASCII."""

    def __init__(self, report: FecReport) -> None:
        self.report = report
        report.encoding = "ascii"

    def decode(self, number: int, raw: bytes) -> str:
        if raw.isascii():
            return raw.decode("ascii")
        if self.report.encoding in ("ascii", "utf-8"):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if self.report.encoding == "utf-8":
                    self.report.add(number, None, "is not UTF-8 although earlier lines are; one file has one "
                                                  "encoding (read here as ISO 8859-15)")
                else:
                    self.report.encoding = "iso-8859-15"
            else:
                self.report.encoding = "utf-8"
                return text
        return raw.decode("iso-8859-15")


def validate_fec(data: bytes, *, closing_date: date | None = None, max_problems: int = MAX_PROBLEMS) -> FecReport:
    """Read a FEC back, line by line, and list its problems (each naming the line and the column)."""
    report = FecReport(max_problems=max_problems)
    lines = text_lines(data)
    first = next(lines, None)
    if first is None:
        report.add(None, None, "the file is empty; a FEC starts with the line of column names")
        report.finish()
        return report
    _number, header_bytes, ending = first
    report.line_ending = {b"\r\n": "CRLF", b"\n": "LF", b"\r": "CR", b"": "none"}[ending]
    if header_bytes.startswith(codecs.BOM_UTF8):
        report.add(1, FEC_COLUMNS[0], "the file starts with a UTF-8 byte order mark, which the test tool "
                                      "reads as part of the first column name")
        header_bytes = header_bytes[len(codecs.BOM_UTF8):]
    decoder = _Decoder(report)
    if _check_header(report, decoder.decode(1, header_bytes)):
        _check_lines(report, lines, decoder, closing_date)
    report.finish()
    return report


def _check_header(report: FecReport, header: str) -> bool:
    """True when the lines can be read: a known separator and 18 names."""
    separator = "\t" if "\t" in header else "|" if "|" in header else ""
    if not separator:
        report.add(1, None, "the header has neither tabs nor '|' between the column names; the FEC is "
                            "separated by one of them")
        return False
    report.separator = separator
    names = [name.strip() for name in header.split(separator)]
    if tuple(names) != FEC_COLUMNS:
        wrong = [f"column {index} is {found!r}, expected {expected!r}"
                 for index, (found, expected) in enumerate(zip(names, FEC_COLUMNS), start=1) if found != expected]
        if len(names) != len(FEC_COLUMNS):
            wrong.append(f"{len(names)} names instead of {len(FEC_COLUMNS)}")
        report.add(1, None, "the header must be exactly the 18 column names of A47 A-1 in order: "
                            + "; ".join(wrong[:5]))
    return len(names) == len(FEC_COLUMNS)


class _FecLineChecks:
    """The checks of one line, with what they remember across lines (order of ValidDate, dates seen)."""

    def __init__(self, report: FecReport, closing_date: date | None) -> None:
        self.report = report
        self.closing = _yyyymmdd(closing_date) if closing_date else None
        self.dates: dict[str, bool] = {}  # each distinct date checked once; also shares the strings
        self.previous_valid: tuple[int, str] | None = None
        self.balances = EntryBalances(report, _describe, reopen=True, amount_column="Debit/Credit",
                                      date_column="EcritureDate")

    def date(self, number: int, column: str, value: str) -> str | None:
        value = value.strip()
        if not value:
            return None  # an empty required field is reported once, as empty
        valid = self.dates.get(value)
        if valid is None:
            valid = self.dates[value] = _is_yyyymmdd(value)
        if not valid:
            self.report.add(number, column, f"{value!r} is not a date as YYYYMMDD")
            return None
        return value

    def amount(self, number: int, column: str, value: str) -> Decimal | None:
        value = value.strip()
        if not value:
            return Decimal(0)  # the test tool reads an empty amount as 0
        if _AMOUNT.fullmatch(value):
            return Decimal(value.replace(",", "."))
        self.report.add(number, column, f"{value!r} {_amount_problem(value)}")
        return None

    def line(self, number: int, fields: list[str]) -> None:
        report = self.report
        for index in _REQUIRED:
            if not fields[index].strip():
                report.add(number, FEC_COLUMNS[index], "is empty; the FEC requires it")
        entry_day = self.date(number, "EcritureDate", fields[3])
        self.date(number, "PieceDate", fields[9])
        self.date(number, "DateLet", fields[14])
        valid_day = self.date(number, "ValidDate", fields[15])
        debit = self.amount(number, "Debit", fields[11])
        credit = self.amount(number, "Credit", fields[12])
        if debit and credit:
            report.add(number, "Debit/Credit", f"both hold an amount ({fields[11]} and {fields[12]}); a line "
                                               "is a debit or a credit, the other side 0,00")
        if bool(fields[6].strip()) != bool(fields[7].strip()):
            column, other = ("CompAuxLib", "CompAuxNum") if fields[6].strip() else ("CompAuxNum", "CompAuxLib")
            report.add(number, column, f"is empty while {other} is set; give both or neither")
        if fields[16].strip():
            self.amount(number, "Montantdevise", fields[16])
            if not CURRENCY_CODE.fullmatch(fields[17].strip()):
                report.add(number, "Idevise", f"{fields[17]!r} is not a 3-letter currency code, and Montantdevise "
                                              "is set")
        elif fields[17].strip():
            report.add(number, "Montantdevise", f"is empty while Idevise is {fields[17].strip()!r}; give both or "
                                                "neither")
        if valid_day is not None:
            if self.previous_valid is not None and valid_day < self.previous_valid[1]:
                report.add(number, "ValidDate", f"{valid_day} comes after {self.previous_valid[1]} (line "
                                                f"{self.previous_valid[0]}); the FEC is in order of validation")
            self.previous_valid = (number, valid_day)
        if entry_day is not None and self.closing is not None and entry_day > self.closing:
            report.add(number, "EcritureDate", f"{entry_day} is after the closing date {self.closing}")
        self.balances.add(number, f"{fields[0].strip()}\x1f{fields[2].strip()}", debit or Decimal(0),
                          credit or Decimal(0), entry_day)


def _check_lines(report: FecReport, lines, decoder: _Decoder, closing_date: date | None) -> None:
    checks = _FecLineChecks(report, closing_date)
    separator = report.separator
    for number, raw, _ending in lines:
        if b"\r" in raw or b"\n" in raw:
            report.add(number, None, f"holds a line break other than the file's {report.line_ending}; a "
                                     "record is one line and the file has one kind of line end")
            raw = raw.replace(b"\r", b"").replace(b"\n", b"")
        if not raw.strip():
            report.add(number, None, "is empty")
            continue
        fields = decoder.decode(number, raw).split(separator)
        if len(fields) != len(FEC_COLUMNS):
            report.add(number, None, f"has {len(fields)} fields instead of {len(FEC_COLUMNS)} (a {separator!r} "
                                     "inside a text?); its fields are not checked")
            continue
        checks.line(number, fields)
    checks.balances.finish()


def _describe(key: str) -> str:
    journal, number = key.split("\x1f", 1)
    return f"entry JournalCode {journal!r} EcritureNum {number!r}"


def _is_yyyymmdd(value: str) -> bool:
    if len(value) != 8 or not value.isdigit():
        return False
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return False
    return True


def _amount_problem(value: str) -> str:
    if "." in value and "," not in value:
        return "has a decimal point; the FEC writes amounts with a decimal comma (1234,56)"
    if " " in value or "\u00a0" in value or value.count(",") + value.count(".") > 1:
        return "has a thousands separator; the FEC writes amounts without one (1234,56)"
    try:
        Decimal(value.replace(",", "."))
    except InvalidOperation:
        return "is not an amount (1234,56)"
    return "has more than 2 decimals or a sign the FEC does not write (1234,56)"
