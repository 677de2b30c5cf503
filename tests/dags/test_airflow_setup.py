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


def test_setup_in_production_without_a_token_key_refuses_before_touching_the_database(tmp_path):
    # An unmigrated home: had setup gone on to the pools, it would say "run `airflow db migrate` first".
    result = _run(tmp_path, "-m", "ledgerbridge_airflow.cli", "setup", LEDGERBRIDGE_ENVIRONMENT="production",
                  LEDGERBRIDGE_TOKEN_KEY="")
    assert result.returncode == 1
    assert "LEDGERBRIDGE_TOKEN_KEY is not set and LEDGERBRIDGE_ENVIRONMENT=production" in result.stderr
    assert "nothing was set up" in result.stderr and "db migrate" not in result.stderr
    assert "pool" not in result.stdout


def test_setup_in_production_with_a_token_key_says_so_and_creates_the_pools(airflow_home):
    result = _run(airflow_home, "-m", "ledgerbridge_airflow.cli", "setup", LEDGERBRIDGE_ENVIRONMENT="production",
                  LEDGERBRIDGE_TOKEN_KEY="a-long-random-deployment-key-0123456789")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[0] == "environment production: OAuth tokens encrypted under LEDGERBRIDGE_TOKEN_KEY"
    assert set(_pools(airflow_home)) >= {spec.pool.name for spec in ACCOUNTING_SPECS}
    assert "a-long-random" not in result.stdout + result.stderr


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


def _connection(home: Path, conn_id: str) -> dict:
    result = _run(home, "-m", "airflow", "connections", "get", conn_id, "-o", "json")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)[0]


def test_set_connections_creates_then_updates_the_connections_it_reads_on_stdin(airflow_home):
    wanted = {"lb_demo_qbo": {"conn_type": "quickbooks_online", "host": "http://127.0.0.1:8765", "login": "client",
                              "password": "s3cret-pw", "schema": "9341", "extra": {"refresh_token": "seed-1"}},
              "lb_demo_feed": {"conn_type": "ledgerbridge_feed", "extra": {"local_root": "/srv/feed"}}}
    first = _run_stdin(airflow_home, json.dumps(wanted), "set-connections")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.splitlines() == ["connection lb_demo_feed: created (ledgerbridge_feed)",
                                         "connection lb_demo_qbo: created (quickbooks_online)"]
    stored = _connection(airflow_home, "lb_demo_qbo")
    assert (stored["host"], stored["login"], stored["password"], stored["schema"]) == (
        "http://127.0.0.1:8765", "client", "s3cret-pw", "9341")
    assert stored["extra_dejson"] == {"refresh_token": "seed-1"}

    wanted["lb_demo_qbo"]["extra"] = {"refresh_token": "seed-2"}  # the next demo run's new seed
    again = _run_stdin(airflow_home, json.dumps(wanted), "set-connections")
    assert again.stdout.splitlines() == ["connection lb_demo_feed: unchanged", "connection lb_demo_qbo: updated (extra)"]
    assert _connection(airflow_home, "lb_demo_qbo")["extra_dejson"] == {"refresh_token": "seed-2"}
    assert "s3cret-pw" not in first.stdout + again.stdout and "seed-2" not in again.stdout


def _run_stdin(home: Path, stdin: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "AIRFLOW_HOME": str(home), **env}
    environment.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    return subprocess.run([sys.executable, "-m", "ledgerbridge_airflow.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=300, env=environment)


def test_set_password_writes_the_simple_auth_managers_file_and_keeps_other_users(tmp_path):
    passwords = tmp_path / "auth" / "passwords.json"
    env = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer"}
    first = _run_stdin(tmp_path, "s3cret-admin\n", "set-password", "admin", **env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.splitlines()[-1] == f"password of user admin: set ({passwords})"
    assert json.loads(passwords.read_text()) == {"admin": "s3cret-admin"}
    assert passwords.stat().st_mode & 0o777 == 0o600

    _run_stdin(tmp_path, "viewer-pw", "set-password", "viewer", **env)
    again = _run_stdin(tmp_path, "s3cret-admin", "set-password", "admin", **env)
    assert again.stdout.splitlines()[-1] == f"password of user admin: unchanged ({passwords})"
    assert json.loads(passwords.read_text()) == {"admin": "s3cret-admin", "viewer": "viewer-pw"}
    assert "s3cret" not in first.stdout + again.stdout

    unknown = _run_stdin(tmp_path, "x", "set-password", "mallory", **env)
    assert unknown.returncode == 1
    assert "no user 'mallory' in [core] simple_auth_manager_users (admin, viewer)" in unknown.stderr


DAG_FILE = '''
from airflow.sdk import dag, task

@dag(dag_id="lb_log_probe", schedule=None)
def probe():
    @task
    def first():
        print("the first task speaks")

    @task
    def second():
        raise ValueError("the second task fails, loudly")

    first() >> second()

probe()
'''

READ_AS_THE_UI_DOES = '''
import json
from airflow.models.taskinstance import TaskInstance
from airflow.utils.log.log_reader import TaskLogReader
from airflow.utils.session import create_session
from sqlalchemy import select
with create_session() as session:
    logs = {}
    for ti in session.scalars(select(TaskInstance).where(TaskInstance.dag_id == "lb_log_probe")):
        stream, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {})
        logs[ti.task_id] = [message.event for message in stream]
print(json.dumps(logs))
'''


def test_dags_test_files_each_tasks_log_where_the_ui_reads_it(airflow_home, tmp_path):
    (tmp_path / "probe.py").write_text(DAG_FILE)
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = _run(airflow_home, "-m", "ledgerbridge_airflow.cli", "dags-test", "lb_log_probe", **env)
    assert result.returncode == 1, result.stdout[-3000:]  # the second task failed: the exit status says so
    assert "the first task speaks" in result.stdout  # the output still passes through
    assert "2 task log(s) filed for the Airflow UI in " + str(airflow_home / "logs" / "dag_id=lb_log_probe") in result.stdout

    read = _run(airflow_home, "-c", READ_AS_THE_UI_DOES, **env)
    assert read.returncode == 0, read.stderr[-3000:]
    logs = json.loads(read.stdout.splitlines()[-1])
    first, second = "\n".join(logs["first"]), "\n".join(logs["second"])
    assert "the first task speaks" in first and "the second task fails" not in first
    assert "ValueError: the second task fails, loudly" in second and "the first task speaks" not in second
    assert "Log file not found" not in first + second
