"""A whole entity DAG run with `dag.test()` against the QBO sandbox, twice: the second changes nothing.
The hub data arrives through the entity's feed (its source connection), and goes back as a write-back file."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ledgerbridge.ledger import Ledger, migrate
from ledgerbridge.registry import LegalEntity
from ledgerbridge.ledger.models import Document, OutboxEntry, SyncRun
from ledgerbridge.steps import STEP_NAMES
from support import bill, bills_in_company, connect_company, hub_data, make_entity

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_entity_dag_exports_approved_bills_once_and_a_second_run_changes_nothing(
        airflow_db, qbo_server, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(ledger_url)
    ledger = Ledger(ledger_url)
    entity = LegalEntity.model_validate({**make_entity("dagrun").model_dump(mode="json"),
                                         "source": {"kind": "feed", "conn_id": "feed_dagrun"}})
    conn = connect_company(qbo_server, ledger, entity)
    feed = tmp_path / "feed" / "dagrun"
    (feed / "inbound").mkdir(parents=True)
    (feed / "inbound" / "hub.json").write_text(json.dumps(hub_data([
        bill("B-1", "V-1", "1350.50"), bill("B-2", "V-2", "342.19"), bill("B-3", "V-3", "75.25"),
        bill("B-BAD", "V-1", "10.00", account="9999"),
    ])))
    monkeypatch.setenv("AIRFLOW_CONN_FEED_DAGRUN", json.dumps({"conn_type": "generic",
                                                               "extra": {"local_root": str(tmp_path / "feed")}}))
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(entity.model_dump_json())]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", json.dumps({
        "conn_type": "quickbooks_online", "host": conn.host, "login": conn.login, "password": conn.password,
        "schema": conn.schema, "extra": conn.extra}))

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["ledgerbridge__dagrun"]

    first = dag.test()
    assert first.state == "success"
    # B-BAD is held: the run is green, its last task skipped to say so.
    assert _task_states(dag, first)["held_records"] == "skipped"
    remote = Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger))
    assert remote == {"B-1": 1, "B-2": 1, "B-3": 1}
    by_number = {b["DocNumber"]: b for b in bills_in_company(qbo_server, conn, ledger)}
    with ledger.session() as session:
        documents = {d.hub_id: d for d in session.scalars(select(Document))}
        steps = {r.step: r.status for r in session.scalars(select(SyncRun).where(SyncRun.run_id == first.run_id))}
    for hub_id in ("B-1", "B-2", "B-3"):
        assert documents[hub_id].external_id == by_number[hub_id]["Id"]
    assert by_number["B-1"]["TotalAmt"] == documents["B-1"].total
    assert documents["B-BAD"].external_id is None
    assert set(steps.values()) == {"success"} and set(steps) == set(STEP_NAMES)
    assert [p.name for p in (feed / "processed").iterdir()] == ["hub.json"]
    (written,) = (feed / "outbound").iterdir()
    told = {(item["hub_id"], item["status"]) for item in json.loads(written.read_text())["records"]}
    assert {("B-1", "confirmed"), ("B-2", "confirmed"), ("B-3", "confirmed"), ("B-BAD", "quarantined")} <= told

    with ledger.session() as session:
        outbox_before = [(r.id, r.state, r.external_id, r.attempts) for r in session.scalars(select(OutboxEntry))]
    second = dag.test()
    assert second.state == "success"
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == remote
    with ledger.session() as session:
        assert [(r.id, r.state, r.external_id, r.attempts) for r in session.scalars(select(OutboxEntry))] == outbox_before
    assert list((feed / "outbound").iterdir()) == [written]  # nothing new to tell
    ledger.dispose()


def _task_states(dag, run) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.state for ti in
                session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id)}


def test_a_mistyped_param_fails_the_run_at_once_without_a_retry(airflow_db, tmp_path, monkeypatch, capfd):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(make_entity("typo").model_dump_json())]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("LEDGERBRIDGE_TASK_RETRIES", "3")  # as in production: only a params error skips them
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dag = bag.dags["ledgerbridge__typo"]
    # every task retries, the last two included: a worker lost under them must not fail a run that did its job
    assert {task.task_id: task.retries for task in dag.tasks if task.retries != 3} == {}

    run = dag.test(run_conf={"dryrun": True})

    assert run.state == "failed"
    with create_session() as session:
        tis = {ti.task_id: ti for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id)}
    assert (tis["pull_source"].state, tis["pull_source"].try_number) == ("failed", 1)
    assert {tis[t].state for t in tis if t not in ("pull_source", "alerts")} == {"upstream_failed"}
    assert tis["alerts"].state == "success"  # the teardown ran (and said it had nowhere to send the failure)
    out, err = capfd.readouterr()
    assert "typo: unknown run param(s) 'dryrun': known are full_refresh, sync_from, dry_run" in out + err
