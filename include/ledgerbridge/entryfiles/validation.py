"""Reading an entry file back: the report every validator returns, and the per-entry balance bookkeeping.

Each format's validator parses its own layout and hands each line's amounts to an `EntryBalances`;
problems go to the `ValidationReport`, each naming the line (1 = the first line of the file) and the
column, so that a person can find it in the file. A validator never stops at the first problem.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .entries import CURRENCY_CODE

MAX_PROBLEMS = 100  # past this a file is broken throughout; the rest is counted, not listed
ZERO = Decimal("0.00")


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)
    entries: int = 0
    lines: int = 0  # entry lines read (the header and structure lines are not counted)
    total_debit: Decimal = ZERO
    total_credit: Decimal = ZERO
    problems_not_listed: int = 0
    max_problems: int = MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problems_not_listed

    def add(self, line: int | None, column: str | None, problem: str) -> None:
        if len(self.problems) >= self.max_problems:
            self.problems_not_listed += 1
            return
        where = ", ".join(filter(None, (f"line {line}" if line is not None else "", column or "")))
        self.problems.append(f"{where}: {problem}" if where else problem)

    def finish(self) -> None:
        if self.problems_not_listed:
            self.problems.append(f"... and {self.problems_not_listed} more problems not listed")


def text_lines(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(line number, line without its ending, the ending) one at a time, never the whole file split.

    Endings are CRLF, LF or a lone CR (the FEC allows "retour chariot et/ou fin de ligne"); the last
    line may have none. A file without any ending is one line.
    """
    ending = _first_ending(data)
    position, number, size = 0, 0, len(data)
    while position < size:
        number += 1
        end = data.find(ending, position) if ending else -1
        if end < 0:
            yield number, data[position:], b""
            return
        yield number, data[position:end], ending
        position = end + len(ending)


def _first_ending(data: bytes) -> bytes:
    """The file's line ending, from its first line, as the administration's test tool decides it."""
    newline = data.find(b"\n")
    if newline > 0 and data[newline - 1:newline] == b"\r":
        return b"\r\n"
    carriage = data.find(b"\r")
    if carriage >= 0 and (newline < 0 or carriage < newline):
        return b"\r"
    return b"\n" if newline >= 0 else b""


def decoded_lines(data: bytes, encoding: str) -> Iterator[str]:
    """Text lines for csv.reader, decoded as they are read (no decoded copy of the whole file)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")


class EntryBalances:
    """Debit and credit sums per entry, and the entry's date; an entry is checked when it closes.

    Lines come in file order with the key of their entry. With `reopen`, an entry whose lines are not
    consecutive is still one entry (the FEC groups by JournalCode and EcritureNum wherever the lines
    are); only the keys of closed balanced entries are kept, so memory grows with the number of
    entries, not of lines. Without it, a key seen again after another entry starts a new entry.
    """

    def __init__(self, report: ValidationReport, describe: Callable[[str], str], *, reopen: bool = False,
                 amount_column: str = "debit/credit", date_column: str = "date") -> None:
        self.report, self.describe, self.reopen = report, describe, reopen
        self.amount_column, self.date_column = amount_column, date_column
        self.key: str | None = None
        self.first_line = 0
        self.debits = self.credits = ZERO
        self.date: str | None = None
        self.balanced: dict[str, str | None] = {}  # closed balanced entries (reopen only): key -> date
        self.unbalanced: dict[str, tuple[int, Decimal, Decimal, str | None]] = {}  # reopen only

    def add(self, line: int, key: str, debit: Decimal, credit: Decimal, date: str | None = None) -> None:
        if key != self.key:
            self._close()
            self._open(line, key, date)
        elif date is not None and self.date is not None and date != self.date:
            self.report.add(line, self.date_column, f"{self.describe(key)} has the date {date} here but "
                                                    f"{self.date} on its earlier lines; an entry has one date")
        self.debits += debit
        self.credits += credit
        self.report.lines += 1
        self.report.total_debit += debit
        self.report.total_credit += credit

    def finish(self) -> None:
        self._close()
        for key, (line, debits, credits, _date) in self.unbalanced.items():
            self._report_unbalanced(line, key, debits, credits)
        self.unbalanced.clear()

    def _open(self, line: int, key: str, date: str | None) -> None:
        self.key, self.first_line, self.date = key, line, date
        self.debits = self.credits = ZERO
        if not self.reopen:
            self.report.entries += 1
        elif key in self.balanced:  # balanced so far: its sums cancel out, only its date matters
            earlier = self.balanced.pop(key)
            self._check_same_date(line, key, earlier, date)
            self.date = earlier if earlier is not None else date
        elif key in self.unbalanced:
            self.first_line, self.debits, self.credits, earlier = self.unbalanced.pop(key)
            self._check_same_date(line, key, earlier, date)
            self.date = earlier if earlier is not None else date
        else:
            self.report.entries += 1

    def _check_same_date(self, line: int, key: str, earlier: str | None, date: str | None) -> None:
        if earlier is not None and date is not None and earlier != date:
            self.report.add(line, self.date_column, f"{self.describe(key)} has the date {date} here but "
                                                    f"{earlier} on its earlier lines; an entry has one date")

    def _close(self) -> None:
        if self.key is None:
            return
        key, self.key = self.key, None
        if self.debits == self.credits:
            if self.reopen:
                self.balanced[key] = self.date
        elif self.reopen:  # later lines of the same entry may still balance it
            self.unbalanced[key] = (self.first_line, self.debits, self.credits, self.date)
        else:
            self._report_unbalanced(self.first_line, key, self.debits, self.credits)

    def _report_unbalanced(self, line: int, key: str, debits: Decimal, credits: Decimal) -> None:
        self.report.add(line, self.amount_column,
                        f"{self.describe(key)} (from this line) does not balance: debits {debits:.2f}, "
                        f"credits {credits:.2f} (difference {debits - credits:.2f})")


class LayoutChecks:
    """The checks of the generic layout (docs/entry-files.md), shared by the CSV and XLSX read-backs.

    Each format parses its cells (text or typed) and hands over what it could read; an entry is the
    consecutive rows sharing journal_code, document_reference and date, as the writer puts them.
    """

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.balances = EntryBalances(report, _describe_layout_entry, amount_column="debit/credit")

    def row(self, line: int, journal: str, day: date | None, account: str, debit: Decimal | None,
            credit: Decimal | None, reference: str) -> None:
        report = self.report
        if not journal.strip():
            report.add(line, "journal_code", "is empty")
        if not account.strip():
            report.add(line, "account", "is empty")
        if not reference.strip():
            report.add(line, "document_reference", "is empty")
        if (debit is None) == (credit is None):
            report.add(line, "debit/credit", "a row has exactly one amount, in debit or in credit")
        for column, amount in (("debit", debit), ("credit", credit)):
            if amount is not None and amount <= 0:
                report.add(line, column, f"{amount} must be positive (the column gives the side)")
        if day is not None:
            self.balances.add(line, f"{journal}\x1f{reference}\x1f{day.isoformat()}", debit or ZERO,
                              credit or ZERO)

    def foreign(self, line: int, given: bool, amount: Decimal | None, currency: str) -> None:
        """foreign_amount and currency, both or neither: a positive amount (`given` but None: its format
        was already reported) and a 3-letter ISO code."""
        report = self.report
        if not given and not currency:
            return
        if not given:
            report.add(line, "foreign_amount", f"is empty while currency is {currency!r}; give both or neither")
        elif amount is not None and amount <= 0:
            report.add(line, "foreign_amount", f"{amount} must be positive (the debit or credit gives the side)")
        if not currency:
            report.add(line, "currency", "is empty while foreign_amount is set; give both or neither")
        elif not CURRENCY_CODE.fullmatch(currency):
            report.add(line, "currency", f"{currency!r} is not a 3-letter ISO currency code")

    def finish(self) -> None:
        self.balances.finish()
        self.report.finish()


def _describe_layout_entry(key: str) -> str:
    journal, reference, day = key.split("\x1f")
    return f"entry {reference!r} of journal {journal!r} dated {day}"
