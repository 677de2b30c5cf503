"""Each step's metrics through Airflow's own metrics client: the one the task runner sets up from the
`[metrics]` section (statsd_on, otel_on, statsd_datadog_enabled; prefix, allow and block lists), so
LedgerBridge's metrics go wherever Airflow's go (docs/observability.md)."""
from __future__ import annotations

from collections.abc import Mapping


class AirflowStatsEmitter:
    """A ledgerbridge.observability.MetricsEmitter over `airflow.sdk.observability.stats`.

    Tags reach StatsD only with `[metrics] statsd_influxdb_enabled = True` (InfluxDB-style tags, which
    statsd_exporter turns into labels); OpenTelemetry and DogStatsD carry them as attributes/tags."""

    def incr(self, name: str, count: int, tags: Mapping[str, str]) -> None:
        from airflow.sdk.observability import stats

        stats.incr(name, count=count, tags=dict(tags))

    def timing(self, name: str, milliseconds: float, tags: Mapping[str, str]) -> None:
        from airflow.sdk.observability import stats

        stats.timing(name, milliseconds, tags=dict(tags))
