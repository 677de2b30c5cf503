"""What a suite is made of, as plain data: no Great Expectations, no pandas at import time.

A suite turns the records a step is about to hand on into one or more *tables* (lists of flat rows:
one per document, one per line, ...) and lists the *expectations* to run on them. Each expectation
names a GX Core built-in (by class name, resolved by the runner), its arguments, and how a failure
reads for a person: the field (formatted with the failing row, e.g. ``lines[{line_no}].amount``),
the problem and the value shown. The runner builds the frames, runs GX and maps failures back.

Money never goes into a frame as float. A column declared ``MONEY`` holds exact integer
ten-thousandths (the ledger's ``Numeric(19, 4)``) in a nullable ``Int64`` column, so GX compares
amounts exactly; rows keep the original ``Decimal`` for the messages.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

# Column types (how the runner builds each frame column).
MONEY = "money"  # Decimal -> exact Int64 of ten-thousandths; None when missing or not exact at 4 places
INT = "int"  # Int64
STR = "str"  # string, None stays missing
BOOL = "bool"  # nullable boolean: None = not applicable, skipped by the expectation
DATE = "date"  # date -> datetime64

MONEY_SCALE = 10_000  # ten-thousandths: every amount the ledger holds is exact at this scale
MONEY_PLACES = 2  # QuickBooks Online keeps amounts in cents
KEY = "_key"  # every record row carries the record's key here
RECORD = "_record"  # ... and the record's position in the input


def money_units(amount: Any) -> int | None:
    """The exact integer number of ten-thousandths, or None when absent or not exact at 4 places."""
    if amount is None or isinstance(amount, (bool, float)):
        return None
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        scaled = value * MONEY_SCALE
        if not scaled.is_finite() or scaled != scaled.to_integral_value():
            return None
        return int(scaled)
    except (InvalidOperation, ValueError):
        return None


def decimal_places(amount: Any) -> int | None:
    """Decimal places that carry a value (1.50 has 1); 99 for something that is not an exact number."""
    if amount is None:
        return None
    if isinstance(amount, (bool, float)):
        return 99
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return 99
    if not value.is_finite():
        return 99
    if value == 0:
        return 0
    return max(0, -value.normalize().as_tuple().exponent)


def money_sum(amounts) -> Decimal | None:
    """Exact sum; None when any amount is missing or not a number (its own check says why)."""
    total = Decimal(0)
    for amount in amounts:
        if amount is None or isinstance(amount, (bool, float)):
            return None
        try:
            total += amount if isinstance(amount, Decimal) else Decimal(str(amount))
        except (InvalidOperation, ValueError):
            return None
    return total


Problem = str | Callable[[dict, Any], str]


@dataclass(frozen=True)
class Expectation:
    """One check: a GX Core built-in on one table, and how its failure reads for a person."""

    name: str  # stable id, shown in the task log and stored with each failure
    table: str  # which table of the suite it runs on
    gx: str  # GX Core class in great_expectations.expectations, e.g. "ExpectColumnValuesToBeInSet"
    kwargs: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]]  # fixed, or built from the params
    field: str  # the field a person sees, formatted with the row: "lines[{line_no}].account_code"
    problem: Problem  # what is wrong, formatted with the row, or a function (row, params) -> str
    value: str | None = None  # row key of the value shown as "(got ...)"
    why: str = ""  # one line for docs/data-quality.md
    record_level: bool = True  # False: about the batch (row counts); a failure is systemic, no record fails
    when: Callable[[Any], bool] | None = None  # run only when this is true for the params
    # A person may release a record failing it (`ledgerbridge quarantine release`): the accounting
    # system would take the record as it is, and only a person can tell whether it is right.
    overridable: bool = False
    # False: a record failing only this is held but left out of the failure rate, because the cause
    # has its own queue (a party waiting for a person's review), not a mapping gone wrong.
    in_failure_rate: bool = True

    def arguments(self, params: Any) -> dict[str, Any]:
        return dict(self.kwargs(params) if callable(self.kwargs) else self.kwargs)

    def applies(self, params: Any) -> bool:
        return self.when is None or bool(self.when(params))

    def columns(self, params: Any) -> tuple[str, ...]:
        return columns_of(self.arguments(params))

    def describe(self, row: dict, params: Any) -> tuple[str, str, Any]:
        """(field, problem, value) for a failing row, like a quarantine Reason."""
        where = self.field.format_map(_Lenient(row))
        problem = self.problem(row, params) if callable(self.problem) else self.problem.format_map(_Lenient(row))
        return where, problem, row.get(self.value) if self.value else None


def columns_of(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """The frame columns an expectation's arguments name."""
    if "column" in kwargs:
        return (kwargs["column"],)
    if "column_A" in kwargs:
        return (kwargs["column_A"], kwargs["column_B"])
    return tuple(kwargs.get("column_list", ()))


class _Lenient(dict):
    """str.format_map that shows a missing key as '?' rather than raising."""

    def __missing__(self, key):
        return "?"


@dataclass(frozen=True)
class Suite:
    """A versioned set of expectations over the tables built from one dataset's records."""

    name: str
    version: str
    max_failure_rate: float  # systemic above this share of failed records (overall or per group)
    params_type: type
    build: Callable[[list[dict], Any], dict[str, list[dict]]]  # records, params -> {table: rows}
    expectations: tuple[Expectation, ...]
    columns: Mapping[str, Mapping[str, str]]  # table -> {column: type}, every column GX looks at
    key: Callable[[dict, int], str]  # record, position -> key (the quarantine record_key)
    group: Callable[[dict], str] = lambda record: ""  # e.g. the kind, for per-group failure rates
    min_records_for_rate: int = 20  # the failure rate (overall, or a group's) counts from this many records on
    tables: tuple[str, ...] = field(default=())  # table order; default: the columns' order

    @property
    def gx_name(self) -> str:
        return f"ledgerbridge.{self.name}@{self.version}"

    def make_params(self, params: Any) -> Any:
        if params is None:
            return self.params_type()
        if isinstance(params, self.params_type):
            return params
        if isinstance(params, Mapping):
            return self.params_type(**params)
        raise TypeError(f"suite {self.name}: params must be {self.params_type.__name__} or a mapping, "
                        f"not {type(params).__name__}")

    def table_names(self) -> tuple[str, ...]:
        return self.tables or tuple(self.columns)


def text(value: Any) -> str | None:
    """A string field: stripped, None when empty."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None
