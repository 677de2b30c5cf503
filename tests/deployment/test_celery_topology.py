"""The distributed topology, without Docker: this machine's PostgreSQL (Airflow's metadata and the ledger) and
Redis (the Celery broker), `airflow api-server`, `scheduler`, `dag-processor`, `triggerer` and two
`airflow celery worker` processes, as docs/deployment.md deploys them.

Eleven entities (ten small, one with 1,260 bills) each export into their own company of a QuickBooks Online
sandbox. One worker is killed (its whole process tree) while it sends the big entity's bills: the scheduler
notices the missing heartbeat, the retry runs on the other worker, takes over the rows its dead try held, looks
them up (adopting what QuickBooks committed after the worker died) and sends the rest. Every run ends green,
every task ran, both workers took tasks, and every bill exists exactly once in its company, all within the same
DAG runs. A task the dead worker had received but not started is queued again after the scheduler's
task_queued_timeout (60 s here, 600 s by default: docs/deployment.md).

Skipped, saying so, when PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) does not answer.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests
import yaml
from sqlalchemy import create_engine, text
from support import CLIENT_ID, CLIENT_SECRET, bill, connect_company, hub_data, make_entity

ROOT = Path(__file__).resolve().parents[2]
PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
SMALL_ENTITIES, SMALL_BILLS = 10, 5
BIG_ENTITY, BIG_BILLS = "topo_big", 1260  # 42 batches of 30: more than QuickBooks' 40 batch requests a minute
WORKERS = ("worker-a", "worker-b")
RUNS_TIMEOUT = 900.0

pytestmark = pytest.mark.slow


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_redis_db() -> int:
    """A Redis database no one uses (the broker's queues start empty)."""
    import redis

    for number in range(15, 0, -1):
        if redis.Redis(host="127.0.0.1", port=6379, db=number).dbsize() == 0:
            return number
    pytest.skip("Redis on 127.0.0.1:6379 has no empty database for the Celery broker")


class Topology:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: dict[str, subprocess.Popen] = {}
        self.killed: set[str] = set()
        suffix = uuid.uuid4().hex[:8]
        self.metadata_db, self.ledger_db = f"lb_topo_meta_{suffix}", f"lb_topo_ledger_{suffix}"
        self.redis_db = _free_redis_db()
        self.api_port = _free_port()
        self.admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
        self.metadata = create_engine(f"{PG}/{self.metadata_db}")
        self.env = self._env()

    @property
    def ledger_url(self) -> str:
        return f"{PG}/{self.ledger_db}"

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("AIRFLOW__", "LEDGERBRIDGE_")) and key != "AIRFLOW_HOME"}
        home = self.work / "airflow-home"
        home.mkdir()
        env.update({
            "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins"), str(ROOT / "tests")]),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "16",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "topology_hostname.worker_name",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{PG}/{self.metadata_db}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{PG}/{self.metadata_db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "ledgerbridge-topology-test-only-" + "x" * 48,
            "AIRFLOW__API__SECRET_KEY": "ledgerbridge-topology-test-only",
            # A killed worker's task is noticed in seconds, not the default five minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            # A task the killed worker had received but not started stays queued until this (600 s by default).
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
            "LEDGERBRIDGE_DB_URL": self.ledger_url,
            "LEDGERBRIDGE_LIMITS_URL": f"redis://127.0.0.1:6379/{self.redis_db}",  # the companies' limits, shared
            "LEDGERBRIDGE_REGISTRY": str(self.work / "legal_entities.yaml"),
            "LEDGERBRIDGE_DATA_DIR": str(self.work / "data"),
            "LEDGERBRIDGE_TASK_RETRIES": "2",
        })
        return env

    def create_databases(self) -> None:
        with self.admin.connect() as conn:
            for name in (self.metadata_db, self.ledger_db):
                conn.execute(text(f'CREATE DATABASE "{name}"'))

    def run(self, *command: str, stdin: str | None = None, timeout: float = 300) -> str:
        result = subprocess.run(list(command), env=self.env, cwd=ROOT, input=stdin, capture_output=True, text=True,
                                timeout=timeout)
        assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def start(self, name: str, *command: str, **env: str) -> None:
        log = open(self.work / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(list(command), env={**self.env, **env}, cwd=ROOT, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.work / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def alive_or_fail(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and name not in self.killed:
                pytest.fail(f"{name} exited ({process.returncode}):\n{self.log_tail(name)}")

    def kill_tree(self, name: str) -> int:
        """SIGKILL a worker and every process under it (its task processes run in sessions of their own)."""
        root = psutil.Process(self.processes[name].pid)
        tree = [root, *root.children(recursive=True)]
        for process in tree:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(tree, timeout=10)
        self.killed.add(name)
        return len(tree)

    def sql(self, statement: str, **params) -> list:
        with self.metadata.connect() as conn:
            return conn.execute(text(statement), params).all()

    def stop(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for orphan in psutil.process_iter(["environ"]):  # task processes left in sessions of their own
            try:
                if (orphan.info["environ"] or {}).get("AIRFLOW_HOME") == self.env["AIRFLOW_HOME"]:
                    orphan.kill()
            except psutil.Error:
                continue
        self.metadata.dispose()
        with self.admin.connect() as conn:
            for db in (self.metadata_db, self.ledger_db):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        self.admin.dispose()
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=self.redis_db).flushdb()


def _registry_entry(entity_id: str) -> dict:
    return {"id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD",
            "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"},
            "source": {"kind": "feed", "conn_id": f"feed_{entity_id}"},
            "schedule": None,  # triggered by the test only: unpaused DAGs would start a scheduled run too
            "flows": ["reference", "parties", "bills"], "matching": {"create_missing_vendors": True}}


def _feed(data_dir: Path, entity_id: str, bills: int) -> None:
    inbound = data_dir / "feed" / entity_id / "inbound"
    inbound.mkdir(parents=True)
    vendors = ("V-1", "V-2", "V-3")
    data = hub_data([bill(f"{entity_id.upper()}-B{number:05d}", vendor=vendors[number % 3],
                          amount=f"{100 + number}.{number % 100:02d}") for number in range(bills)])
    (inbound / "hub-topology.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def topology(tmp_path_factory, qbo_server):
    if not _answers(5432):
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432: the Celery topology test is SKIPPED")
    if not _answers(6379):
        pytest.skip("Redis not reachable on 127.0.0.1:6379: the Celery topology test is SKIPPED")
    from ledgerbridge.ledger import Ledger, migrate

    topo = Topology(tmp_path_factory.mktemp("topology"))
    topo.create_databases()
    try:
        entity_ids = [f"topo_{number:02d}" for number in range(SMALL_ENTITIES)] + [BIG_ENTITY]
        (topo.work / "legal_entities.yaml").write_text(yaml.safe_dump(
            {"legal_entities": [_registry_entry(entity_id) for entity_id in entity_ids]}, sort_keys=False))
        migrate(topo.ledger_url)
        ledger = Ledger(topo.ledger_url)
        connections, realms = {}, {}
        try:
            for entity_id in entity_ids:
                entity = make_entity(entity_id)
                conn = connect_company(qbo_server, ledger, entity)  # its rotated token kept in this ledger
                realms[entity_id] = conn.schema
                connections[conn.conn_id] = {
                    "conn_type": "quickbooks_online", "host": qbo_server.url, "login": CLIENT_ID,
                    "password": CLIENT_SECRET, "schema": conn.schema, "extra": conn.extra}
                connections[f"feed_{entity_id}"] = {"conn_type": "ledgerbridge_feed",
                                                    "extra": {"local_root": str(topo.work / "data" / "feed")}}
                _feed(topo.work / "data", entity_id, BIG_BILLS if entity_id == BIG_ENTITY else SMALL_BILLS)
        finally:
            ledger.dispose()
        topo.run("airflow", "db", "migrate", timeout=600)
        topo.run("ledgerbridge-airflow", "setup")
        topo.run("ledgerbridge-airflow", "set-connections", stdin=json.dumps(connections))

        topo.start("api-server", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(topo.api_port))
        topo.start("scheduler", "airflow", "scheduler")
        topo.start("dag-processor", "airflow", "dag-processor")
        topo.start("triggerer", "airflow", "triggerer")
        for name in WORKERS:
            topo.start(name, "airflow", "celery", "worker", "--celery-hostname", f"{name}@%h",
                       LEDGERBRIDGE_TEST_HOSTNAME=name,
                       AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()))
        _wait_for(lambda: _healthy(f"http://127.0.0.1:{topo.api_port}/api/v2/monitor/health"), topo, 180,
                  "the api-server to answer")
        _wait_for(lambda: topo.sql("SELECT count(*) FROM dag WHERE dag_id LIKE 'ledgerbridge__topo_%' "
                                   "AND NOT is_stale")[0][0] == len(entity_ids), topo, 240,
                  f"the dag-processor to parse {len(entity_ids)} DAGs")
        topo.entity_ids, topo.realms = entity_ids, realms
        yield topo
    finally:
        topo.stop()


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _wait_for(condition, topo: Topology, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topo.alive_or_fail()
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - a table not there yet while Airflow starts
            pass
        time.sleep(1)
    logs = "\n".join(f"--- {name}\n{topo.log_tail(name, 15)}" for name in topo.processes)
    pytest.fail(f"waited {timeout:.0f} s for {what}\n{logs}")


TRIGGER = """
import sys
from airflow.api.common.trigger_dag import trigger_dag
from airflow.utils.types import DagRunTriggeredByType
for dag_id in sys.argv[1:]:
    trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.CLI, run_id=f"topology__{dag_id}")
    print("triggered", dag_id)
"""


def _outbox_bills(topo: Topology, entity_id: str, state: str) -> int:
    ledger = create_engine(topo.ledger_url)
    try:
        with ledger.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM outbox WHERE entity_id = :e AND kind = 'bill' "
                                     "AND state = :s"), {"e": entity_id, "s": state}).scalar()
    finally:
        ledger.dispose()


def _faults(qbo_server, **knobs) -> None:
    requests.post(f"{qbo_server.url}/_sandbox/faults", json=knobs, timeout=10).raise_for_status()


def test_eleven_entities_on_two_celery_workers_export_exactly_once_through_a_killed_worker(topology, qbo_server):
    topo = topology
    dag_ids = [f"ledgerbridge__{entity_id}" for entity_id in topo.entity_ids]
    topo.run(sys.executable, "-c", TRIGGER, *dag_ids)

    # Kill the worker sending the big entity's bills while a batch of them is on its way: once some are
    # confirmed, QuickBooks answers slowly, and the kill comes while a batch is claimed (`sending`) in the ledger.
    export = f"ledgerbridge__{BIG_ENTITY}"
    victim = None

    def big_export_under_way() -> bool:
        nonlocal victim
        rows = topo.sql("SELECT hostname FROM task_instance WHERE dag_id = :d AND task_id = 'export_documents' "
                        "AND state = 'running'", d=export)
        if rows and rows[0][0] in WORKERS and _outbox_bills(topo, BIG_ENTITY, "confirmed") >= 30:
            victim = rows[0][0]
            return True
        return False

    _wait_for(big_export_under_way, topo, 600, f"{export}.export_documents to be sending")
    def slow_batch_on_its_way() -> bool:
        # Seen twice a second apart: a batch sent under the latency, not the instant between two fast batches
        # (a count read in that instant is 0, and a kill there leaves nothing to take over).
        if _outbox_bills(topo, BIG_ENTITY, "sending") == 0:
            return False
        time.sleep(1)
        return _outbox_bills(topo, BIG_ENTITY, "sending") > 0

    _faults(qbo_server, latency_seconds=4.0)
    try:
        _wait_for(slow_batch_on_its_way, topo, 60, "a batch on its way")
        killed = topo.kill_tree(victim)
    finally:
        _faults(qbo_server)
    assert killed >= 2, "the worker and at least the task it was running"
    # Read once the sender is dead: its rows stay `sending` until the retry takes them over.
    in_flight = _outbox_bills(topo, BIG_ENTITY, "sending")
    assert in_flight > 0, "the kill came while a batch was on its way"

    def all_runs_done() -> bool:
        states = topo.sql("SELECT state FROM dag_run WHERE run_id LIKE 'topology__%'")
        return len(states) == len(dag_ids) and all(state in ("success", "failed") for (state,) in states)

    _wait_for(all_runs_done, topo, RUNS_TIMEOUT, "every DAG run to finish")

    runs = dict(topo.sql("SELECT dag_id, state FROM dag_run WHERE run_id LIKE 'topology__%'"))
    assert runs == {dag_id: "success" for dag_id in dag_ids}, runs
    tasks = topo.sql("SELECT dag_id, task_id, state, hostname, try_number FROM task_instance "
                     "WHERE run_id LIKE 'topology__%'")
    not_done = [(d, t, s) for d, t, s, _, _ in tasks if s not in ("success", "skipped")]
    assert not not_done, not_done
    assert {hostname for _, _, state, hostname, _ in tasks if state == "success"} == set(WORKERS)
    big_export = [(hostname, tries) for d, t, _, hostname, tries in tasks if d == export and t == "export_documents"]
    assert big_export and big_export[0][1] >= 2 and big_export[0][0] != victim, big_export
    retry_log = next((topo.work / "airflow-home" / "logs" / f"dag_id={export}").glob(
        f"run_id=*/task_id=export_documents/attempt={big_export[0][1]}.log")).read_text()
    assert f"{in_flight} bill record(s) were held by an earlier try of this task" in retry_log

    ledger = create_engine(topo.ledger_url)
    try:
        with ledger.connect() as conn:
            unsettled = conn.execute(text("SELECT entity_id, state, count(*) FROM outbox WHERE state <> 'confirmed' "
                                          "GROUP BY entity_id, state")).all()
            confirmed = dict(conn.execute(text("SELECT entity_id, count(*) FROM outbox WHERE kind = 'bill' "
                                               "AND state = 'confirmed' GROUP BY entity_id")).all())
    finally:
        ledger.dispose()
    assert not unsettled, unsettled
    for entity_id in topo.entity_ids:
        expected = BIG_BILLS if entity_id == BIG_ENTITY else SMALL_BILLS
        in_company = qbo_server.sandbox.realms[topo.realms[entity_id]].objects.get("Bill", {})
        doc_numbers = [bill["DocNumber"] for bill in in_company.values()]
        assert confirmed.get(entity_id) == expected, (entity_id, confirmed.get(entity_id))
        assert len(doc_numbers) == len(set(doc_numbers)) == expected, (entity_id, len(doc_numbers))
