"""QuickBooks Online export: API requests per bill and bills per minute under the sandbox's real limits.

Usage: python bench/qbo_export.py [--bills 5000] [--baseline-bills 1000] [--speed 1] [--vendors 50]

Runs the QuickBooks Online sandbox (ledgerbridge.sandbox.qbo) on loopback with its default limits
per realm: 500 requests a minute, 10 at a time, 40 batch requests a minute (one-minute sliding
windows). The client keeps to the same limits with its own per-realm limiter
(ledgerbridge.connectors.limits). Two companies (realms), each with its own legal entity in one
temporary SQLite ledger:
- batched: --bills bills exported by the pipeline's export_documents step (flows/outbox.py): POST
  /batch, 30 bills a request (connector.create_many);
- one per bill (the baseline): --baseline-bills bills exported by the same step through the same
  ledger code, but one POST /bill per bill (QBOClient.create with the row's requestid), through the
  same kind of limiter with the same limits.
Setup (creating the company's lists and vendors, importing the bills, pull_reference,
check_reference, match_parties, prepare_exports) is not timed. Before each export the bench waits
until the setup's requests have left the one-minute window, so every export starts with an empty
window. Only the export_documents step is timed.
Ceilings: batched 40 batch requests/min x 30 = 1,200 bills/min; one per bill 500 requests/min = 500
bills/min. Targets (batched): <= 1 request per 25 bills; >= 90% of the 1,200 bills/min ceiling.
--speed N runs the sandbox's clock and the client limiter's clock N times faster than real time; all
minutes and seconds printed are then on that clock. Exit status 1 on a FAIL.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import fmt, print_table, print_targets, private_data_dir, progress, scaled  # noqa: E402

WINDOW = 60.0  # seconds: QuickBooks' limits slide over one minute
LIMITS = {"requests_per_minute": 500, "concurrent_requests": 10, "batch_requests_per_minute": 40}  # the sandbox's defaults
BATCH_ITEMS = 30  # ledgerbridge.connectors.qbo.client.BATCH_MAX_ITEMS
TARGET_BILLS_PER_REQUEST = 25
TARGET_SHARE_OF_CEILING = 0.90
CLIENT_ID, CLIENT_SECRET = "ledgerbridge-bench", "bench-secret"
SETUP_STEPS = ("pull_reference", "check_reference", "match_parties", "prepare_exports")
LISTS = {  # the company's lists; the vendors are created by match_parties (create_missing_vendors)
    "accounts": [
        {"Name": "Operating Bank", "AcctNum": "1000", "AccountType": "Bank"},
        {"Name": "Payables", "AcctNum": "2000", "AccountType": "Accounts Payable"},
        {"Name": "Supplies", "AcctNum": "6010", "AccountType": "Expense"},
        {"Name": "Consulting", "AcctNum": "6030", "AccountType": "Expense"},
    ],
    "classes": ["Operations"],
    "terms": [{"Name": "Net 30", "DueDays": 30}],
}


# --- limiter, probes ------------------------------------------------------------------------------

def make_limiter(limits, clock: Callable[[], float], speed: float):
    """The client's per-realm limiter on `clock`.

    RealmRateLimiter computes its waits in clock seconds and sleeps them with
    threading.Condition.wait, which takes real seconds; on a sped-up clock each wait is divided by
    the speed, or the limiter would sleep N times too long.
    """
    from ledgerbridge.connectors.limits import RealmRateLimiter

    if speed == 1:
        return RealmRateLimiter(limits, clock=clock)

    class SpedUpLimiter(RealmRateLimiter):
        def _wait_needed(self, batch: bool) -> float:
            return super()._wait_needed(batch) / speed

    return SpedUpLimiter(limits, clock=clock)


@dataclass
class Call:
    start: float
    end: float
    api: bool  # a /v3/company request (the token endpoint is not one)
    batch: bool
    bills: int  # documents created by it: the Bill (or `objects`) items of a batch, 1 for POST /bill


class Probe:
    """Times every HTTP request a client sends, on the limiter's clock, and counts the documents in it
    (`objects`: the QuickBooks entities counted, Bill by default)."""

    def __init__(self, client, clock: Callable[[], float], objects: tuple[str, ...] = ("Bill",)):
        self.clock = clock
        self.objects = objects
        self.calls: list[Call] = []
        self._request = client.http.request
        client.http.request = self._timed  # Session.post (the token endpoint) goes through it too

    def _timed(self, method, url, *args, **kwargs):
        path = url.split("?", 1)[0]
        api = "/v3/company/" in path
        batch = api and path.endswith("/batch")
        data = kwargs.get("data")
        if batch and isinstance(data, str):
            bills = sum(data.count(f'"{name}":') for name in self.objects)
        else:
            bills = int(api and method == "POST" and path.lower().endswith(tuple(f"/{n.lower()}" for n in self.objects)))
        start = self.clock()
        try:
            return self._request(method, url, *args, **kwargs)
        finally:
            self.calls.append(Call(start, self.clock(), api, batch, bills))


class ServerTimer:
    """Time the sandbox spends in its api method per company (QBOSandbox.api per realm, XeroSandbox.api
    per tenant: authentication, throttling, the work), outside uvicorn, HTTP parsing and the client.
    `company_arg`: which positional argument of sandbox.api names the company."""

    def __init__(self, sandbox, clock: Callable[[], float], company_arg: int = 0):
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        inner = sandbox.api

        def api(*args, **kwargs):
            start = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds[args[company_arg]] += clock() - start

        sandbox.api = api  # the app looks sandbox.api up on every request


# --- setup: a company, its lists and vendors, the bills in the ledger and the outbox ---------------

@dataclass
class Realm:
    label: str
    entity: object
    realm_id: str  # the company's id in the sandbox (a Xero tenant's id in bench/xero_export.py)
    connector: object
    probe: Probe
    bills: int
    setup_s: float = 0.0


@dataclass
class Export:
    label: str
    bills: int
    per_request: int  # bills a request carries at most
    limit_per_min: int  # the binding limit: requests (or batch requests) a minute
    step_s: float
    real_s: float
    summary: dict
    served: int  # /v3 requests the sandbox served (its api_requests)
    sent: int  # attempts the client made (QBOClient.requests_sent)
    bills_in_company: int
    limiter_wait_s: float
    http_s: float
    sandbox_s: float
    cpu_s: float
    calls: list[Call] = field(default_factory=list)

    @property
    def ceiling(self) -> float:
        return self.limit_per_min * self.per_request

    @property
    def per_bill(self) -> float:
        return self.served / self.bills if self.bills else math.inf

    @property
    def rate(self) -> float:
        return self.bills / self.step_s * WINDOW if self.step_s else 0.0

    @property
    def limited_requests(self) -> int:
        """Requests the binding limit counts for this many bills: one per per_request bills."""
        return math.ceil(self.bills / self.per_request)

    def limited_calls(self) -> list[Call]:
        """The calls the binding limit counts: the batch requests (each request when one per bill) that
        carried bills."""
        return [c for c in self.calls if c.api and (c.batch or self.per_request == 1) and c.bills]

    @property
    def best_rate(self) -> float | None:
        """The most the limits allow for this many bills from an empty window: request k (0-based)
        may start no earlier than 60 s x floor(k / limit), so the last one at 60 s x floor((n-1) / limit).
        None when all of them fit in the first minute (then only the code's speed limits the rate)."""
        requests = self.limited_requests
        floor_s = WINDOW * ((requests - 1) // self.limit_per_min) if requests else 0
        return self.bills / floor_s * WINDOW if floor_s else None

    @property
    def sustained(self) -> float | None:
        """Bills a minute once the window is full: between each limited request and the one a
        window's worth later (limit requests on), the bills sent / the time taken, summed over all
        such pairs. The client's limiter keeps every such gap >= 60 s, so this is <= the ceiling;
        a client that refills the window late shows below it. None with too few requests."""
        limited = self.limited_calls()
        n, k = len(limited), self.limit_per_min
        if n <= k:
            return None
        prefix = [0]
        for c in limited:
            prefix.append(prefix[-1] + c.bills)
        bills = sum(prefix[i + k] - prefix[i] for i in range(n - k))
        seconds = sum(limited[i + k].start - limited[i].start for i in range(n - k))
        return bills / seconds * WINDOW if seconds else None


def hub_bills(prefix: str, count: int, vendors: int, accounts: tuple[str, str] = ("6030", "6010")) -> dict:
    """The hub's bills and vendors; bill n's one line goes to accounts[n % 2]."""
    bills = [{
        "hub_id": f"{prefix}-{n:05d}", "vendor": f"V-{n % vendors + 1:03d}", "doc_number": f"{prefix}-{n:05d}",
        "doc_date": "2026-11-02", "status": "approved",
        "lines": [{"amount": f"{n % 997 + 1}.25", "account": accounts[n % 2], "description": f"bench line {n}"}],
    } for n in range(1, count + 1)]
    return {"vendors": [{"hub_id": f"V-{v:03d}", "name": f"Bench Vendor {v:03d}"} for v in range(1, vendors + 1)],
            "bills": bills, "bill_payments": []}


def context(realm: Realm, ledger, run_id: str, connector):
    from ledgerbridge.pipeline import RunContext

    return RunContext(entity=realm.entity, ledger=ledger, run_id=run_id, connect=lambda: connector,
                      log=logging.getLogger(f"ledgerbridge.bench.{realm.label}"))


def new_company(server, ledger, entity, clock, speed: float):
    """A new sandbox company (realm) for `entity` and its connector, whose client keeps to LIMITS with
    the bench's limiter on `clock`. Returns (realm_id, connector)."""
    import requests

    from ledgerbridge.connectors.factory import ConnectionSettings, quickbooks_online
    from ledgerbridge.connectors.limits import RealmLimits

    realm_id = str(uuid.uuid4().int)[:13]
    reply = requests.post(f"{server.url}/_sandbox/realms", json={
        "client_id": CLIENT_ID, "company_name": entity.name, "realm_id": realm_id}, timeout=10)
    reply.raise_for_status()
    conn = ConnectionSettings(entity.accounting.conn_id, server.url, CLIENT_ID, CLIENT_SECRET, realm_id,
                              {"refresh_token": reply.json()["refresh_token"],
                               "token_url": f"{server.url}/oauth2/v1/tokens/bearer"})
    limits = RealmLimits(**LIMITS)
    connector = quickbooks_online(conn, ledger, limits=limits)
    # Our own limiter on our clock, in place of the process-wide one limiter_for() gave the client.
    connector.client.limiter = make_limiter(limits, clock, speed)
    return realm_id, connector


def bills_entity(entity_id: str, kind: str, conn_id: str):
    """A legal entity whose bills go to its accounting system (`kind`), creating missing vendors."""
    from ledgerbridge.registry import LegalEntity

    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD",
        "accounting": {"kind": kind, "conn_id": conn_id},
        "flows": ["reference", "parties", "bills"], "matching": {"create_missing_vendors": True},
    })


def import_and_prepare(realm: Realm, ledger, hub: dict) -> None:
    """The hub's bills into the ledger, then SETUP_STEPS (the last, prepare_exports, must queue them all)."""
    from ledgerbridge.hub_import import import_hub_data
    from ledgerbridge.pipeline import run_step

    with ledger.session() as session:
        import_hub_data(session, realm.entity, hub)
    ctx = context(realm, ledger, f"bench-{realm.label}-setup", realm.connector)
    for step in SETUP_STEPS:
        progress(f"{realm.label}: setup step {step}")
        summary = run_step(ctx, step)
        if step == "prepare_exports" and summary.get("queued") != realm.bills:
            raise SystemExit(f"{realm.label}: prepare_exports queued {summary.get('queued')} of {realm.bills} bills: "
                             f"{summary}")


def set_up(label: str, entity_id: str, bills: int, vendors: int, server, ledger, clock, speed) -> Realm:
    from ledgerbridge.demo import _seed_company

    started = time.perf_counter()
    entity = bills_entity(entity_id, "quickbooks_online", f"qbo_{entity_id}")
    realm_id, connector = new_company(server, ledger, entity, clock, speed)
    realm = Realm(label, entity, realm_id, connector, Probe(connector.client, clock), bills)

    progress(f"{label}: company {realm_id}: creating its lists, importing {bills:,} bills from {vendors} vendors")
    _seed_company(connector.client, entity.id, LISTS)
    import_and_prepare(realm, ledger, hub_bills(entity_id.upper(), bills, vendors))
    realm.setup_s = time.perf_counter() - started
    return realm


# --- the timed step ---------------------------------------------------------------------------------

def stats(server, realm_id: str, companies: str = "realms") -> dict:
    """The sandbox's counters for one company (`companies`: "realms" in QuickBooks' sandbox, "tenants" in Xero's)."""
    import requests

    reply = requests.get(f"{server.url}/_sandbox/{companies}/{realm_id}/stats", timeout=10)
    reply.raise_for_status()
    return reply.json()


def wait_for_empty_window(realm: Realm, clock, speed: float) -> None:
    """Until the setup's requests are out of the one-minute window (the limiter enters a request
    when its answer arrives; a little margin on top)."""
    last = max((c.end for c in realm.probe.calls if c.api), default=None)
    if last is None:
        return
    remaining = last + WINDOW + 0.5 - clock()
    if remaining > 0:
        progress(f"{realm.label}: waiting {remaining:.0f} s{' (sped-up clock)' if speed != 1 else ''} for the "
                 f"setup's requests to leave the one-minute window")
        time.sleep(remaining / speed)


class Ticker:
    """Progress on stderr every few real seconds while an export runs."""

    def __init__(self, label: str, probe: Probe, first_call: int, bills: int, clock, started: float,
                 every: float = 10.0, noun: str = "bills"):
        self.label, self.probe, self.first_call, self.bills, self.noun = label, probe, first_call, bills, noun
        self.clock, self.started, self.every = clock, started, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            calls = self.probe.calls[self.first_call:]
            sent = sum(c.bills for c in calls)
            elapsed = self.clock() - self.started
            rate = sent / elapsed * WINDOW if elapsed else 0
            progress(f"   {self.label}: {sent:,}/{self.bills:,} {self.noun} sent in {sum(c.api for c in calls):,} "
                     f"requests, {elapsed:.0f} s, {rate:,.0f} {self.noun}/min so far")


def export_context(realm: Realm, connector, ledger, clock, speed: float):
    """The export's run context, once the setup's requests have left the window and the company is pinned."""
    wait_for_empty_window(realm, clock, speed)
    ctx = context(realm, ledger, f"bench-{realm.label}-export", connector)
    _ = ctx.connector  # connect and pin the company before the clock starts
    return ctx


def export(realm: Realm, connector, ledger, server, timer: ServerTimer, clock, speed: float,
           per_request: int, limit_per_min: int) -> Export:
    from ledgerbridge.pipeline import run_step

    ctx = export_context(realm, connector, ledger, clock, speed)
    progress(f"{realm.label}: export_documents: {realm.bills:,} bills (about "
             f"{realm.bills / (limit_per_min * per_request):.1f} min at the ceiling)")
    return timed_export(realm.label, realm.bills, lambda: run_step(ctx, "export_documents"), connector.client,
                        realm.probe, server, realm.realm_id, timer, clock, per_request, limit_per_min)


def timed_export(label: str, documents: int, run: Callable[[], dict], client, probe: Probe, server, realm_id: str,
                 timer: ServerTimer, clock, per_request: int, limit_per_min: int, noun: str = "bills", *,
                 companies: str = "realms", in_company: Callable[[dict], int] | None = None,
                 result: type[Export] = Export, **fields) -> Export:
    """Run `run` (the export_documents step) and measure it: the company's requests and documents
    (`in_company` of the sandbox's stats; by default the probe's `objects`), the client's attempts and
    limiter waits, HTTP and sandbox time, CPU. Returns a `result` (Export or a subclass, given `fields`)."""
    if in_company is None:
        in_company = lambda counts: sum(counts["objects"].get(name, 0) for name in probe.objects)  # noqa: E731
    before = stats(server, realm_id, companies)
    sent0, waited0, first_call = client.requests_sent, client.limiter.waited_seconds, len(probe.calls)
    sandbox0 = timer.seconds[realm_id]
    cpu0, real0, t0 = time.process_time(), time.perf_counter(), clock()
    with Ticker(label, probe, first_call, documents, clock, t0, noun=noun):
        summary = run()
    t1, real1, cpu1 = clock(), time.perf_counter(), time.process_time()
    after = stats(server, realm_id, companies)
    calls = probe.calls[first_call:]
    return result(
        label=label, bills=documents, per_request=per_request, limit_per_min=limit_per_min,
        step_s=t1 - t0, real_s=real1 - real0, summary=summary,
        served=after["api_requests"] - before["api_requests"], sent=client.requests_sent - sent0,
        bills_in_company=in_company(after),
        limiter_wait_s=client.limiter.waited_seconds - waited0,
        http_s=sum(c.end - c.start for c in calls), sandbox_s=timer.seconds[realm_id] - sandbox0,
        cpu_s=cpu1 - cpu0, calls=calls, **fields,
    )


def bill_by_bill_connector(client):
    """The same connector, sending one POST /bill per bill (QBOClient.create with the row's requestid);
    any kind of document: one POST of its own object (/invoice, /salesreceipt, ...) per document."""
    from dataclasses import replace

    from ledgerbridge.connectors.base import Created
    from ledgerbridge.connectors.errors import OutcomeUnknown, RecordRejected
    from ledgerbridge.connectors.qbo.connector import OBJECTS, QuickBooksOnlineConnector

    class BillByBill(QuickBooksOnlineConnector):
        capabilities = replace(QuickBooksOnlineConnector.capabilities, batch_size=1)

        def create_many(self, items, batch_key):
            outcomes = {}
            for item in items:
                try:
                    outcomes[item.ref] = Created(str(self.client.create(OBJECTS[item.kind], item.payload, item.key)["Id"]))
                except (RecordRejected, OutcomeUnknown) as exc:
                    outcomes[item.ref] = exc
            return outcomes

    return BillByBill(client)


# --- printing ---------------------------------------------------------------------------------------

def print_speed_note(speed: float) -> None:
    if speed != 1:
        print(f"--speed {speed:g}: the sandbox's and the limiter's clocks run {speed:g}x real time; every second and "
              f"minute below is on that clock. The code's own costs (ledger, CPU) are not sped up, so they weigh "
              f"{speed:g}x more than in a real run.")


def report_time(runs: list[Export], unit: str, setups: list[Realm], request: str, waits: str) -> None:
    """The "where the step's time goes" section: `request` names one API request ("request", "call"),
    `waits` is the line explaining limiter wait, HTTP and in sandbox."""
    print(f"\n== where the step's time goes{unit} ==")
    headers = ["run", "step s", "limiter wait s", "HTTP s", "in sandbox s", "rest s", "CPU s", "real s",
               f"ms/{request}", f"ms rest/{request}"]
    rows = []
    for r in runs:
        rest = r.step_s - r.limiter_wait_s - r.http_s
        rows.append([r.label, f"{r.step_s:.1f}", f"{r.limiter_wait_s:.1f}", f"{r.http_s:.1f}", f"{r.sandbox_s:.1f}",
                     f"{rest:.1f}", f"{r.cpu_s:.1f}", f"{r.real_s:.1f}",
                     f"{r.http_s / r.served * 1000:.1f}" if r.served else "-",
                     f"{rest / r.served * 1000:.1f}" if r.served else "-"])
    print_table(headers, rows)
    print(waits)
    print("   rest = step - wait - HTTP: the ledger (claiming and settling each batch, audit rows), building "
          "requests, reading answers; CPU = this process's CPU time (client and sandbox share it)")
    for realm in setups:
        print(f"   setup of {realm.label} (not in any figure): {realm.setup_s:.1f} s real, {realm.bills:,} bills")


def report(runs: list[Export], speed: float, setups: list[Realm]) -> None:
    unit = " (sped-up clock)" if speed != 1 else ""
    print("\n== export_documents: bills exported into the sandbox under its rate limits ==")
    headers = ["run", "bills", "requests", "sent", "req/bill", "bills/req", "step s", "bills/min", "ceiling/min",
               "% ceiling", "best/min", "sustained/min", "% ceiling"]
    rows = []
    for r in runs:
        best, sustained = r.best_rate, r.sustained
        rows.append([
            r.label, f"{r.bills:,}", f"{r.served:,}", f"{r.sent:,}", f"{r.per_bill:.4f}",
            f"{r.bills / r.served:.1f}" if r.served else "-", f"{r.step_s:.1f}", f"{r.rate:,.0f}",
            f"{r.ceiling:,.0f}", f"{r.rate / r.ceiling:.1%}", fmt(best, ",.0f"), fmt(sustained, ",.0f"),
            "-" if sustained is None else f"{sustained / r.ceiling:.1%}",
        ])
    print_table(headers, rows)
    for r in runs:
        what = ("POST /batch, up to 30 bills a request; ceiling 40 batch requests/min x 30"
                if r.per_request > 1 else "POST /bill, one request per bill; ceiling 500 requests/min x 1")
        print(f"   {r.label}: {what}")
    print("   requests = /v3 requests the sandbox served during the step (its api_requests); sent = the client's "
          "attempts (QBOClient.requests_sent)")
    print(f"   step s = export_documents alone{unit}; bills/min = bills / step s; % ceiling = bills/min / ceiling/min")
    print("   best/min = the most the limits allow for this many bills when the window starts empty: in the "
          "first minute a full window's worth goes at once, so a short run can beat the per-minute ceiling")
    print("   sustained/min = bills sent between each rate-limited request and the one a window's worth later, "
          "over the time between them (the window refilled as soon as it allowed = the ceiling)")
    if any(r.per_request == 1 for r in runs):
        base = next(r for r in runs if r.per_request == 1)
        print(f"   the one-per-bill rate is measured on {base.bills:,} bills (--baseline-bills), not on "
              f"{runs[0].bills:,}: at 500 requests/min, {runs[0].bills:,} would take "
              f"{runs[0].bills / 500:.0f} min")

    report_time(runs, unit, setups, "request",
                "   limiter wait = the client waiting for its own limiter (QBOClient.limiter.waited_seconds); HTTP = "
                "requests on the wire, answers included; in sandbox = QBOSandbox.api, part of HTTP;")

    if len(runs) == 2:
        batched, base = runs
        print("\n== batched / one per bill ==")
        print(f"   requests per bill: {batched.per_bill:.4f} vs {base.per_bill:.4f} "
              f"({base.per_bill / batched.per_bill:.1f}x fewer)")
        print(f"   bills/min over the step: {batched.rate:,.0f} vs {base.rate:,.0f} ({batched.rate / base.rate:.2f}x)")
        if batched.sustained and base.sustained:
            print(f"   bills/min sustained: {batched.sustained:,.0f} vs {base.sustained:,.0f} "
                  f"({batched.sustained / base.sustained:.2f}x); ceilings {batched.ceiling:,.0f} vs {base.ceiling:,.0f} "
                  f"({batched.ceiling / base.ceiling:.2f}x)")


def confirmed_check(r: Export, company: str = "the company", found: str = "bills") -> tuple[str, bool, str]:
    """Every bill of the run confirmed and in `company` exactly once (`found`: what the sandbox counts)."""
    confirmed = r.summary.get("confirmed", 0)
    return (f"{r.label}: every bill confirmed, each once in {company}",
            confirmed == r.bills and r.bills_in_company == r.bills and not r.summary.get("rejected"),
            f"{confirmed:,} confirmed, {r.bills_in_company:,} {found} in {company}, "
            f"{r.summary.get('rejected', 0)} rejected, {r.summary.get('uncertain', 0)} uncertain")


def checks_for(runs: list[Export]) -> list[tuple[str, bool | None, str]]:
    checks = [confirmed_check(r) for r in runs]
    batched = runs[0]
    checks.append((f"{batched.label}: <= 1 request per {TARGET_BILLS_PER_REQUEST} bills "
                   f"(<= {1 / TARGET_BILLS_PER_REQUEST:.3f} per bill)",
                   batched.per_bill <= 1 / TARGET_BILLS_PER_REQUEST,
                   f"{batched.per_bill:.4f} per bill, 1 per {batched.bills / max(batched.served, 1):.1f} bills"))
    limited = batched.best_rate is not None  # else every request fitted in the first minute's window
    checks.append((f"{batched.label}: >= {TARGET_SHARE_OF_CEILING:.0%} of the {batched.ceiling:,.0f} bills/min ceiling",
                   batched.rate >= TARGET_SHARE_OF_CEILING * batched.ceiling if limited else None,
                   f"{batched.rate:,.0f} bills/min = {batched.rate / batched.ceiling:.1%}" + (
                       f"; sustained {batched.sustained:,.0f} = {batched.sustained / batched.ceiling:.1%}"
                       if batched.sustained else "") + (
                       "" if limited else f" (n/a: {batched.bills:,} bills fit in the first minute's window; "
                                          f"the limits never bit)")))
    return checks


# --- main -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bills", type=int, default=5000, help="bills the batched export sends")
    parser.add_argument("--baseline-bills", type=int, default=1000,
                        help="bills the one-request-per-bill baseline sends (0: no baseline)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run the sandbox's and the limiter's clocks N times faster than real time")
    parser.add_argument("--vendors", type=int, default=50, help="vendors the bills are spread over")
    args = parser.parse_args(argv)
    if args.bills < 1 or args.baseline_bills < 0 or args.speed <= 0 or args.vendors < 1:
        parser.error("--bills and --vendors must be >= 1, --baseline-bills >= 0, --speed > 0")

    tmp = private_data_dir("bench-qbo-export-")
    import requests

    from ledgerbridge.ledger import Ledger, migrate
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    speed = args.speed
    clock = scaled(time.monotonic, speed)  # the client limiter's and the timings' clock
    sandbox_clock = scaled(time.time, speed)
    print(f"python {sys.version.split()[0]}, requests {requests.__version__}, {len(os.sched_getaffinity(0))} CPUs; "
          f"sandbox and client in this process; limits per realm: {LIMITS['requests_per_minute']} requests/min, "
          f"{LIMITS['concurrent_requests']} at a time, {LIMITS['batch_requests_per_minute']} batch requests/min")
    print_speed_note(speed)
    try:
        url = f"sqlite:///{Path(tmp.name) / 'ledger.db'}"
        migrate(url)
        ledger = Ledger(url)
        # access tokens live an hour of real time whatever the speed, as in a real run
        sandbox = QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=sandbox_clock,
                             access_token_ttl=int(3600 * speed), **LIMITS)
        timer = ServerTimer(sandbox, clock)
        server = serve_in_thread(sandbox)
        try:
            batched_realm = set_up("batched", "bench_batched", args.bills, args.vendors, server, ledger, clock, speed)
            base_realm = (set_up("one per bill", "bench_single", args.baseline_bills, args.vendors, server, ledger,
                                 clock, speed) if args.baseline_bills else None)
            runs = [export(batched_realm, batched_realm.connector, ledger, server, timer, clock, speed,
                           BATCH_ITEMS, LIMITS["batch_requests_per_minute"])]
            if base_realm is not None:
                runs.append(export(base_realm, bill_by_bill_connector(base_realm.connector.client), ledger, server,
                                   timer, clock, speed, 1, LIMITS["requests_per_minute"]))
        finally:
            server.stop()
            ledger.dispose()
    finally:
        tmp.cleanup()

    report(runs, speed, [batched_realm] + ([base_realm] if base_realm else []))
    return print_targets(checks_for(runs))


if __name__ == "__main__":
    sys.exit(main())
