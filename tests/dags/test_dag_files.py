"""The DAG folder is split into shard files (ledgerbridge.dag_files): together they build every DAG of the
registry exactly once, each DAG in the file its id names, and a file validates only the entries it builds,
each exactly as the whole registry would."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ledgerbridge.dag_files import (DEFAULT_SHARDS, Shard, dag_file_for, file_name, layout_problem, shard_of,
                                    shard_files)

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


def _entity(entity_id: str, **overrides) -> dict:
    return {"id": entity_id, "name": entity_id.title(), "base_currency": "USD",
            "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"}, **overrides}


def _tricky_entries() -> list:
    """60 good entities, real-time file drops, and every way an entry can depend on another."""
    entries = [_entity(f"co_{n:03d}") for n in range(60)]
    entries += [
        {**_entity("desk_a"), "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_a"},
         "realtime_poll_seconds": 5},
        {**_entity("desk_b"), "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_b"},
         "realtime_poll_seconds": 5, "enabled": False},
        _entity("co_007"),  # a duplicate id: shown as invalid_entry_<position>
        {**_entity("thief"), "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_co_011"}},  # taken
        _entity("bad_currency", base_currency="dollars"),
        {**_entity("first_bad", base_currency="x"), "accounting": {"kind": "quickbooks_online", "conn_id": "shared"}},
        {**_entity("then_good"), "accounting": {"kind": "quickbooks_online", "conn_id": "shared"}},  # valid: the
        # earlier entry on its connection is invalid, so it claims nothing
        {"name": "no id at all"},
        "not even a mapping",
        _entity("Bad-Id"),
        _entity("late", schedule="30 25 * * *"),
        _entity("twice_invalid", base_currency="no"),
        _entity("twice_invalid"),  # valid, after an invalid entry of the same id: the error moves to its position
    ]
    return entries


@pytest.fixture
def tricky_registry(monkeypatch, tmp_path):
    path = tmp_path / "legal_entities.yaml"
    path.write_text(yaml.safe_dump({"legal_entities": _tricky_entries()}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(path))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY_CACHE", str(tmp_path / "cache"))
    return path


def _expected_dag_ids(registry) -> set[str]:
    from ledgerbridge.registry import dag_id_for

    taken = {e.id for e in registry.entities}
    return ({e.dag_id for e in registry.enabled}
            | {dag_id_for(e.id, "inbound") for e in registry.enabled if e.realtime_poll_seconds}
            | {error.dag_id(taken) for error in registry.errors})


def test_the_project_ships_the_default_split_and_nothing_else():
    assert layout_problem(DAGS, DEFAULT_SHARDS) is None
    assert sorted(p.name for p in DAGS.glob("*.py")) == [file_name(i, DEFAULT_SHARDS) for i in range(DEFAULT_SHARDS)]
    # Each file is exactly what `ledgerbridge-airflow dag-files` writes.
    from ledgerbridge.dag_files import FILE_TEMPLATE

    for index in range(DEFAULT_SHARDS):
        assert (DAGS / file_name(index, DEFAULT_SHARDS)).read_text() == FILE_TEMPLATE.format(
            index=index, shards=DEFAULT_SHARDS)


def test_a_dag_id_maps_to_a_stable_file():
    # CRC-32, not Python's salted hash(): the same file in every process, on every machine, in every release.
    assert dag_file_for("ledgerbridge__acme_us", 16) == "ledgerbridge_sync_06_of_16.py"
    assert dag_file_for("ledgerbridge__initech_desk__inbound", 16) == "ledgerbridge_sync_11_of_16.py"
    assert dag_file_for("ledgerbridge__entity_0500", 16) == file_name(shard_of("ledgerbridge__entity_0500", 16), 16)
    assert [shard_of(f"ledgerbridge__entity_{n:04d}", 16) for n in range(1, 6)] == [
        shard_of(f"ledgerbridge__entity_{n:04d}", 16) for n in range(1, 6)]
    assert Shard(6, 16).holds("ledgerbridge__acme_us") and not Shard(5, 16).holds("ledgerbridge__acme_us")
    # The names carry the split: a worker and the dag-processor reading one folder always agree.
    assert file_name(3, 16) == "ledgerbridge_sync_03_of_16.py" and file_name(7, 120) == "ledgerbridge_sync_007_of_120.py"


def test_the_shard_files_together_build_every_dag_exactly_once_each_in_its_own_file(tricky_registry):
    from airflow.dag_processing.dagbag import DagBag

    from ledgerbridge.registry import load_registry
    from ledgerbridge.steps import STEP_NAMES

    expected = _expected_dag_ids(load_registry())
    assert {"ledgerbridge__desk_a__inbound", "ledgerbridge__late", "ledgerbridge__then_good"} <= expected
    built: list[str] = []
    for path in sorted(DAGS.glob("*.py")):
        bag = DagBag(dag_folder=str(path))  # one file at a time, as the dag-processor parses them
        assert bag.import_errors == {}
        for dag_id, dag in bag.dags.items():
            assert Path(dag.fileloc).name == path.name == dag_file_for(dag_id, DEFAULT_SHARDS)
        built += bag.dags
    assert sorted(built) == sorted(expected)  # every DAG, none twice
    whole = DagBag(dag_folder=str(DAGS))
    assert whole.import_errors == {} and set(whole.dag_ids) == expected
    assert len(whole.dags["ledgerbridge__co_042"].tasks) == len(STEP_NAMES) + 2
    assert [t.task_id for t in whole.dags["ledgerbridge__late"].tasks] == ["invalid_registry_entry"]
    assert "hour field '25'" in whole.dags["ledgerbridge__late"].doc_md


def test_each_file_validates_its_own_entries_exactly_as_the_whole_registry(tricky_registry):
    from ledgerbridge.registry import dag_id_for, load_registry, load_registry_part

    full = load_registry()
    taken = {e.id for e in full.entities}
    for index in range(DEFAULT_SHARDS):
        shard = Shard(index, DEFAULT_SHARDS)
        part = load_registry_part(shard.holds)
        part_taken = {e.id for e in part.entities}
        mine = lambda registry, t: ({e.id: e for e in registry.entities if shard.holds(e.dag_id)
                                     or (e.realtime_poll_seconds and shard.holds(dag_id_for(e.id, "inbound")))},
                                    {(err.position, str(err)) for err in registry.errors if shard.holds(err.dag_id(t))})
        assert mine(part, part_taken) == mine(full, taken), shard
        assert len(part.entities) < len(full.entities)  # the others are not validated
    # The outcomes that depend on other entries.
    assert "duplicate" in str(next(e for e in full.errors if e.entity_id == "co_007"))
    assert "already the connection of 'co_011'" in str(next(e for e in full.errors if e.entity_id == "thief"))
    assert "then_good" in taken and "twice_invalid" in taken


def test_a_worker_builds_only_its_dag_and_the_other_files_do_not_read_the_registry(tricky_registry, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    # What the task runner sets (airflow.sdk's _airflow_parsing_context_manager never unsets them: not used here).
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "ledgerbridge__co_042")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "pull_reference")
    holder = DAGS / dag_file_for("ledgerbridge__co_042", DEFAULT_SHARDS)
    bag = DagBag(dag_folder=str(holder), safe_mode=False)
    assert bag.import_errors == {} and list(bag.dags) == ["ledgerbridge__co_042"]
    # Every other file returns before reading the registry: with none there, they still parse, empty.
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(tricky_registry.parent / "missing.yaml"))
    for path in DAGS.glob("*.py"):
        if path != holder:
            other = DagBag(dag_folder=str(path), safe_mode=False)
            assert other.import_errors == {} and other.dags == {}


def test_a_broken_split_shows_as_a_failing_dag_and_every_other_dag_still_parses(tricky_registry, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    from ledgerbridge.registry import load_registry
    from ledgerbridge_airflow.dag_factory import layout_dag_id

    folder = tmp_path / "dags"
    shutil.copytree(DAGS, folder)
    holder = dag_file_for(layout_dag_id(DEFAULT_SHARDS), DEFAULT_SHARDS)
    gone = file_name(0 if holder != file_name(0, DEFAULT_SHARDS) else 1, DEFAULT_SHARDS)
    (folder / gone).unlink()
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    broken = bag.dags[layout_dag_id(DEFAULT_SHARDS)]
    assert [t.task_id for t in broken.tasks] == ["invalid_registry_entry"]
    assert gone in broken.doc_md and "ledgerbridge-airflow dag-files" in broken.doc_md
    lost = {d for d in _expected_dag_ids(load_registry()) if dag_file_for(d, DEFAULT_SHARDS) == gone}
    assert set(bag.dag_ids) == (_expected_dag_ids(load_registry()) - lost) | {layout_dag_id(DEFAULT_SHARDS)}


def test_a_shard_setting_the_files_do_not_apply_shows_as_a_failing_dag(tricky_registry, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from ledgerbridge_airflow.dag_factory import layout_dag_id

    monkeypatch.setenv("LEDGERBRIDGE_DAG_SHARDS", "32")
    holder = DAGS / dag_file_for(layout_dag_id(DEFAULT_SHARDS), DEFAULT_SHARDS)
    bag = DagBag(dag_folder=str(holder))
    assert bag.import_errors == {}
    message = bag.dags[layout_dag_id(DEFAULT_SHARDS)].doc_md
    assert "LEDGERBRIDGE_DAG_SHARDS is 32" in message and "split into 16" in message
    monkeypatch.setenv("LEDGERBRIDGE_DAG_SHARDS", "16")
    assert layout_dag_id(DEFAULT_SHARDS) not in DagBag(dag_folder=str(holder)).dags


def test_the_command_writes_a_split_and_removes_the_old_one(tmp_path, capsys):
    from ledgerbridge_airflow.cli import main

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "ledgerbridge_sync.py").write_text("# the single file of before\n")
    (folder / "unrelated.py").write_text("# a DAG of someone else\n")
    assert main(["dag-files", "--dags-folder", str(folder), "--check", "--shards", "4"]) == 1
    assert "ledgerbridge_sync.py" in capsys.readouterr().err
    assert main(["dag-files", "--dags-folder", str(folder), "--shards", "4"]) == 0
    assert sorted(shard_files(folder)) == [file_name(i, 4) for i in range(4)]
    assert (folder / "unrelated.py").exists()
    assert main(["dag-files", "--dags-folder", str(folder), "--shards", "4", "--check"]) == 0
    assert main(["dag-files", "--dags-folder", str(folder), "--shards", "2"]) == 0
    assert sorted(shard_files(folder)) == [file_name(0, 2), file_name(1, 2)]
    capsys.readouterr()
    assert main(["dag-files", "--dags-folder", str(folder), "--shards", "2", "--which", "ledgerbridge__acme_us"]) == 0
    assert capsys.readouterr().out.strip() == str(folder / dag_file_for("ledgerbridge__acme_us", 2))
    assert main(["dag-files", "--dags-folder", str(folder), "--shards", "0"]) == 2


def test_the_parsed_registry_is_kept_for_the_other_files_and_only_when_json_gives_it_back(tmp_path, monkeypatch):
    from ledgerbridge import registry as reg

    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "legal_entities.yaml"
    path.write_text(yaml.safe_dump({"legal_entities": [_entity("acme")]}))
    assert [e.id for e in reg.load_registry_part(lambda dag_id: True, path).entities] == ["acme"]
    (cached,) = (tmp_path / "cache").glob("registry-*.json")
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0
    reg._CACHE.clear()
    cached.write_text('{"legal_entities": [{"id": "from_the_cache", "name": "C", "base_currency": "USD", '
                      '"accounting": {"kind": "quickbooks_online", "conn_id": "c"}}]}')
    # (the cache is keyed on the file's content: a process reading this registry reads the JSON)
    assert [e.id for e in reg.load_registry_part(lambda dag_id: True, path).entities] == ["from_the_cache"]
    reg._CACHE.clear()
    path.write_text(yaml.safe_dump({"legal_entities": [_entity("acme", name="Acme Two")]}))  # a new content: a new key
    assert [e.name for e in reg.load_registry_part(lambda dag_id: True, path).entities] == ["Acme Two"]
    assert not reg._json_exact({"legal_entities": [{"id": "x", "since": __import__("datetime").date(2026, 1, 1)}]})
    assert not reg._json_exact({1: "a"}) and reg._json_exact({"a": [1, 2.5, None, True, "s"]})
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY_CACHE", "off")
    assert reg.cache_dir() is None
