"""The DAG files parse, build one DAG per enabled entity, wires the steps in order, survives a bad
registry entry, and does no I/O at parse time beyond reading the registry."""
from __future__ import annotations

import builtins
import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ledgerbridge.steps import STEP_NAMES
from support import registry_dagbag, registry_entry

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_registry_parses_into_one_dag_per_enabled_entity():
    from airflow.dag_processing.dagbag import DagBag

    from ledgerbridge.registry import load_registry

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    enabled = load_registry().enabled
    expected = {f"ledgerbridge__{e.id}" for e in enabled} | {
        f"ledgerbridge__{e.id}__inbound" for e in enabled if e.realtime_poll_seconds} | {
        f"ledgerbridge__{e.id}__realtime" for e in enabled if e.exports_in_realtime}
    assert expected and set(bag.dag_ids) == expected
    assert "ledgerbridge__hooli_fr__realtime" in expected  # the demo shows a realtime entity


def test_steps_are_chained_in_order_with_params_tags_and_docs(monkeypatch, tmp_path):
    bag = registry_dagbag(monkeypatch, tmp_path, [registry_entry("acme"), registry_entry("off", enabled=False)])
    assert set(bag.dag_ids) == {"ledgerbridge__acme"}
    dag = bag.dags["ledgerbridge__acme"]
    tasks = (*STEP_NAMES, "held_records", "alerts")
    assert [t.task_id for t in dag.topological_sort()] == list(tasks)
    for upstream, downstream in zip(tasks, tasks[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    # alerts runs whatever the run did and leaves the run's state to the steps; no deadline unless asked
    assert dag.get_task("alerts").is_teardown and not dag.get_task("alerts").on_failure_fail_dagrun
    assert not dag.deadline
    assert set(dag.params.keys()) == {"full_refresh", "sync_from", "dry_run"}
    assert "ledgerbridge" in dag.tags and "quickbooks_online" in dag.tags
    assert "acme" in dag.doc_md
    assert dag.max_active_runs == 1
    # fiscal_year_fec does something for entry-files entities only: here it never waits for a QuickBooks slot
    assert dag.get_task("export_documents").pool != "default_pool"
    assert dag.get_task("fiscal_year_fec").pool == "default_pool"


def test_failures_a_retry_cannot_cure_are_not_retried(monkeypatch, tmp_path):
    from airflow.sdk import RetryAction

    from ledgerbridge.connectors.errors import ReconnectRequired
    from ledgerbridge.flows.errors import FiscalYearFecRefused, SystemicQualityFailure

    bag = registry_dagbag(monkeypatch, tmp_path, [registry_entry("acme")])
    policy = bag.dags["ledgerbridge__acme"].get_task("prepare_exports").retry_policy
    for failure in (SystemicQualityFailure("acme: bills: SYSTEMIC problem"), ReconnectRequired("reconnect"),
                    FiscalYearFecRefused("acme: a file of that name holds other bytes", {})):
        assert policy.evaluate(failure, try_number=1, max_tries=4).action == RetryAction.FAIL
    assert policy.evaluate(ConnectionError("reset"), try_number=1, max_tries=4).action != RetryAction.FAIL


def test_an_invalid_entity_gets_a_failing_dag_naming_the_field_and_the_others_still_parse(monkeypatch, tmp_path):
    bag = registry_dagbag(monkeypatch, tmp_path, [
        registry_entry("good"),
        registry_entry("bad_currency", base_currency="dollars"),
        registry_entry("good"),  # duplicate id
        {"name": "no id at all"},
    ])
    assert bag.import_errors == {}
    assert {"ledgerbridge__good", "ledgerbridge__bad_currency"} <= set(bag.dag_ids)
    broken = bag.dags["ledgerbridge__bad_currency"]
    assert [t.task_id for t in broken.tasks] == ["invalid_registry_entry"]
    assert "base_currency" in broken.doc_md and "bad_currency" in broken.doc_md
    assert any("duplicate" in (bag.dags[d].doc_md or "") for d in bag.dag_ids if "invalid_entry" in d)
    assert len(bag.dags["ledgerbridge__good"].tasks) == len(STEP_NAMES) + 2  # and held_records, alerts


def test_parsing_opens_no_socket_and_reads_only_the_registry(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [registry_entry("acme"), registry_entry("globex")]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY_CACHE", str(tmp_path / "cache"))
    # Import what the DAG file imports first, so that only the parse itself is watched.
    import ledgerbridge.registry  # noqa: F401
    import ledgerbridge_airflow.operators  # noqa: F401

    opened: list[str] = []
    real_open = builtins.open

    def watching_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def no_network(*args, **kwargs):
        raise AssertionError("the DAG file opened a network connection at parse time")

    monkeypatch.setattr(builtins, "open", watching_open)
    monkeypatch.setattr(io, "open", watching_open)  # what pathlib uses
    monkeypatch.setattr(socket.socket, "connect", no_network)
    heavy_before = {m for m in ("pandas", "great_expectations", "paramiko") if m in sys.modules}
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    monkeypatch.undo()

    assert bag.import_errors == {}
    # The registry, and its parsed copy in the registry cache (written once, by the first file; an int is
    # the descriptor that write goes through).
    data_files = {f for f in opened if not f.endswith((".py", ".pyc")) and "ledgerbridge_sync" not in f
                  and not f.isdigit()}
    cached = {str(path) for path in (tmp_path / "cache").glob("registry-*.json")}
    assert len(cached) == 1 and data_files <= {str(registry)} | cached and str(registry) in data_files
    assert {m for m in ("pandas", "great_expectations", "paramiko") if m in sys.modules} == heavy_before


def test_parsing_imports_neither_the_ledger_nor_the_pipeline():
    """Checked in a fresh interpreter: the core's heavy parts load in the task, not in the parser."""
    code = (
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(ROOT / 'dags')!r})\n"
        "assert bag.import_errors == {}, bag.import_errors\n"
        "print(sorted(m for m in ('ledgerbridge.ledger.models', 'ledgerbridge.pipeline', "
        "'ledgerbridge.connectors.qbo.client', 'fastapi') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_an_invalid_cron_fails_its_entity_s_dag_and_every_other_entity_still_parses(monkeypatch, tmp_path):
    bag = registry_dagbag(monkeypatch, tmp_path, [registry_entry("aaa"), registry_entry("late", schedule="30 25 * * *"), registry_entry("zzz")])
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"ledgerbridge__aaa", "ledgerbridge__late", "ledgerbridge__zzz"}
    broken = bag.dags["ledgerbridge__late"]
    assert [t.task_id for t in broken.tasks] == ["invalid_registry_entry"]
    assert "legal entity 'late'" in broken.doc_md and "hour field '25'" in broken.doc_md


def test_the_registry_s_schedule_presets_are_airflow_s():
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS

    from ledgerbridge.registry import SCHEDULE_PRESETS

    assert set(SCHEDULE_PRESETS) == set(CRON_PRESETS)


@pytest.mark.parametrize("schedule", ["every day", "0 2 * *", "30 25 * * *"])
def test_a_bad_schedule_is_a_registry_error_naming_the_field(schedule):
    from ledgerbridge.registry import parse_entities

    registry = parse_entities([registry_entry("acme", schedule=schedule)])
    assert registry.entities == ()
    assert "schedule" in str(registry.errors[0]) and "acme" in str(registry.errors[0])
