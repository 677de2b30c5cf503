"""The ERP source end to end: SYSPRO sales orders -> QuickBooks Online -> write-back, under QuickBooks' real limits.

Usage: python bench/erp_sync.py [--orders 10000] [--baseline-orders 1000] [--speed 1] [--seed 1] [--profile STEP]

Runs, in this process, the SYSPRO sandbox (ledgerbridge.sandbox.syspro) and the QuickBooks Online sandbox
(ledgerbridge.sandbox.qbo, its default limits per realm: 500 requests a minute, 10 at a time, 40 batch
requests a minute), a temporary SQLite ledger, and two legal entities, each with its own SYSPRO company
and its own QuickBooks company:
- optimised: --orders sales orders through every step of the pipeline (ledgerbridge.pipeline.run_step,
  in STEP_NAMES order): pull_source reads 5,000 rows a request, export_documents sends POST /batch of up
  to 30 documents, write_back posts SORTBO entries for up to 100 orders a post;
- naive (the baseline), on --baseline-orders orders, through the same steps and ledger code: one
  SYSPRO read per order (SalesOrders?$filter=SalesOrder eq 'X', after one read listing the changed
  order numbers), one QuickBooks request per document (POST /invoice or /salesreceipt with the row's
  requestid, through the same kind of limiter), one SORTBO post per order written back.
Setup (not timed): the seeded SYSPRO company (200 customers, 300 stock items, no bad orders), the
QuickBooks company's lists and one item per stock item (SKU = stock code); the customers are created by
match_parties (create_missing_customers), inside the timed run. Every status but cancelled is exported.
Ceiling: 40 batch requests/min x 30 = 1,200 orders/min (naive: 500 requests/min = 500 orders/min).
Targets (optimised): end to end, pull_source .. write_back, >= 90% of the ceiling; <= 1 ERP write per
order. --speed N runs the QuickBooks sandbox's and the client limiter's clocks N times faster.
Exit status 1 on a FAIL.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import logging
import math
import os
import pstats
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import fmt, print_table, print_targets, private_data_dir, progress, scaled  # noqa: E402
from qbo_export import (  # noqa: E402  the limiter, probes and export measurement of the QBO bench
    BATCH_ITEMS,
    CLIENT_ID,
    CLIENT_SECRET,
    LIMITS,
    TARGET_SHARE_OF_CEILING,
    WINDOW,
    Export,
    Probe,
    ServerTimer,
    bill_by_bill_connector,
    new_company,
    timed_export,
    wait_for_empty_window,
)

TARGET_WRITES_PER_ORDER = 1.0
LIMITED_SHARE = 0.05  # a step whose client waited for QuickBooks' limiter longer than this share of it is limit-bound
DOCUMENT_OBJECTS = ("Invoice", "SalesReceipt")
CANCELLED = "\\"
# Every SYSPRO order status but cancelled is exported, so nearly every seeded order (all but the ~4% the
# seed cancels) becomes a document; cancelled ones are taken in and never sent (nothing to void).
EXPORT_STATUSES = ("0", "1", "2", "3", "4", "8", "9", "F", "S")
TAX_CODES = {"A": "TAX", "B": "TAX", "E": "NON"}
END_TO_END = ("pull_source", "pull_reference", "check_reference", "match_parties", "prepare_exports",
              "export_documents", "export_payments", "collect_confirmations", "write_back")
LISTS = {  # the company an accountant set up: bank and income accounts, terms, one customer keyed by hand
    "accounts": [{"Name": "Business Checking", "AcctNum": "1000", "AccountType": "Bank"},
                 {"Name": "Sales", "AcctNum": "4000", "AccountType": "Income"}],
    "terms": [{"Name": "Net 30", "DueDays": 30}],
    "customers": [{"DisplayName": "Brown, Nick"}],
}


# --- the two sides of one entity ------------------------------------------------------------------

@dataclass
class Side:
    label: str
    naive: bool
    entity: object
    erp: object  # SandboxServer of the entity's own SYSPRO company
    erp_conn: object
    realm_id: str
    connector: object
    probe: Probe
    orders: int  # seeded
    exportable: int  # not cancelled
    setup_s: float = 0.0


@dataclass
class StepTime:
    name: str
    real_s: float
    clock_s: float  # on the limits' clock
    waited_s: float  # the QuickBooks client waiting for its limiter, on the limits' clock
    erp: Counter  # SYSPRO requests served during the step, by kind
    qbo_requests: int
    summary: dict

    @property
    def limited(self) -> bool:
        """QuickBooks' limits held the step back: the client waited for its limiter more than LIMITED_SHARE
        of the step's time (a few concurrency waits of milliseconds do not make a step limit-bound)."""
        return self.waited_s > LIMITED_SHARE * self.clock_s

    @property
    def counted_s(self) -> float:
        """The step's time at real speed: on the limits' clock where QuickBooks' limits held it back (an
        upper bound: its code's own time counts N times at --speed N), in real seconds where they did not
        (the code, the ledger and SYSPRO are not sped up). Both are the same at --speed 1."""
        return self.clock_s if self.limited else self.real_s


@dataclass
class Run:
    side: Side
    steps: list[StepTime]
    export: Export
    erp_stats: dict  # SYSPRO's counters over the timed run
    client_calls: Counter  # SysproClient.calls over the timed run
    written_back: int  # exportable orders carrying their QuickBooks id (CustomFields.QBOInvoice)
    profile: str = ""

    def step(self, name: str) -> StepTime:
        return next(s for s in self.steps if s.name == name)

    @property
    def orders(self) -> int:
        """Orders taken end to end: documents created in QuickBooks by the run."""
        return self.export.summary.get("created", 0)

    @property
    def end_to_end_s(self) -> float:
        return sum(s.counted_s for s in self.steps if s.name in END_TO_END)

    @property
    def end_to_end_rate(self) -> float:
        return self.orders / self.end_to_end_s * WINDOW if self.end_to_end_s else 0.0

    def erp(self, kind: str) -> int:
        return self.erp_stats["requests"].get(kind, 0)

    def per_order(self, value: float) -> float:
        return value / self.orders if self.orders else math.inf


def erp_company(orders: int, seed: int):
    from ledgerbridge.sandbox.syspro import SysproSandbox, seed_company, serve_in_thread

    sandbox = SysproSandbox()
    seed_company(sandbox, seed=seed, customers=200, stock_items=300, orders=orders, bad_orders=False)
    return serve_in_thread(sandbox)


def set_up(label: str, entity_id: str, orders: int, naive: bool, seed: int, qbo, ledger, clock, speed) -> Side:
    from ledgerbridge.connectors.factory import ConnectionSettings
    from ledgerbridge.demo import _seed_company, erp_items
    from ledgerbridge.registry import LegalEntity

    started = time.perf_counter()
    progress(f"{label}: SYSPRO company: seed {seed}, 200 customers, 300 stock items, {orders:,} sales orders")
    erp = erp_company(orders, seed)
    entity = LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Supply", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"},
        "source": {"kind": "syspro", "conn_id": f"erp_{entity_id}", "export_statuses": list(EXPORT_STATUSES),
                   "void_statuses": [CANCELLED], "tax_codes": TAX_CODES},
        "flows": ["reference", "parties", "invoices", "sales_receipts", "customer_payments"],
        "matching": {"create_missing_customers": True},
    })
    erp_conn = ConnectionSettings(f"erp_{entity_id}", erp.url, "ADMIN", erp.sandbox.operator_password,
                                  extra={"company_id": erp.sandbox.company_id})
    realm_id, connector = new_company(qbo, ledger, entity, clock, speed)
    probe = Probe(connector.client, clock, objects=DOCUMENT_OBJECTS)
    items = erp_items(erp.url)
    progress(f"{label}: QuickBooks company {realm_id}: its lists and {len(items)} items (SKU = stock code)")
    _seed_company(connector.client, entity.id, {**LISTS, "items": items})
    exportable = sum(row["OrderStatus"] != CANCELLED for row in erp.sandbox.company.rows("SalesOrders").values())
    side = Side(label, naive, entity, erp, erp_conn, realm_id, connector, probe, orders, exportable)
    side.setup_s = time.perf_counter() - started
    return side


def naive_source(entity, source):
    """The same SYSPRO source, read and written the naive way: the changed orders' numbers in one read
    ($select=SalesOrder), then one read per order; one SORTBO post per order written back."""
    from ledgerbridge.sources.syspro.connector import SysproSource, _odata_time

    class OrderByOrder(SysproSource):
        def _changed(self, entity_set, key, start):
            if entity_set != "SalesOrders":
                yield from super()._changed(entity_set, key, start)
                return
            numbers = [row[key] for row in self.client.read(
                entity_set, filter=f"ChangedAt ge {_odata_time(start)}" if start else None,
                orderby=f"ChangedAt asc, {key} asc", select=key)]
            for number in numbers:
                yield from self.client.read(entity_set, filter=f"{key} eq '{number}'")

        def write_back(self, items, batch_key):
            written = {}
            for item in items:
                written.update(super().write_back([item], batch_key))
            return written

    return OrderByOrder(source.client, entity.id, entity.source, where=source.where)


# --- the timed run ----------------------------------------------------------------------------------

def run(side: Side, ledger, qbo, timer: ServerTimer, clock, speed: float, profile_step: str | None) -> Run:
    from ledgerbridge.pipeline import RunContext, run_step
    from ledgerbridge.sources.factory import build_source
    from ledgerbridge.steps import STEP_NAMES

    from qbo_export import stats as qbo_stats

    wait_for_empty_window(side, clock, speed)  # the setup's requests out of QuickBooks' one-minute window
    connector = bill_by_bill_connector(side.connector.client) if side.naive else side.connector
    sources = []

    def connect_source():
        source = build_source(side.entity, side.erp_conn)
        sources.append(naive_source(side.entity, source) if side.naive else source)
        return sources[-1]

    ctx = RunContext(entity=side.entity, ledger=ledger, run_id=f"bench-{side.entity.id}", connect=lambda: connector,
                     connect_source=connect_source, log=logging.getLogger(f"ledgerbridge.bench.{side.entity.id}"))
    _ = ctx.connector  # connect and pin the company before the clock starts
    side.erp.sandbox.reset_stats()
    per_request, limit = (1, LIMITS["requests_per_minute"]) if side.naive else \
        (BATCH_ITEMS, LIMITS["batch_requests_per_minute"])
    steps, export, profile = [], None, ""
    progress(f"{side.label}: the timed run: {side.orders:,} orders, {side.exportable:,} of them exportable (about "
             f"{side.exportable / (limit * per_request):.1f} min of export at the ceiling)")
    for name in STEP_NAMES:
        erp0, qbo0 = side.erp.sandbox.stats()["requests"], qbo_stats(qbo, side.realm_id)["api_requests"]
        waited0 = side.connector.client.limiter.waited_seconds
        profiler = cProfile.Profile() if name == profile_step and not side.naive else None
        real0, t0 = time.perf_counter(), clock()
        if profiler:
            profiler.enable()
        if name == "export_documents":
            export = timed_export(side.label, side.exportable, lambda: run_step(ctx, name), side.connector.client,
                                  side.probe, qbo, side.realm_id, timer, clock, per_request, limit, noun="orders")
            summary = export.summary
        else:
            summary = run_step(ctx, name)
        if profiler:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
            profile = out.getvalue()
        real1, t1 = time.perf_counter(), clock()
        erp1 = side.erp.sandbox.stats()["requests"]
        step = StepTime(name, real1 - real0, t1 - t0, side.connector.client.limiter.waited_seconds - waited0,
                        Counter({k: erp1[k] - erp0.get(k, 0) for k in erp1}),
                        qbo_stats(qbo, side.realm_id)["api_requests"] - qbo0, summary)
        steps.append(step)
        progress(f"{side.label}: {name}: {step.real_s:.1f} s real, {step.clock_s:.1f} s on the limits' clock; "
                 f"SYSPRO {dict(+step.erp) or '-'}, QuickBooks {step.qbo_requests} request(s)")
    orders = side.erp.sandbox.company.rows("SalesOrders").values()
    written = sum(1 for row in orders if row["OrderStatus"] != CANCELLED and (row.get("CustomFields") or {}).get("QBOInvoice"))
    calls = sum((s.client.calls for s in sources), Counter())
    return Run(side, steps, export, side.erp.sandbox.stats(), calls, written, profile)


# --- printing ---------------------------------------------------------------------------------------

def pct(value: float, of: float) -> str:
    return f"{value / of:.1%}" if of else "-"


def report(runs: list[Run], speed: float) -> None:
    sped = speed != 1
    for r in runs:
        print(f"\n== {r.side.label}: the timed run, step by step ({r.side.orders:,} orders read, {r.orders:,} exported) ==")
        headers = ["step", "real s", "clock s", "counted s", "limiter wait s", "ERP reads", "ERP posts",
                   "QBO requests"]
        rows = [[s.name + ("" if s.name in END_TO_END else " (after)") + (" *" if s.limited and sped else ""),
                 f"{s.real_s:.1f}", f"{s.clock_s:.1f}",
                 f"{s.counted_s:.1f}", f"{s.waited_s:.1f}", f"{s.erp['read']:,}", f"{s.erp['post']:,}",
                 f"{s.qbo_requests:,}"] for s in r.steps]
        e2e = [s for s in r.steps if s.name in END_TO_END]
        rows.append(["end to end (pull_source..write_back)", f"{sum(s.real_s for s in e2e):.1f}",
                     f"{sum(s.clock_s for s in e2e):.1f}", f"{r.end_to_end_s:.1f}",
                     f"{sum(s.waited_s for s in e2e):.1f}", f"{sum(s.erp['read'] for s in e2e):,}",
                     f"{sum(s.erp['post'] for s in e2e):,}", f"{sum(s.qbo_requests for s in e2e):,}"])
        print_table(headers, rows)
        x = r.export
        print(f"   export_documents: limiter wait {x.limiter_wait_s:.1f} s, HTTP {x.http_s:.1f} s (in the sandbox "
              f"{x.sandbox_s:.1f} s), rest {x.step_s - x.limiter_wait_s - x.http_s:.1f} s, CPU {x.cpu_s:.1f} s, "
              f"{x.served:,} requests" + (" (limits' clock)" if sped else ""))
        print(f"   setup (not timed): {r.side.setup_s:.1f} s real")
    print("   real s = wall clock; * = limit-bound (counted on the limits' clock); clock s = on the limits' clock (the QuickBooks sandbox's and the client limiter's"
          + (f", {speed:g}x real time)" if sped else ", real time at --speed 1)"))
    print(f"   counted s = clock s where the limits held the step back (limiter wait > {LIMITED_SHARE:.0%} of it), else "
          "real s (the code, the ledger and SYSPRO are not sped up); the figures below use it")
    print("   ERP reads / posts = requests the SYSPRO sandbox served (its stats()); QBO requests = /v3 requests "
          "the QuickBooks sandbox served")

    print("\n== orders/min against the ceiling the limits allow ==")
    headers = ["run", "orders", "ceiling/min", "pull_source s", "export s", "write_back s", "end to end s",
               "export/min", "% ceiling", "sustained/min", "% ceiling", "best/min", "end to end/min", "% ceiling"]
    rows = []
    for r in runs:
        x = r.export
        rows.append([r.side.label, f"{r.orders:,}", f"{x.ceiling:,.0f}", f"{r.step('pull_source').counted_s:.1f}",
                     f"{r.step('export_documents').counted_s:.1f}", f"{r.step('write_back').counted_s:.1f}",
                     f"{r.end_to_end_s:.1f}", f"{x.rate:,.0f}", pct(x.rate, x.ceiling), fmt(x.sustained, ",.0f"),
                     "-" if x.sustained is None else pct(x.sustained, x.ceiling), fmt(x.best_rate, ",.0f"),
                     f"{r.end_to_end_rate:,.0f}", pct(r.end_to_end_rate, x.ceiling)])
    print_table(headers, rows)
    print("   orders = documents created in QuickBooks (invoices and sales receipts); ceiling: optimised 40 batch "
          "requests/min x 30, naive 500 requests/min x 1")
    print("   export/min = orders / export_documents alone; end to end/min = orders / (pull_source .. write_back, "
          "every step between included); best/min and sustained/min as in bench/qbo_export.py")

    print("\n== ERP calls per order ==")
    headers = ["run", "orders", "logons", "reads", "posts", "calls", "reads/order", "writes/order", "calls/order",
               "orders/post", "rows read", "client calls"]
    rows = []
    for r in runs:
        calls = sum(r.erp_stats["requests"].values())
        rows.append([r.side.label, f"{r.orders:,}", f"{r.erp('logon'):,}", f"{r.erp('read'):,}", f"{r.erp('post'):,}",
                     f"{calls:,}", f"{r.per_order(r.erp('read')):.4f}", f"{r.per_order(r.erp('post')):.4f}",
                     f"{r.per_order(calls):.4f}",
                     f"{r.erp_stats['orders_written'] / r.erp('post'):.1f}" if r.erp("post") else "-",
                     f"{r.erp_stats['rows_read']:,}", ", ".join(f"{k} {v}" for k, v in sorted(r.client_calls.items()))])
    print_table(headers, rows)
    print("   from the SYSPRO sandbox's stats() over the timed run (reads count pages); per order = per order exported; "
          "orders/post = orders_written / posts; client calls = SysproClient.calls")

    if len(runs) == 2:
        opt, base = runs
        print("\n== optimised / naive ==")
        ratio = lambda a, b: f"{b / a:.1f}x fewer" if a else "-"  # noqa: E731
        for what, a, b in (("ERP reads per order", opt.per_order(opt.erp("read")), base.per_order(base.erp("read"))),
                           ("ERP writes per order", opt.per_order(opt.erp("post")), base.per_order(base.erp("post"))),
                           ("QuickBooks requests per order", opt.per_order(opt.export.served),
                            base.per_order(base.export.served))):
            print(f"   {what}: {a:.4f} vs {b:.4f} ({ratio(a, b)})")
        print(f"   export orders/min: {opt.export.rate:,.0f} vs {base.export.rate:,.0f} "
              f"({opt.export.rate / base.export.rate:.2f}x)")
        if opt.export.sustained and base.export.sustained:
            print(f"   export orders/min sustained: {opt.export.sustained:,.0f} vs {base.export.sustained:,.0f} "
                  f"({opt.export.sustained / base.export.sustained:.2f}x)")
        print(f"   end to end orders/min: {opt.end_to_end_rate:,.0f} vs {base.end_to_end_rate:,.0f} "
              f"({opt.end_to_end_rate / base.end_to_end_rate:.2f}x)")
        print(f"   the naive rates are measured on {base.orders:,} orders (--baseline-orders), not {opt.orders:,}")


def checks_for(runs: list[Run]) -> list[tuple[str, bool | None, str]]:
    checks = []
    for r in runs:
        x, side = r.export, r.side
        ok = (r.orders == side.exportable == x.bills_in_company == r.written_back
              and not x.summary.get("rejected") and not x.summary.get("uncertain"))
        checks.append((f"{side.label}: every exportable order in QuickBooks once, its id written back",
                       ok, f"{side.exportable:,} exportable, {r.orders:,} created, {x.bills_in_company:,} documents in "
                           f"the company, {r.written_back:,} orders carrying their id, "
                           f"{x.summary.get('rejected', 0)} rejected, {x.summary.get('uncertain', 0)} uncertain"))
    opt = runs[0]
    x = opt.export
    limited = x.best_rate is not None  # else every batch fitted in the first minute's window
    checks.append((f"{opt.side.label}: end to end (pull_source..write_back) >= {TARGET_SHARE_OF_CEILING:.0%} of the "
                   f"{x.ceiling:,.0f} orders/min ceiling",
                   opt.end_to_end_rate >= TARGET_SHARE_OF_CEILING * x.ceiling if limited else None,
                   f"{opt.end_to_end_rate:,.0f} orders/min = {pct(opt.end_to_end_rate, x.ceiling)} "
                   f"(gap {TARGET_SHARE_OF_CEILING * x.ceiling - opt.end_to_end_rate:+,.0f} orders/min to the target)"
                   + ("" if limited else f"; n/a: {x.bills:,} orders fit in the first minute's window")))
    writes = opt.per_order(opt.erp("post"))
    checks.append((f"{opt.side.label}: <= {TARGET_WRITES_PER_ORDER:g} ERP write per order", writes <= TARGET_WRITES_PER_ORDER,
                   f"{writes:.4f} posts per order ({opt.erp_stats['orders_written']:,} orders written in "
                   f"{opt.erp('post'):,} posts)"))
    return checks


# --- main -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from ledgerbridge.steps import STEP_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10000, help="sales orders the optimised run syncs")
    parser.add_argument("--baseline-orders", type=int, default=1000,
                        help="sales orders the naive baseline syncs (0: no baseline)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run the QuickBooks sandbox's and the limiter's clocks N times faster than real time")
    parser.add_argument("--seed", type=int, default=1, help="the SYSPRO company's seed")
    parser.add_argument("--profile", choices=STEP_NAMES, help="print a cProfile of this step of the optimised run")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.baseline_orders < 0 or args.speed <= 0:
        parser.error("--orders must be >= 1, --baseline-orders >= 0, --speed > 0")

    tmp = private_data_dir("bench-erp-sync-")
    import requests

    from ledgerbridge.ledger import Ledger, migrate
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    speed = args.speed
    clock = scaled(time.monotonic, speed)  # the client limiter's and the timings' clock
    print(f"python {sys.version.split()[0]}, requests {requests.__version__}, {len(os.sched_getaffinity(0))} CPUs; "
          f"both sandboxes and the client in this process; QuickBooks limits per realm: "
          f"{LIMITS['requests_per_minute']} requests/min, {LIMITS['concurrent_requests']} at a time, "
          f"{LIMITS['batch_requests_per_minute']} batch requests/min; SYSPRO: no rate limit")
    print(f"exported statuses: {', '.join(EXPORT_STATUSES)} (every one but cancelled {CANCELLED!r})")
    if speed != 1:
        print(f"--speed {speed:g}: the QuickBooks sandbox's and the limiter's clocks run {speed:g}x real time. Steps "
              f"that wait for QuickBooks' limits are counted on that clock (their code weighs {speed:g}x more than in "
              f"a real run: an upper bound), the others in real seconds.")
    sides, runs = [], []
    try:
        url = f"sqlite:///{Path(tmp.name) / 'ledger.db'}"
        migrate(url)
        ledger = Ledger(url)
        sandbox = QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=scaled(time.time, speed),
                             access_token_ttl=int(3600 * speed), **LIMITS)
        timer = ServerTimer(sandbox, clock)
        qbo = serve_in_thread(sandbox)
        try:
            sides.append(set_up("optimised", "bench_erp", args.orders, False, args.seed, qbo, ledger, clock, speed))
            if args.baseline_orders:
                sides.append(set_up("naive", "bench_erp_naive", args.baseline_orders, True, args.seed, qbo, ledger,
                                    clock, speed))
            for side in sides:
                runs.append(run(side, ledger, qbo, timer, clock, speed, args.profile))
        finally:
            for side in sides:
                side.erp.stop()
            qbo.stop()
            ledger.dispose()
    finally:
        tmp.cleanup()

    report(runs, speed)
    status = print_targets(checks_for(runs))
    x = runs[0].export
    print(f"   info  export_documents alone (the figure bench/qbo_export.py judges): {x.rate:,.0f} orders/min = "
          f"{pct(x.rate, x.ceiling)}" + (f"; sustained {x.sustained:,.0f} = {pct(x.sustained, x.ceiling)}"
                                         if x.sustained else ""))
    if runs[0].profile:
        print(f"\n== profile of {args.profile} (optimised run) ==\n{runs[0].profile}")
    return status


if __name__ == "__main__":
    sys.exit(main())
