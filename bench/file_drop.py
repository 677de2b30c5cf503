"""File drop: real-time latency under `airflow standalone`, and the throughput of a 10,000-bill export over SFTP.

Usage: python bench/file_drop.py [--files 50] [--bills 10000] [--skip-realtime] [--skip-throughput]
                                 [--airflow-defaults] [--keep]

1. Real-time latency (issue 4, target p50 <= 10 s). A temporary Airflow home, registry, SQLite ledger
   and drop folder; the embedded SFTP server (ledgerbridge.sandbox.sftp, in this process) serves the
   drop. One quickbooks_desktop entity with `realtime_poll_seconds: 1` and flows [reference], so
   the DAG files build its inbound DAG (`ledgerbridge__<id>__inbound`, scheduled by an
   asset whose watcher, FileDropArrivalTrigger, polls the drop from the triggerer). `airflow
   standalone` runs scheduler, dag processor, triggerer and API server. The bench plays the agent: it
   uploads --files files one at a time over SFTP (`.part`, then rename) into from_accounting/lists/
   and from_accounting/payments/, and times each from the rename to its records being in the ledger
   (reference_records rows with the files' keys). It waits for each file's inbound run to finish
   before the next upload, then a random 0-1 s more, so every arrival is measured on its own, at a
   random moment of the trigger's poll cycle. The stages come from Airflow's metadata database and the
   ledger's sync_runs. The baseline: the same uploads imported by the same pull_reference step run in
   this process right after each rename, without Airflow: the work itself.
2. Throughput. No Airflow: the pipeline's steps run in this process, as in
   tests/integration/test_file_drop.py. --bills bills are exported by export_documents to the embedded
   SFTP server (in a child process, so that client and server do not share a GIL), and the same
   export to a local folder (LocalFileSystem) is the baseline. Then the agent sandbox (DesktopAgent)
   consumes the files and answers them, and collect_confirmations settles the outbox; each is timed
   on its own. Setup (company lists, hub import, pull_reference, match_parties, prepare_exports) is not.

Progress goes to stderr. Exit status 1 on any FAIL.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import print_table, print_targets, progress  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TARGET_P50_SECONDS = 10.0
POLL_SECONDS = 1  # the entity's realtime_poll_seconds
SFTP_USER, SFTP_PASSWORD = "ledgerbridge", "bench-secret"
RT_ENTITY, RT_CONN = "bench_rt", "drop_bench_rt"
BASELINE_FILES = 10  # uploads imported in-process, without Airflow
VENDORS = 50
SETUP_STEPS = ("pull_reference", "check_reference", "match_parties", "prepare_exports")

# Airflow settings for the real-time run; --airflow-defaults leaves the first group at Airflow's defaults.
LATENCY_TUNING = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": (
        "0.2", "1", "the scheduler's sleep when a loop found nothing to do; the asset-triggered run is created, "
                    "started and its task queued by the loops after the asset event"),
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": (
        "600", "30", "re-parse the DAG file every N s; the registry does not change during the bench, and a "
                     "parse takes CPU from the tasks on a small machine"),
}
FIXED_SETTINGS = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": ("False", "no example DAGs"),
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": ("False", "the inbound DAG runs without `airflow dags unpause`"),
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": ("5", "default 300: look for DAG files every 5 s (start-up only)"),
    "AIRFLOW__CORE__PARALLELISM": ("4", "as in the Makefile"),
    "AIRFLOW__API__WORKERS": ("1", "default 4: one API server worker is plenty for one DAG"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def parse_utc(text: str | None) -> float | None:
    """A timestamp stored in SQLite (naive UTC, or with an offset) as epoch seconds."""
    if not text:
        return None
    moment = datetime.fromisoformat(str(text))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# --- timing the transport -------------------------------------------------------------------------

@dataclass
class FSStats:
    sessions: int = 0
    connect_s: float = 0.0  # opening sessions (SSH handshake, authentication, SFTP subsystem)
    close_s: float = 0.0
    op_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter = field(default_factory=Counter)
    written: int = 0
    read: int = 0

    @property
    def total_s(self) -> float:
        return self.connect_s + self.close_s + sum(self.op_s.values())

    def reset(self) -> None:
        self.__init__()


class TimedFS:
    """A FileSystem that times every call of the one it wraps."""

    def __init__(self, inner, stats: FSStats):
        self._inner, self._stats = inner, stats

    def _timed(self, name: str, *args):
        start = time.perf_counter()
        try:
            return getattr(self._inner, name)(*args)
        finally:
            self._stats.op_s[name] += time.perf_counter() - start
            self._stats.calls[name] += 1

    def list(self, directory):
        return self._timed("list", directory)

    def is_symlink(self, path):
        return self._timed("is_symlink", path)

    def exists(self, path):
        return self._timed("exists", path)

    def read_bytes(self, path, max_bytes):
        data = self._timed("read_bytes", path, max_bytes)
        self._stats.read += len(data)
        return data

    def write_bytes(self, path, data):
        self._timed("write_bytes", path, data)
        self._stats.written += len(data)

    def rename(self, source, target):
        return self._timed("rename", source, target)

    def remove(self, path):
        return self._timed("remove", path)

    def mkdir(self, path):
        return self._timed("mkdir", path)


def timed_opener(open_fs, stats: FSStats):
    """Wrap a connector's `open_fs`: every session it opens is counted and timed."""

    @contextlib.contextmanager
    def opener():
        start = time.perf_counter()
        manager = open_fs()
        fs = manager.__enter__()
        stats.sessions += 1
        stats.connect_s += time.perf_counter() - start
        try:
            yield TimedFS(fs, stats)
        except BaseException:
            start = time.perf_counter()
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            start = time.perf_counter()
            manager.__exit__(None, None, None)
        finally:
            stats.close_s += time.perf_counter() - start

    return opener


class SchemaTimer:
    """Time spent validating messages against the JSON Schemas, on writing (files.encode_message) and on
    reading (reader.read_inbound): both call validation.validate_message, looked up in their module."""

    def __init__(self):
        from ledgerbridge.filedrop import files, reader

        self.seconds = 0.0
        for module in (files, reader):
            inner = module.validate_message

            def timed(*args, _inner=inner):
                start = time.perf_counter()
                try:
                    return _inner(*args)
                finally:
                    self.seconds += time.perf_counter() - start

            module.validate_message = timed


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- uploads the agent makes (the real-time files) -----------------------------------------------

@dataclass
class Upload:
    index: int
    kind: str
    path: str
    keys: list[str]
    landed: float  # epoch seconds, when the rename returned
    seen: float | None = None  # when the ledger first held every key
    run_done: float | None = None  # when the bench saw the inbound DAG idle again


def agent_message(index: int, entity_id: str, company_id: str, tag: str) -> dict:
    """An upload of the agent: two new vendors (lists) or a bill payment (payments_made), in turn."""
    from ledgerbridge.filedrop import build_message

    now = datetime.now(UTC)
    epoch = int(now.timestamp())
    if index % 2 == 0:
        kind = "lists"
        records = [{"key": f"{0x8000A000 + 2 * index + j:X}-{epoch}", "list_type": "vendor",
                    "name": f"Realtime Vendor {tag}{index:03d}-{j}", "active": True, "modified_at": now}
                   for j in range(2)]
    else:
        kind = "payments_made"
        records = [{"key": f"{0xA000 + index:X}-{epoch}", "vendor": {"name": f"Realtime Vendor {tag}{index - 1:03d}-0"},
                    "txn_date": "2026-11-20", "currency": "USD", "amount": Decimal(f"{index}.25"),
                    "bank_account": {"name": "Checking"}, "reference": f"CHK-{tag}{index:04d}", "applications": [],
                    "modified_at": now}]
    return build_message(kind, entity_id=entity_id, company_id=company_id, batch_key=f"bench-{tag}{index:03d}",
                         records=records, created_at=now)


def upload(fs, index: int, entity_id: str, company_id: str, tag: str) -> Upload:
    """Write the file as `<name>.part`, then rename it (files.write_message): the agent's atomic upload."""
    from ledgerbridge.filedrop import write_message

    message = agent_message(index, entity_id, company_id, tag)
    path = write_message(fs, entity_id, message)
    return Upload(index, message["kind"], path, [r["key"] for r in message["records"]], time.time())


class LedgerWatch:
    """Reads the SQLite ledger (read-only, WAL: never in the tasks' way)."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, isolation_level=None)

    def has_all(self, entity_id: str, keys: list[str]) -> bool:
        marks = ",".join("?" * len(keys))
        (count,) = self.db.execute(f"SELECT count(*) FROM reference_records WHERE entity_id = ? AND external_id IN "
                                   f"({marks})", [entity_id, *keys]).fetchone()
        return count == len(keys)

    def step_times(self, entity_id: str, step: str) -> dict[str, tuple[float, float | None, str]]:
        rows = self.db.execute("SELECT run_id, started_at, finished_at, status FROM sync_runs WHERE entity_id = ? "
                               "AND step = ?", (entity_id, step)).fetchall()
        return {run_id: (parse_utc(started), parse_utc(finished), status) for run_id, started, finished, status in rows}

    def close(self) -> None:
        self.db.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02, check=None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


# --- airflow standalone ---------------------------------------------------------------------------

class Standalone:
    """`airflow standalone` in its own process group, its output in a log file."""

    def __init__(self, env: dict[str, str], home: Path):
        self.env, self.home = env, home
        self.log_path = home / "standalone.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([str(VENV_BIN / "airflow"), "standalone"], env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with status {self.process.returncode}")

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "".join(text.splitlines(keepends=True)[-lines:])

    def stop(self) -> list[str]:
        """SIGINT to standalone (it terminates its components and waits for them), then SIGTERM and
        SIGKILL to the process group for whatever is left, then any process still carrying this
        AIRFLOW_HOME (a component that left the group). Returns what had to be done beyond SIGINT."""
        notes: list[str] = []
        if self.process is None:
            return notes
        pgid = self.process.pid  # start_new_session: the group's id is the leader's pid
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                notes.append("standalone did not exit within 30 s of SIGINT")
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if not _group_alive(pgid):
                break
            notes.append(f"{sig.name} to the process group {pgid}, where {_members(pgid)} were left")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + grace
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for pid in _processes_with_env(f"AIRFLOW_HOME={self.home}"):
            notes.append(f"SIGKILL to leftover pid {pid}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.log.close()
        return notes


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _members(pgid: int) -> str:
    """The live processes of a process group, as "pid name" for the report."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            command = Path(f"/proc/{name}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(f"{name} {' '.join(command.replace(chr(0), ' ').split())[:60]}")
    return ", ".join(found) or "only zombies"


def _processes_with_env(entry: str) -> list[int]:
    """Live processes of ours whose environment holds `entry` (our own process excluded)."""
    found = []
    needle = entry.encode() + b"\0"
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if needle in Path(f"/proc/{name}/environ").read_bytes() + b"\0":
                state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(name))
        except OSError:
            continue
    return found


def trigger_polls(log_path: Path) -> tuple[float, float, int] | None:
    """From the triggerer's lines in the standalone log: the median time between two polls of the
    file drop, the median SSH session set-up of a poll (paramiko's "Connected" to our "connected,
    host key verified"), and the number of polls seen."""
    import re

    stamp = re.compile(r"^triggerer\s*\|\s*(\S+Z)\s")
    starts, ready = [], []
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        match = stamp.match(line)
        if not match:
            continue
        if "Connected (version" in line:
            starts.append(parse_utc(match.group(1).replace("Z", "+00:00")))
        elif "host key verified" in line and starts and len(ready) < len(starts):
            ready.append(parse_utc(match.group(1).replace("Z", "+00:00")))
    if len(starts) < 3:
        return None
    periods = [b - a for a, b in zip(starts, starts[1:]) if b - a < 30]
    connects = [b - a for a, b in zip(starts, ready)]
    return statistics.median(periods), statistics.median(connects), len(starts)


class AirflowDB:
    """The metadata database (SQLite), read-only: what the scheduler and triggerer recorded."""

    def __init__(self, path: Path):
        self.path = path
        self.db: sqlite3.Connection | None = None

    def query(self, sql: str, params=()) -> list[tuple]:
        if self.db is None:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10, isolation_level=None)
        return self.db.execute(sql, params).fetchall()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


@dataclass
class Stages:
    """One upload's way into the ledger, each stage in seconds."""

    upload: Upload
    run_id: str | None
    detected: float | None = None  # landed -> asset event (trigger poll, triggerer)
    run_created: float | None = None  # asset event -> DAG run queued (scheduler)
    task_queued: float | None = None  # run queued -> pull_reference queued (scheduler)
    task_started: float | None = None  # task queued -> task running (executor, task supervisor)
    step_started: float | None = None  # task running -> our step begins (task process: DAG parse, hooks)
    imported: float | None = None  # step begins -> rows seen in the ledger (SFTP, read, upsert)
    run_total: float | None = None  # landed -> the run ended (all three tasks)

    @property
    def latency(self) -> float:
        return self.upload.seen - self.upload.landed


STAGES = (
    ("detected", "file landed -> asset event", "the trigger's next poll (every 1 s: SFTP connect + list of 4 "
     "inboxes), the triggerer runner's 1 s sync loop, the event written"),
    ("run_created", "asset event -> DAG run", "the scheduler's next loop creates the asset-triggered run"),
    ("task_queued", "DAG run -> task queued", "the scheduler starts the run, schedules and queues pull_reference"),
    ("task_started", "task queued -> running", "LocalExecutor worker picks it up, the task supervisor forks the "
     "task process and reports it running"),
    ("step_started", "running -> step begins", "the task process parses the DAG file (this one DAG), builds the "
     "operator, connections, ledger engine"),
    ("imported", "step begins -> in ledger", "SFTP connect, read + validate the file, upsert, commit (and the "
     "bench's 20 ms poll)"),
)


def stages_of(uploads: list[Upload], adb: AirflowDB, ledger: LedgerWatch, dag_id: str, asset_name: str,
              entity_id: str) -> list[Stages]:
    events = sorted(parse_utc(ts) for (ts,) in adb.query(
        "SELECT e.timestamp FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ?", (asset_name,)))
    runs = sorted((parse_utc(queued), run_id, parse_utc(ended)) for run_id, queued, ended in adb.query(
        "SELECT run_id, queued_at, end_date FROM dag_run WHERE dag_id = ?", (dag_id,)))
    tasks = {run_id: (parse_utc(queued), parse_utc(started)) for run_id, queued, started in adb.query(
        "SELECT run_id, queued_dttm, start_date FROM task_instance WHERE dag_id = ? AND task_id = 'pull_reference'",
        (dag_id,))}
    steps = ledger.step_times(entity_id, "pull_reference")
    result = []
    for up in uploads:
        event = next((t for t in events if t >= up.landed), None)
        run = next((r for r in runs if r[0] >= up.landed), None)
        stage = Stages(up, run[1] if run else None)
        if event is not None and run is not None and run[1] in tasks and run[1] in steps:
            task_queued, task_started = tasks[run[1]]
            step_started = steps[run[1]][0]
            stage.detected = event - up.landed
            stage.run_created = run[0] - event
            stage.task_queued = task_queued - run[0]
            stage.task_started = task_started - task_queued
            stage.step_started = step_started - task_started
            stage.imported = up.seen - step_started
            stage.run_total = run[2] - up.landed if run[2] else None
        result.append(stage)
    return result


@dataclass
class RealtimeResult:
    uploads: list[Upload]
    stages: list[Stages]
    warmup: Upload | None
    baseline: list[float]
    settings: list[tuple[str, str, str]]
    startup_s: dict[str, float]
    failed_runs: int
    wall_s: float
    polls: tuple[float, float, int] | None = None


def realtime(args, tmp: Path) -> RealtimeResult:
    import yaml

    from ledgerbridge.connectors.factory import ConnectionSettings
    from ledgerbridge.filedrop.sftp import open_sftp
    from ledgerbridge.registry import LegalEntity
    from ledgerbridge.sandbox.sftp import serve_in_thread

    started = time.perf_counter()
    startup: dict[str, float] = {}
    home, drop = tmp / "airflow", tmp / "drop-realtime"
    home.mkdir()
    drop.mkdir()
    ledger_path = tmp / "ledger-realtime.db"
    ledger_url = f"sqlite:///{ledger_path}"
    company_id = f"QBD-{RT_ENTITY}"
    entity_doc = {"id": RT_ENTITY, "name": "Bench Realtime Desk", "base_currency": "USD",
                  "accounting": {"kind": "quickbooks_desktop", "conn_id": RT_CONN}, "schedule": None,
                  "flows": ["reference"], "realtime_poll_seconds": POLL_SECONDS}
    registry = tmp / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [entity_doc]}))
    entity = LegalEntity.model_validate(entity_doc)
    dag_id, asset_name = f"ledgerbridge__{RT_ENTITY}__inbound", f"ledgerbridge_file_drop_{RT_ENTITY}"

    server = serve_in_thread(drop, users={SFTP_USER: SFTP_PASSWORD}, host_key_path=tmp / "ssh_host_ed25519_key")
    standalone: Standalone | None = None
    adb = AirflowDB(home / "airflow.db")
    ledger: LedgerWatch | None = None
    try:
        extra = {"host_key": server.host_key_line, "root": "/", "company_id": company_id}
        conn_json = json.dumps({"conn_type": "sftp", "host": "127.0.0.1", "port": server.port, "login": SFTP_USER,
                                "password": SFTP_PASSWORD, "extra": extra})
        api_port = free_port()
        settings = [(name, value, why) for name, (value, why) in FIXED_SETTINGS.items()]
        for name, (tuned, default, why) in LATENCY_TUNING.items():
            value = default if args.airflow_defaults else tuned
            note = f"default {default}: {why}" if value != default else f"Airflow's default; {why}"
            settings.append((name, value, note))
        env = {
            # Nothing of the caller's Airflow (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, connections, ...) may leak in.
            **{name: value for name, value in os.environ.items() if not name.lstrip("_").startswith("AIRFLOW")},
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts `airflow` from PATH
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,  # one secret for every component
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),  # not the fixed 8793/8794
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "LEDGERBRIDGE_REGISTRY": str(registry),
            "LEDGERBRIDGE_DB_URL": ledger_url,
            "LEDGERBRIDGE_DATA_DIR": str(tmp / "data"),
            "LEDGERBRIDGE_TASK_RETRIES": "0",  # a failure shows at once
            f"AIRFLOW_CONN_{RT_CONN.upper()}": conn_json,
            **{name: value for name, value, _ in settings},
        }

        def run(command: list[str], what: str) -> None:
            t0 = time.perf_counter()
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            if result.returncode != 0:
                raise RuntimeError(f"{what} failed ({result.returncode}): {(result.stdout + result.stderr)[-3000:]}")
            startup[what] = time.perf_counter() - t0

        progress(f"realtime: ledger {ledger_path.name} (ledgerbridge db upgrade), Airflow home {home} "
                 f"(airflow db migrate)")
        run([sys.executable, "-m", "ledgerbridge.cli", "db", "upgrade"], "ledgerbridge db upgrade")
        run([str(VENV_BIN / "airflow"), "db", "migrate"], "airflow db migrate")
        pools = home / "pools.json"
        pools.write_text(json.dumps({
            name: {"slots": 4, "description": f"LedgerBridge steps talking to {kind} (bench)"}
            for kind in ("quickbooks_desktop", "desktop_file_drop") for name in [f"ledgerbridge_{kind}"]}))
        run([str(VENV_BIN / "airflow"), "pools", "import", str(pools)], "airflow pools import")

        # The baseline, before Airflow runs: the same uploads, imported by the same step in this process.
        baseline = baseline_imports(entity, ConnectionSettings(RT_CONN, "127.0.0.1", SFTP_USER, SFTP_PASSWORD,
                                                               extra=extra, port=server.port),
                                    ledger_url, server, company_id)

        progress(f"realtime: starting airflow standalone (API on port {api_port}; log {home / 'standalone.log'})")
        standalone = Standalone(env, home)
        t0 = time.perf_counter()
        standalone.start()

        def alive() -> None:
            standalone.check_alive()
            _check_runs(adb, dag_id, home)

        try:
            wait_for(lambda: (home / "airflow.db").exists() and _dag_state(adb, dag_id) is not None, 300,
                     f"DAG {dag_id} parsed", interval=0.5, check=lambda: _check(standalone, adb))
            startup["standalone: DAG parsed"] = time.perf_counter() - t0
            if _dag_state(adb, dag_id):  # paused after all: unpause it the documented way
                progress(f"realtime: {dag_id} is paused; airflow dags unpause")
                run([str(VENV_BIN / "airflow"), "dags", "unpause", dag_id], "airflow dags unpause")
            wait_for(lambda: _watcher_running(adb, asset_name), 300, "the asset watcher's trigger assigned to the "
                     "triggerer", interval=0.5, check=lambda: _check(standalone, adb))
            startup["standalone: trigger running"] = time.perf_counter() - t0
            time.sleep(2 * POLL_SECONDS + 1)  # the runner creates the trigger within a second of its assignment
            ledger = LedgerWatch(ledger_path)
            rng = random.Random(4)
            with open_sftp("127.0.0.1", server.port, SFTP_USER, password=SFTP_PASSWORD,
                           host_key=server.host_key_line, known_hosts=None, root="/") as fs:
                def one(index: int, tag: str) -> Upload:
                    time.sleep(rng.uniform(0, POLL_SECONDS))  # a random moment of the trigger's poll cycle
                    up = upload(fs, index, RT_ENTITY, company_id, tag)
                    wait_for(lambda: ledger.has_all(RT_ENTITY, up.keys), 120, f"records of {up.path} in the ledger",
                             check=alive)
                    up.seen = time.time()
                    wait_for(lambda: _idle(adb, dag_id), 180, f"the inbound run of {up.path} to finish",
                             interval=0.1, check=alive)
                    up.run_done = time.time()
                    return up

                progress("realtime: warm-up upload (not counted)")
                warmup = one(0, "w")
                progress(f"realtime: warm-up in the ledger after {warmup.seen - warmup.landed:.2f} s, run done after "
                         f"{warmup.run_done - warmup.landed:.2f} s")
                uploads = []
                for index in range(args.files):
                    up = one(index, "m")
                    uploads.append(up)
                    progress(f"realtime: file {index + 1}/{args.files} ({up.kind}): {up.seen - up.landed:.2f} s to "
                             f"the ledger, run done after {up.run_done - up.landed:.2f} s")
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\nlast lines of {standalone.log_path}:\n{standalone.tail()}") from None
        stages = stages_of(uploads, adb, ledger, dag_id, asset_name, RT_ENTITY)
        (failed,) = adb.query("SELECT count(*) FROM dag_run WHERE dag_id = ? AND state != 'success'", (dag_id,))[0]
        return RealtimeResult(uploads, stages, warmup, baseline, settings, startup, failed,
                              time.perf_counter() - started, trigger_polls(standalone.log_path))
    finally:
        if ledger is not None:
            ledger.close()
        adb.close()
        if standalone is not None:
            progress("realtime: stopping airflow standalone")
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown
            try:
                notes = standalone.stop()
            finally:
                signal.signal(signal.SIGINT, previous)
            progress("realtime: airflow stopped" + (f" ({'; '.join(notes)})" if notes else " cleanly"))
        server.stop()


def _check(standalone: Standalone, adb: AirflowDB) -> None:
    standalone.check_alive()
    if (standalone.home / "airflow.db").exists():
        with contextlib.suppress(sqlite3.Error):
            errors = adb.query("SELECT filename, stacktrace FROM import_error")
            if errors:
                raise RuntimeError(f"the DAG file does not import: {errors[0][0]}: {errors[0][1][-2000:]}")


def _check_runs(adb: AirflowDB, dag_id: str, home: Path) -> None:
    """A failed inbound run stops the bench at once, with the end of the failed task's log."""
    failed = adb.query("SELECT run_id, task_id FROM task_instance WHERE dag_id = ? AND state = 'failed'", (dag_id,))
    if failed:
        run_id, task_id = failed[0]
        logs = sorted((home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/*.log"))
        tail = "".join(logs[-1].read_text(errors="replace").splitlines(keepends=True)[-25:]) if logs else ""
        raise RuntimeError(f"task {task_id} of the inbound run {run_id} failed; its log "
                           f"({logs[-1] if logs else 'not found'}) ends:\n{tail}")


def _dag_state(adb: AirflowDB, dag_id: str) -> bool | None:
    """None until the DAG is in the database, then whether it is paused."""
    try:
        rows = adb.query("SELECT is_paused FROM dag WHERE dag_id = ?", (dag_id,))
    except sqlite3.Error:  # the tables are being created
        return None
    return bool(rows[0][0]) if rows else None


def _watcher_running(adb: AirflowDB, asset_name: str) -> bool:
    try:
        rows = adb.query("SELECT t.triggerer_id FROM trigger t JOIN asset_watcher w ON w.trigger_id = t.id "
                         "JOIN asset a ON a.id = w.asset_id WHERE a.name = ?", (asset_name,))
    except sqlite3.Error:
        return False
    return any(triggerer is not None for (triggerer,) in rows)


def _idle(adb: AirflowDB, dag_id: str) -> bool:
    (busy,) = adb.query("SELECT count(*) FROM dag_run WHERE dag_id = ? AND state IN ('queued', 'running')",
                        (dag_id,))[0]
    return busy == 0


def baseline_imports(entity, conn, ledger_url: str, server, company_id: str) -> list[float]:
    """Upload, then run pull_reference here at once: landing -> rows committed, without Airflow."""
    from ledgerbridge.connectors.factory import file_drop
    from ledgerbridge.filedrop.sftp import open_sftp
    from ledgerbridge.ledger import Ledger
    from ledgerbridge.pipeline import RunContext, RunParams, run_step

    progress(f"realtime: baseline, {BASELINE_FILES} uploads imported by pull_reference in this process")
    ledger = Ledger(ledger_url)
    watch = LedgerWatch(Path(ledger_url.removeprefix("sqlite:///")))
    log = logging.getLogger("ledgerbridge.bench.baseline")
    seconds = []
    try:
        with open_sftp("127.0.0.1", server.port, SFTP_USER, password=SFTP_PASSWORD, host_key=server.host_key_line,
                       known_hosts=None, root="/") as fs:
            for index in range(BASELINE_FILES + 1):  # the first one warms up, as under Airflow
                up = upload(fs, index, entity.id, company_id, "b")
                run_step(RunContext(entity=entity, ledger=ledger, run_id=f"baseline__{index}",
                                    params=RunParams.from_mapping({}), connect=lambda: file_drop(entity, conn),
                                    log=log), "pull_reference")
                if not watch.has_all(entity.id, up.keys):
                    raise RuntimeError(f"baseline: {up.path} was not imported")
                if index:
                    seconds.append(time.time() - up.landed)
    finally:
        watch.close()
        ledger.dispose()
    return seconds


def report_realtime(r: RealtimeResult) -> list[tuple[str, bool | None, str]]:
    lat = [s.latency for s in r.stages]
    p50, p95 = percentile(lat, 50), percentile(lat, 95)
    base50 = percentile(r.baseline, 50)
    print("\n== real time: file landed -> its records in the ledger, under airflow standalone ==")
    kinds = Counter(u.kind for u in r.uploads)
    print(f"   {len(r.uploads)} uploads over SFTP, one at a time ({kinds['lists']} lists files of 2 vendors, "
          f"{kinds['payments_made']} payments_made files of 1 bill payment); each waits for the previous file's "
          f"inbound run to finish, then 0-{POLL_SECONDS} s at random")
    headers = ["run", "files", "p50 s", "p95 s", "mean s", "min s", "max s", "x baseline (p50)"]
    rows = [["airflow standalone", str(len(lat)), f"{p50:.2f}", f"{p95:.2f}", f"{statistics.mean(lat):.2f}",
             f"{min(lat):.2f}", f"{max(lat):.2f}", f"{p50 / base50:.1f}"],
            ["baseline: step in-process", str(len(r.baseline)), f"{base50:.2f}", f"{percentile(r.baseline, 95):.2f}",
             f"{statistics.mean(r.baseline):.2f}", f"{min(r.baseline):.2f}", f"{max(r.baseline):.2f}", "1.0"]]
    print_table(headers, rows)
    totals = [s.run_total for s in r.stages if s.run_total is not None]
    if totals:
        print(f"   the whole inbound run (pull_reference, collect_confirmations, write_back) ended "
              f"{percentile(totals, 50):.1f} s (p50) / {percentile(totals, 95):.1f} s (p95) after the landing")
    if r.warmup:
        print(f"   warm-up upload (not counted): {r.warmup.seen - r.warmup.landed:.2f} s")
    print("   baseline = the same kind of upload, then pull_reference run at once in this process, before Airflow "
          "starts (no trigger, no scheduler, no task start-up): the work itself")

    complete = [s for s in r.stages if s.detected is not None]
    print(f"\n== where the latency goes (from Airflow's metadata DB and the ledger's sync_runs; {len(complete)} of "
          f"{len(r.stages)} files traced) ==")
    if complete:
        mean_total = statistics.mean(s.latency for s in complete)
        rows = []
        for name, label, _ in STAGES:
            values = [getattr(s, name) for s in complete]
            rows.append([label, f"{percentile(values, 50):.2f}", f"{percentile(values, 95):.2f}",
                         f"{statistics.mean(values):.2f}", f"{statistics.mean(values) / mean_total:.0%}"])
        rows.append(["total", f"{percentile([s.latency for s in complete], 50):.2f}",
                     f"{percentile([s.latency for s in complete], 95):.2f}", f"{mean_total:.2f}", "100%"])
        print_table(["stage", "p50 s", "p95 s", "mean s", "share of mean"], rows)
        for _, label, what in STAGES:
            print(f"   {label}: {what}")
        if r.polls:
            period, connect, count = r.polls
            print(f"   the trigger polled every {period:.2f} s (median over {count} polls in the triggerer's log: the "
                  f"{POLL_SECONDS} s sleep + the poll, whose SSH session set-up took {connect * 1000:.0f} ms)")
        print("   the records are in the ledger when pull_reference commits, before the task ends; it then moves the "
              "file to processed/, and collect_confirmations and write_back follow in the same run (not counted)")
        slowest = sorted(complete, key=lambda s: s.latency, reverse=True)[:3]
        print("   slowest (stages in the table's order): " + "; ".join(
            f"file {s.upload.index + 1} {s.latency:.2f} s (" + ", ".join(
                f"{getattr(s, n):.2f}" for n, _, _ in STAGES) + ")" for s in slowest))
    print("\n   Airflow settings of the run:")
    for name, value, why in r.settings:
        print(f"   {name}={value}  ({why})")
    print(f"   entity: realtime_poll_seconds: {POLL_SECONDS}; the trigger opens one SFTP session per poll")
    print("   set-up (not in any figure): " + ", ".join(f"{k} {v:.1f} s" for k, v in r.startup_s.items()) +
          f"; the whole real-time part {r.wall_s:.0f} s")
    return [
        (f"real time: p50 <= {TARGET_P50_SECONDS:g} s from landing to the ledger ({len(lat)} files)",
         p50 <= TARGET_P50_SECONDS, f"p50 {p50:.2f} s, p95 {p95:.2f} s"),
        ("real time: every inbound run succeeded", r.failed_runs == 0, f"{r.failed_runs} run(s) not successful"),
    ]


# --- throughput -----------------------------------------------------------------------------------

def hub_bills(prefix: str, count: int, vendors: int) -> dict:
    bills = [{
        "hub_id": f"{prefix}-{n:05d}", "vendor": f"V-{n % vendors + 1:03d}", "doc_number": f"{prefix}-{n:05d}",
        "doc_date": "2026-11-02", "status": "approved",
        "lines": [{"amount": f"{n % 997 + 1}.25", "account": "6010" if n % 2 else "6030",
                   "description": f"bench line {n}"}],
    } for n in range(1, count + 1)]
    return {"vendors": [{"hub_id": f"V-{v:03d}", "name": f"Bench Vendor {v:03d}"} for v in range(1, vendors + 1)],
            "bills": bills, "bill_payments": []}


@dataclass
class Phase:
    seconds: float
    cpu_s: float  # this process
    schema_s: float  # validating messages (writing and reading)
    server_cpu_s: float | None  # the SFTP server process
    fs: FSStats
    summary: dict


@dataclass
class Drop:
    label: str
    entity: object
    connector: object
    agent: object
    opener: object  # a FileSystem session for the agent
    stats: FSStats
    bills: int
    setup_s: float = 0.0
    phases: dict[str, Phase] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    confirmed: int = 0
    in_books: int = 0
    confirmations: int = 0


def set_up_drop(label: str, entity_id: str, conn, bills: int, ledger) -> Drop:
    from ledgerbridge.connectors.factory import file_drop
    from ledgerbridge.hub_import import import_hub_data
    from ledgerbridge.pipeline import run_step
    from ledgerbridge.registry import LegalEntity
    from ledgerbridge.sandbox.desktop import DesktopAgent, DesktopCompany, seed_demo

    progress(f"throughput: {label}: setting up {bills:,} bills (company lists, hub import, pull_reference, "
             f"match_parties, prepare_exports; not timed)")
    started = time.perf_counter()
    entity = LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD", "schedule": None,
        "accounting": {"kind": "quickbooks_desktop", "conn_id": conn.conn_id},
        "flows": ["reference", "parties", "bills"],
    })
    company = seed_demo(DesktopCompany(company_id=conn.extra["company_id"], entity_id=entity_id))
    for v in range(1, VENDORS + 1):
        company.add_list_entry("vendor", f"Bench Vendor {v:03d}")
    agent = DesktopAgent(company, state_file=Path(os.environ["LEDGERBRIDGE_DATA_DIR"]) / f"{entity_id}-qbd.json")
    stats = FSStats()
    connector = file_drop(entity, conn)
    agent_opener = timed_opener(connector.open_fs, stats)  # the agent reaches the drop the same way
    connector.open_fs = timed_opener(connector.open_fs, stats)
    drop = Drop(label, entity, connector, agent, agent_opener, stats, bills)
    with agent_opener() as fs:
        agent.publish_lists(fs, entity_id, full=True)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_bills(entity_id.upper()[:4], bills, VENDORS))
    for step in SETUP_STEPS:
        summary = run_step(context(drop, ledger, "setup"), step)
        if step == "prepare_exports" and summary.get("queued") != bills:
            raise RuntimeError(f"{label}: prepare_exports queued {summary.get('queued')} of {bills} bills: {summary}")
    drop.setup_s = time.perf_counter() - started
    return drop


def context(drop: Drop, ledger, run_id: str):
    from ledgerbridge.pipeline import RunContext

    return RunContext(entity=drop.entity, ledger=ledger, run_id=f"bench__{run_id}", connect=lambda: drop.connector,
                      log=logging.getLogger(f"ledgerbridge.bench.{drop.entity.id}"))


def run_drop(drop: Drop, ledger, root: Path, server_pid: int | None, schemas: SchemaTimer) -> None:
    from sqlalchemy import func, select

    from ledgerbridge.ledger.models import OutboxEntry, OutboxState
    from ledgerbridge.pipeline import run_step

    stats = drop.stats  # the openers were built with this object: reset it in place between phases

    def phase(name: str, work) -> Phase:
        stats.reset()
        schema0 = schemas.seconds
        cpu0, server0 = time.process_time(), process_cpu(server_pid) if server_pid else None
        t0 = time.perf_counter()
        summary = work()
        seconds = time.perf_counter() - t0
        snapshot = FSStats(stats.sessions, stats.connect_s, stats.close_s, dict(stats.op_s), Counter(stats.calls),
                           stats.written, stats.read)
        result = Phase(seconds, time.process_time() - cpu0, schemas.seconds - schema0,
                       process_cpu(server_pid) - server0 if server_pid else None, snapshot, summary)
        drop.phases[name] = result
        return result

    entity_dir = root / drop.entity.id
    with ledger.engine.connect() as connection:  # the set-up's writes leave the WAL before the timed steps
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    progress(f"throughput: {drop.label}: export_documents of {drop.bills:,} bills")
    phase("export", lambda: run_step(context(drop, ledger, "export"), "export_documents"))
    written = sorted((entity_dir / "to_accounting" / "bills").glob("*"))
    drop.files = sum(1 for p in written if p.name.endswith(".json"))
    drop.bytes = sum(p.stat().st_size for p in written if p.name.endswith(".json"))
    leftovers = [p.name for p in written if not p.name.endswith(".json")]
    if leftovers:
        raise RuntimeError(f"{drop.label}: files other than .json left in the inbox: {leftovers[:3]}")

    progress(f"throughput: {drop.label}: the agent consumes {drop.files} files")

    def agent_work():
        with drop.opener() as fs:
            outcomes = drop.agent.process(fs, drop.entity.id)
        return dict(Counter(o.status for o in outcomes))

    saves = {"s": 0.0, "n": 0}
    save = drop.agent.save

    def timed_save():
        t0 = time.perf_counter()
        save()
        saves["s"] += time.perf_counter() - t0
        saves["n"] += 1

    drop.agent.save = timed_save
    agent_phase = phase("agent", agent_work)
    agent_phase.summary["state saves s"] = saves["s"]
    drop.agent.save = save

    progress(f"throughput: {drop.label}: collect_confirmations")
    phase("confirmations", lambda: run_step(context(drop, ledger, "confirm"), "collect_confirmations"))
    drop.confirmations = len(list((entity_dir / "processed").glob("confirmations-*")))
    with ledger.session() as session:
        drop.confirmed = session.scalar(select(func.count(OutboxEntry.id)).where(
            OutboxEntry.entity_id == drop.entity.id, OutboxEntry.state == OutboxState.CONFIRMED))
    drop.in_books = len(drop.agent.company.transactions["bill"])


def start_sftp_process(root: Path, tmp: Path) -> tuple[subprocess.Popen, int, str]:
    """The embedded SFTP server in a child process (`python -m ledgerbridge.sandbox.sftp`)."""
    from ledgerbridge.sandbox.sftp import load_or_create_host_key, public_key_line

    key_path = tmp / "throughput_host_key"
    host_key = public_key_line(load_or_create_host_key(key_path))
    port = free_port()
    log = open(tmp / "sftp-server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "ledgerbridge.sandbox.sftp", "--root", str(root), "--port",
                                str(port), "--user", f"{SFTP_USER}:{SFTP_PASSWORD}", "--host-key", str(key_path)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the SFTP server did not start: {(tmp / 'sftp-server.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return process, port, host_key


def throughput(args, tmp: Path) -> list[Drop]:
    from ledgerbridge.connectors.factory import ConnectionSettings
    from ledgerbridge.ledger import Ledger, migrate

    url = f"sqlite:///{tmp / 'ledger-throughput.db'}"
    migrate(url)
    ledger = Ledger(url)
    sftp_root, local_root = tmp / "drop-sftp", tmp / "drop-local"
    sftp_root.mkdir()
    local_root.mkdir()
    server, port, host_key = start_sftp_process(sftp_root, tmp)
    try:
        local_conn = ConnectionSettings("drop_bench_local", extra={"local_root": str(local_root),
                                                                   "company_id": "QBD-bench_local"})
        sftp_conn = ConnectionSettings("drop_bench_sftp", "127.0.0.1", SFTP_USER, SFTP_PASSWORD, port=port,
                                       extra={"host_key": host_key, "root": "/", "company_id": "QBD-bench_sftp"})
        # A small untimed round trip first: imports, schema validators and SQLAlchemy's statement cache
        # are warm before either timed run, so the first one does not pay for them.
        warm_root = tmp / "drop-warm-up"
        warm_root.mkdir()
        warm_conn = ConnectionSettings("drop_bench_warm", extra={"local_root": str(warm_root),
                                                                 "company_id": "QBD-bench_warm"})
        progress("throughput: warm-up round trip of 50 bills (not reported)")
        schemas = SchemaTimer()
        run_drop(set_up_drop("warm-up", "bench_warm", warm_conn, 50, ledger), ledger, warm_root, None, schemas)
        # Each entity is set up right before its own run, so both runs start from the same state.
        local = set_up_drop("local folder", "bench_local", local_conn, args.bills, ledger)
        run_drop(local, ledger, local_root, None, schemas)
        sftp = set_up_drop("SFTP", "bench_sftp", sftp_conn, args.bills, ledger)
        run_drop(sftp, ledger, sftp_root, server.pid, schemas)
        return [local, sftp]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        ledger.dispose()


def report_throughput(drops: list[Drop]) -> list[tuple[str, bool | None, str]]:
    local, sftp = drops
    mb = lambda d: d.bytes / 1e6
    server = lambda p: "-" if p.server_cpu_s is None else f"{p.server_cpu_s:.2f}"
    print(f"\n== export_documents: {sftp.bills:,} bills written to the file drop ==")
    headers = ["run", "bills", "files", "MB", "step s", "files/s", "MB/s", "bills/s", "x baseline", "sessions",
               "connect s", "other transport s", "schema s", "rest s", "CPU s", "server CPU s"]
    rows = []
    base_rate = local.bills / local.phases["export"].seconds
    for d in drops:
        p = d.phases["export"]
        rows.append([d.label + (" (baseline)" if d is local else ""), f"{d.bills:,}", str(d.files), f"{mb(d):.2f}",
                     f"{p.seconds:.2f}", f"{d.files / p.seconds:.2f}", f"{mb(d) / p.seconds:.2f}",
                     f"{d.bills / p.seconds:,.0f}", f"{d.bills / p.seconds / base_rate:.2f}",
                     str(p.fs.sessions), f"{p.fs.connect_s:.2f}", f"{p.fs.total_s - p.fs.connect_s:.2f}",
                     f"{p.schema_s:.2f}", f"{p.seconds - p.fs.total_s - p.schema_s:.2f}", f"{p.cpu_s:.2f}", server(p)])
    print_table(headers, rows)
    e_local, e_sftp = local.phases["export"], sftp.phases["export"]
    print(f"   one file per batch of {sftp.connector.capabilities.batch_size} bills (FileDropConnector.capabilities.batch_size), one FileSystem "
          f"session per batch; the baseline writes the same files to a local folder (LocalFileSystem)")
    print("   x baseline = bills/s divided by the local folder's; connect = opening sessions (TCP, SSH handshake, "
          "password login, SFTP subsystem, ensure_layout not included); other transport = every other FileSystem "
          "call and closing sessions")
    print("   schema = validating each message against its JSON Schema before it is written (files.encode_message); "
          "rest = step - transport - schema: the ledger (claiming and settling each batch, audit rows), building "
          "and encoding the payloads")
    print("   CPU = this process (paramiko's transport thread included: encryption); server CPU = the SFTP server's "
          "child process")
    ops = ", ".join(f"{name} {n} x {e_sftp.fs.op_s[name] / n * 1000:.1f} ms"
                    for name, n in sorted(e_sftp.fs.calls.items()))
    wire = e_sftp.fs.written / 1e6 / max(e_sftp.fs.op_s.get("write_bytes", 0), 1e-9)
    print(f"   SFTP calls: {ops}; write_bytes moves {wire:.0f} MB/s on its own (pipelined writes, fsync, size check)")
    extra = e_sftp.seconds - e_local.seconds
    print(f"   SFTP / local: step {e_sftp.seconds / e_local.seconds:.2f}x; SFTP costs {extra:.2f} s more "
          f"({extra / max(sftp.files, 1) * 1000:.0f} ms a file): {e_sftp.fs.connect_s:.2f} s opening "
          f"{e_sftp.fs.sessions} sessions, {e_sftp.fs.total_s - e_sftp.fs.connect_s:.2f} s in the other calls; "
          f"CPU of this process {e_sftp.cpu_s - e_local.cpu_s:+.2f} s")

    print("\n== the agent sandbox consumes the files (DesktopAgent.process: read, validate, book, save its state, "
          "write a confirmation, move to processed/) ==")
    headers = ["run", "files", "bills booked", "s", "files/s", "MB/s", "bills/s", "transport s", "schema s",
               "state saves s", "booking etc. s", "CPU s", "server CPU s"]
    rows = []
    for d in drops:
        p = d.phases["agent"]
        saves = p.summary["state saves s"]
        rows.append([d.label, str(p.summary.get("processed", 0)), f"{d.in_books:,}", f"{p.seconds:.2f}",
                     f"{d.files / p.seconds:.2f}", f"{mb(d) / p.seconds:.2f}", f"{d.in_books / p.seconds:,.0f}",
                     f"{p.fs.total_s:.2f}", f"{p.schema_s:.2f}", f"{saves:.2f}",
                     f"{p.seconds - p.fs.total_s - p.schema_s - saves:.2f}", f"{p.cpu_s:.2f}", server(p)])
    print_table(headers, rows)
    print("   one session for the whole poll; the agent saves its whole state file (JSON) after every input file, "
          "as the sandbox agent does; schema = validating the bills read and the confirmations written")

    print("\n== collect_confirmations: the answers back into the outbox ==")
    headers = ["run", "confirmation files", "rows confirmed", "s", "files/s", "rows/s", "sessions", "transport s",
               "schema s", "CPU s"]
    rows = []
    for d in drops:
        p = d.phases["confirmations"]
        rows.append([d.label, str(d.confirmations), f"{d.confirmed:,}", f"{p.seconds:.2f}",
                     f"{d.confirmations / p.seconds:.2f}", f"{d.confirmed / p.seconds:,.0f}", str(p.fs.sessions),
                     f"{p.fs.total_s:.2f}", f"{p.schema_s:.2f}", f"{p.cpu_s:.2f}"])
    print_table(headers, rows)
    totals = {d.label: sum(p.seconds for p in d.phases.values()) for d in drops}
    print(f"   the whole round trip (export + agent + confirmations): local folder {totals[local.label]:.1f} s, "
          f"SFTP {totals[sftp.label]:.1f} s ({totals[sftp.label] / totals[local.label]:.2f}x)")
    for d in drops:
        print(f"   setup of {d.label} (not in any figure): {d.setup_s:.1f} s")
    return [(f"throughput, {d.label}: every bill in one of {d.files} files, booked once, confirmed",
             d.confirmed == d.bills and d.in_books == d.bills and d.files == -(-d.bills // d.connector.capabilities.batch_size),
             f"{d.files} files, {d.in_books:,} bills in the books, {d.confirmed:,} outbox rows confirmed")
            for d in drops]


# --- main -----------------------------------------------------------------------------------------

def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50, help="files dropped one at a time in the real-time part")
    parser.add_argument("--bills", type=int, default=10000, help="bills exported in the throughput part")
    parser.add_argument("--skip-realtime", action="store_true", help="throughput only (no Airflow)")
    parser.add_argument("--skip-throughput", action="store_true", help="real-time part only")
    parser.add_argument("--airflow-defaults", action="store_true",
                        help="leave the latency settings (scheduler idle sleep, parse interval) at Airflow's defaults")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (Airflow logs) and print it")
    args = parser.parse_args(argv)
    if args.files < 1 or args.bills < 1 or (args.skip_realtime and args.skip_throughput):
        parser.error("--files and --bills must be >= 1, and something must run")

    # Ctrl-C and SIGTERM end the bench through its `finally` blocks. SIGINT is set explicitly: when it is
    # inherited as ignored (a background job, nohup), the children would ignore it too, standalone included.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = tempfile.mkdtemp(prefix="bench-file-drop-")
    os.environ["LEDGERBRIDGE_DATA_DIR"] = str(Path(tmp) / "data")  # nothing may land in the project's data/
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from importlib.metadata import version

    print(f"python {sys.version.split()[0]}, apache-airflow {version('apache-airflow')}, paramiko "
          f"{version('paramiko')}, asyncssh {version('asyncssh')}, {len(os.sched_getaffinity(0))} CPUs")
    checks: list[tuple[str, bool | None, str]] = []
    realtime_result = drops = None
    try:
        if not args.skip_realtime:
            try:
                realtime_result = realtime(args, Path(tmp))
            except RuntimeError as exc:
                print(f"\n== real time: airflow standalone could not be measured ==\n   {exc}")
                checks.append(("real time: measured under airflow standalone", False, str(exc).splitlines()[0][:200]))
        if not args.skip_throughput:
            drops = throughput(args, Path(tmp))
    except KeyboardInterrupt:
        progress("interrupted: everything this bench started has been stopped")
        return 130
    finally:
        if args.keep:
            progress(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)

    if realtime_result is not None:
        checks += report_realtime(realtime_result)
    if drops is not None:
        checks += report_throughput(drops)
    return print_targets(checks)


if __name__ == "__main__":
    sys.exit(main())
