"""Data-quality checks: the GX `documents` suite alone, and its share of the export step it guards.

Usage: python bench/data_quality.py [--sizes 10000,100000] [--bad 0.05] [--taken 100000] [--seed 5] [--repeat 3]
                                   [--table] [--bills 10000] [--unthrottled]
A short run: --sizes 10000 --repeat 1 --bills 1000 --unthrottled (no verdict: the target is at 10,000
bills at QuickBooks' limits; the default run takes about 9 minutes, 8 of them the export).

1. The checks alone. For each of --sizes it generates that many documents (seeded: bills, invoices
   and journal entries with 1-5 lines, about --bad of them with one defect each; --taken (vendor,
   bill number) pairs already in the accounting system, as a company's mirrored bills), then times:
   - gx: `ledgerbridge.quality.check("documents", records, params)`: building the tables, the pandas
     frames, GX validation (COMPLETE results) and mapping failures back to records;
   - plain: a simple loop over the same records doing the same checks, the way flows/exports.py did
     them before the suite (Decimal arithmetic, a set for the bill numbers).
   Both must find exactly the same failing documents. GX's one-off start (import + ephemeral
   context) is timed apart: a worker pays it once per task.
2. The export step the checks guard, measured: --bills valid approved bills (1-5 lines, 50 vendors)
   of one entity in a temporary SQLite ledger, its company in the QuickBooks Online sandbox
   (ledgerbridge.sandbox.qbo) served in this process over loopback HTTP. The setup (the company's
   lists, the hub import, pull_reference, check_reference, match_parties) is not timed; then
   prepare_exports (which runs the suite through check_and_queue, flows/preparing.py) and
   export_documents are, and inside prepare_exports every `ledgerbridge.quality.check` call (the
   bench wraps the function in this process only). The sandbox keeps QuickBooks Online's limits
   (500 requests/min, 10 at a time, 40 batch requests/min) and the client keeps to them, as
   bench/qbo_export.py does: the step as it runs against QuickBooks (10,000 bills take about 8
   minutes). --unthrottled lifts the limits in the sandbox and the client: the step is then as short
   as this machine makes it, a lower bound no real company allows, whose share is shown without a
   verdict (GX's fixed start of about 3 s is then a large part of a 25 s step).
3. Importing the DAG files (dags/ledgerbridge_sync_*_of_*.py through Airflow's DagBag, in a subprocess with a
   temporary AIRFLOW_HOME and the project's registry) imports neither great_expectations nor pandas.

Target: at 10,000 bills the checks take at most 10% of the export step (prepare_exports +
export_documents) at QuickBooks' limits. GX's start is included: a worker pays it inside
prepare_exports, so it is added to the checks and to the step; the share without it is shown too.
Exit status 1 on a FAIL, on gx and plain finding different documents, or on an export that did not
confirm every bill.
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT / "tests"))  # support.py: entities, sandbox companies, hub data

TARGET_SHARE = 0.10
TARGET_BILLS = 10_000
DOC_NUMBER_LIMIT = 21
CURRENCY = "USD"
DEFECTS = ("total", "line_negative", "account", "party", "currency", "long_number", "due_date", "duplicate",
           "taken", "unbalanced", "precision", "item")
# The sandbox's default limits per realm, QuickBooks Online's own (bench/qbo_export.py).
QBO_LIMITS = {"requests_per_minute": 500, "concurrent_requests": 10, "batch_requests_per_minute": 40}
UNLIMITED = 10**9
EXPORT_VENDORS = 50
EXPORT_ACCOUNTS = ("6010", "6030")  # expense accounts of support.STANDARD_LISTS
SETUP_STEPS = ("pull_reference", "check_reference", "match_parties")
DAG_FOLDER = ROOT / "dags"  # ledgerbridge_sync_<i>_of_<N>.py, one per shard of the DAGs
PARSE_PATH_FREE_OF = ("great_expectations", "pandas")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- synthetic documents -----------------------------------------------------------------------

def generate(n: int, bad_share: float, seed: int, taken_numbers: int = 100_000,
             ) -> tuple[list[dict], set[tuple[str, str]], dict[str, str]]:
    """n documents, the (vendor, number) pairs already taken, and the defect of each bad document."""
    rng = random.Random(seed)
    records, defects = [], {}
    taken = {(f"{1 + k % 200}", f"OLD-{k // 200}") for k in range(max(taken_numbers, 1000))}
    for i in range(n):
        roll = rng.random()
        kind = "bill" if roll < 0.7 else "invoice" if roll < 0.9 else "journal_entry"
        records.append(_document(rng, i, kind))
    bad = rng.sample(range(n), int(n * bad_share))
    spoiled = set(bad)
    good_bills = [r for i, r in enumerate(records) if r["kind"] == "bill" and i not in spoiled]
    for i in bad:
        record = records[i]
        defect = rng.choice([d for d in DEFECTS if _fits(d, record["kind"])])
        _spoil(rng, record, defect, good_bills)
        defects[record["hub_id"]] = defect
    return records, taken, defects


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(100, 500_000)).scaleb(-2)


def _document(rng: random.Random, i: int, kind: str) -> dict:
    doc_date = date(2025, 1, 1) + timedelta(days=rng.randint(0, 364))
    prefix = {"bill": "B", "invoice": "I", "journal_entry": "J"}[kind]
    party = rng.randint(1, 200)
    record = {"hub_id": f"{prefix}-{i:06d}", "kind": kind, "doc_date": doc_date, "currency": CURRENCY,
              "doc_number": f"{prefix}N-{i:06d}", "memo": "synthetic"}
    if kind == "journal_entry":
        amounts = [_money(rng) for _ in range(rng.randint(1, 2))]
        lines = [{"line_no": n, "amount": a, "posting_type": "debit", "account_code": f"6{n:03d}",
                  "account_resolved": True} for n, a in enumerate(amounts, 1)]
        lines.append({"line_no": len(lines) + 1, "amount": sum(amounts, Decimal(0)), "posting_type": "credit",
                      "account_code": "1000", "account_resolved": True})
        record.update(total=sum(amounts, Decimal(0)), lines=lines, doc_number=None)
        return record
    lines = []
    for n in range(1, rng.randint(1, 5) + 1):
        if kind == "bill":
            lines.append({"line_no": n, "amount": _money(rng), "account_code": f"6{n:03d}",
                          "account_resolved": True, "class_code": "East" if n == 2 else None,
                          "class_resolved": True if n == 2 else None})
        else:
            quantity, price = Decimal(rng.randint(1, 20)), _money(rng)
            lines.append({"line_no": n, "amount": quantity * price, "quantity": quantity, "unit_price": price,
                          "item_code": f"ITEM-{n}", "item_resolved": True})
    record.update(total=sum((line["amount"] for line in lines), Decimal(0)), lines=lines,
                  due_date=doc_date + timedelta(days=30), party=f"P-{party}", party_ref=str(party),
                  party_linked=True)
    return record


def _fits(defect: str, kind: str) -> bool:
    if kind == "journal_entry":
        return defect in ("total", "account", "currency", "unbalanced", "precision", "line_negative")
    if kind == "invoice":
        return defect in ("total", "party", "currency", "long_number", "due_date", "precision", "item",
                          "line_negative")
    return defect not in ("unbalanced", "item")


def _spoil(rng: random.Random, record: dict, defect: str, good_bills: list[dict]) -> None:
    lines = record["lines"]
    if defect == "total":
        record["total"] += Decimal("0.01")
    elif defect == "line_negative":
        lines[0]["amount"] = -lines[0]["amount"]
        lines[0].pop("quantity", None)
        if record["kind"] == "journal_entry":
            lines[-1]["amount"] = sum((x["amount"] for x in lines if x["posting_type"] == "debit"), Decimal(0))
        record["total"] = sum((x["amount"] for x in lines if x.get("posting_type") != "credit"), Decimal(0))
    elif defect == "account":
        lines[0].update(account_code="9999", account_resolved=False)
    elif defect == "party":
        record["party_linked"] = False
    elif defect == "currency":
        record["currency"] = "EUR"
    elif defect == "long_number":
        record["doc_number"] = "X" * (DOC_NUMBER_LIMIT + 4)
    elif defect == "due_date":
        record["due_date"] = record["doc_date"] - timedelta(days=1)
    elif defect == "duplicate":  # the same number as an earlier good bill of the same vendor
        earlier = next((r for r in good_bills if r["hub_id"] < record["hub_id"]), None)
        if earlier is None:
            record["currency"] = "EUR"
            return
        record.update(doc_number=earlier["doc_number"], party_ref=earlier["party_ref"], party=earlier["party"])
    elif defect == "taken":
        record.update(doc_number=f"OLD-{rng.randint(0, 4)}")  # OLD-0..4 are taken for every vendor
    elif defect == "unbalanced":
        lines[-1]["amount"] += Decimal("1.00")
    elif defect == "precision":
        lines[0]["amount"] += Decimal("0.001")
        lines[0].pop("quantity", None)
        record["total"] += Decimal("0.001")
        if record["kind"] == "journal_entry":
            lines[-1]["amount"] += Decimal("0.001")
    elif defect == "item":
        lines[0].update(item_code="NOPE", item_resolved=False)


# -- the plain-Python baseline -------------------------------------------------------------------

def plain_checks(records: list[dict], taken: set[tuple[str, str]], limit: int = DOC_NUMBER_LIMIT) -> dict[str, list]:
    """What flows/exports.py did per document before the suite, in one loop: key -> list of (field, problem)."""
    cents = Decimal("0.01")
    failures: dict[str, list] = {}
    first_with_number: dict[tuple[str, str], str] = {}
    for record in records:
        reasons = []
        kind, key = record["kind"], record["hub_id"]
        lines, total = record.get("lines") or [], record.get("total")
        if kind in ("bill", "invoice") and not record.get("party_linked"):
            reasons.append(("party", "not linked"))
        if record.get("currency") != CURRENCY:
            reasons.append(("currency", "not the entity's currency"))
        doc_number = record.get("doc_number")
        if doc_number and len(doc_number) > limit:
            reasons.append(("doc_number", "too long"))
        if record.get("due_date") and record.get("doc_date") and record["due_date"] < record["doc_date"]:
            reasons.append(("due_date", "before the document date"))
        if total is None or total <= 0:
            reasons.append(("total", "must be positive"))
        if total is not None and total != total.quantize(cents):
            reasons.append(("total", "more than 2 decimal places"))
        if not lines:
            reasons.append(("lines", "no lines"))
        for line in lines:
            where, amount = f"lines[{line['line_no']}]", line.get("amount")
            if amount is None or amount <= 0:
                reasons.append((f"{where}.amount", "must be positive"))
            elif amount != amount.quantize(cents):
                reasons.append((f"{where}.amount", "more than 2 decimal places"))
            if kind in ("bill", "journal_entry") and not line.get("account_resolved"):
                reasons.append((f"{where}.account_code", "no active account"))
            if kind == "invoice" and not line.get("item_resolved"):
                reasons.append((f"{where}.item_code", "no active item"))
            if line.get("class_code") and not line.get("class_resolved"):
                reasons.append((f"{where}.class_code", "no active class"))
            if kind == "invoice" and line.get("quantity") is not None and line.get("unit_price") is not None:
                if line["quantity"] <= 0:
                    reasons.append((f"{where}.quantity", "must be positive"))
                if (line["quantity"] * line["unit_price"]).quantize(cents) != amount:
                    reasons.append((f"{where}.amount", "differs from quantity x unit price"))
        if kind == "journal_entry":
            debits = sum((x["amount"] for x in lines if x.get("posting_type") == "debit"), Decimal(0))
            credits = sum((x["amount"] for x in lines if x.get("posting_type") == "credit"), Decimal(0))
            if any(x.get("posting_type") not in ("debit", "credit") for x in lines):
                reasons.append(("lines", "posting type"))
            if debits != credits:
                reasons.append(("lines", "do not balance"))
            if lines and total is not None and debits != total:
                reasons.append(("total", "differs from its debits"))
        elif lines and total is not None and sum((x["amount"] for x in lines), Decimal(0)) != total:
            reasons.append(("total", "differs from the sum of its lines"))
        if kind == "bill" and doc_number:
            number = (record.get("party_ref") or record.get("party"), doc_number)
            if number in taken:
                reasons.append(("doc_number", "taken"))
            if first_with_number.setdefault(number, key) != key:
                reasons.append(("doc_number", "duplicate in batch"))
        if reasons:
            failures[key] = reasons
    return failures


# -- the export step the checks guard ----------------------------------------------------------

@dataclass
class ExportStep:
    bills: int
    lines: int
    real_limits: bool
    setup_s: float
    check_calls: int
    checks_s: float  # the ledgerbridge.quality.check calls made by prepare_exports
    check_timings: Counter  # their SuiteResult.timings, summed
    prepare_s: float
    export_s: float
    queued: int
    confirmed: int

    @property
    def step_s(self) -> float:
        return self.prepare_s + self.export_s


def export_hub_data(bills: int, seed: int) -> dict:
    """The hub's vendors and `bills` valid approved bills of 1-5 lines, amounts as Decimal."""
    from support import bill, hub_data

    rng = random.Random(seed)
    vendors = [{"hub_id": f"V-{v:03d}", "name": f"Bench Vendor {v:03d}"} for v in range(1, EXPORT_VENDORS + 1)]
    return hub_data([bill(f"QB-{n:05d}", vendor=vendors[n % EXPORT_VENDORS]["hub_id"],
                          lines=[{"amount": _money(rng), "account": rng.choice(EXPORT_ACCOUNTS)}
                                 for _ in range(rng.randint(1, 5))])
                     for n in range(1, bills + 1)], vendors=vendors)


@contextmanager
def timed_checks():
    """(seconds, SuiteResult) of every ledgerbridge.quality.check call made in the block.

    check_and_queue imports `check` from the package each time it runs, so replacing the package's
    attribute catches every call."""
    import ledgerbridge.quality as quality

    original, calls = quality.check, []

    def timed(*args, **kwargs):
        started = time.perf_counter()
        result = original(*args, **kwargs)
        calls.append((time.perf_counter() - started, result))
        return result

    quality.check = timed
    try:
        yield calls
    finally:
        quality.check = original


def measure_export_step(bills: int, real_limits: bool, seed: int, data_dir: Path) -> ExportStep:
    """An entity's company and bills set up (not timed), then prepare_exports and export_documents, timed."""
    from ledgerbridge.connectors.factory import quickbooks_online
    from ledgerbridge.connectors.qbo.client import BATCH_MAX_ITEMS
    from ledgerbridge.connectors.limits import RealmLimits
    from ledgerbridge.hub_import import import_hub_data
    from ledgerbridge.ledger import Ledger, migrate
    from ledgerbridge.pipeline import RunContext, run_step
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread
    from support import CLIENT_ID, CLIENT_SECRET, connect_company, make_entity

    if real_limits:
        sandbox = QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, **QBO_LIMITS)
        client_limits = RealmLimits(**QBO_LIMITS)
    else:
        sandbox = QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, rate_limits=False)
        client_limits = RealmLimits(UNLIMITED, UNLIMITED, UNLIMITED)
    url = f"sqlite:///{data_dir / 'ledger.db'}"
    migrate(url)
    ledger = Ledger(url)
    server = serve_in_thread(sandbox)
    try:
        started = time.perf_counter()
        entity = make_entity("bench_quality", flows=("reference", "parties", "bills"))
        progress(f"export step: creating the company's lists, importing {bills:,} bills")
        conn = connect_company(server, ledger, entity)
        data = export_hub_data(bills, seed)
        with ledger.session() as session:
            import_hub_data(session, entity, data)
        ctx = RunContext(entity=entity, ledger=ledger, run_id="bench-data-quality",
                         connect=lambda: quickbooks_online(conn, ledger, limits=client_limits),
                         log=logging.getLogger("ledgerbridge.bench.data_quality"))
        for step in SETUP_STEPS:
            progress(f"export step: setup step {step}")
            run_step(ctx, step)
        setup_s = time.perf_counter() - started

        progress("export step: prepare_exports (timed)")
        with timed_checks() as checks:
            started = time.perf_counter()
            prepared = run_step(ctx, "prepare_exports")
            prepare_s = time.perf_counter() - started
        progress("export step: export_documents (timed" + (
            f"; about {bills / (QBO_LIMITS['batch_requests_per_minute'] * BATCH_MAX_ITEMS):.0f} min at the "
            "sandbox's limits)" if real_limits else ")"))
        started = time.perf_counter()
        exported = run_step(ctx, "export_documents")
        export_s = time.perf_counter() - started
    finally:
        server.stop()
        ledger.dispose()
    if not checks:
        raise SystemExit("prepare_exports made no ledgerbridge.quality.check call that this bench could time")
    timings: Counter = Counter()
    for _, result in checks:
        timings.update(result.timings)
    return ExportStep(bills, sum(len(b["lines"]) for b in data["bills"]), real_limits, setup_s, len(checks),
                      sum(seconds for seconds, _ in checks), timings, prepare_s, export_s,
                      prepared.get("queued", 0), exported.get("confirmed", 0))


def report_export_step(step: ExportStep, gx_start_s: float) -> int:
    """Print the step's figures and the checks' share of it; 1 on a FAIL or an incomplete export."""
    limits = (f"the sandbox's rate limits ({QBO_LIMITS['requests_per_minute']} requests/min, "
              f"{QBO_LIMITS['concurrent_requests']} at a time, {QBO_LIMITS['batch_requests_per_minute']} batch "
              "requests/min), the client keeping to them" if step.real_limits
              else "rate limits lifted in the sandbox and the client")
    t = step.check_timings
    print(f"Export step, {step.bills:,} bills ({step.lines:,} lines, {EXPORT_VENDORS} vendors): prepare_exports + "
          f"export_documents; QuickBooks Online sandbox in this process over loopback HTTP, {limits}; SQLite ledger")
    print(f"  setup, not timed (lists, hub import, {', '.join(SETUP_STEPS)}): {step.setup_s:.1f} s")
    print(f"  checks in prepare_exports ({step.check_calls} check call{'s' if step.check_calls > 1 else ''}): "
          f"{step.checks_s:.2f} s (build {t['build']:.2f}, frames {t['frames']:.2f}, GX {t['gx']:.2f}, "
          f"map {t['map']:.2f}; GX already started in this process)")
    print(f"  prepare_exports: {step.prepare_s:.2f} s, {step.queued:,} bills queued; checks "
          f"{step.checks_s / step.prepare_s:.1%} of it, the rest {step.prepare_s - step.checks_s:.2f} s")
    print(f"  export_documents: {step.export_s:.2f} s, {step.confirmed:,} bills confirmed "
          f"({step.confirmed / step.export_s * 60:,.0f} bills/min)")
    print(f"  step (prepare_exports + export_documents): {step.step_s:.2f} s; "
          f"prepare_exports / export_documents = {step.prepare_s / step.export_s:.2f}")
    status = 0
    if step.queued != step.bills or step.confirmed != step.bills:
        print(f"  FAIL: {step.queued:,} queued and {step.confirmed:,} confirmed of {step.bills:,} bills")
        status = 1

    with_start, step_with_start = step.checks_s + gx_start_s, step.step_s + gx_start_s
    share = with_start / step_with_start
    if step.bills != TARGET_BILLS:
        verdict = f"n/a (the target is at {TARGET_BILLS:,} bills)"
    elif not step.real_limits:
        verdict = "n/a (the target is at QuickBooks' limits; this step had none)"
    else:
        verdict = "PASS" if share <= TARGET_SHARE else "FAIL"
        status |= int(verdict == "FAIL")
    print(f"  checks' share of the step, GX's start ({gx_start_s:.2f} s) in both: {with_start:.2f} s / "
          f"{step_with_start:.2f} s = {share:.1%}; target <= {TARGET_SHARE:.0%} at {TARGET_BILLS:,} bills: "
          f"{verdict}")
    print(f"  checks' share of the step without GX's start: {step.checks_s:.2f} s / {step.step_s:.2f} s = "
          f"{step.checks_s / step.step_s:.1%}")
    return status


# -- the DAG file's imports --------------------------------------------------------------------

DAG_IMPORT = textwrap.dedent("""\
    import sys
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    for path, error in bag.import_errors.items():
        print(f"import error in {path}: {error}", file=sys.stderr)
    print(len(bag.dags), len(bag.import_errors), *(name in sys.modules for name in sys.argv[2:]))
    """)


def check_dag_imports(data_dir: Path) -> int:
    """Parse the DAG file as the dag processor does, in a fresh interpreter; 1 when that imported GX or
    pandas, or failed."""
    parsing_context = ("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "_AIRFLOW_PARSING_CONTEXT_TASK_ID")
    env = {name: value for name, value in os.environ.items()
           if name not in ("LEDGERBRIDGE_REGISTRY", *parsing_context)}  # every DAG of the project's registry
    env.update(AIRFLOW_HOME=str(data_dir / "airflow_home"), AIRFLOW__CORE__DAGS_FOLDER=str(DAG_FOLDER),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    parsed = subprocess.run([sys.executable, "-c", DAG_IMPORT, str(DAG_FOLDER), *PARSE_PATH_FREE_OF],
                            capture_output=True, text=True, env=env, cwd=ROOT)
    what = f"DAG import of {DAG_FOLDER.relative_to(ROOT)}/ (DagBag in a subprocess, the project's registry)"
    if parsed.returncode != 0:
        print(f"{what}: FAIL (the subprocess exited {parsed.returncode})")
        print(parsed.stderr, file=sys.stderr)
        return 1
    dags, errors, *flags = parsed.stdout.splitlines()[-1].split()
    imported = dict(zip(PARSE_PATH_FREE_OF, (flag == "True" for flag in flags)))
    # With no DAG built or an import error, "nothing imported" would prove nothing.
    passed = int(dags) > 0 and int(errors) == 0 and not any(imported.values())
    found = ", ".join(f"{name} imported: {flag}" for name, flag in imported.items())
    print(f"{what}: {dags} DAGs, {errors} import errors; {found}: {'PASS' if passed else 'FAIL'}")
    if int(errors):
        print(parsed.stderr, file=sys.stderr)
    return 0 if passed else 1


# -- the run -------------------------------------------------------------------------------------

def time_checks_alone(args, sizes: list[int]) -> tuple[int, float]:
    """The first part: the suite against the plain loop per size; (status, GX's start in seconds)."""
    code = ("import sys, time; t = time.perf_counter(); import ledgerbridge.quality; "
            "print(f'{time.perf_counter() - t:.3f}', 'great_expectations' in sys.modules, 'pandas' in sys.modules)")
    import_check = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                  env={"PYTHONPATH": str(ROOT / "include"), "PATH": ""})
    seconds, gx_loaded, pandas_loaded = import_check.stdout.split()
    print(f"import ledgerbridge.quality: {float(seconds) * 1000:.0f} ms, great_expectations imported: {gx_loaded}, "
          f"pandas imported: {pandas_loaded}")

    t0 = time.perf_counter()
    from ledgerbridge.quality import DocumentParams, check, format_table, gx_context
    state = gx_context()
    gx_start_s = time.perf_counter() - t0
    print(f"GX {state.version} start (import + ephemeral context, once per process): {gx_start_s:.2f} s")
    print()

    header = (f"{'documents':>10} {'lines':>8} {'bad':>6} | {'gx s':>7} {'us/doc':>7} {'build':>6} {'frames':>6} "
              f"{'GX':>6} {'map':>6} | {'plain s':>7} {'us/doc':>7} | {'gx/plain':>8} | same")
    print(header)
    print("-" * len(header))
    status = 0
    for size in sizes:
        records, taken, defects = generate(size, args.bad, args.seed, args.taken)
        params = DocumentParams(currency=CURRENCY, doc_number_limit=DOC_NUMBER_LIMIT, taken_numbers=taken)
        gx_runs, plain_runs, result, plain = [], [], None, None
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = check("documents", records, params)
            gx_runs.append((time.perf_counter() - t, result.timings))
            t = time.perf_counter()
            plain = plain_checks(records, taken)
            plain_runs.append(time.perf_counter() - t)
        gx_s = statistics.median(run[0] for run in gx_runs)
        timing = min(gx_runs, key=lambda run: abs(run[0] - gx_s))[1]
        plain_s = statistics.median(plain_runs)
        same = set(result.failures) == set(plain) == set(defects)
        status |= 0 if same else 1
        lines = sum(len(r["lines"]) for r in records)
        print(f"{size:>10,} {lines:>8,} {result.failed:>6,} | {gx_s:>7.2f} {gx_s / size * 1e6:>7.0f} "
              f"{timing['build']:>6.2f} {timing['frames']:>6.2f} {timing['gx']:>6.2f} {timing['map']:>6.2f} | "
              f"{plain_s:>7.3f} {plain_s / size * 1e6:>7.1f} | {gx_s / plain_s:>7.1f}x | {'yes' if same else 'NO'}")
        if not same:
            print(f"  failing sets differ: gx {len(result.failures)}, plain {len(plain)}, seeded {len(defects)}; "
                  f"gx-only {sorted(set(result.failures) - set(plain))[:5]}, "
                  f"plain-only {sorted(set(plain) - set(result.failures))[:5]}")
        if args.table and size == sizes[0]:
            print()
            print(format_table(result))
            print()
    return status, gx_start_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="documents per run of the checks alone")
    parser.add_argument("--bad", type=float, default=0.05, help="share of documents with a defect")
    parser.add_argument("--taken", type=int, default=100_000, help="(vendor, number) pairs already taken")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size (the median is shown)")
    parser.add_argument("--table", action="store_true", help="print the task-log table of the first size")
    parser.add_argument("--bills", type=int, default=TARGET_BILLS, help="bills through the export step (0: skip it)")
    parser.add_argument("--unthrottled", action="store_true",
                        help="export with no rate limits (a lower bound of the step, no verdict); by default the "
                             "sandbox keeps QuickBooks' limits (about 8 min for 10,000 bills)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.bills < 0:
        parser.error("--bills must be >= 0")

    # GX and the sandbox log to stderr; only warnings, so stdout stays the report.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-data-quality-") as tmp:
        data_dir = Path(tmp)
        os.environ["LEDGERBRIDGE_DATA_DIR"] = tmp  # nothing may land in the project's data/
        status, gx_start_s = time_checks_alone(args, sizes)
        print()
        if args.bills:
            status |= report_export_step(measure_export_step(args.bills, not args.unthrottled, args.seed, data_dir),
                                         gx_start_s)
            print()
        status |= check_dag_imports(data_dir)
    return status


if __name__ == "__main__":
    sys.exit(main())
