"""A real Airflow for the browser tests: throw-away AIRFLOW_HOME and LEDGERBRIDGE_DATA_DIR, the demo's
data seeded by `ledgerbridge demo` into sandboxes on free loopback ports, then `airflow api-server`.

What the demo leaves is not enough to operate on (nothing waits on review, nothing held may be released,
nothing was refused), so before the demo runs, globex_uk gets a little more, the way it would in life:
- its QuickBooks company gets a vendor "V. Smith" (keyed in by the accountant);
- its hub feed gets a second file: vendor V-203 "Virginia Smith" (close to "V. Smith", so she waits on a
  person's review) with her bill B-2005, bill B-2006 whose due date is before its date (held, and a
  person may release it), and bill B-2007 numbered like B-2002 for the same vendor (held: QuickBooks
  would refuse the second one). Nothing here makes QuickBooks refuse a record: the rejected page stays empty.

DAGs run through `ledgerbridge-airflow dags-test` (as `make demo` does), so the api-server alone serves
the UI: no scheduler, no dag-processor. One start-up per session.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTITIES = ("acme_us", "globex_uk")  # each entity costs the demo one DAG run (~35 s)
USERS = {"admin": "admin-browser-pw", "viewer": "viewer-browser-pw"}
DEMO_CLIENT = ("ledgerbridge-demo", "demo-secret")  # ledgerbridge.demo's sandbox client

EXTRA_GLOBEX_FEED = {
    "vendors": [{"hub_id": "V-203", "name": "Virginia Smith"}],
    "bills": [
        {"hub_id": "B-2005", "vendor": "V-203", "doc_number": "VS-17", "doc_date": "2026-11-12", "status": "approved",
         "lines": [{"amount": "260.00", "account": "7100", "description": "Courier, Leeds"}]},
        {"hub_id": "B-2006", "vendor": "V-201", "doc_number": "BSL-DEC-26", "doc_date": "2026-11-20",
         "due_date": "2026-11-18", "status": "approved",
         "lines": [{"amount": "4500.00", "account": "Rent", "description": "Office rent, December"}]},
        {"hub_id": "B-2007", "vendor": "V-201", "doc_number": "BSL-NOV-26", "doc_date": "2026-11-02",
         "status": "approved", "lines": [{"amount": "120.00", "account": "Rent", "description": "Service charge"}]},
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def _wait(url: str, process: subprocess.Popen, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}): {log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer on {url} in {timeout} s: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)


@dataclass
class Stack:
    work: Path
    env: dict[str, str] = field(default_factory=dict)
    base_url: str = ""
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.work / "data"

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'ledger.db'}"

    def run(self, *command: str, timeout: float = 300, log: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(list(command), env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if log:
            (self.work / log).write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                               f"{result.stderr[-3000:]}")
        return result

    def start(self, name: str, command: list[str], health: str, timeout: float = 60) -> None:
        log = self.work / f"{name}.log"
        process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append((name, process))
        _wait(health, process, name, log, timeout)

    def dags_test(self, entity_id: str) -> str:
        """One run of the entity's DAG (`ledgerbridge-airflow dags-test`); returns its run id."""
        started = time.monotonic()
        result = self.run("ledgerbridge-airflow", "dags-test", f"ledgerbridge__{entity_id}", timeout=300,
                          log=f"dags-test-{entity_id}-{int(time.time())}.log")
        self.timings[f"dags-test {entity_id}"] = time.monotonic() - started
        run_ids = [line.split("running task <TaskInstance: ", 1)[1].split()[1]
                   for line in result.stdout.splitlines() if "running task <TaskInstance: " in line]
        assert run_ids, result.stdout[-3000:]
        return run_ids[-1]

    def stop(self) -> None:
        for name, process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _registry(path: Path) -> None:
    registry = yaml.safe_load((ROOT / "include" / "config" / "legal_entities.yaml").read_text(encoding="utf-8"))
    registry["legal_entities"] = [e for e in registry["legal_entities"] if e["id"] in ENTITIES]
    path.write_text(yaml.safe_dump(registry, sort_keys=False))


def _plugins_folder(path: Path) -> None:
    """LedgerBridge's UI plugin is registered through the `airflow.plugins` entry point of the installed
    project; where the installed metadata lacks it (an editable install made before the entry point was
    added), a one-line plugin file in the throw-away plugins folder loads the same class."""
    from importlib.metadata import entry_points

    path.mkdir(parents=True, exist_ok=True)
    if not any(ep.value.startswith("ledgerbridge_airflow") for ep in entry_points(group="airflow.plugins")):
        (path / "ledgerbridge_ui_plugin.py").write_text(
            "from ledgerbridge_airflow.ui.plugin import LedgerBridgePlugin  # noqa: F401\n")


def _accountant_keys_in_a_vendor(stack: Stack, qbo_url: str) -> None:
    """globex_uk's company gets "V. Smith" before the demo seeds the rest (the realm is created here first; the
    demo's own call then hands out a new refresh token seed for the same company)."""
    from ledgerbridge.connectors.factory import ConnectionSettings, quickbooks_online
    from ledgerbridge.ledger import Ledger, migrate

    demo = yaml.safe_load((ROOT / "include" / "config" / "demo_data.yaml").read_text(encoding="utf-8"))["entities"]
    realm = demo["globex_uk"]
    # globex_uk keeps its books in GBP (include/config/legal_entities.yaml); the company must be created so.
    reply = requests.post(f"{qbo_url}/_sandbox/realms", json={"client_id": DEMO_CLIENT[0], "realm_id": realm["realm_id"],
                                                               "company_name": realm["company_name"],
                                                               "home_currency": "GBP"}, timeout=10)
    reply.raise_for_status()
    url = f"sqlite:///{stack.work / 'seed-ledger.db'}"
    migrate(url)
    ledger = Ledger(url)
    try:
        conn = ConnectionSettings("seed", qbo_url, *DEMO_CLIENT, realm["realm_id"],
                                  {"refresh_token": reply.json()["refresh_token"],
                                   "token_url": f"{qbo_url}/oauth2/v1/tokens/bearer"})
        quickbooks_online(conn, ledger).client.create("Vendor", {"DisplayName": "V. Smith"},
                                                       request_id="browser-tests-v-smith")
    finally:
        ledger.dispose()


def _extra_feed(stack: Stack) -> None:
    inbound = stack.data_dir / "feed" / "globex_uk" / "inbound"
    inbound.mkdir(parents=True, exist_ok=True)
    (inbound / "hub-zz-browser-tests.yaml").write_text(yaml.safe_dump(EXTRA_GLOBEX_FEED, sort_keys=False))


def start_stack(work: Path) -> Stack:
    """Everything, in order; the caller stops it (Stack.stop) whatever happens."""
    stack = Stack(work)
    home, registry, plugins = work / "airflow-home", work / "legal_entities.yaml", work / "airflow-plugins"
    home.mkdir()
    stack.data_dir.mkdir()
    _registry(registry)
    _plugins_folder(plugins)
    passwords = work / "passwords.json"
    passwords.write_text(json.dumps(USERS))
    ports = {name: free_port() for name in ("api", "qbo", "sftp", "erp", "xero")}
    venv_bin = os.path.dirname(sys.executable)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW__", "LEDGERBRIDGE_")) and key != "AIRFLOW_HOME"}
    env.update({
        "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins"),
                                       *filter(None, [os.environ.get("PYTHONPATH")])]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "ledgerbridge-browser-tests-only-" + "x" * 48,
        "AIRFLOW__API__PORT": str(ports["api"]),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{ports['api']}",
        "AIRFLOW__API__WORKERS": "1",
        "LEDGERBRIDGE_DATA_DIR": str(stack.data_dir),
        "LEDGERBRIDGE_REGISTRY": str(registry),
        "LEDGERBRIDGE_TASK_RETRIES": "0",
        "LEDGERBRIDGE_SANDBOX_PORT": str(ports["qbo"]),
        "LEDGERBRIDGE_SFTP_PORT": str(ports["sftp"]),
        "LEDGERBRIDGE_ERP_PORT": str(ports["erp"]),
        "LEDGERBRIDGE_XERO_PORT": str(ports["xero"]),
    })
    stack.env = env
    stack.base_url = f"http://127.0.0.1:{ports['api']}"
    try:
        started = time.monotonic()
        stack.run("airflow", "db", "migrate", log="db-migrate.log")
        stack.run("ledgerbridge-airflow", "setup")
        stack.timings["migrate"] = time.monotonic() - started

        # The QBO sandbox stays up for the session (the demo reuses it): the tests' runs export into it.
        started = time.monotonic()
        qbo_url = f"http://127.0.0.1:{ports['qbo']}"
        stack.data_dir.joinpath("sandbox").mkdir()
        stack.start("qbo-sandbox", [sys.executable, "-m", "ledgerbridge.cli", "sandbox", "qbo", "--port",
                                    str(ports["qbo"]), "--state-file", str(stack.data_dir / "sandbox" / "qbo.json"),
                                    "--client", ":".join(DEMO_CLIENT)], f"{qbo_url}/_sandbox/health")
        _accountant_keys_in_a_vendor(stack, qbo_url)
        _extra_feed(stack)
        stack.run("ledgerbridge", "demo", timeout=600, log="demo.log")
        stack.timings["demo"] = time.monotonic() - started

        started = time.monotonic()
        stack.start("api-server", ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(ports["api"]),
                                   "--workers", "1"], f"{stack.base_url}/api/v2/monitor/health", timeout=120)
        stack.timings["api-server"] = time.monotonic() - started
    except BaseException:
        stack.stop()
        raise
    return stack
