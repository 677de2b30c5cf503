"""Run a suite with Great Expectations (GX Core 1.x) and map its failures back to records.

`check(suite, records, params)`:

1. the suite builds its tables (flat rows) from the records;
2. each table becomes a pandas DataFrame with declared column types: money as exact ``Int64``
   ten-thousandths, dates as ``datetime64``, flags as nullable booleans, text as objects;
3. GX validates the whole frame (ephemeral context, pandas datasource, one whole-dataframe batch
   definition per table, an ExpectationSuite built for these params) with result_format COMPLETE,
   which lists every failing row (``unexpected_index_list``);
4. each failing row is mapped back to its record, with the expectation, the columns and values,
   and a field/problem/value a person can act on.

GX and pandas are imported here, inside functions, on the first check, never when
`ledgerbridge.quality` is imported (the DAG parse path stays free of them). One GX context per
process is created on first use and reused (GX takes seconds to import, milliseconds to validate).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from ledgerbridge.quality.results import ExpectationStat, Failure, SuiteResult
from ledgerbridge.quality.spec import (
    BOOL,
    DATE,
    INT,
    KEY,
    MONEY,
    RECORD,
    STR,
    Expectation,
    Suite,
    columns_of,
    money_units,
)

DATASOURCE = "ledgerbridge"
_SEP = "\x1f"
_UNIQUE = ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique")


class QualityError(RuntimeError):
    """A suite could not run (an expectation raised inside GX, a column is missing): not a data problem."""


class _GX:
    """One ephemeral GX context per process, with a batch definition per suite table."""

    def __init__(self):
        # GX logs hundreds of INFO lines while it imports; a task log should show ours. A level set
        # by the deployment's logging configuration is kept.
        gx_logger = logging.getLogger("great_expectations")
        if gx_logger.level == logging.NOTSET:
            gx_logger.setLevel(logging.WARNING)
        try:
            import great_expectations as gx
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )
        except ImportError as error:
            raise QualityError(f"Great Expectations is not installed ({error}): the data-quality checks need "
                               "great_expectations 1.x (requirements.txt)") from error

        self.gx = gx
        self.expectations = gx.expectations
        self.version = gx.__version__
        config = DataContextConfig(progress_bars=ProgressBarsConfig(globally=False), analytics_enabled=False,
                                   store_backend_defaults=InMemoryStoreBackendDefaults())
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        self.datasource = self.context.data_sources.add_pandas(name=DATASOURCE)
        self.batch_definitions: dict[str, Any] = {}

    def batch_definition(self, name: str):
        if name not in self.batch_definitions:
            asset = self.datasource.add_dataframe_asset(name=name)
            self.batch_definitions[name] = asset.add_batch_definition_whole_dataframe(f"{name}:whole")
        return self.batch_definitions[name]


_lock = threading.RLock()
_state: _GX | None = None


def gx_context() -> _GX:
    """The process's GX context, created (and GX imported) on first use."""
    global _state
    with _lock:
        if _state is None:
            _state = _GX()
        return _state


def check(suite: Suite | str, records: list[dict], params: Any = None, carried_over: Collection[str] = ()) -> SuiteResult:
    """Run `suite` over `records`; every record either passes or has its failures, with reasons.

    `carried_over`: keys of records already held from an earlier run. They are checked (so a fixed one
    passes) but left out of the failure rate: records that stay bad for weeks must not make every
    later batch look systemic, nor hide a new systemic problem.
    """
    from ledgerbridge.quality import get_suite

    started = time.perf_counter()
    suite = get_suite(suite) if isinstance(suite, str) else suite
    params = suite.make_params(params)
    records = list(records)
    keys = [suite.key(record, position) for position, record in enumerate(records)]
    tables = suite.build(records, params)
    built = time.perf_counter()
    expectations = [exp for exp in suite.expectations if exp.applies(params)]
    arguments = {exp.name: exp.arguments(params) for exp in expectations}  # once: value sets can be large
    columns = {name: columns_of(kwargs) for name, kwargs in arguments.items()}

    state = gx_context()  # the first call imports GX and creates the context
    started_gx = time.perf_counter()
    frames_s = gx_s = 0.0
    per_record: dict[int, list[Failure]] = defaultdict(list)
    batch_failures: list[Failure] = []
    stats: list[ExpectationStat] = []
    for table in suite.table_names():
        rows = tables.get(table, [])
        table_expectations = [exp for exp in expectations if exp.table == table]
        if not table_expectations:
            continue
        if not rows:
            stats.extend(ExpectationStat(exp.name, _snake(exp.gx), table, columns[exp.name], 0, 0, 0, (),
                                         exp.record_level) for exp in table_expectations)
            continue
        t0 = time.perf_counter()
        frame = _frame(rows, suite.columns[table], suite.name, table)
        t1 = time.perf_counter()
        results = _validate(state, suite, table, frame, table_expectations, arguments)
        t2 = time.perf_counter()
        frames_s, gx_s = frames_s + (t1 - t0), gx_s + (t2 - t1)
        for exp in table_expectations:
            gx_type, result = results[exp.name]
            indexes = result.get("unexpected_index_list") or []
            if len(indexes) != (result.get("unexpected_count") or 0):
                raise QualityError(f"suite {suite.name}: GX did not list the failing rows of {exp.name} "
                                   f"({result.get('unexpected_count')} failed, {len(indexes)} listed)")
            failures = _failures(exp, gx_type, rows, indexes, params, columns[exp.name])
            checked = int(result.get("element_count", len(rows)) or 0) - int(result.get("missing_count", 0) or 0)
            if exp.record_level:
                for index, failure in zip(indexes, failures):
                    per_record[rows[int(index)][RECORD]].append(failure)
                examples = tuple(dict.fromkeys(f.key for f in failures))[:3]
                failed_records = len({rows[int(i)][RECORD] for i in indexes})
            else:
                batch_failures.extend(failures)
                examples = tuple(f.field for f in failures)[:3]
                failed_records = 0
            stats.append(ExpectationStat(exp.name, gx_type, table, columns[exp.name], checked, len(indexes),
                                         failed_records, examples, exp.record_level))
    mapped = time.perf_counter()
    order = {exp.name: n for n, exp in enumerate(expectations)}
    stats.sort(key=lambda stat: order[stat.expectation])
    return _result(suite, params, records, keys, set(carried_over), per_record, batch_failures, stats, state.version,
                   {"build": built - started, "gx_startup": started_gx - built, "frames": frames_s, "gx": gx_s,
                    "map": mapped - started_gx - frames_s - gx_s, "total": mapped - started})


def _frame(rows: list[dict], columns: dict[str, str], suite: str, table: str):
    import pandas as pd

    data = {}
    for column, kind in columns.items():
        values = [row.get(column) for row in rows]
        if kind == MONEY:
            data[column] = pd.array([money_units(v) for v in values], dtype="Int64")
        elif kind == INT:
            data[column] = pd.array(values, dtype="Int64")
        elif kind == BOOL:
            data[column] = pd.array(values, dtype="boolean")
        elif kind == DATE:
            data[column] = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce")
        elif kind == STR:
            data[column] = pd.Series([None if v is None else str(v) for v in values], dtype=object)
        else:
            raise QualityError(f"suite {suite}: column {table}.{column} has an unknown type {kind!r}")
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _validate(state: _GX, suite: Suite, table: str, frame, expectations: list[Expectation],
              arguments: dict[str, dict]) -> dict[str, tuple[str, dict]]:
    """{expectation name: (GX type, GX result dict)} of one table's batch."""
    with _lock:
        gx_suite = state.gx.ExpectationSuite(name=f"{suite.gx_name}/{table}")
        for exp in expectations:
            cls = getattr(state.expectations, exp.gx, None)
            if cls is None:
                raise QualityError(f"suite {suite.name}: {exp.name} names {exp.gx}, which GX "
                                   f"{state.version} does not have")
            missing = [c for c in columns_of(arguments[exp.name]) if c not in frame.columns]
            if missing:
                raise QualityError(f"suite {suite.name}: {exp.name} looks at {table}.{', '.join(missing)}, "
                                   "which the suite does not declare")
            gx_suite.add_expectation(cls(**arguments[exp.name], meta={"ledgerbridge": exp.name}))
        batch = state.batch_definition(f"{suite.name}.{table}").get_batch(batch_parameters={"dataframe": frame})
        validation = batch.validate(gx_suite, result_format={"result_format": "COMPLETE",
                                                            "return_unexpected_index_query": False})
    results = {}
    for outcome in validation.results:
        config = outcome.expectation_config
        name = (config.meta or {}).get("ledgerbridge")
        error = _exception(outcome.exception_info)
        if error:
            raise QualityError(f"suite {suite.name}: expectation {name} ({config.type}) could not run: {error}")
        results[name] = (config.type, outcome.result or {})
    absent = [exp.name for exp in expectations if exp.name not in results]
    if absent:
        raise QualityError(f"suite {suite.name}: GX returned no result for {', '.join(absent)}")
    return results


def _exception(info) -> str | None:
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message") or "an exception"
    return None


def _failures(exp: Expectation, gx_type: str, rows: list[dict], indexes: list, params: Any,
              columns: tuple[str, ...]) -> list[Failure]:
    peers: dict[Any, list[str]] = {}
    if exp.gx in _UNIQUE:
        for index in indexes:
            row = rows[int(index)]
            peers.setdefault(tuple(row.get(c) for c in columns), []).append(row[KEY])
    failures = []
    for index in indexes:
        row = rows[int(index)]
        if peers:
            row = dict(row, _peers=peers[tuple(row.get(c) for c in columns)])
        where, problem, value = exp.describe(row, params)
        failures.append(Failure(row.get(KEY, where), exp.name, gx_type, columns,
                                {c: _shown(row.get(c)) for c in columns}, where, problem, value))
    return failures


def _shown(value: Any) -> Any:
    return value.replace(_SEP, " / ") if isinstance(value, str) else value


def _result(suite: Suite, params: Any, records: list[dict], keys: list[str], carried_over: set[str],
            per_record: dict[int, list[Failure]], batch_failures: list[Failure], stats: list[ExpectationStat],
            gx_version: str, timings: dict[str, float]) -> SuiteResult:
    failures: dict[str, list[Failure]] = {}
    for position in sorted(per_record):
        failures.setdefault(keys[position], []).extend(per_record[position])
    passed = [k for k in dict.fromkeys(keys) if k not in failures]
    checked = len(records)
    out_of_rate = {exp.name for exp in suite.expectations if not exp.in_failure_rate}
    held = [position for position in range(checked) if keys[position] in carried_over]
    waiting = [position for position in range(checked) if keys[position] not in carried_over and per_record.get(
        position) and all(f.expectation in out_of_rate for f in per_record[position])]
    left_out = {*held, *waiting}
    counted = [position for position in range(checked) if position not in left_out]
    failed_counted = sum(position in per_record for position in counted)
    rate = failed_counted / len(counted) if counted else 0.0
    limit = getattr(params, "max_failure_rate", suite.max_failure_rate)
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for position in counted:
        record = records[position]
        counts = groups[suite.group(record)]
        counts[1] += 1
        counts[0] += position in per_record
    why = []
    besides = " and ".join(f"{len(positions):,} {what}" for positions, what in (
        (held, "held from earlier runs"), (waiting, "waiting on a review")) if positions)
    carried = f" (besides {besides})" if besides else ""
    if len(counted) >= suite.min_records_for_rate and rate > limit:
        why.append(f"{failed_counted:,} of {len(counted):,} records failed ({rate:.1%}, above the suite's "
                   f"{limit:.1%}){carried}")
    if len(groups) > 1:
        for group, (failed, total) in sorted(groups.items()):
            if total >= suite.min_records_for_rate and failed / total > limit:
                why.append(f"{failed:,} of {total:,} {group} records failed ({failed / total:.1%}, above "
                           f"{limit:.1%})")
    why.extend(failure.message() for failure in batch_failures)
    systemic = bool(why)
    if systemic:
        common = sorted((s for s in stats if s.failed_records), key=lambda s: -s.failed_records)[:3]
        most = "; most failed: " + ", ".join(f"{s.expectation} ({s.failed_records:,})" for s in common) if common else ""
        message = (f"SYSTEMIC problem in suite {suite.name} {suite.version}: " + "; ".join(why) + most +
                   ". This looks like a wrong mapping or a half-empty pull rather than bad records: fix the cause "
                   "before anything is exported.")
    else:
        message = (f"suite {suite.name} {suite.version}: {checked:,} checked, {len(passed):,} passed, "
                   f"{len(failures):,} failed{carried} ({rate:.1%}; systemic above {limit:.1%})")
    return SuiteResult(suite.name, suite.version, checked, passed, failures, stats, batch_failures, rate, limit,
                       systemic, message, {g: (c[0], c[1]) for g, c in groups.items()}, gx_version, timings,
                       len(held), len(waiting), suite.min_records_for_rate)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
