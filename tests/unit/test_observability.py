"""The step meter, the summary line and the emitters, without a run (tests/integration/test_step_metrics.py
has the real runs)."""
from __future__ import annotations

import json
import logging
import threading

import pytest

from ledgerbridge import observability
from ledgerbridge.connectors.limits import RealmLimits, RealmRateLimiter
from ledgerbridge.observability import (
    NullEmitter,
    StatsdEmitter,
    StepObservation,
    emitter_from_environment,
    parse_step_line,
)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def step_log():
    logger = logging.getLogger("ledgerbridge.test.observability")
    logger.setLevel(logging.INFO)
    lines = Lines()
    logger.addHandler(lines)
    yield logger, lines
    logger.removeHandler(lines)


def test_counts_go_to_the_running_step_only(step_log):
    logger, lines = step_log
    observability.count("exported", 5)  # no step running: nothing to count into
    observed = StepObservation("acme", "run-1", "export_documents", False, NullEmitter(), logger)
    observability.count("exported", 2)
    observability.count("api_throttled")
    observability.add_limiter_wait(0.25)
    line = observed.finish()
    observability.count("exported", 7)  # after it: nobody's

    assert (line["exported"], line["api_throttled"], line["limiter_wait_s"]) == (2, 1, 0.25)
    assert [parse_step_line(m) for m in lines.messages] == [line]
    assert observed.finish() is line and len(lines.messages) == 1  # finishing twice logs once


def test_an_unknown_count_is_refused_even_outside_a_step():
    with pytest.raises(ValueError, match="unknown step count 'exportd'"):
        observability.count("exportd")


def test_the_line_of_a_failed_step_is_one_line_of_json_with_the_error(step_log):
    logger, lines = step_log
    observed = StepObservation("acme", "run-1", "reconcile", True, NullEmitter(), logger)
    line = observed.finish(error=RuntimeError("two\nlines " + "x" * 1000))

    [message] = lines.messages
    assert "\n" not in message and message.startswith("LEDGERBRIDGE_STEP {")
    assert json.loads(message.removeprefix("LEDGERBRIDGE_STEP ")) == line
    assert line["status"] == "failed" and line["dry_run"] is True
    assert line["error"].startswith("RuntimeError: two\nlines xxx") and len(line["error"]) == observability.ERROR_CHARS


def test_metrics_that_cannot_be_sent_do_not_fail_the_step(step_log):
    class Unreachable:
        def incr(self, name, count, tags):
            raise OSError("no route to the metrics server")

        timing = incr

    logger, lines = step_log
    line = StepObservation("acme", "run-1", "write_back", False, Unreachable(), logger).finish()
    assert line["status"] == "success"
    assert lines.messages[-1] == "metrics of acme write_back not sent: no route to the metrics server"


def test_the_environment_chooses_the_emitter_and_one_that_cannot_be_used_sends_nothing_and_says_so(
        monkeypatch, caplog):
    monkeypatch.delenv("LEDGERBRIDGE_STATSD_HOST", raising=False)
    assert isinstance(emitter_from_environment(), NullEmitter)
    monkeypatch.setenv("LEDGERBRIDGE_STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("LEDGERBRIDGE_STATSD_PORT", "9125")
    emitter = emitter_from_environment()
    assert isinstance(emitter, StatsdEmitter) and emitter.client._addr == ("127.0.0.1", 9125)
    monkeypatch.setenv("LEDGERBRIDGE_STATSD_PORT", "statsd")
    assert isinstance(emitter_from_environment(), NullEmitter)
    assert "'statsd' is not a port number" in caplog.text and "no metrics are sent" in caplog.text
    monkeypatch.setenv("LEDGERBRIDGE_STATSD_HOST", "statsd-exporter.invalid")  # a run never fails for metrics
    monkeypatch.setenv("LEDGERBRIDGE_STATSD_PORT", "9125")
    assert isinstance(emitter_from_environment(), NullEmitter)
    assert "statsd-exporter.invalid port 9125 cannot be used" in caplog.text


def test_the_limiter_says_how_long_a_request_waited_for_its_slot():
    limiter = RealmRateLimiter(RealmLimits(concurrent_requests=1))
    holding, release = threading.Event(), threading.Event()

    def hold_the_only_slot():
        with limiter.slot() as waited:
            assert waited < 0.05  # nothing in the way
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_only_slot)
    holder.start()
    holding.wait(5)
    threading.Timer(0.2, release.set).start()
    with limiter.slot() as waited:
        pass
    holder.join()
    assert waited >= 0.15  # it waited for the holder to let go
    assert limiter.waited_seconds == pytest.approx(waited, abs=0.05)


def test_the_documented_mapping_and_dashboard_name_the_metrics_the_code_sends():
    import re
    from pathlib import Path

    import yaml

    docs = Path(__file__).resolve().parents[2] / "docs"
    sent = {f"{observability.METRIC_NAMESPACE}.{name}" for name, _ in observability.METRIC_COUNTERS} | {
        f"{observability.METRIC_NAMESPACE}.{name}" for name in (
            observability.STEP_RUNS, observability.STEP_DURATION, observability.LIMITER_WAIT)}
    page = (docs / "observability.md").read_text(encoding="utf-8")
    assert sent == set(re.findall(r"^\| `(ledgerbridge\.[a-z_.]+)` \|", page, re.M))

    mappings = yaml.safe_load((docs / "dashboards" / "statsd-mapping.yml").read_text(encoding="utf-8"))["mappings"]
    prometheus = {}
    for mapping in mappings:
        pattern = re.escape(mapping["match"]).replace(r"\*", "([a-z_]+)")
        for name in sent:
            match = re.fullmatch(pattern, f"airflow.{name}")
            if match:
                prometheus[name] = mapping["name"].replace("${1}", match.group(1)) if match.groups() else mapping["name"]
    assert set(prometheus) == sent  # every metric sent has a Prometheus name

    dashboard = (docs / "dashboards" / "ledgerbridge-grafana.json").read_text(encoding="utf-8")
    queried = {re.sub(r"_(bucket|sum|count)$", "", name) for name in re.findall(r"ledgerbridge_[a-z_]+", dashboard)}
    assert queried <= set(prometheus.values()), queried - set(prometheus.values())
    assert len(queried) >= 7  # the dashboard shows most of them


def test_counts_made_in_a_block_that_fails_are_taken_back(step_log):
    """A savepoint rolled back held nothing: its quarantine counts go, and what is done again counts once."""
    logger, _ = step_log
    observation = StepObservation("acme", "run-1", "pull_source", False, observability.NullEmitter(), logger)
    observability.count("quarantined")
    with pytest.raises(RuntimeError), observability.counted_only_if_kept():
        observability.count("quarantined", 2)
        raise RuntimeError("the savepoint is rolled back")
    with observability.counted_only_if_kept():
        observability.count("quarantined")
    assert observation.finish()["quarantined"] == 2
