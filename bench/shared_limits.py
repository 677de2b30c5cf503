"""Per-company limits shared across processes: N processes on one QuickBooks company keep its limits
together, and many companies at once each reach theirs.

Usage: python bench/shared_limits.py [--window 12] [--measured-windows 2] [--redis-url redis://127.0.0.1:6379/0]
                                     [--parts a,b] [--companies 20] [--workers 2]

Runs the QuickBooks Online sandbox (ledgerbridge.sandbox.qbo) on loopback in this process, and the
clients in worker processes (multiprocessing, spawn: nothing shared but the sandbox and Redis). Each
worker thread is a real QBOClient (connectors/qbo/client.py) creating bills, one POST /bill per bill
with its requestid, through the limiter limiter_for() gives it: the Redis one (LEDGERBRIDGE_LIMITS_URL
set in the worker) or, for the baseline, the per-process one (unset).

Scaled time, said in the output: QuickBooks' limits slide over 60 s, 500 requests a minute, 10 at a
time. To keep the bench short the window is --window seconds (12 by default) and the per-minute
limits shrink in proportion (500 x 12 / 60 = 100 requests a window), on both sides: the sandbox's
clock runs 60 / window times faster (its 60 s window is --window real seconds) and the limiter's
window_seconds is --window. Requests per real minute and the ceiling of 500 a minute are then the
real ones; the concurrency limit (10) is not a rate and stays.

Each run: the workers connect and warm up, start together, and send for 1 + --measured-windows
windows. The first window is left out (it starts empty: a whole window's worth goes at once); the
measured figure is the bills created (2xx answers) that arrived in the following windows, per
minute, against the ceiling. 429s are counted over the whole run.

Parts:
  a) 4 processes x 4 threads on ONE company: the shared limiter, then a baseline of per-process
     limiters in the same run (each process thinks it has the whole company: expect 429s).
     Targets (shared): >= 95% of the ceiling, zero 429s.
  b) --companies companies at once on --workers processes (each company's 2 threads in one worker),
     the shared limiter. Target: >= 90% of companies x the ceiling, or the report says what bounds it.
Exit status 1 on a FAIL.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import print_table, print_targets, private_data_dir, progress, scaled  # noqa: E402

REAL_WINDOW = 60.0  # QuickBooks' limits slide over one minute
REAL_LIMITS = {"requests_per_minute": 500, "concurrent_requests": 10, "batch_requests_per_minute": 40}
CLIENT_ID, CLIENT_SECRET = "ledgerbridge-bench", "bench-secret"
TARGET_ONE_COMPANY = 0.95
TARGET_MANY_COMPANIES = 0.90
SPAWN = multiprocessing.get_context("spawn")


# --- a worker process ---------------------------------------------------------------------------------

@dataclass
class Company:
    realm_id: str
    refresh_token: str
    vendor_id: str
    account_id: str


@dataclass
class WorkerPlan:
    name: str
    server_url: str
    companies: list[Company]
    threads_per_company: int
    limits_url: str | None  # None: per-process limiters
    window: float
    limits: dict
    duration: float  # real seconds of sending, from the common start
    data_dir: str


@dataclass
class WorkerResult:
    name: str
    answers: dict[str, list[tuple[float, int]]]  # per realm: (when the answer came, HTTP status)
    failed_creates: int
    cpu_s: float
    real_s: float
    limiter_wait_s: float
    limiter_kind: str
    errors: list[str] = field(default_factory=list)


def bill(vendor_id: str, account_id: str, n: int) -> dict:
    return {"VendorRef": {"value": vendor_id},  # no DocNumber: QuickBooks refuses a repeated one (6140)
            "Line": [{"DetailType": "AccountBasedExpenseLineDetail", "Amount": Decimal(f"{n % 997 + 1}.25"),
                      "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account_id}}}]}


def worker(plan: WorkerPlan, start_together, results) -> None:
    """One worker process: a QBOClient per thread and company, created through limiter_for() as in a
    task, then creating bills until the run's end; reports every answer's time and status."""
    if plan.limits_url:
        os.environ["LEDGERBRIDGE_LIMITS_URL"] = plan.limits_url
    else:
        os.environ.pop("LEDGERBRIDGE_LIMITS_URL", None)
    from ledgerbridge.connectors.errors import ConnectorError
    from ledgerbridge.connectors.limits import RealmLimits
    from ledgerbridge.connectors.qbo.client import QBOClient
    from ledgerbridge.connectors.tokens import LedgerTokenStore
    from ledgerbridge.ledger import Ledger, migrate

    speed = REAL_WINDOW / plan.window
    url = f"sqlite:///{Path(plan.data_dir) / f'{plan.name}.db'}"  # this worker's tokens only
    migrate(url)
    ledger = Ledger(url)
    answers: dict[str, list[tuple[float, int]]] = {c.realm_id: [] for c in plan.companies}
    failed, errors, lock = [0], [], threading.Lock()

    def client_for(company: Company) -> QBOClient:
        tokens = LedgerTokenStore(ledger, f"qbo_{company.realm_id}", company.realm_id, company.refresh_token,
                                  CLIENT_SECRET)
        client = QBOClient(plan.server_url, company.realm_id, CLIENT_ID, CLIENT_SECRET, tokens,
                           token_url=f"{plan.server_url}/oauth2/v1/tokens/bearer",
                           sleep=lambda seconds: time.sleep(seconds / speed),  # backoff on the scaled clock
                           limits=RealmLimits(**plan.limits))
        client.limiter.window_seconds = plan.window  # the scaled window (see the docstring)
        send = client.http.request

        def timed(method, url, *args, **kwargs):
            response = send(method, url, *args, **kwargs)
            if "/v3/company/" in url:
                with lock:
                    answers[company.realm_id].append((time.time(), response.status_code))
            return response

        client.http.request = timed
        return client

    clients = [(company, client_for(company)) for company in plan.companies for _ in range(plan.threads_per_company)]
    for _, client in clients:
        client.preferences()  # the access token, before the clock starts (an answer in the first window)
    for answered in answers.values():
        answered.clear()

    def send_bills(company: Company, client: QBOClient, thread: int, stop_at: float) -> None:
        n = 0
        while time.time() < stop_at:
            n += 1
            try:
                client.create("Bill", bill(company.vendor_id, company.account_id, n),
                              request_id=f"{plan.name}-{thread}-{n}-{uuid.uuid4().hex[:8]}")
            except ConnectorError as exc:
                with lock:
                    failed[0] += 1
                    if len(errors) < 3:
                        errors.append(str(exc)[:200])

    start_together.wait()
    cpu0, real0 = time.process_time(), time.time()
    threads = [threading.Thread(target=send_bills, args=(company, client, i, real0 + plan.duration))
               for i, (company, client) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    limiters = {id(c.limiter): c.limiter for _, c in clients}
    results.put(WorkerResult(plan.name, answers, failed[0], time.process_time() - cpu0, time.time() - real0,
                             sum(limiter.waited_seconds for limiter in limiters.values()),
                             type(next(iter(limiters.values()))).__name__, errors))
    ledger.dispose()


# --- the bench process: the sandbox, the companies, the runs --------------------------------------------

@dataclass
class Run:
    label: str
    companies: list[str]
    workers: int
    threads: int
    limiter: str
    per_window: int  # the scaled requests-per-minute limit: requests a window, per company
    window: float
    measured_windows: int
    started: float
    results: list[WorkerResult]
    sandbox_cpu_s: float
    real_s: float

    def answers(self, realm: str | None = None) -> list[tuple[float, int]]:
        return [a for r in self.results for realm_id, got in r.answers.items() if realm in (None, realm_id)
                for a in got]

    def measured(self, realm: str | None = None) -> int:
        """Bills created (2xx) whose answer came after the first window, within the measured windows."""
        begin = self.started + self.window
        end = begin + self.measured_windows * self.window
        return sum(1 for when, status in self.answers(realm) if begin <= when < end and status < 300)

    def ceiling(self, companies: int | None = None) -> int:
        return (companies or len(self.companies)) * self.per_window * self.measured_windows

    def share(self, realm: str | None = None) -> float:
        return self.measured(realm) / self.ceiling(1 if realm else None)

    def per_minute(self, realm: str | None = None) -> float:
        return self.measured(realm) / (self.measured_windows * self.window) * REAL_WINDOW

    @property
    def throttled(self) -> int:
        return sum(1 for _, status in self.answers() if status == 429)

    @property
    def attempts(self) -> int:
        return len(self.answers())


def new_company(server_url: str, name: str) -> tuple[str, str, str]:
    """A sandbox company with a vendor: (realm_id, vendor id, expense account id), made through the API by
    a client of this process, before any run."""
    import requests

    from ledgerbridge.connectors.limits import RealmLimits, RealmRateLimiter
    from ledgerbridge.connectors.qbo.client import QBOClient
    from ledgerbridge.connectors.tokens import LedgerTokenStore

    realm_id = str(uuid.uuid4().int)[:15]
    reply = requests.post(f"{server_url}/_sandbox/realms", json={
        "client_id": CLIENT_ID, "company_name": name, "realm_id": realm_id}, timeout=10)
    reply.raise_for_status()
    tokens = LedgerTokenStore(_SETUP_LEDGER, f"setup_{realm_id}", realm_id, reply.json()["refresh_token"],
                              CLIENT_SECRET)
    client = QBOClient(server_url, realm_id, CLIENT_ID, CLIENT_SECRET, tokens,
                       token_url=f"{server_url}/oauth2/v1/tokens/bearer")
    # the setup's own limiter, whatever LEDGERBRIDGE_LIMITS_URL says here: the runs' windows start clean
    client.limiter = RealmRateLimiter(RealmLimits(**REAL_LIMITS))
    vendor = client.create("Vendor", {"DisplayName": f"Bench Vendor {realm_id}"}, request_id=uuid.uuid4().hex)
    accounts = client.query("select * from Account where Name = 'Office Expenses'")["Account"]
    return realm_id, vendor["Id"], accounts[0]["Id"]


_SETUP_LEDGER = None  # the setup client's tokens (main() opens it)


def fresh_refresh_token(server_url: str, realm_id: str) -> str:
    """Another refresh token for an existing company (the sandbox's reconnect), one per worker's ledger."""
    import requests

    reply = requests.post(f"{server_url}/_sandbox/realms", json={"client_id": CLIENT_ID, "realm_id": realm_id},
                          timeout=10)
    reply.raise_for_status()
    return reply.json()["refresh_token"]


def run(label: str, server, realms: list[tuple[str, str, str]], workers: int, threads: int, limits_url: str | None,
        window: float, measured_windows: int, limits: dict, data_dir: str) -> Run:
    """`realms` (realm_id, vendor, account) spread over `workers` processes; all of a realm in one worker
    unless there are fewer realms than workers (then every worker sends to every realm)."""
    if len(realms) >= workers:
        shares = [realms[i::workers] for i in range(workers)]
    else:
        shares = [realms] * workers
    duration = (1 + measured_windows) * window
    plans = [WorkerPlan(f"{label.split()[0]}-w{i}-{uuid.uuid4().hex[:6]}", server.url,
                        [Company(r, fresh_refresh_token(server.url, r), v, a) for r, v, a in share],
                        threads, limits_url, window, limits, duration, data_dir)
             for i, share in enumerate(shares)]
    start_together = SPAWN.Barrier(len(plans) + 1)
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=worker, args=(plan, start_together, results), name=plan.name) for plan in plans]
    progress(f"{label}: starting {len(processes)} worker processes ({len(realms)} compan"
             f"{'y' if len(realms) == 1 else 'ies'}, {threads} thread(s) per company and worker)")
    for p in processes:
        p.start()
    start_together.wait(timeout=300)
    started, cpu0 = time.time(), time.process_time()
    progress(f"{label}: sending for {duration:.0f} s (1 warm-up window + {measured_windows} measured, "
             f"{window:g} s each)")
    collected = [results.get(timeout=duration + 120) for _ in processes]
    sandbox_cpu = time.process_time() - cpu0  # this process: the sandbox (uvicorn thread), little else
    real = time.time() - started
    for p in processes:
        p.join(30)
    for r in collected:
        for error in r.errors:
            progress(f"{label}: {r.name}: {error}")
    return Run(label, [r for r, _, _ in realms], len(plans), threads, collected[0].limiter_kind,
               limits["requests_per_minute"], window, measured_windows, started, collected, sandbox_cpu, real)


# --- printing --------------------------------------------------------------------------------------------

def report(runs: list[Run], window: float, limits: dict) -> None:
    print("\n== bills created per minute (requests/min; each request one bill) ==")
    headers = ["run", "limiter", "procs", "companies", "measured", "req/min", "ceiling/min", "% ceiling",
               "429s", "attempts", "failed", "limiter wait s"]
    rows = []
    for r in runs:
        companies = len(r.companies)
        rows.append([r.label, r.limiter, str(r.workers), str(companies), f"{r.measured():,}",
                     f"{r.per_minute():,.0f}", f"{REAL_LIMITS['requests_per_minute'] * companies:,}",
                     f"{r.share():.1%}", f"{r.throttled:,}", f"{r.attempts:,}",
                     str(sum(x.failed_creates for x in r.results)),
                     f"{sum(x.limiter_wait_s for x in r.results):,.0f}"])
    print_table(headers, rows)
    print(f"   scaled time: window {window:g} s (QuickBooks: 60 s), {limits['requests_per_minute']} requests a window "
          f"per company (500 x {window:g} / 60), {limits['concurrent_requests']} at a time; the sandbox's clock runs "
          f"{REAL_WINDOW / window:g}x so its window is the same {window:g} s. req/min and the ceiling are per real minute.")
    print("   measured = bills created (2xx) whose answer came after the first window (which starts empty), in the "
          "measured windows; % ceiling = measured / (companies x limit x windows)")
    print("   429s = answers 429 (ThrottleExceeded) over the whole run, warm-up included; attempts = every /v3 "
          "answer; failed = creates given up after the client's 5 attempts")
    for r in runs:
        if len(r.companies) > 1:
            shares = sorted(r.share(realm) for realm in r.companies)
            print(f"   {r.label}: per company % of its ceiling: min {shares[0]:.1%}, median "
                  f"{statistics.median(shares):.1%}, max {shares[-1]:.1%}")

    print("\n== where the time goes ==")
    headers = ["run", "real s", "sandbox CPU s", "worker CPU s (each)", "cores used", "answers/s"]
    rows = []
    for r in runs:
        workers_cpu = [x.cpu_s for x in r.results]
        cores = (r.sandbox_cpu_s + sum(workers_cpu)) / r.real_s
        rows.append([r.label, f"{r.real_s:.1f}", f"{r.sandbox_cpu_s:.1f}",
                     " ".join(f"{c:.1f}" for c in workers_cpu), f"{cores:.2f}", f"{r.attempts / r.real_s:.0f}"])
    print_table(headers, rows)
    print(f"   sandbox CPU = this process (the sandbox's uvicorn thread); cores used = all of it / real time, "
          f"of {len(os.sched_getaffinity(0))} CPUs (load average now {os.getloadavg()[0]:.1f}, other work included)")


def bound_of(r: Run) -> str:
    """What keeps a run below its ceiling, from what was measured."""
    cpus = len(os.sched_getaffinity(0))
    cores = (r.sandbox_cpu_s + sum(x.cpu_s for x in r.results)) / r.real_s
    if r.sandbox_cpu_s / r.real_s > 0.8:
        return (f"the sandbox's one process (CPU {r.sandbox_cpu_s / r.real_s:.0%} of a core, one GIL) serving "
                f"{r.attempts / r.real_s:.0f} answers/s")
    if cores > 0.8 * cpus or os.getloadavg()[0] > cpus:
        return (f"CPU: {cores:.2f} of {cpus} cores used by the bench, load average {os.getloadavg()[0]:.1f} "
                f"(other work shares the machine)")
    return "not the CPU: look at the limiter wait and the per-company spread"


def checks_for(runs: list[Run]) -> list[tuple[str, bool | None, str]]:
    checks = []
    for r in runs:
        if r.label.startswith("a) shared"):
            checks.append((f"{r.label}: >= {TARGET_ONE_COMPANY:.0%} of the ceiling", r.share() >= TARGET_ONE_COMPANY,
                           f"{r.per_minute():,.0f}/min = {r.share():.1%}, gap {max(0.0, TARGET_ONE_COMPANY - r.share()):.1%}"))
            checks.append((f"{r.label}: zero 429s", r.throttled == 0, f"{r.throttled} answers 429"))
        elif r.label.startswith("a) per-process"):
            exceeded = r.throttled > 0
            checks.append((f"{r.label} (baseline): per-process limiters overrun the company (429s)", None,
                           f"{r.throttled:,} answers 429 of {r.attempts:,}" + ("" if exceeded else
                                                                              " (none: the baseline did not overrun)")))
        elif r.label.startswith("b)"):
            passed = r.share() >= TARGET_MANY_COMPANIES
            checks.append((f"{r.label}: >= {TARGET_MANY_COMPANIES:.0%} of {len(r.companies)} x the ceiling", passed,
                           f"{r.per_minute():,.0f}/min = {r.share():.1%}, gap "
                           f"{max(0.0, TARGET_MANY_COMPANIES - r.share()):.1%}" +
                           ("" if passed else f"; bound by {bound_of(r)}")))
            checks.append((f"{r.label}: zero 429s", r.throttled == 0, f"{r.throttled} answers 429"))
    return checks


# --- main --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=12.0,
                        help="the limits' window in real seconds (QuickBooks: 60); per-window limits scale with it")
    parser.add_argument("--measured-windows", type=int, default=2)
    parser.add_argument("--redis-url", default=os.environ.get("LEDGERBRIDGE_LIMITS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--parts", default="a,b", help="a (one company, 4 processes), b (many companies)")
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="processes of part b")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if args.window <= 0 or args.measured_windows < 1 or not parts <= {"a", "b"}:
        parser.error("--window > 0, --measured-windows >= 1, --parts of a,b")

    import redis
    import requests

    global _SETUP_LEDGER
    from ledgerbridge.connectors.limits import redacted
    from ledgerbridge.ledger import Ledger, migrate
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        print(f"Redis at {redacted(args.redis_url)} does not answer ({exc}): the shared limiter cannot be measured")
        return 1

    speed = REAL_WINDOW / args.window
    limits = {"requests_per_minute": round(REAL_LIMITS["requests_per_minute"] / speed),
              "concurrent_requests": REAL_LIMITS["concurrent_requests"],
              "batch_requests_per_minute": max(1, round(REAL_LIMITS["batch_requests_per_minute"] / speed))}
    tmp = private_data_dir("bench-shared-limits-")
    print(f"python {sys.version.split()[0]}, requests {requests.__version__}, redis-py {redis.__version__}, "
          f"{len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.1f}; sandbox in this process, "
          f"clients in worker processes; shared limits in {redacted(args.redis_url)}")
    runs: list[Run] = []
    try:
        url = f"sqlite:///{Path(tmp.name) / 'setup.db'}"
        migrate(url)
        _SETUP_LEDGER = Ledger(url)
        # access tokens live an hour of real time whatever the speed, as in a real run
        sandbox = QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=scaled(time.time, speed),
                             access_token_ttl=int(3600 * speed), **limits)
        server = serve_in_thread(sandbox)
        try:
            if "a" in parts:
                for label, limits_url in (("a) shared, one company", args.redis_url),
                                          ("a) per-process, one company", None)):
                    realm, vendor, account = new_company(server.url, label)
                    runs.append(run(label, server, [(realm, vendor, account)], 4, 4, limits_url, args.window,
                                    args.measured_windows, limits, tmp.name))
            if "b" in parts:
                realms = []
                for n in range(args.companies):
                    realm, vendor, account = new_company(server.url, f"company {n}")
                    realms.append((realm, vendor, account))
                label = f"b) shared, {args.companies} companies"
                runs.append(run(label, server, realms, args.workers, 2, args.redis_url, args.window,
                                args.measured_windows, limits, tmp.name))
        finally:
            server.stop()
            _SETUP_LEDGER.dispose()
    finally:
        tmp.cleanup()

    report(runs, args.window, limits)
    return print_targets(checks_for(runs))


if __name__ == "__main__":
    sys.exit(main())
