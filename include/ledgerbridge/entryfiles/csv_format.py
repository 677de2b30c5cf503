"""Entry files as CSV: UTF-8, a header row, amounts as text with exactly two decimals."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .entries import CENT, COLUMNS, EntryRow
from .validation import MAX_PROBLEMS, LayoutChecks, ValidationReport, decoded_lines

DELIMITERS = (",", ";")
DECIMAL_POINTS = (".", ",")


@dataclass(frozen=True)
class CsvFormat:
    delimiter: str = ","
    decimal_point: str = "."
    date_format: str = "%Y-%m-%d"
    # Excel only reads a CSV as UTF-8 when it starts with a byte order mark; importers may not want one.
    byte_order_mark: bool = False

    def __post_init__(self) -> None:
        if self.delimiter not in DELIMITERS:
            raise ValueError(f"delimiter {self.delimiter!r} must be one of {DELIMITERS}")
        if self.decimal_point not in DECIMAL_POINTS:
            raise ValueError(f"decimal point {self.decimal_point!r} must be one of {DECIMAL_POINTS}")
        if self.delimiter == self.decimal_point:
            # Valid CSV once quoted, but importers that split on the delimiter would cut every amount in two.
            raise ValueError("a decimal comma needs the ';' delimiter")

    @classmethod
    def french(cls) -> CsvFormat:
        """What French accounting software usually imports: ';', decimal comma, dd/mm/yyyy."""
        return cls(delimiter=";", decimal_point=",", date_format="%d/%m/%Y")


PLAIN_CSV = CsvFormat()  # RFC 4180: comma, decimal point, ISO dates


def format_amount(amount: Decimal | None, decimal_point: str = ".") -> str:
    """Two decimals from the Decimal itself (no float on the way); empty for the unused side."""
    if amount is None:
        return ""
    return f"{amount.quantize(CENT):f}".replace(".", decimal_point)


def _cell(value: object, fmt: CsvFormat) -> str:
    if isinstance(value, Decimal):
        return format_amount(value, fmt.decimal_point)
    if isinstance(value, date):
        return value.strftime(fmt.date_format)
    return "" if value is None else str(value)


def render_csv(rows: Iterable[EntryRow], fmt: CsvFormat = PLAIN_CSV) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=fmt.delimiter, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(COLUMNS)
    writer.writerows([_cell(value, fmt) for value in row.values()] for row in rows)
    return text.getvalue().encode("utf-8-sig" if fmt.byte_order_mark else "utf-8")


def validate_csv(data: bytes, fmt: CsvFormat = PLAIN_CSV, *, max_problems: int = MAX_PROBLEMS) -> ValidationReport:
    """Read a CSV entry file back: header, one positive two-decimal amount per row, entries balanced."""
    report = ValidationReport(max_problems=max_problems)
    checks = LayoutChecks(report)
    amount = re.compile(r"-?\d+" + re.escape(fmt.decimal_point) + r"\d{2}")
    days: dict[str, date | None] = {}
    rows = csv.reader(decoded_lines(data, "utf-8-sig"), delimiter=fmt.delimiter)  # a byte order mark or none
    try:
        header = next(rows, None)
        if header is None:
            report.add(None, None, "the file is empty; it starts with the header row")
        elif tuple(header) != COLUMNS:
            report.add(1, None, f"the header must be {','.join(COLUMNS)}; found {','.join(header)}")
        for cells in rows:
            line = rows.line_num
            if len(cells) != len(COLUMNS):
                report.add(line, None, f"has {len(cells)} columns instead of {len(COLUMNS)} (delimiter "
                                       f"{fmt.delimiter!r})")
                continue
            journal, day_text, account, _subsidiary, _label, debit, credit, reference, _attachments, foreign, \
                currency = cells
            day = days[day_text] if day_text in days else days.setdefault(day_text, _parsed_day(day_text, fmt))
            if day is None:
                report.add(line, "date", f"{day_text!r} is not a date as {fmt.date_format}")
            checks.row(line, journal, day, account, _csv_amount(report, line, "debit", debit, amount, fmt),
                       _csv_amount(report, line, "credit", credit, amount, fmt), reference)
            checks.foreign(line, bool(foreign), _csv_amount(report, line, "foreign_amount", foreign, amount, fmt),
                           currency)
    except UnicodeDecodeError as exc:
        report.add(None, None, f"is not UTF-8 (byte {exc.start} of a read block); reading stopped")
    except csv.Error as exc:
        report.add(rows.line_num, None, f"is not CSV: {exc}; reading stopped")
    checks.finish()
    return report


def _parsed_day(text: str, fmt: CsvFormat) -> date | None:
    try:
        return datetime.strptime(text, fmt.date_format).date()
    except ValueError:
        return None


def _csv_amount(report: ValidationReport, line: int, column: str, text: str, amount: re.Pattern,
                fmt: CsvFormat) -> Decimal | None:
    if not text:
        return None
    if not amount.fullmatch(text):
        report.add(line, column, f"{text!r} is not an amount with exactly two decimals after "
                                 f"{fmt.decimal_point!r} and no thousands separator")
        return None
    return Decimal(text.replace(fmt.decimal_point, "."))
