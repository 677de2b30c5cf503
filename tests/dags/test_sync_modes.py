"""Sync modes (registry `sync`): each mode's DAGs and schedules, and a realtime entity's every-minute DAG,
which sends an approved document within its run and skips its export steps when nothing waits."""
from __future__ import annotations

import json
from collections import Counter
from urllib.parse import quote

import pytest
from sqlalchemy import select

from ledgerbridge.dag_files import shard_of
from ledgerbridge.ledger import Ledger, migrate
from ledgerbridge.ledger.models import LegalEntityRow, SyncRun
from ledgerbridge.registry import LegalEntity
from ledgerbridge.steps import STEP_NAMES
from support import bill, bills_in_company, connect_company, hub_data, make_entity, registry_dagbag, registry_entry

FULL_RUN = [*STEP_NAMES, "held_records", "alerts"]
REALTIME_RUN = ["pull_source", "exports_waiting", "match_parties", "prepare_exports", "export_documents",
                "export_payments", "collect_confirmations", "write_back"]


def _dagbag(monkeypatch, tmp_path, entities: list[dict]):
    bag = registry_dagbag(monkeypatch, tmp_path, entities)
    assert bag.import_errors == {}
    return bag


def _cron(dag) -> tuple[str, str | None]:
    timetable = dag.timetable
    return type(timetable).__name__, getattr(timetable, "expression", None) or getattr(timetable, "_expression", None)


def test_each_sync_mode_gets_its_dags_and_schedules(monkeypatch, tmp_path):
    bag = _dagbag(monkeypatch, tmp_path, [
        registry_entry("rt", sync="realtime"), registry_entry("evening", sync="daily"), registry_entry("by_hand", sync="manual"),
        registry_entry("legacy", schedule="@hourly"), registry_entry("rt_off", sync="realtime", enabled=False)])
    assert set(bag.dag_ids) == {"ledgerbridge__rt", "ledgerbridge__rt__realtime", "ledgerbridge__evening",
                                "ledgerbridge__by_hand", "ledgerbridge__legacy"}
    # The full run of every mode is the same DAG; only its schedule differs.
    for dag_id in ("ledgerbridge__rt", "ledgerbridge__evening", "ledgerbridge__by_hand", "ledgerbridge__legacy"):
        assert [t.task_id for t in bag.dags[dag_id].topological_sort()] == FULL_RUN
    assert _cron(bag.dags["ledgerbridge__rt"]) == ("CronDataIntervalTimetable", "0 2 * * *")
    assert _cron(bag.dags["ledgerbridge__evening"]) == ("CronDataIntervalTimetable", "0 19 * * *")
    assert _cron(bag.dags["ledgerbridge__legacy"]) == ("CronDataIntervalTimetable", "0 * * * *")
    assert type(bag.dags["ledgerbridge__by_hand"].timetable).__name__ == "NullTimetable"  # the UI's Trigger only

    realtime = bag.dags["ledgerbridge__rt__realtime"]
    assert _cron(realtime) == ("CronTriggerTimetable", "* * * * *")
    assert (realtime.max_active_runs, realtime.catchup) == (1, False)
    assert [t.task_id for t in realtime.topological_sort()] == [*REALTIME_RUN, "alerts"]
    for upstream, downstream in zip(REALTIME_RUN, REALTIME_RUN[1:]):
        assert realtime.get_task(downstream).upstream_task_ids == {upstream}
    # The alerts teardown ends the export steps and is skipped with their gate (an idle minute runs no more tasks).
    alerts, gate = realtime.get_task("alerts"), realtime.get_task("exports_waiting")
    assert alerts.is_teardown and gate.is_setup and alerts.upstream_task_ids == {"write_back", "exports_waiting"}
    assert "realtime" in realtime.tags and "ledgerbridge__rt" in realtime.doc_md


def test_a_realtime_dag_in_another_shard_than_its_entity_s_is_still_built(monkeypatch, tmp_path):
    # The shard files read only their part of the registry: the realtime DAG's file must read this entity too.
    entity_id = next(f"rt{n}" for n in range(100)
                     if shard_of(f"ledgerbridge__rt{n}", 16) != shard_of(f"ledgerbridge__rt{n}__realtime", 16))
    bag = _dagbag(monkeypatch, tmp_path, [registry_entry(entity_id, sync="realtime")])
    assert set(bag.dag_ids) == {f"ledgerbridge__{entity_id}", f"ledgerbridge__{entity_id}__realtime"}


def _task_states(dag, run) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.state for ti in
                session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id)}


def _steps_recorded(ledger: Ledger, run_id: str) -> dict[str, str]:
    with ledger.session() as session:
        return {r.step: r.status for r in session.scalars(select(SyncRun).where(SyncRun.run_id == run_id))}


def _realtime_entity(qbo_server, tmp_path, monkeypatch, entity_id: str, **overrides):
    """A realtime entity fed by a feed folder, its sandbox company and connections, its ledger, and its two DAGs."""
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(ledger_url)
    ledger = Ledger(ledger_url)
    entity = LegalEntity.model_validate({**make_entity(entity_id).model_dump(mode="json"), "sync": "realtime",
                                         "source": {"kind": "feed", "conn_id": f"feed_{entity_id}"}, **overrides})
    conn = connect_company(qbo_server, ledger, entity)
    feed = tmp_path / "feed" / entity_id
    (feed / "inbound").mkdir(parents=True)
    monkeypatch.setenv(f"AIRFLOW_CONN_FEED_{entity_id.upper()}", json.dumps({
        "conn_type": "generic", "extra": {"local_root": str(tmp_path / "feed")}}))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", json.dumps({
        "conn_type": "quickbooks_online", "host": conn.host, "login": conn.login, "password": conn.password,
        "schema": conn.schema, "extra": conn.extra}))
    bag = _dagbag(monkeypatch, tmp_path, [json.loads(entity.model_dump_json())])
    return ledger, conn, feed, bag.dags[entity.dag_id], bag.dags[f"{entity.dag_id}__realtime"]


@pytest.mark.slow
def test_a_realtime_run_sends_what_was_approved_and_skips_its_exports_when_nothing_waits(
        airflow_db, qbo_server, tmp_path, monkeypatch, capfd):
    ledger, conn, feed, full, realtime = _realtime_entity(qbo_server, tmp_path, monkeypatch, "live")

    nightly = full.test()  # the company's lists into the mirror
    assert nightly.state == "success"

    idle = realtime.test()
    assert idle.state == "success"
    states = _task_states(realtime, idle)
    assert states["pull_source"] == "success" and states["exports_waiting"] == "skipped"
    assert {states[t] for t in [*REALTIME_RUN[2:], "alerts"]} == {"skipped"}
    # The ledger's run id is prefixed: Airflow's could be the full run's; no export step ran.
    assert set(_steps_recorded(ledger, f"realtime__{idle.run_id}")) == {"pull_source"}
    assert _steps_recorded(ledger, idle.run_id) == {}
    out, err = capfd.readouterr()  # the task log says why the rest was skipped
    assert "live: nothing to send: no approved document or payment new or changed since the last export pass" \
        in out + err

    (feed / "inbound" / "hub.json").write_text(json.dumps(hub_data([
        bill("B-1", "V-1", "1350.50"), bill("B-DRAFT", "V-2", "20.00", status="draft")])))
    sent = realtime.test()
    assert sent.state == "success"
    assert {state for task, state in _task_states(realtime, sent).items()} == {"success"}
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"B-1": 1}
    (written,) = (feed / "outbound").iterdir()  # the hub hears at once that B-1 is in the accounting system
    assert ("B-1", "confirmed") in {(i["hub_id"], i["status"]) for i in json.loads(written.read_text())["records"]}

    again = realtime.test()  # the draft still waits for its approval: nothing to send
    assert _task_states(realtime, again)["exports_waiting"] == "skipped"
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"B-1": 1}
    with ledger.session() as session:  # the entities page still shows the full run, not the minute's
        assert session.get(LegalEntityRow, "live").last_run["run_id"] == nightly.run_id
    ledger.dispose()


@pytest.mark.slow
def test_a_realtime_run_says_what_its_exports_held_within_the_minute_and_an_idle_minute_says_nothing(
        airflow_db, qbo_server, tmp_path, monkeypatch, webhook):
    received, _ = webhook
    ledger, conn, feed, full, realtime = _realtime_entity(
        qbo_server, tmp_path, monkeypatch, "watched",
        alerts={"channels": [{"kind": "webhook", "conn_id": "hook_ops", "endpoint": "/ops"}], "quarantine_above": 0})
    assert full.test().state == "success" and received == []

    (feed / "inbound" / "hub.json").write_text(json.dumps(hub_data([
        bill("B-1", "V-1", "40.00"), bill("B-BAD", "V-1", "12.00", account="9999")])))
    minute = realtime.test()
    assert minute.state == "success" and _task_states(realtime, minute)["alerts"] == "success"
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"B-1": 1}
    ((path, said),) = received  # said by the minute's own run, not the next night's
    assert (path, said["kind"], said["change"]) == ("/ops", "quarantine", "new")
    assert said["title"] == "1 record held in quarantine (threshold 0)"
    assert said["links"]["The run"].endswith(f"/dags/ledgerbridge__watched__realtime/runs/{quote(minute.run_id, safe='')}")

    idle = realtime.test()  # nothing waits: the alerts teardown is skipped with the gate, nothing said again
    assert _task_states(realtime, idle)["alerts"] == "skipped" and len(received) == 1
    ledger.dispose()
