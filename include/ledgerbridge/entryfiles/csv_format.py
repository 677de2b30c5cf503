"""Entry files as CSV: UTF-8, a header row, amounts as text with exactly two decimals."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .entries import CENT, COLUMNS, EntryRow

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
