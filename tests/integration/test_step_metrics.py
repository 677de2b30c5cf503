"""Each step's metrics and summary line, from a real run against the QBO sandbox on loopback: the
metrics through Airflow's own StatsD client (configured as a deployment would, by environment) into a
UDP socket standing in for the StatsD server, and the one JSON line per step in the task log."""
from __future__ import annotations

import logging
import socket
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager

import pytest

from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.observability import STEP_LINE_PREFIX, StatsdEmitter, parse_step_line
from ledgerbridge.pipeline import run_all, run_step
from ledgerbridge.steps import STEP_NAMES
from support import CLIENT_ID, CLIENT_SECRET, bill, bills_in_company, connect_company, context, hub_data, make_entity

COUNTER_FIELDS = {"records.exported": "exported", "records.confirmed": "confirmed", "records.rejected": "rejected",
                  "records.quarantined": "quarantined", "api.requests": "api_requests",
                  "api.throttled": "api_throttled"}


class StatsdReceiver:
    """A StatsD server's socket: UDP on loopback, keeping every datagram it is sent."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def datagrams(self) -> list[str]:
        """Everything received so far (the sender is done: what is on its way over loopback is here)."""
        received = []
        self.sock.settimeout(0.3)
        try:
            while True:
                received.append(self.sock.recv(65535).decode("ascii"))
        except TimeoutError:
            return received

    def close(self) -> None:
        self.sock.close()


def parse(datagram: str) -> tuple[str, dict[str, str], float, str]:
    """`airflow.ledgerbridge.records.exported,entity=acme,step=export_documents:3|c` -> its parts."""
    stat, _, rest = datagram.rpartition(":")
    value, _, kind = rest.partition("|")
    name, *tags = stat.split(",")
    return name, dict(tag.split("=", 1) for tag in tags), float(value), kind


@contextmanager
def airflow_statsd(monkeypatch, port: int):
    """Airflow's metrics client as a task gets it ([metrics] from the environment, set up as the task
    runner does), sending to `port`; Airflow's default (no metrics) again after."""
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics.stats_utils import get_stats_factory

    for key, value in {"STATSD_ON": "True", "STATSD_HOST": "127.0.0.1", "STATSD_PORT": str(port),
                       "STATSD_PREFIX": "airflow", "STATSD_INFLUXDB_ENABLED": "True"}.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    stats.initialize(factory=get_stats_factory(), export_legacy_names=False)
    try:
        yield
    finally:
        stats.initialize(factory=NoStatsLogger, export_legacy_names=False)


class TaskLog(logging.Handler):
    """What a run's logger writes (held here, whatever Airflow's logging set up for the root logger)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logging.INFO)
        self.logger = logger
        self.messages: list[str] = []

    def __enter__(self) -> TaskLog:
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def step_lines(self) -> list[dict]:
        return [parse_step_line(message) for message in self.messages if message.startswith(STEP_LINE_PREFIX)]


@pytest.fixture
def receiver():
    receiver = StatsdReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def throttling_server():
    """A QBO sandbox of this test's own that answers 20% of API requests 429 (repeatably)."""
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    server = serve_in_thread(QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}))
    yield server
    server.stop()


def test_every_step_sends_its_counts_through_airflows_statsd_and_logs_one_json_line(
        ledger, throttling_server, receiver, monkeypatch):
    from ledgerbridge.sandbox.qbo import Faults

    from ledgerbridge_airflow.metrics import AirflowStatsEmitter

    entity = make_entity(f"metrics_{uuid.uuid4().hex[:6]}")
    conn = connect_company(throttling_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([
            bill("B-1", "V-1", "120.00"),
            bill("B-2", "V-2", "342.19"),
            bill("B-3", "V-3", "75.25"),          # its vendor is created in QuickBooks first
            bill("B-4", "V-1", "10.00", account="9999"),  # no such account: quarantined
        ]))
    company = throttling_server.sandbox.realms[conn.schema]
    served_before = company.api_requests
    throttling_server.sandbox.faults = Faults(throttle_rate=0.2, seed=3)
    ctx = context(entity, ledger, conn)
    ctx.metrics = AirflowStatsEmitter()
    with airflow_statsd(monkeypatch, receiver.port), TaskLog(ctx.log) as task_log:
        report = run_all(ctx)
    served = company.api_requests - served_before
    datagrams = [parse(d) for d in receiver.datagrams()]

    # Every datagram is ours, prefixed as Airflow's, tagged with the entity and its step.
    assert datagrams and {name.split(".")[:2] == ["airflow", "ledgerbridge"] for name, *_ in datagrams} == {True}
    assert {tags["entity"] for _, tags, _, _ in datagrams} == {entity.id}
    runs = [(tags["step"], tags["status"], value) for name, tags, value, kind in datagrams
            if name == "airflow.ledgerbridge.step.runs" and kind == "c"]
    assert runs == [(step, "success", 1.0) for step in STEP_NAMES]
    durations = Counter(tags["step"] for name, tags, value, kind in datagrams
                        if name == "airflow.ledgerbridge.step.duration" and kind == "ms" and value >= 0)
    assert durations == Counter(STEP_NAMES)

    sent: dict[str, dict[str, float]] = defaultdict(dict)
    for name, tags, value, kind in datagrams:
        short = name.removeprefix("airflow.ledgerbridge.")
        if short in COUNTER_FIELDS:
            assert kind == "c" and short not in sent[tags["step"]], (name, tags)  # one each, per step
            sent[tags["step"]][short] = value
        elif short == "api.limiter_wait":
            assert kind == "ms" and value >= 0
            sent[tags["step"]][short] = value

    # What each step did, as its own summary says, is what was sent.
    assert sent["prepare_exports"]["records.quarantined"] == report["prepare_exports"]["quarantined"] == 1
    assert sent["match_parties"]["records.exported"] == sent["match_parties"]["records.confirmed"] == 1  # V-3
    assert sent["export_documents"]["records.exported"] == report["export_documents"]["sent"] == 3
    assert sent["export_documents"]["records.confirmed"] == report["export_documents"]["confirmed"] == 3
    assert sum(step["records.rejected"] for step in sent.values()) == 0
    assert len(bills_in_company(throttling_server, conn, ledger)) == 3

    # API counts agree with the client's own count and with the sandbox's: each request it served, or
    # answered 429 (the sandbox counts only those it served).
    requests = sum(step["api.requests"] for step in sent.values())
    throttled = sum(step["api.throttled"] for step in sent.values())
    assert requests == ctx.connector.client.requests_sent
    assert throttled > 0
    assert served == requests - throttled
    assert sent["pull_source"]["api.requests"] == 0  # no source: it never calls the accounting system

    # One JSON line per step, with the same counts.
    lines = task_log.step_lines()
    assert [line["step"] for line in lines] == list(STEP_NAMES)
    for line in lines:
        assert line["entity"] == entity.id and line["run_id"] == ctx.run_id and line["status"] == "success"
        assert line["error"] is None and line["duration_s"] >= 0
        for short, field in COUNTER_FIELDS.items():
            assert line[field] == sent[line["step"]][short], (line["step"], field)
        assert line["limiter_wait_s"] == pytest.approx(sent[line["step"]]["api.limiter_wait"] / 1000, abs=1e-3)


def test_a_failing_step_logs_its_line_and_sends_its_metrics_too(ledger, qbo_server, receiver):
    entity = make_entity(f"metrics_{uuid.uuid4().hex[:6]}")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "120.00"), bill("B-2", "V-2", "50.00")]))
    run_all(context(entity, ledger, conn))
    # Someone deletes a confirmed bill in QuickBooks: the next reconcile finds it gone and fails.
    gone = next(b for b in bills_in_company(qbo_server, conn, ledger) if b["DocNumber"] == "B-1")
    ctx = context(entity, ledger, conn, run_id="after-delete")
    ctx.connector.client.delete("Bill", gone["Id"], gone["SyncToken"], uuid.uuid4().hex)
    ctx.metrics = StatsdEmitter("127.0.0.1", receiver.port)  # outside Airflow: the plain StatsD client
    requests_before = ctx.connector.client.requests_sent
    with TaskLog(ctx.log) as task_log, pytest.raises(Exception, match="mismatch") as failure:
        run_step(ctx, "reconcile")

    [line] = task_log.step_lines()
    assert line["step"] == "reconcile" and line["status"] == "failed" and line["run_id"] == "after-delete"
    assert line["error"].startswith(f"{type(failure.value).__name__}: {entity.id}: 1 mismatch")
    assert line["api_requests"] == ctx.connector.client.requests_sent - requests_before > 0
    assert line["exported"] == line["confirmed"] == line["quarantined"] == 0
    datagrams = [parse(d) for d in receiver.datagrams()]
    assert ("airflow.ledgerbridge.step.runs", {"entity": entity.id, "step": "reconcile", "status": "failed"},
            1.0, "c") in datagrams
    assert ("airflow.ledgerbridge.api.requests", {"entity": entity.id, "step": "reconcile"},
            float(line["api_requests"]), "c") in datagrams


class OtlpReceiver:
    """An OpenTelemetry collector's OTLP/HTTP metrics endpoint on loopback, keeping every export it is sent."""

    def __init__(self) -> None:
        import gzip
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        exports = self.exports = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                exports.append((self.path, request))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def points(self) -> dict[tuple[str, frozenset], float]:
        """(metric name, its attributes) -> the counter's sum or the histogram's count, as last exported."""
        found = {}
        for _, request in self.exports:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        data = metric.WhichOneof("data")
                        for point in getattr(metric, data).data_points:
                            attributes = frozenset((a.key, a.value.string_value) for a in point.attributes)
                            value = point.count if "histogram" in data.lower() else (point.as_int or point.as_double)
                            found[(metric.name, attributes)] = value
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_with_opentelemetry_on_the_metrics_reach_an_otlp_collector_with_their_attributes(
        ledger, qbo_server, monkeypatch):
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics.stats_utils import get_stats_factory
    from opentelemetry import metrics

    from ledgerbridge_airflow.metrics import AirflowStatsEmitter

    entity = make_entity(f"metrics_{uuid.uuid4().hex[:6]}")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "120.00"), bill("B-2", "V-2", "50.00")]))
    ctx = context(entity, ledger, conn)
    ctx.metrics = AirflowStatsEmitter()
    collector = OtlpReceiver()
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "False")
    monkeypatch.setenv("AIRFLOW__METRICS__OTEL_ON", "True")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000")  # exported when the provider shuts down
    stats.initialize(factory=get_stats_factory(), export_legacy_names=False)
    try:
        with TaskLog(ctx.log) as task_log:
            run_all(ctx)
        metrics.get_meter_provider().shutdown()  # the task's end: the last export
    finally:
        stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
        collector.close()
        # Airflow flushes the global provider at exit: leave it one that exports nowhere (reset as
        # Airflow's otel_logger does after a fork).
        from opentelemetry.metrics import _internal
        from opentelemetry.sdk.metrics import MeterProvider

        _internal._METER_PROVIDER_SET_ONCE._done = False
        metrics.set_meter_provider(MeterProvider())

    points = collector.points()
    assert {path for path, _ in collector.exports} == {"/v1/metrics"}
    for line in task_log.step_lines():
        tags = {("entity", entity.id), ("step", line["step"])}
        assert points[("airflow.ledgerbridge.step.runs", frozenset(tags | {("status", "success")}))] == 1
        assert points[("airflow.ledgerbridge.step.duration", frozenset(tags | {("status", "success")}))] == 1
        for short, field in COUNTER_FIELDS.items():
            assert points[(f"airflow.ledgerbridge.{short}", frozenset(tags))] == line[field], (line["step"], field)
    by_step = {line["step"]: line for line in task_log.step_lines()}
    assert by_step["export_documents"]["exported"] == by_step["export_documents"]["confirmed"] == 2
    assert sum(line["api_requests"] for line in by_step.values()) == ctx.connector.client.requests_sent
