"""`make demo`: the demo legal entities synced by their Airflow DAGs (`airflow dags test`), ending
with one line per entity (the registry's, include/config/legal_entities.yaml). Each keeps its books in
a sandbox: a QuickBooks Online company, a Xero organisation, or a QuickBooks Desktop company behind
its agent, reached through a file drop on an embedded SFTP server (the agent answers between the
DAG's runs, as it would between polls). Hub data arrives the way a hub sends it: as feed files in
data/feed/<entity>/inbound/, which each DAG's pull_source takes in (what happened to each record is
written back to data/feed/<entity>/outbound/), or from the SYSPRO sandbox for an ERP-sourced entity.

Everything is idempotent: the sandboxes keep their companies in data/sandbox/, the ledger keeps
the hub data and the sync state, so a second run seeds nothing and exports nothing new.
The demo's connections (sandbox credentials, the refresh token seeds of this run) are created or updated
in Airflow's metadata database, where Admin -> Connections shows them: handed to `ledgerbridge-airflow
set-connections` on its stdin, never written to a file. Its DAG runs go through `ledgerbridge-airflow
dags-test`, which files each task's log where the Airflow UI reads it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml
from sqlalchemy import func, select

from ledgerbridge import settings
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.connectors.factory import ConnectionSettings, quickbooks_online
from ledgerbridge.flows.reconcile import created_in_run
from ledgerbridge.ledger import Ledger, migrate
from ledgerbridge.ledger.models import OutboxEntry, OutboxState, QuarantineEntry, QuarantineStatus, RecordType, SyncRun
from ledgerbridge.registry import ERP_KINDS, FILE_DROP_KINDS, AccountingKind, dag_id_for, load_registry

DEMO_DATA = settings.PROJECT_ROOT / "include" / "config" / "demo_data.yaml"
CLIENT_ID, CLIENT_SECRET = "ledgerbridge-demo", "demo-secret"
SEED_LISTS = (("accounts", "Account"), ("classes", "Class"), ("terms", "Term"), ("items", "Item"),
              ("vendors", "Vendor"), ("customers", "Customer"),
              ("journal_codes", "JournalCode"))  # French companies only: those beside QuickBooks France's own


DROP_USER, DROP_PASSWORD = "agent", "demo-drop-secret"
DESKTOP_ROUNDS = 3
ERP_ORDERS = 1000  # the SYSPRO sandbox's seeded company: 200 customers, 300 stock items, 1,000 orders  # export; the agent answers and the payments follow; the agent answers them


def sandbox_port() -> int:
    return int(os.environ.get("LEDGERBRIDGE_SANDBOX_PORT", "8765"))


def drop_port() -> int:
    return int(os.environ.get("LEDGERBRIDGE_SFTP_PORT", "8722"))


@contextmanager
def running_file_drop(port: int):
    """The embedded SFTP server on `port`, serving data/drop, for the length of the demo."""
    from ledgerbridge.sandbox.sftp import serve_in_thread

    root = settings.data_dir() / "drop"
    root.mkdir(parents=True, exist_ok=True)
    server = serve_in_thread(root, port=port, users={DROP_USER: DROP_PASSWORD},
                             host_key_path=settings.data_dir() / "sandbox" / "sftp_host_key")
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_sandbox(port: int):
    """The QBO sandbox on `port`: reused if one already answers there, else started (and stopped after)."""
    with _running("QBO", "qbo", port, "/_sandbox/health", ["--state-file", "{state}", "--client",
                                                           f"{CLIENT_ID}:{CLIENT_SECRET}"]) as url:
        yield url


def erp_port() -> int:
    return int(os.environ.get("LEDGERBRIDGE_ERP_PORT", "8767"))


@contextmanager
def running_erp(port: int):
    """The SYSPRO sandbox on `port` (its company kept in data/sandbox/syspro.json): reused if one already
    answers there, else started (and stopped after)."""
    with _running("SYSPRO", "syspro", port, "/sandbox/health", ["--state", "{state}", "--seed", "1", "--orders",
                                                                 str(ERP_ORDERS)], timeout=60) as url:
        yield url


@contextmanager
def _running(label: str, name: str, port: int, health: str, options: list[str], timeout: float = 30):
    """`ledgerbridge sandbox <name>` on `port`, its state in data/sandbox/<name>.json: reused if one
    already answers there, else started and stopped (gracefully: it saves its state) after."""
    url = f"http://127.0.0.1:{port}"
    if _healthy(url, health):
        yield url
        return
    state = settings.data_dir() / "sandbox" / f"{name}.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    log = open(settings.data_dir() / "sandbox" / f"{name}.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge.cli", "sandbox", name, "--port", str(port),
         *(option.format(state=state) for option in options)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url, health):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {label} sandbox did not start on port {port}: see {log.name}")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def xero_port() -> int:
    return int(os.environ.get("LEDGERBRIDGE_XERO_PORT", "8768"))


@contextmanager
def running_xero(port: int):
    """The Xero sandbox on `port` (its organisations kept in data/sandbox/xero.json): reused if one already
    answers there, else started (and stopped after)."""
    with _running("Xero", "xero", port, "/_sandbox/health", ["--state", "{state}", "--client-id", CLIENT_ID,
                                                              "--client-secret", CLIENT_SECRET]) as url:
        yield url


def _healthy(url: str, path: str = "/_sandbox/health") -> bool:
    try:
        return requests.get(f"{url}{path}", timeout=1).ok
    except requests.RequestException:
        return False


def erp_items(erp_url: str) -> list[dict]:
    """The QuickBooks items of an ERP entity's company: one per SYSPRO stock item, its SKU the stock code
    (what the accountant set up once; LedgerBridge matches stock codes to items by SKU)."""
    from ledgerbridge.sandbox.syspro import DEFAULT_COMPANY, DEFAULT_OPERATOR, DEFAULT_PASSWORD
    from ledgerbridge.sources.syspro.client import SysproClient

    with SysproClient(erp_url, DEFAULT_OPERATOR, DEFAULT_PASSWORD, DEFAULT_COMPANY) as client:
        return [{"Name": f"{row['Description']} [{row['StockCode']}]"[:100], "Sku": row["StockCode"],
                 "Type": "NonInventory", "Active": row.get("Active", True) is not False}
                for row in client.read("StockItems")]


def connection_fields(url: str, realm_id: str, refresh_token: str) -> dict:
    return {"conn_type": "quickbooks_online", "host": url, "login": CLIENT_ID, "password": CLIENT_SECRET,
            "schema": realm_id, "extra": {"refresh_token": refresh_token, "token_url": f"{url}/oauth2/v1/tokens/bearer"}}


def prepare(url: str, ledger: Ledger, out=print, erp_url: str | None = None) -> dict[str, dict]:
    """Seed the sandbox companies and the hub; returns the entities' connections, {conn_id: fields}."""
    registry = load_registry()
    demo = yaml.safe_load(DEMO_DATA.read_text(encoding="utf-8"))["entities"]
    connections = {}
    for entity in registry.enabled:
        data = demo.get(entity.id)
        if data is None or entity.accounting.kind != AccountingKind.QUICKBOOKS_ONLINE:
            continue
        # The company keeps its books in the entity's currency: the sandbox refuses a foreign CurrencyRef
        # unless multicurrency is on, as QuickBooks does.
        reply = requests.post(f"{url}/_sandbox/realms", json={
            "client_id": CLIENT_ID, "company_name": data["company_name"], "realm_id": data["realm_id"],
            "home_currency": entity.base_currency, "country": data.get("country", "US"),
            **({"book_close_date": str(data["book_close_date"])} if data.get("book_close_date") else {})},
            timeout=10)
        reply.raise_for_status()
        refresh_token = reply.json()["refresh_token"]
        conn = ConnectionSettings(entity.accounting.conn_id, url, CLIENT_ID, CLIENT_SECRET, data["realm_id"],
                                  {"refresh_token": refresh_token, "token_url": f"{url}/oauth2/v1/tokens/bearer"})
        lists = data["accounting"]
        if entity.source is not None and entity.source.kind in ERP_KINDS:
            lists = {**lists, "items": erp_items(erp_url)}
        seeded = _seed_company(quickbooks_online(conn, ledger).client, entity.id, lists)
        connections[entity.accounting.conn_id] = connection_fields(url, data["realm_id"], refresh_token)
        if entity.source is not None and entity.source.kind in ERP_KINDS:
            out(f"{entity.id}: sandbox company {data['realm_id']} ({seeded} list objects in place), orders from "
                f"the SYSPRO sandbox at {erp_url}")
            connections.update(erp_connection(entity, erp_url))
            continue
        out(f"{entity.id}: sandbox company {data['realm_id']} ({seeded} list objects in place), {feed_hub(entity, data)}")
        connections.update(feed_connection(entity))
    return connections


def prepare_xero(url: str, ledger: Ledger, out=print) -> dict[str, dict]:
    """Each Xero entity's organisation in the Xero sandbox (of its country: its chart and tax rates), the
    contacts and items its accountant already has, and its hub feed; returns their connections."""
    from ledgerbridge.connectors.specs import accounting_spec
    from ledgerbridge.connectors.xero.factory import xero

    demo = yaml.safe_load(DEMO_DATA.read_text(encoding="utf-8"))["entities"]
    connections = {}
    for entity in load_registry().enabled:
        data = demo.get(entity.id)
        if data is None or entity.accounting.kind != AccountingKind.XERO:
            continue
        reply = requests.post(f"{url}/_sandbox/tenants", json={
            "client_id": CLIENT_ID, "name": data["company_name"], "tenant_id": data["tenant_id"],
            "country_code": data["country_code"]}, timeout=10)
        reply.raise_for_status()
        tenant_id = reply.json()["tenant_id"]
        extra = {"refresh_token": reply.json()["refresh_token"], "token_url": f"{url}/connect/token"}
        conn = ConnectionSettings(entity.accounting.conn_id, url, CLIENT_ID, CLIENT_SECRET, tenant_id, extra)
        seeded = _seed_organisation(xero(conn, ledger).client, entity.id, data["accounting"])
        connections[entity.accounting.conn_id] = {
            "conn_type": accounting_spec(entity.accounting.kind).connection.conn_type, "host": url,
            "login": CLIENT_ID, "password": CLIENT_SECRET, "schema": tenant_id, "extra": extra}
        out(f"{entity.id}: sandbox Xero organisation {tenant_id} ({data['country_code']}; {seeded} list object(s) "
            f"added), {feed_hub(entity, data)}")
        connections.update(feed_connection(entity))
    return connections


def _seed_organisation(client, entity_id: str, lists: dict) -> int:
    """The contacts (by name) and items (by code) the organisation lacks, created once."""
    seeded = 0
    for endpoint, key in (("Contacts", "Name"), ("Items", "Code")):
        present = {record.get(key) for record in client.list_all(endpoint, paged=endpoint == "Contacts")}
        missing = [dict(record) for record in lists.get(endpoint.lower()) or [] if record[key] not in present]
        if missing:
            client.put_many(endpoint, missing, _seed_request_id(entity_id, endpoint, ",".join(r[key] for r in missing)))
            seeded += len(missing)
    return seeded


def erp_connection(entity, erp_url: str) -> dict[str, dict]:
    """The connection of an ERP entity's source: the SYSPRO sandbox's operator, in a connection of its kind's
    type (`ledgerbridge_syspro`: the UI's form and Test button)."""
    from ledgerbridge.connectors.specs import source_spec
    from ledgerbridge.sandbox.syspro import DEFAULT_COMPANY, DEFAULT_OPERATOR, DEFAULT_PASSWORD

    return {entity.source.conn_id: {
        "conn_type": source_spec(entity.source.kind).connection.conn_type, "host": erp_url,
        "login": DEFAULT_OPERATOR, "password": DEFAULT_PASSWORD,
        "extra": {"company_id": DEFAULT_COMPANY, "company_password": ""}}}


def feed_root() -> Path:
    return settings.data_dir() / "feed"


def feed_hub(entity, data: dict) -> str:
    """The entity's hub data as a feed file in its inbound/ folder, once: a file of the same content
    already delivered (waiting, or taken in and in processed/) is not written again. Returns what happened."""
    from ledgerbridge.filedrop.files import write_atomic
    from ledgerbridge.filedrop.fs import LocalFileSystem
    from ledgerbridge.sources.feed import INBOUND, PROCESSED

    content = yaml.safe_dump(data["hub"], sort_keys=False, allow_unicode=True).encode("utf-8")
    name = f"hub-{hashlib.sha256(content).hexdigest()[:12]}.yaml"
    fs = LocalFileSystem(feed_root().resolve())
    for folder in (INBOUND, PROCESSED):
        if fs.exists(f"{entity.id}/{folder}/{name}"):
            return f"hub feed: {name} already delivered ({folder}/)"
    fs.mkdir(f"{entity.id}/{INBOUND}")
    write_atomic(fs, f"{entity.id}/{INBOUND}/{name}", content)
    records = sum(len(records or []) for records in data["hub"].values())
    return f"hub feed: {name} ({records} records) dropped in {feed_root() / entity.id / INBOUND}"


def feed_connection(entity) -> dict[str, dict]:
    """The connection of the entity's feed: a local folder, in a connection of the feed's type
    (`ledgerbridge_feed`; the tasks read a `generic` one with the same extra alike)."""
    from ledgerbridge.connectors.specs import source_spec

    if entity.source is None:
        return {}
    return {entity.source.conn_id: {
        "conn_type": source_spec(entity.source.kind).connection.conn_type,
        "extra": {"local_root": str(feed_root().resolve())}}}


def prepare_desktop(drop, ledger: Ledger, out=print) -> tuple[dict[str, dict], dict]:
    """Seed each file-drop entity's desktop company and hub; its connection and its agent."""
    from ledgerbridge.filedrop.fs import LocalFileSystem
    from ledgerbridge.sandbox.desktop.agent import DesktopAgent
    from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo

    demo = yaml.safe_load(DEMO_DATA.read_text(encoding="utf-8"))["entities"]
    connections, agents = {}, {}
    fs = LocalFileSystem(drop.root)
    for entity in load_registry().enabled:
        data = demo.get(entity.id)
        if data is None or entity.accounting.kind not in FILE_DROP_KINDS:
            continue
        state = settings.data_dir() / "sandbox" / f"qbd-{entity.id}.json"
        existed = state.exists()
        company = DesktopCompany.load(state) if existed else seed_demo(
            DesktopCompany(company_id=data["company_id"], entity_id=entity.id, closing_date=data.get("closing_date")))
        agents[entity.id] = agent = DesktopAgent(company, state_file=state)
        agent.save()
        published = agent.publish_lists(fs, entity.id, full=not existed)
        out(f"{entity.id}: desktop company {data['company_id']} behind its agent, file drop "
            f"sftp://{DROP_USER}@127.0.0.1:{drop.port}/{entity.id} ({sum(published.values())} list change(s) uploaded), "
            f"{feed_hub(entity, data)}")
        connections.update(feed_connection(entity))
        connections[entity.accounting.conn_id] = {
            "conn_type": "ledgerbridge_file_drop", "host": "127.0.0.1", "port": drop.port, "login": DROP_USER,
            "password": DROP_PASSWORD,
            "extra": {"root": "/", "host_key": drop.host_key_line, "company_id": data["company_id"]}}
    return connections, agents


def accountant_root() -> Path:
    return settings.data_dir() / "accountant"


def prepare_entry_files(out=print) -> dict[str, dict]:
    """Each entry-files entity's folder (the accountant's side): the lists its software exported, written
    once, and its hub feed; its connection names the folder."""
    from ledgerbridge.connectors.entryfiles import REFERENCE, REFERENCE_FILES, reference_csv
    from ledgerbridge.connectors.specs import accounting_spec

    demo = yaml.safe_load(DEMO_DATA.read_text(encoding="utf-8"))["entities"]
    connections = {}
    for entity in load_registry().enabled:
        data = demo.get(entity.id)
        if data is None or entity.accounting.kind != AccountingKind.ENTRY_FILES:
            continue
        folder = accountant_root() / entity.id / REFERENCE
        folder.mkdir(parents=True, exist_ok=True)
        for kind, (name, _) in REFERENCE_FILES.items():
            rows = data["reference"].get(name.removesuffix(".csv"), [])
            if rows and not (folder / name).exists():
                (folder / name).write_text(reference_csv(rows), encoding="utf-8")
        out(f"{entity.id}: entry files ({entity.accounting.entry_files.format}) in {accountant_root() / entity.id}, "
            f"its accountant's lists in {folder.name}/, {feed_hub(entity, data)}")
        connections.update(feed_connection(entity))
        connections[entity.accounting.conn_id] = {
            "conn_type": accounting_spec(entity.accounting.kind).connection.conn_type,
            "extra": {"local_root": str(accountant_root().resolve())}}
    return connections


def run_desktop(agents: dict, drop, out=print) -> bool:
    """Each desktop entity's DAG a few times, its agent answering the files in between."""
    from ledgerbridge.filedrop.fs import LocalFileSystem

    ok = True
    for entity_id, agent in agents.items():
        for round_ in range(1, DESKTOP_ROUNDS + 1):
            ok = run_dags([entity_id], out, note=f"round {round_} of {DESKTOP_ROUNDS}") and ok
            outcomes = agent.process(LocalFileSystem(drop.root), entity_id)
            agent.publish_lists(LocalFileSystem(drop.root), entity_id)
            if outcomes:
                out(f"{entity_id}: the agent answered {len(outcomes)} file(s)")
    return ok


def _seed_company(client, entity_id: str, lists: dict) -> int:
    """Create the company's lists; a requestid per object makes a re-run replay instead of duplicate."""
    seeded = 0
    for key, entity in SEED_LISTS:
        for item in lists.get(key) or []:
            body = {"Name": item} if isinstance(item, str) else dict(item)
            name = body.get("DisplayName") or body.get("Name")
            try:
                client.create(entity, body, request_id=_seed_request_id(entity_id, entity, name))
                seeded += 1
            except RecordRejected as exc:
                if exc.code not in ("6240", "6000"):  # already there from an earlier demo run
                    raise
    return seeded


def _seed_request_id(entity_id: str, entity: str, name: str) -> str:
    # Deterministic, so a re-run replays instead of creating; hashed, so long names never collide.
    return "demo-" + hashlib.sha256(f"{entity_id}/{entity}/{name}".encode()).hexdigest()[:40]


def set_connections(connections: dict[str, dict], out=print) -> None:
    """The demo's connections created or updated in Airflow's metadata database (Admin -> Connections),
    handed over on stdin: no file holds their secrets."""
    result = subprocess.run(["ledgerbridge-airflow", "set-connections"], input=json.dumps(connections),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the demo's Airflow connections could not be set: {result.stderr.strip()}")
    done = Counter(match[1] for match in re.finditer(r"^connection \S+: (\w+)", result.stdout, re.MULTILINE))
    out(f"Airflow connections (Admin -> Connections): {', '.join(f'{n} {what}' for what, n in sorted(done.items()))}")


def run_dags(entity_ids: list[str], out=print, note: str = "", suffix: str = "") -> bool:
    """Run each entity's DAG (`suffix`: "realtime" for its every-minute DAG) once, its log in data/demo-logs/."""
    logs = settings.data_dir() / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    ok = True
    for entity_id in entity_ids:
        log_path = logs / f"{entity_id}.log"
        dag_id = dag_id_for(entity_id, suffix)
        out(f"{entity_id}: running DAG {dag_id}{f' ({note})' if note else ''} "
            f"(airflow dags test; log: {log_path}, and each task's in the Airflow UI)")
        with open(log_path, "a" if note and not note.startswith("round 1 ") else "w") as log:
            result = subprocess.run(["ledgerbridge-airflow", "dags-test", dag_id],
                                    env={**os.environ, "LEDGERBRIDGE_TASK_RETRIES": "0"},
                                    stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            ok = False
            out(f"{entity_id}: the DAG run FAILED (exit {result.returncode}); last lines of {log_path}:")
            out("".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-25:]))
    return ok


def summary_line(ledger: Ledger, entity_id: str, since=None) -> str:
    """`<entity>: exported=N confirmed=N quarantined=N` — created by the runs since `since` (the
    latest run without), confirmed in total, open in quarantine."""
    with ledger.session() as session:
        runs = select(SyncRun.run_id).where(SyncRun.entity_id == entity_id, SyncRun.step == "reconcile")
        if since is None:
            run_ids = [session.scalar(runs.order_by(SyncRun.started_at.desc()).limit(1))]
        else:
            run_ids = list(session.scalars(runs.where(SyncRun.started_at >= since)))
        exported = sum(created_in_run(session, entity_id, run_id) for run_id in run_ids if run_id)
        changed = _changes_in_runs(session, entity_id, [run_id for run_id in run_ids if run_id])
        confirmed = session.scalar(select(func.count(OutboxEntry.id)).where(
            OutboxEntry.entity_id == entity_id, OutboxEntry.state == OutboxState.CONFIRMED, OutboxEntry.operation == "create",
            OutboxEntry.record_type.in_((RecordType.DOCUMENT, RecordType.PAYMENT))))
        quarantined = session.scalar(select(func.count(QuarantineEntry.id)).where(
            QuarantineEntry.entity_id == entity_id, QuarantineEntry.status == QuarantineStatus.OPEN))
    followed = "".join(f" {name}={count}" for name, count in changed.items() if count)
    return f"{entity_id}: exported={exported} confirmed={confirmed} quarantined={quarantined}{followed}"


def _changes_in_runs(session, entity_id: str, run_ids: list[str]) -> dict[str, int]:
    """Changes after export the runs made in the accounting system (updates, voids): shown when any."""
    counts = {"updated": 0, "voided": 0}
    for summary in session.scalars(select(SyncRun.summary).where(
            SyncRun.entity_id == entity_id, SyncRun.run_id.in_(run_ids), SyncRun.step == "export_documents")):
        for name in counts:
            counts[name] += int((summary or {}).get(name, 0))
    return counts


def main(airflow_ui: bool = False) -> int:
    """SIGTERM ends it as Ctrl-C does: the sandboxes it started are stopped on the way out."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(airflow_ui)
    except KeyboardInterrupt as exc:
        print(f"\nthe demo was interrupted ({exc or 'SIGINT'}); the sandboxes it started are stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _main(airflow_ui: bool) -> int:
    from ledgerbridge.ledger.types import utcnow

    ledger_url = settings.ledger_url()
    migrate(ledger_url)
    ledger = Ledger(ledger_url)
    entities = load_registry().enabled
    started = utcnow()
    with running_sandbox(sandbox_port()) as url, running_file_drop(drop_port()) as drop, \
            running_erp(erp_port()) as erp_url, running_xero(xero_port()) as xero_url:
        print(f"QuickBooks Online sandbox: {url}; file drop: sftp://127.0.0.1:{drop.port} ({drop.root}); "
              f"SYSPRO sandbox: {erp_url}; Xero sandbox: {xero_url}")
        connections = prepare(url, ledger, erp_url=erp_url)
        connections.update(prepare_xero(xero_url, ledger))
        desktop_connections, agents = prepare_desktop(drop, ledger)
        connections.update(desktop_connections)
        connections.update(prepare_entry_files())
        set_connections(connections)
        if airflow_ui:
            return _standalone()
        seeded = [e.id for e in entities if e.accounting.conn_id in connections and e.id not in agents]
        ok = run_dags(seeded)
        # `sync: realtime`: a minute of its every-minute DAG; the full run has sent everything, so its gate
        # finds nothing waiting and skips the export steps (what every idle minute does).
        ok = run_dags([e.id for e in entities if e.exports_in_realtime and e.id in seeded],
                      note="sync: realtime, one minute's run", suffix="realtime") and ok
        ok = run_desktop(agents, drop) and ok
    print()
    for entity in entities:
        print(summary_line(ledger, entity.id, since=started))
    return 0 if ok else 1


def _standalone() -> int:
    home = Path(os.environ.get("AIRFLOW_HOME", settings.PROJECT_ROOT / ".airflow"))
    port = os.environ.get("AIRFLOW__API__PORT", "8080")
    print(f"Starting Airflow on http://localhost:{port} — user 'admin', password in "
          f"{home / 'simple_auth_manager_passwords.json.generated'} (Ctrl-C stops Airflow and the sandboxes)",
          flush=True)
    return run_until_stopped(["airflow", "standalone"])


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_until_stopped(command: list[str], grace: float = 20) -> int:
    """`command` in a session of its own, until it ends or this process gets SIGINT or SIGTERM; then it and
    every process it started are stopped (`stop_tree`). Returns its exit status, 0 when stopped by a signal.

    Its own session: Ctrl-C reaches only this process, which stops the whole tree in order, and a component
    that outlives its parent (a LocalExecutor worker, a task in a session of its own) is still found."""
    process = subprocess.Popen(command, start_new_session=True)
    received: list[int] = []
    previous = {number: signal.signal(number, lambda signum, _frame: received.append(signum))
                for number in STOP_SIGNALS}
    try:
        while process.poll() is None and not received:
            time.sleep(0.2)
        if received:
            print(f"\n{signal.Signals(received[0]).name}: stopping {command[0]} and everything it started ...",
                  flush=True)
        left = stop_tree(process, grace)
        if received:
            print(f"{command[0]} stopped" + (f"; {left} process(es) had to be killed" if left else ""), flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0 if received else process.returncode


def stop_tree(process: subprocess.Popen, grace: float) -> int:
    """SIGTERM to `process`, its descendants and whatever else runs in its session; whatever is left after
    `grace` seconds gets SIGKILL. Returns how many had to be killed."""
    import psutil

    def tree() -> list[psutil.Process]:
        found = {}
        try:
            root = psutil.Process(process.pid)
            found = {p.pid: p for p in (root, *root.children(recursive=True))}
        except psutil.NoSuchProcess:
            pass
        for candidate in psutil.process_iter():
            try:
                if candidate.pid not in found and os.getsid(candidate.pid) == process.pid:
                    found[candidate.pid] = candidate
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return list(found.values())

    def signal_all(processes, number) -> None:
        for member in processes:
            try:
                member.send_signal(number)
            except psutil.Error:
                pass

    members = tree()
    signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _, alive = psutil.wait_procs([m for m in members if m.pid != process.pid],
                                 timeout=max(0.0, deadline - time.monotonic()))
    late = [m for m in tree() if m.pid not in {m.pid for m in members}]  # started while stopping
    left = [m for m in (*alive, *late) if _running_process(m)]
    if process.poll() is None:
        left.append(psutil.Process(process.pid))
    signal_all(left, signal.SIGKILL)
    psutil.wait_procs(left, timeout=5)
    process.wait()
    return len(left)


def _running_process(member) -> bool:
    import psutil

    try:
        return member.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
