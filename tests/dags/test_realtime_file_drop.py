"""Real-time file drop: the inbound DAG is started by an asset watched in the triggerer, and its
trigger fires only for files that landed, never for `.part` uploads or for what it already said."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTITY = {"id": "desk", "name": "Desk Co", "base_currency": "USD", "realtime_poll_seconds": 1,
          "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_desk"}}


@pytest.fixture
def drop(monkeypatch, tmp_path):
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [ENTITY]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    root = tmp_path / "drop"
    monkeypatch.setenv("AIRFLOW_CONN_DROP_DESK", json.dumps(
        {"conn_type": "sftp", "extra": {"local_root": str(root), "company_id": "QBD-desk"}}))
    return root


def test_a_realtime_entity_gets_an_inbound_dag_scheduled_by_its_file_drop(drop):
    from airflow.dag_processing.dagbag import DagBag
    from ledgerbridge_airflow.triggers.filedrop import FileDropArrivalTrigger

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"ledgerbridge__desk", "ledgerbridge__desk__inbound"}
    inbound = bag.dags["ledgerbridge__desk__inbound"]
    assert [t.task_id for t in inbound.topological_sort()] == ["pull_reference", "collect_confirmations", "write_back"]
    [asset] = inbound.timetable.asset_condition.objects  # noqa: the asset the watcher updates
    [watcher] = asset.watchers
    assert isinstance(watcher.trigger, FileDropArrivalTrigger) and watcher.trigger.poke_interval == 1


async def _next_event(queue: asyncio.Queue, seconds: float):
    return await asyncio.wait_for(queue.get(), timeout=seconds)


async def _collect(trigger, queue: asyncio.Queue) -> None:
    # The trigger runs on its own, as in the triggerer; a test timeout must not cancel the generator.
    async for event in trigger.run():
        await queue.put(event)


def test_the_trigger_fires_once_per_arrival_and_never_for_a_part_upload(drop):
    from ledgerbridge_airflow.triggers.filedrop import FileDropArrivalTrigger

    lists = drop / "desk" / "from_accounting" / "lists"
    lists.mkdir(parents=True)

    async def scenario():
        events: asyncio.Queue = asyncio.Queue()
        watcher = asyncio.create_task(_collect(FileDropArrivalTrigger("desk", poke_interval=0.2), events))
        (lists / "lists-20261121T100000.000Z-b1.json.part").write_text("{}")
        with pytest.raises(TimeoutError):
            await _next_event(events, 1.0)  # nothing ready: no event, no DAG run
        (lists / "lists-20261121T100000.000Z-b1.json").write_text("{}")
        first = await _next_event(events, 2.0)
        assert first.payload["files"] == ["desk/from_accounting/lists/lists-20261121T100000.000Z-b1.json"]
        with pytest.raises(TimeoutError):
            await _next_event(events, 1.0)  # still there, already said
        (drop / "desk" / "confirmations").mkdir(parents=True)
        (drop / "desk" / "confirmations" / "confirmations-20261121T100001.000Z-b2.json").write_text("{}")
        second = await _next_event(events, 2.0)
        assert second.payload["count"] == 1 and "confirmations" in second.payload["files"][0]
        watcher.cancel()

    asyncio.run(scenario())
