"""What an operator runs against a real Airflow metadata database (a throw-away AIRFLOW_HOME on
SQLite): `ledgerbridge-airflow setup` creates the pools of the specs, and Airflow's own
`airflow connections test` reaches LedgerBridge's test_connection once `[core] test_connection` is Enabled."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ledgerbridge.connectors.specs import ACCOUNTING_SPECS


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow-home")
    result = _run(home, "-m", "airflow", "db", "migrate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return home


def _run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "AIRFLOW_HOME": str(home), **env}
    environment.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)  # the home's own SQLite database
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=environment)


def _pools(home: Path) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(home / "airflow.db") as db:
        return {name: (slots, description)
                for name, slots, description in db.execute("SELECT pool, slots, description FROM slot_pool")}


def test_setup_creates_the_pool_of_every_spec_and_keeps_an_operators_size(airflow_home):
    first = _run(airflow_home, "-m", "ledgerbridge_airflow.cli", "setup")
    assert first.returncode == 0, first.stderr[-3000:]
    pools = _pools(airflow_home)
    for spec in ACCOUNTING_SPECS:
        assert pools[spec.pool.name] == (spec.pool.slots, spec.pool.description)
        assert f"pool {spec.pool.name}: created with {spec.pool.slots} slots" in first.stdout

    online = ACCOUNTING_SPECS[0].pool
    with sqlite3.connect(airflow_home / "airflow.db") as db:  # an operator resized it and reworded it
        db.execute("UPDATE slot_pool SET slots = 20, description = 'mine' WHERE pool = ?", (online.name,))
    again = _run(airflow_home, "-m", "ledgerbridge_airflow.cli", "setup")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _pools(airflow_home)[online.name] == (20, online.description)
    assert f"pool {online.name}: description updated; keeps its 20 slots" in again.stdout
    assert again.stdout.count("unchanged") == len({spec.pool for spec in ACCOUNTING_SPECS}) - 1


def test_setup_without_a_migrated_database_says_what_to_run(tmp_path):
    result = _run(tmp_path, "-m", "ledgerbridge_airflow.cli", "setup")
    assert result.returncode == 1
    assert "run `airflow db migrate` first" in result.stderr


def test_airflow_connections_test_calls_the_ledger_hook_only_when_enabled(airflow_home, ledger_url):
    connection = {"AIRFLOW_CONN_LB_LEDGER_UNDER_TEST": json.dumps({"conn_type": "ledgerbridge_ledger"}),
                  "LEDGERBRIDGE_DB_URL": ledger_url}
    disabled = _run(airflow_home, "-m", "airflow", "connections", "test", "lb_ledger_under_test", **connection)
    assert disabled.returncode == 1 and "Testing connections is disabled" in disabled.stdout

    enabled = _run(airflow_home, "-m", "airflow", "connections", "test", "lb_ledger_under_test",
                   AIRFLOW__CORE__TEST_CONNECTION="Enabled", **connection)
    assert enabled.returncode == 0, enabled.stdout[-3000:] + enabled.stderr[-3000:]
    assert "Connection success!" in enabled.stdout
