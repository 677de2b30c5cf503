"""What each step of a sync tells the tools that watch it: one JSON line in the task log and a few
metrics per entity and step (docs/observability.md names them).

The code that does the work counts as it goes (`count`, `add_limiter_wait`): the outbox counts what
it sends and what is confirmed or rejected, quarantine what it holds, the REST clients their requests,
429 answers and limiter waits. The counts go to the meter of the step running in this context, which
`pipeline.run_step` opens (`observe_step`) and closes (`StepObservation.finish`); outside a step
(the UI, the CLI's commands, tests of a connector) counting does nothing.

The metrics go through a `MetricsEmitter`: Airflow's own metrics client in a task
(ledgerbridge_airflow.metrics), a plain StatsD client when `LEDGERBRIDGE_STATSD_HOST` is set, or none.
This module imports nothing of Airflow, nor of the rest of LedgerBridge (the ledger and the connectors
import it).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any, Protocol

# The fixed start of the summary line, for grep and for log pipelines' parsers: `LEDGERBRIDGE_STEP {json}`.
STEP_LINE_PREFIX = "LEDGERBRIDGE_STEP"
METRIC_NAMESPACE = "ledgerbridge"
ERROR_CHARS = 500  # of the error in the summary line; the task log above it has the whole traceback

log = logging.getLogger(__name__)


@dataclass
class StepMeter:
    """What one step did, as counted where it happened."""

    exported: int = 0       # outbox rows handed to the accounting system (not those it turned away unapplied)
    confirmed: int = 0      # outbox rows settled confirmed (sent now, adopted after a look-up, or confirmed by file)
    rejected: int = 0       # outbox rows settled rejected by the accounting system
    quarantined: int = 0    # records held in quarantine (again) by this step
    api_requests: int = 0   # requests to an accounting REST API (QuickBooks Online, Xero), retries included
    api_throttled: int = 0  # of which answered HTTP 429
    limiter_wait_s: float = 0.0  # waited for the company's client-side rate limiter


COUNTS = tuple(name for name in StepMeter.__dataclass_fields__ if name != "limiter_wait_s")

_current: ContextVar[StepMeter | None] = ContextVar("ledgerbridge_step_meter", default=None)


def count(what: str, n: int = 1) -> None:
    """Count `n` of `what` (one of COUNTS) for the step running in this context, if any."""
    if what not in COUNTS:
        raise ValueError(f"unknown step count {what!r}: known are {', '.join(COUNTS)}")
    meter = _current.get()
    if meter is not None and n:
        setattr(meter, what, getattr(meter, what) + n)


@contextmanager
def counted_only_if_kept() -> Iterator[None]:
    """Counts made inside are taken back when the block raises: a savepoint rolled back, nothing of it happened
    (what is done again after it counts again)."""
    meter = _current.get()
    before = {name: getattr(meter, name) for name in COUNTS} if meter is not None else {}
    try:
        yield
    except BaseException:
        for name, value in before.items():
            setattr(meter, name, value)
        raise


def add_limiter_wait(seconds: float) -> None:
    meter = _current.get()
    if meter is not None and seconds > 0:
        meter.limiter_wait_s += seconds


# -- metrics -------------------------------------------------------------------------------------------

class MetricsEmitter(Protocol):
    """Where metrics go. Names are LedgerBridge's (`ledgerbridge.records.exported`); the emitter adds
    its prefix. Tags are small and bounded: entity, step, status."""

    def incr(self, name: str, count: int, tags: Mapping[str, str]) -> None: ...

    def timing(self, name: str, milliseconds: float, tags: Mapping[str, str]) -> None: ...


class NullEmitter:
    def incr(self, name: str, count: int, tags: Mapping[str, str]) -> None:
        pass

    def timing(self, name: str, milliseconds: float, tags: Mapping[str, str]) -> None:
        pass


class StatsdEmitter:
    """A plain StatsD client for runs outside Airflow, writing what Airflow's StatsD client writes with
    `[metrics] statsd_influxdb_enabled`: `prefix.name,entity=acme,step=export_documents:3|c`, so the same
    statsd_exporter mapping and dashboard serve both."""

    def __init__(self, host: str, port: int = 8125, prefix: str = "airflow"):
        from statsd import StatsClient

        self.client = StatsClient(host, port, prefix=prefix or None)

    def incr(self, name: str, count: int, tags: Mapping[str, str]) -> None:
        self.client.incr(_tagged(name, tags), count)

    def timing(self, name: str, milliseconds: float, tags: Mapping[str, str]) -> None:
        self.client.timing(_tagged(name, tags), milliseconds)


def _tagged(name: str, tags: Mapping[str, str]) -> str:
    return ",".join([name, *(f"{key}={value}" for key, value in tags.items())])


def emitter_from_environment() -> MetricsEmitter:
    """`LEDGERBRIDGE_STATSD_HOST` (and `_PORT`, default 8125; `_PREFIX`, default `airflow`, as Airflow's)
    sends a run's metrics outside Airflow; unset, none are sent."""
    host = os.environ.get("LEDGERBRIDGE_STATSD_HOST")
    if not host:
        return NullEmitter()
    port = os.environ.get("LEDGERBRIDGE_STATSD_PORT", "8125")
    try:
        if not port.isdigit():
            raise ValueError(f"{port!r} is not a port number")
        return StatsdEmitter(host, int(port), os.environ.get("LEDGERBRIDGE_STATSD_PREFIX", "airflow"))
    except (OSError, ValueError) as exc:  # metrics never stop a sync
        log.warning("metrics: LEDGERBRIDGE_STATSD_HOST %s port %s cannot be used (%s): no metrics are sent",
                    host, port, exc)
        return NullEmitter()


# (metric name, StepMeter field): counters, then timers in milliseconds. docs/observability.md lists them.
METRIC_COUNTERS = (
    ("records.exported", "exported"),
    ("records.confirmed", "confirmed"),
    ("records.rejected", "rejected"),
    ("records.quarantined", "quarantined"),
    ("api.requests", "api_requests"),
    ("api.throttled", "api_throttled"),
)
STEP_RUNS = "step.runs"          # counter, one per step run, tagged status=success|failed
STEP_DURATION = "step.duration"  # timer (ms), tagged status
LIMITER_WAIT = "api.limiter_wait"  # timer (ms)


# -- one step ------------------------------------------------------------------------------------------

class StepObservation:
    """One step being run: its meter is the one counted into until `finish`."""

    def __init__(self, entity_id: str, run_id: str, step: str, dry_run: bool, emitter: MetricsEmitter,
                 step_log: logging.Logger):
        self.entity_id, self.run_id, self.step, self.dry_run = entity_id, run_id, step, dry_run
        self.emitter, self.log = emitter, step_log
        self.meter = StepMeter()
        self._started = time.monotonic()
        self._token = _current.set(self.meter)
        self.line: dict[str, Any] | None = None

    def finish(self, error: BaseException | None = None) -> dict[str, Any]:
        """Close the meter, log the summary line and send the metrics (a failure to send is only
        logged: it never fails the step). Returns the line's fields."""
        if self.line is not None:
            return self.line
        duration = time.monotonic() - self._started
        try:
            _current.reset(self._token)
        except ValueError:  # finished in another context than it started in
            _current.set(None)
        meter = asdict(self.meter)
        meter["limiter_wait_s"] = round(meter["limiter_wait_s"], 3)
        self.line = {
            "entity": self.entity_id, "run_id": self.run_id, "step": self.step,
            "status": "failed" if error is not None else "success",
            "duration_s": round(duration, 3), "dry_run": self.dry_run, **meter,
            "error": _error_text(error) if error is not None else None,
        }
        self.log.info("%s %s", STEP_LINE_PREFIX, json.dumps(self.line, ensure_ascii=False))
        try:
            self._emit(duration)
        except Exception as exc:  # metrics are for watching; the step's outcome stands without them
            self.log.warning("metrics of %s %s not sent: %s", self.entity_id, self.step, exc)
        return self.line

    def _emit(self, duration: float) -> None:
        tags = {"entity": self.entity_id, "step": self.step}
        with_status = {**tags, "status": self.line["status"]}
        emitter = self.emitter
        emitter.incr(f"{METRIC_NAMESPACE}.{STEP_RUNS}", 1, with_status)
        emitter.timing(f"{METRIC_NAMESPACE}.{STEP_DURATION}", duration * 1000, with_status)
        for name, field in METRIC_COUNTERS:
            emitter.incr(f"{METRIC_NAMESPACE}.{name}", getattr(self.meter, field), tags)
        emitter.timing(f"{METRIC_NAMESPACE}.{LIMITER_WAIT}", self.meter.limiter_wait_s * 1000, tags)


def observe_step(ctx: Any, step: str) -> StepObservation:
    """Start observing `step` of a RunContext's run (the entity, run id, params, metrics and log it carries)."""
    return StepObservation(ctx.entity.id, ctx.run_id, step, ctx.params.dry_run, ctx.metrics, ctx.log)


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 1] + "…"


def parse_step_line(message: str) -> dict[str, Any] | None:
    """The fields of a summary line (a log message), or None if it is not one."""
    head, _, body = message.partition(" ")
    return json.loads(body) if head == STEP_LINE_PREFIX else None
