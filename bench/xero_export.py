"""Xero export: API calls per bill and bills per minute under Xero's real limits.

Usage: python bench/xero_export.py [--bills 2000] [--baseline-bills 300] [--speed 1] [--vendors 50] [--latency 0]

Runs the Xero sandbox (ledgerbridge.sandbox.xero) on loopback with Xero's limits per tenant: 60 calls
a minute (a sliding minute), 5 in progress at once, 5,000 a day. The client keeps to the same limits
with its per-tenant limiter (ledgerbridge.connectors.limits, XERO_LIMITS). Two organisations (tenants),
each with its own legal entity in one temporary SQLite ledger:
- batched: --bills bills exported by the pipeline's export_documents step (flows/outbox.py): PUT
  /Invoices?summarizeErrors=false, 50 bills a request (XeroConnector.create_many);
- one per bill (the baseline): --baseline-bills bills exported by the same step through the same
  connector and ledger code, with the connector's batch size set to 1: one PUT /Invoices per bill,
  through the same kind of limiter with the same limits.
Setup (the organisation, the bills in the ledger, pull_reference, check_reference, match_parties, which
creates the vendors as contacts, prepare_exports) is not timed. Before each export the bench waits until
the setup's calls have left the one-minute window, so every export starts with an empty window. Only the
export_documents step is timed.
Ceilings: batched 60 calls/min x 50 = 3,000 bills/min (less when the step makes calls that carry no
bills: its own ceiling is 60 x the bills per call it made); one per bill 60 bills/min.
Targets (batched): <= 1 call per 40 bills; >= 90% of the 3,000 bills/min ceiling.
--speed N runs the sandbox's clock and the client limiter's clock N times faster than real time; all
minutes and seconds printed are then on that clock. --latency S adds S seconds (on that clock) to every
call the sandbox serves, as a far-away Xero would. Exit status 1 on a FAIL.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import fmt, print_table, print_targets, private_data_dir, progress, scaled  # noqa: E402
from qbo_export import (  # noqa: E402  the limiter, probes, setup and export measurement of the QBO bench
    CLIENT_ID,
    CLIENT_SECRET,
    Call,
    Export,
    Probe,
    Realm,
    ServerTimer,
    bills_entity,
    confirmed_check,
    export_context,
    hub_bills,
    import_and_prepare,
    make_limiter,
    print_speed_note,
    report_time,
    timed_export,
)

CALLS_PER_MINUTE, CONCURRENT, CALLS_PER_DAY = 60, 5, 5000  # Xero's limits per app x tenant
BATCH_ITEMS = 50  # ledgerbridge.connectors.xero.client.BATCH_MAX_ITEMS
TARGET_BILLS_PER_CALL = 40
TARGET_SHARE_OF_CEILING = 0.90
ACCOUNTS = ("429", "400")  # General Expenses, Advertising: in every sandbox organisation


# --- probes -----------------------------------------------------------------------------------------

class XeroProbe(Probe):
    """Every HTTP request the client sends, timed on the limiter's clock, with the bills it carries
    (the ACCPAY elements of a PUT/POST to /Invoices)."""

    def _timed(self, method, url, *args, **kwargs):
        path = url.split("?", 1)[0]
        api = "/api.xro/2.0/" in path
        data = kwargs.get("data")
        creates = api and method in ("PUT", "POST") and path.endswith("/Invoices") and isinstance(data, str)
        bills = data.count('"Type":"ACCPAY"') if creates else 0
        start = self.clock()
        try:
            return self._request(method, url, *args, **kwargs)
        finally:
            self.calls.append(Call(start, self.clock(), api, creates, bills))


# --- setup (a tenant is a Realm of qbo_export, its realm_id the tenant id) -------------------------------

def new_tenant(server, ledger, entity, clock, speed: float):
    """A new sandbox organisation for `entity` and its connector, whose client keeps to Xero's limits
    with the bench's limiter on `clock`. Returns (tenant_id, connector)."""
    import requests

    from ledgerbridge.connectors.factory import ConnectionSettings
    from ledgerbridge.connectors.xero.client import XERO_LIMITS
    from ledgerbridge.connectors.xero.factory import xero

    reply = requests.post(f"{server.url}/_sandbox/tenants", json={"client_id": CLIENT_ID, "name": entity.name},
                          timeout=10)
    reply.raise_for_status()
    tenant_id = reply.json()["tenant_id"]
    conn = ConnectionSettings(entity.accounting.conn_id, server.url, CLIENT_ID, CLIENT_SECRET, tenant_id,
                              {"refresh_token": reply.json()["refresh_token"],
                               "token_url": f"{server.url}/connect/token"})
    # Retry-After and backoff waits are in the sandbox's seconds: real seconds / speed.
    connector = xero(conn, ledger, sleep=lambda seconds: time.sleep(seconds / speed))
    # Our own limiter on our clock, in place of the process-wide one limiter_for() gave the client.
    connector.client.limiter = make_limiter(XERO_LIMITS, clock, speed)
    return tenant_id, connector


def set_up(label: str, entity_id: str, bills: int, vendors: int, server, ledger, clock, speed) -> Realm:
    started = time.perf_counter()
    entity = bills_entity(entity_id, "xero", f"xero_{entity_id}")
    tenant_id, connector = new_tenant(server, ledger, entity, clock, speed)
    tenant = Realm(label, entity, tenant_id, connector, XeroProbe(connector.client, clock), bills)
    progress(f"{label}: organisation {tenant_id}: importing {bills:,} bills from {vendors} vendors")
    import_and_prepare(tenant, ledger, hub_bills(entity_id.upper(), bills, vendors, ACCOUNTS))
    tenant.setup_s = time.perf_counter() - started
    return tenant


def one_per_bill(connector):
    """The same connector with a batch size of 1: the outbox hands it one bill at a time, and
    create_many sends it alone in its own PUT /Invoices (Idempotency-Key of that one bill)."""
    from dataclasses import replace

    from ledgerbridge.connectors.xero.connector import XeroConnector

    class OnePerBill(XeroConnector):
        capabilities = replace(XeroConnector.capabilities, batch_size=1)

    return OnePerBill(connector.client)


# --- the timed step ---------------------------------------------------------------------------------

@dataclass
class Run(Export):
    """An export under Xero's limit, which counts every call alike (limit_per_min = CALLS_PER_MINUTE):
    served = Accounting API calls the sandbox counted for the tenant (api_requests, 429s included);
    sent = the client's attempts (XeroClient.requests_sent); bills_in_company = invoices in the organisation;
    ceiling = 60 x per_request, the limits' best for bills (every call a create of per_request bills)."""

    statuses: list[int] = field(default_factory=list)  # of the client's answers during the step

    @property
    def throttled(self) -> int:
        """Of the client's calls, answered 429."""
        return self.statuses.count(429)

    @property
    def creates(self) -> int:
        return sum(1 for c in self.calls if c.api and c.bills)

    @property
    def own_ceiling(self) -> float:
        """The ceiling less the calls this step made that carry no bills: 60 x bills per call."""
        return CALLS_PER_MINUTE * self.bills / self.served if self.served else self.ceiling

    @property
    def window_filled(self) -> bool:
        return self.served > CALLS_PER_MINUTE

    @property
    def limited_requests(self) -> int:
        """The minute limit counts all the step's calls: best_rate is from an empty window for them."""
        return self.served

    def limited_calls(self) -> list[Call]:
        """Every call counts, so sustained is between each call and the one 60 calls later (<= the step's
        own ceiling when the client refills the window as soon as it may)."""
        return [c for c in self.calls if c.api]


def export(tenant: Realm, connector, ledger, server, timer: ServerTimer, clock, speed: float,
           per_request: int) -> Run:
    from ledgerbridge.pipeline import run_step

    ctx = export_context(tenant, connector, ledger, clock, speed)
    client = connector.client
    calls = math.ceil(tenant.bills / per_request)
    progress(f"{tenant.label}: export_documents: {tenant.bills:,} bills in {calls:,} calls (about "
             f"{max(0, calls - CALLS_PER_MINUTE) / CALLS_PER_MINUTE:.1f} min at 60 calls/min after the first minute's "
             f"{min(calls, CALLS_PER_MINUTE)})")
    statuses: list[int] = []
    hook = lambda response, *args, **kwargs: statuses.append(response.status_code)  # noqa: E731
    client.http.hooks["response"].append(hook)
    try:
        return timed_export(tenant.label, tenant.bills, lambda: run_step(ctx, "export_documents"), client,
                            tenant.probe, server, tenant.realm_id, timer, clock, per_request, CALLS_PER_MINUTE,
                            companies="tenants", in_company=lambda counts: counts["Invoices"], result=Run,
                            statuses=statuses)
    finally:
        client.http.hooks["response"].remove(hook)


# --- printing ---------------------------------------------------------------------------------------

def report(runs: list[Run], speed: float, setups: list[Realm]) -> None:
    unit = " (sped-up clock)" if speed != 1 else ""
    print("\n== export_documents: bills exported into the sandbox under Xero's limits ==")
    headers = ["run", "bills", "calls", "creates", "sent", "429s", "calls/bill", "bills/call", "step s", "bills/min",
               "ceiling/min", "% ceiling", "own ceiling", "best/min", "sustained/min", "% ceiling"]
    rows = []
    for r in runs:
        sustained = r.sustained
        rows.append([
            r.label, f"{r.bills:,}", f"{r.served:,}", f"{r.creates:,}", f"{r.sent:,}", f"{r.throttled:,}",
            f"{r.per_bill:.4f}", f"{r.bills / r.served:.1f}" if r.served else "-", f"{r.step_s:.1f}",
            f"{r.rate:,.0f}", f"{r.ceiling:,.0f}", f"{r.rate / r.ceiling:.1%}", f"{r.own_ceiling:,.0f}",
            fmt(r.best_rate, ",.0f"), fmt(sustained, ",.0f"),
            "-" if sustained is None else f"{sustained / r.ceiling:.1%}",
        ])
    print_table(headers, rows)
    for r in runs:
        what = (f"PUT /Invoices?summarizeErrors=false, up to {r.per_request} bills a call; ceiling 60 calls/min x "
                f"{r.per_request}" if r.per_request > 1 else "PUT /Invoices, one bill a call; ceiling 60 calls/min x 1")
        print(f"   {r.label}: {what}")
    print("   calls = Accounting API calls the sandbox counted during the step (its api_requests, 429s included); "
          "creates = calls carrying bills; sent = the client's attempts (XeroClient.requests_sent)")
    print(f"   step s = export_documents alone{unit}; bills/min = bills / step s; % ceiling = bills/min / ceiling/min; "
          "own ceiling = 60 x bills per call this step made (the ceiling less its calls that carry no bills)")
    print("   best/min = the most the minute limit allows for this many calls from an empty window ('-': they all "
          "fit in the first minute, so the limit never bound and the rate measures the code, the ledger and loopback)")
    print("   sustained/min = bills sent between each call and the one 60 calls later, over the time between them "
          "(the window refilled as soon as it allowed = the ceiling)")
    base = next((r for r in runs if r.per_request == 1), None)
    if base is not None and base.bills != runs[0].bills:
        print(f"   the one-per-bill rate is measured on {base.bills:,} bills (--baseline-bills), not on "
              f"{runs[0].bills:,}: at 60 calls/min, {runs[0].bills:,} would take {runs[0].bills / 60:.0f} min")

    report_time(runs, unit, setups, "call",
                "   limiter wait = the client waiting for its own limiter; HTTP = calls on the wire, answers included; "
                "in sandbox = XeroSandbox.api, part of HTTP;")

    if base is not None and base is not runs[0]:
        batched = runs[0]
        print("\n== batched / one per bill ==")
        print(f"   calls per bill: {batched.per_bill:.4f} vs {base.per_bill:.4f} "
              f"({base.per_bill / batched.per_bill:.1f}x fewer)")
        print(f"   bills/min over the step: {batched.rate:,.0f} vs {base.rate:,.0f} ({batched.rate / base.rate:.1f}x)")
        if base.sustained:
            print(f"   one per bill sustained: {base.sustained:,.0f} bills/min of its 60 ceiling "
                  f"({base.sustained / base.ceiling:.1%})")


def checks_for(runs: list[Run]) -> list[tuple[str, bool | None, str]]:
    checks = [confirmed_check(r, "the organisation", "invoices") for r in runs]
    batched = runs[0]
    checks.append((f"{batched.label}: <= 1 call per {TARGET_BILLS_PER_CALL} bills "
                   f"(<= {1 / TARGET_BILLS_PER_CALL:.3f} per bill)",
                   batched.per_bill <= 1 / TARGET_BILLS_PER_CALL,
                   f"{batched.per_bill:.4f} per bill, 1 call per {batched.bills / max(batched.served, 1):.1f} bills "
                   f"({batched.served:,} calls, {batched.creates:,} of them creates)"))
    target = TARGET_SHARE_OF_CEILING * batched.ceiling
    measured = f"{batched.rate:,.0f} bills/min = {batched.rate / batched.ceiling:.1%} (gap {batched.rate - target:+,.0f} " \
               f"bills/min to the target)"
    if batched.sustained:
        measured += f"; sustained {batched.sustained:,.0f} = {batched.sustained / batched.ceiling:.1%}"
    if not batched.window_filled:
        measured += (f"; all {batched.served} calls fit in the first minute's window (60 calls), so the minute "
                     "limit never bound: the figure is the code's and the sandbox's speed (more --bills, or "
                     "--latency, to see the limit or a far-away Xero bind)")
    checks.append((f"{batched.label}: >= {TARGET_SHARE_OF_CEILING:.0%} of the {batched.ceiling:,.0f} bills/min ceiling",
                   batched.rate >= target, measured))
    return checks


# --- main -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bills", type=int, default=2000, help="bills the batched export sends")
    parser.add_argument("--baseline-bills", type=int, default=300,
                        help="bills the one-call-per-bill baseline sends (0: no baseline)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run the sandbox's and the limiter's clocks N times faster than real time")
    parser.add_argument("--vendors", type=int, default=50, help="vendors the bills are spread over")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds (on the sandbox's clock) the sandbox adds to every call")
    args = parser.parse_args(argv)
    if args.bills < 1 or args.baseline_bills < 0 or args.speed <= 0 or args.vendors < 1 or args.latency < 0:
        parser.error("--bills and --vendors must be >= 1, --baseline-bills >= 0, --speed > 0, --latency >= 0")
    if args.baseline_bills + 100 > CALLS_PER_DAY:
        parser.error(f"--baseline-bills must leave room in the tenant's {CALLS_PER_DAY:,} calls a day")

    tmp = private_data_dir("bench-xero-export-")
    import requests

    from ledgerbridge.ledger import Ledger, migrate
    from ledgerbridge.sandbox.xero import Faults, XeroSandbox, serve_in_thread

    speed = args.speed
    clock = scaled(time.monotonic, speed)  # the client limiter's and the timings' clock
    sandbox_clock = scaled(time.time, speed)
    print(f"python {sys.version.split()[0]}, requests {requests.__version__}, {len(os.sched_getaffinity(0))} CPUs; "
          f"sandbox and client in this process; Xero's limits per tenant: {CALLS_PER_MINUTE} calls/min, "
          f"{CONCURRENT} at a time, {CALLS_PER_DAY:,} a day; up to {BATCH_ITEMS} bills a create"
          + (f"; {args.latency:g} s added to every call" if args.latency else ""))
    print_speed_note(speed)
    try:
        url = f"sqlite:///{Path(tmp.name) / 'ledger.db'}"
        migrate(url)
        ledger = Ledger(url)
        # access tokens live 30 minutes of real time whatever the speed, as in a real run
        sandbox = XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=sandbox_clock,
                              access_token_ttl=int(1800 * speed), per_minute=CALLS_PER_MINUTE,
                              concurrent=CONCURRENT, per_day=CALLS_PER_DAY,
                              faults=Faults(latency_seconds=args.latency / speed))
        timer = ServerTimer(sandbox, clock, company_arg=1)  # XeroSandbox.api(authorization, tenant_id, ...)
        server = serve_in_thread(sandbox)
        try:
            batched = set_up("batched", "bench_batched", args.bills, args.vendors, server, ledger, clock, speed)
            base = (set_up("one per bill", "bench_single", args.baseline_bills, args.vendors, server, ledger,
                           clock, speed) if args.baseline_bills else None)
            runs = [export(batched, batched.connector, ledger, server, timer, clock, speed, BATCH_ITEMS)]
            if base is not None:
                runs.append(export(base, one_per_bill(base.connector), ledger, server, timer, clock, speed, 1))
        finally:
            server.stop()
            ledger.dispose()
    finally:
        tmp.cleanup()

    report(runs, speed, [batched] + ([base] if base else []))
    return print_targets(checks_for(runs))


if __name__ == "__main__":
    sys.exit(main())
