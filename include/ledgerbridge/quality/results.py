"""What a suite run returns, and the compact table for a task log. Plain Python, no GX."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """One failed expectation on one record: what GX saw, and what a person reads."""

    key: str  # the record's key (quarantine record_key)
    expectation: str  # our name, e.g. "total_equals_lines"
    gx_type: str  # GX's, e.g. "expect_column_pair_values_to_be_equal"
    columns: tuple[str, ...]  # the frame columns GX looked at
    values: dict[str, Any]  # their values on the failing row (money as Decimal, never the integer units)
    field: str  # like a quarantine Reason: "lines[2].account_code"
    problem: str  # "no active account with this number or name"
    value: Any = None  # the offending value shown, "(got '9999')"

    def reason(self) -> dict[str, Any]:
        """The quarantine Reason's fields: ``Reason(**failure.reason())``."""
        return {"field": self.field, "problem": self.problem, "value": self.value, "expectation": self.expectation}

    def message(self) -> str:
        """'total: 100.00 differs from the sum of its lines 90.00' (quarantine.describe's format)."""
        value = self.value
        shown = "" if value is None or str(value) in self.problem else f" (got {str(value)!r})"
        return f"{self.field}: {self.problem}{shown}"

    def __str__(self) -> str:
        return f"{self.key} {self.message()}"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "expectation": self.expectation, "gx_type": self.gx_type,
                "columns": list(self.columns), "values": {k: _plain(v) for k, v in self.values.items()},
                "field": self.field, "problem": self.problem, "value": _plain(self.value)}


@dataclass(frozen=True)
class ExpectationStat:
    """One row of the per-expectation table."""

    expectation: str
    gx_type: str
    table: str
    columns: tuple[str, ...]
    checked: int  # rows of its table GX evaluated (rows it skips, e.g. a missing optional value, not counted)
    failed: int  # rows that failed
    failed_records: int  # distinct records among them
    examples: tuple[str, ...]  # first 3 record keys (or, for a batch expectation, what failed)
    record_level: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "gx_type": self.gx_type, "table": self.table,
                "columns": list(self.columns), "checked": self.checked, "failed": self.failed,
                "failed_records": self.failed_records, "examples": list(self.examples),
                "record_level": self.record_level}


@dataclass
class SuiteResult:
    suite: str
    version: str
    checked: int  # records
    passed: list[str]  # keys of the records that passed every expectation, in input order
    failures: dict[str, list[Failure]]  # key -> every failed expectation of that record, in input order
    expectations: list[ExpectationStat]
    batch_failures: list[Failure]  # expectations about the batch (row-count drop): no record fails
    failure_rate: float  # failed records / checked records, both without the carried-over and waiting ones
    max_failure_rate: float
    systemic: bool
    message: str
    group_rates: dict[str, tuple[int, int]] = field(default_factory=dict)  # group -> (failed, checked)
    gx_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # build, frames, gx, map, total (seconds)
    carried_over: int = 0  # held from earlier runs (check's `carried_over`): not in the failure rate
    waiting_on_review: int = 0  # new records failing only out-of-rate checks (their party): not in the rate either
    min_records_for_rate: int = 0  # fewer new records than this: no rate is judged

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """No record failed and nothing systemic."""
        return not self.failures and not self.systemic

    def reasons(self, key: str) -> list[dict[str, Any]]:
        """The quarantine reasons of one record: ``[Reason(**r) for r in result.reasons(key)]``."""
        return [failure.reason() for failure in self.failures.get(key, ())]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for the ledger and the reconcile report (XCom should carry counts only)."""
        return {
            "suite": self.suite, "version": self.version, "gx_version": self.gx_version,
            "checked": self.checked, "passed": len(self.passed), "failed": self.failed,
            "failure_rate": self.failure_rate, "max_failure_rate": self.max_failure_rate,
            "systemic": self.systemic, "message": self.message, "carried_over": self.carried_over,
            "waiting_on_review": self.waiting_on_review,
            "expectations": [stat.as_dict() for stat in self.expectations],
            "batch_failures": [failure.as_dict() for failure in self.batch_failures],
            "failures": {key: [f.as_dict() for f in failures] for key, failures in self.failures.items()},
            "group_rates": {group: list(counts) for group, counts in self.group_rates.items()},
        }

    def summary(self) -> dict[str, Any]:
        """Counts only: what an operator returns (and XCom carries)."""
        return {"suite": f"{self.suite}@{self.version}", "checked": self.checked, "passed": len(self.passed),
                "failed": self.failed, "systemic": self.systemic}


def format_table(result: SuiteResult, only_failed: bool = False) -> str:
    """The compact per-suite table for a task log: expectation | checked | failed | examples."""
    carried = "".join(f", {count:,} of them {what}" for count, what in (
        (result.carried_over, "held from earlier runs"), (result.waiting_on_review, "waiting on a review")) if count)
    new = result.checked - result.carried_over - result.waiting_on_review
    rate = f"rate {result.failure_rate:.1%} of the others" if carried else f"{result.failure_rate:.1%}"
    judged = (f"systemic above {result.max_failure_rate:.1%}" if new >= result.min_records_for_rate else
              f"too few new records to judge a rate: from {result.min_records_for_rate}")
    header = (f"suite {result.suite} {result.version}: {result.checked:,} checked{carried}, "
              f"{len(result.passed):,} passed, {result.failed:,} failed ({rate}; {judged})")
    if only_failed and not result.failures and not result.batch_failures:
        return f"{header}; all {len(result.expectations)} expectations passed"
    rows = [(stat.expectation, f"{stat.checked:,}", f"{stat.failed:,}", ", ".join(stat.examples))
            for stat in result.expectations if stat.failed or not only_failed]
    titles = ("expectation", "checked", "failed", "examples")
    widths = [max([len(titles[i])] + [len(row[i]) for row in rows]) for i in range(3)]
    lines = [header,
             f"{titles[0]:<{widths[0]}} | {titles[1]:>{widths[1]}} | {titles[2]:>{widths[2]}} | {titles[3]}",
             f"{'-' * widths[0]}-+-{'-' * widths[1]}-+-{'-' * widths[2]}-+-{'-' * 8}"]
    for name, checked, failed, examples in rows:
        lines.append(f"{name:<{widths[0]}} | {checked:>{widths[1]}} | {failed:>{widths[2]}} | {examples}".rstrip())
    for failure in result.batch_failures:
        lines.append(f"BATCH {failure.expectation}: {failure.message()}")
    quiet = len(result.expectations) - len(rows)
    if quiet:
        lines.append(f"(and {quiet} more expectation{'s' if quiet > 1 else ''} with no failure)")
    if result.systemic:
        lines.append(result.message)
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
