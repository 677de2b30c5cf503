"""QuickBooks Desktop IIF (Intuit Interchange Format): entries as general journal transactions.

Layout, from Intuit's IIF reference for transactions (QuickBooks Desktop in-product help,
support.quickbooks.intuit.com/.../IIF/iif_reference_transactions.html) and the examples of the IIF
import kit ("IIF Overview: import kit, sample files, and headers", quickbooks.intuit.com):
- the header lines !TRNS, !SPL (the column names of TRNS and SPL lines) and !ENDTRNS come first;
- a transaction is one TRNS line (its first line), SPL lines (the others), then ENDTRNS;
- TRNSTYPE, ACCNT and AMOUNT are required; AMOUNT is positive for a debit, negative for a credit, and
  the amounts of one transaction add up to zero; DATE is month first; NAME is the customer, vendor or
  other name; DOCNUM the document number; MEMO the text.
Intuit describes IIF files as "ASCII text, TSV": tab separated, no quoting. QuickBooks Desktop is a
Windows program, so the file is Windows-1252 with CRLF line ends; a character Windows-1252 lacks is
refused (EntryError), never replaced.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from .entries import CENT, Entry, EntryError, entry_currency, entry_rows
from .validation import MAX_PROBLEMS, EntryBalances, ValidationReport, text_lines

IIF_COLUMNS = ("TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO")
REQUIRED_COLUMNS = ("TRNSTYPE", "DATE", "ACCNT", "AMOUNT")
HEADER_LINES = ("!TRNS\t" + "\t".join(IIF_COLUMNS), "!SPL\t" + "\t".join(IIF_COLUMNS), "!ENDTRNS")
TRANSACTION_TYPE = "GENERAL JOURNAL"
IIF_ENCODING = "cp1252"
LINE_END = "\r\n"
_AMOUNT = re.compile(r"-?\d+(?:\.\d{1,2})?")
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
# QuickBooks Desktop posts a foreign-currency amount only through the A/P or A/R account of that
# currency, with its rate: a general journal line in IIF has neither, so the amount would land in home
# currency on a home-currency account and the foreign balance would be lost.
NO_CURRENCY = ("the iif layout carries no currency: a QuickBooks Desktop general journal posts in home currency "
               "only; write this entity's files as fec, csv or xlsx, or post it in QuickBooks")


def render_iif(entries: Iterable[Entry]) -> bytes:
    """One GENERAL JOURNAL transaction per entry, checked by `entry_rows` first."""
    blocks = ["".join(line + LINE_END for line in HEADER_LINES).encode(IIF_ENCODING)]
    for entry in entries:
        rows = entry_rows(entry)
        if entry_currency(entry):
            raise EntryError(entry.source, f"is in {entry_currency(entry)}: {NO_CURRENCY}")
        day = f"{entry.entry_date.month:02d}/{entry.entry_date.day:02d}/{entry.entry_date.year:04d}"
        lines = [["TRNS" if index == 0 else "SPL", TRANSACTION_TYPE, day, row.account, row.subsidiary_account,
                  f"{(row.debit if row.debit is not None else -row.credit).quantize(CENT):f}",
                  row.document_reference, row.label]
                 for index, row in enumerate(rows)]  # clean_text already took tabs and line breaks out
        blocks.append(_encoded(entry, lines))
    return b"".join(blocks)


def _encoded(entry: Entry, lines: list[list[str]]) -> bytes:
    text = "".join("\t".join(fields) + LINE_END for fields in lines) + "ENDTRNS" + LINE_END
    try:
        return text.encode(IIF_ENCODING)
    except UnicodeEncodeError:
        pass
    for number, fields in enumerate(lines, start=1):
        for column, value in zip(IIF_COLUMNS, fields[1:], strict=True):
            try:
                value.encode(IIF_ENCODING)
            except UnicodeEncodeError as exc:
                raise EntryError(entry.source, f"line {number} {column} {value!r}: {value[exc.start]!r} is not "
                                               "in Windows-1252, which QuickBooks Desktop reads") from None
    raise AssertionError("unreachable: the text encoded field by field")


class _IifReader:
    """The state of one read: header columns, the open transaction, the balances."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.columns: dict[str, dict[str, int]] = {}  # "TRNS"/"SPL" -> column name -> field index
        self.transactions = 0
        self.open_since: int | None = None  # the TRNS line of the transaction not ended yet
        self.lines_in_transaction = 0
        self.balances = EntryBalances(report, lambda key: f"transaction {key}", amount_column="AMOUNT",
                                      date_column="DATE")

    def line(self, number: int, fields: list[str]) -> None:
        keyword = fields[0].strip()
        if keyword in ("!TRNS", "!SPL"):
            self._header(number, keyword[1:], fields[1:])
        elif keyword == "!ENDTRNS":
            self.columns.setdefault("ENDTRNS", {})
        elif keyword == "TRNS":
            if self.open_since is not None:
                self.report.add(number, None, f"TRNS before the ENDTRNS of the transaction of line {self.open_since}")
                self._end(number)
            self.transactions += 1
            self.open_since, self.lines_in_transaction = number, 0
            self._split(number, "TRNS", fields)
        elif keyword == "SPL":
            if self.open_since is None:
                self.report.add(number, None, "SPL outside a transaction (no TRNS line before it)")
            else:
                self._split(number, "SPL", fields)
        elif keyword == "ENDTRNS":
            if self.open_since is None:
                self.report.add(number, None, "ENDTRNS without a transaction")
            else:
                self._end(number)
        else:
            self.report.add(number, None, f"starts with {keyword!r}; a line here is !TRNS, !SPL, !ENDTRNS, TRNS, "
                                          "SPL or ENDTRNS")

    def finish(self) -> None:
        if self.open_since is not None:
            self.report.add(self.open_since, None, "the transaction starting here has no ENDTRNS")
        if "ENDTRNS" not in self.columns:
            self.report.add(None, None, "the header line !ENDTRNS is missing")
        self.balances.finish()
        self.report.finish()

    def _header(self, number: int, kind: str, names: list[str]) -> None:
        self.columns[kind] = {name.strip(): index for index, name in enumerate(names, start=1)}
        for name in REQUIRED_COLUMNS:
            if name not in self.columns[kind]:
                self.report.add(number, name, f"the !{kind} header has no {name} column; QuickBooks requires it")

    def _end(self, number: int) -> None:
        if self.lines_in_transaction < 2:
            self.report.add(self.open_since, None, "the transaction has fewer than two lines (a TRNS and an SPL)")
        self.open_since = None

    def _split(self, number: int, kind: str, fields: list[str]) -> None:
        columns = self.columns.get(kind)
        if columns is None:
            self.report.add(number, None, f"a {kind} line before the !{kind} header line")
            return
        if len(fields) > len(columns) + 1:
            self.report.add(number, None, f"has {len(fields) - 1} fields; the !{kind} header names {len(columns)}")
        self.lines_in_transaction += 1

        def value(name: str) -> str:
            index = columns.get(name)
            return fields[index].strip() if index is not None and index < len(fields) else ""

        if value("TRNSTYPE") != TRANSACTION_TYPE:
            self.report.add(number, "TRNSTYPE", f"{value('TRNSTYPE')!r} is not {TRANSACTION_TYPE!r}")
        if not value("ACCNT"):
            self.report.add(number, "ACCNT", "is empty; QuickBooks requires the account")
        day = value("DATE")
        if not _is_month_first(day):
            self.report.add(number, "DATE", f"{day!r} is not a date as MM/DD/YYYY")
            day = None
        amount_text = value("AMOUNT")
        if not _AMOUNT.fullmatch(amount_text):
            self.report.add(number, "AMOUNT", f"{amount_text!r} is not an amount with a decimal point, up to two "
                                              "decimals and no thousands separator (-1234.56)")
            return
        amount = Decimal(amount_text)
        self.balances.add(number, str(self.transactions), max(amount, Decimal(0)), max(-amount, Decimal(0)), day)


def _is_month_first(text: str) -> bool:
    match = _DATE.fullmatch(text)
    if not match:
        return False
    try:
        date(int(match[3]), int(match[1]), int(match[2]))
    except ValueError:
        return False
    return True


def validate_iif(data: bytes, *, max_problems: int = MAX_PROBLEMS) -> ValidationReport:
    """Read an IIF file back: header lines, TRNS/SPL/ENDTRNS structure, fields, each transaction balanced
    (its amounts add up to zero) and on one date. The report's entries are the transactions."""
    report = ValidationReport(max_problems=max_problems)
    reader = _IifReader(report)
    number = 0
    for number, raw, _ending in text_lines(data):
        if not raw.strip():
            continue
        try:
            text = raw.decode(IIF_ENCODING)
        except UnicodeDecodeError as exc:
            report.add(number, None, f"byte {raw[exc.start]:#04x} is not Windows-1252")
            text = raw.decode(IIF_ENCODING, errors="replace")
        reader.line(number, text.rstrip("\r\n").split("\t"))
    if number == 0:
        report.add(None, None, "the file is empty; it starts with the !TRNS, !SPL and !ENDTRNS header lines")
    reader.finish()
    return report
