"""Data-quality checks: time of the GX `documents` suite next to a plain-Python loop doing the same checks.

Usage: python bench/data_quality.py [--sizes 10000,100000] [--bad 0.05] [--taken 100000] [--seed 5] [--repeat 3]
                                   [--table]

For each size it generates that many documents (seeded: bills, invoices and journal entries with 1-5
lines, about --bad of them with one defect each; --taken (vendor, bill number) pairs already in the
accounting system, as a company's mirrored bills), then times, in this process:
- gx: `ledgerbridge.quality.check("documents", records, params)`: building the tables, the pandas
  frames, GX validation (COMPLETE results) and mapping failures back to records;
- plain: a simple loop over the same records doing the same checks, the way flows/exports.py does
  them today (Decimal arithmetic, a set for the bill numbers).
Both must find exactly the same failing documents (checked; exit status 1 otherwise).
GX's one-off start (import + ephemeral context) is timed apart: a worker pays it once per task.
Target: the checks for 10,000 documents take at most 10% of the export step they guard. Exporting
10,000 bills to QuickBooks Online at its rate limits takes about 8 minutes (bench/qbo_export.py:
~1,200-1,250 bills/min), so the budget is 48 s; PASS/FAIL is printed against it, start included.
"""
from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

EXPORT_SECONDS_10K = 8 * 60  # 10,000 bills to QuickBooks Online at its rate limits (issue 5)
TARGET_SHARE = 0.10
DOC_NUMBER_LIMIT = 21
CURRENCY = "USD"
DEFECTS = ("total", "line_negative", "account", "party", "currency", "long_number", "due_date", "duplicate",
           "taken", "unbalanced", "precision", "item")


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
    """What flows/exports.py does per document today, in one loop: key -> list of (field, problem)."""
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


# -- the run -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--bad", type=float, default=0.05, help="share of documents with a defect")
    parser.add_argument("--taken", type=int, default=100_000, help="(vendor, number) pairs already taken")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size (the median is shown)")
    parser.add_argument("--table", action="store_true", help="print the task-log table of the first size")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

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
    startup = time.perf_counter() - t0
    print(f"GX {state.version} start (import + ephemeral context, once per process): {startup:.2f} s")
    print()

    header = (f"{'documents':>10} {'lines':>8} {'bad':>6} | {'gx s':>7} {'us/doc':>7} {'build':>6} {'frames':>6} "
              f"{'GX':>6} {'map':>6} | {'plain s':>7} {'us/doc':>7} | {'gx/plain':>8} | same")
    print(header)
    print("-" * len(header))
    status, gx_10k = 0, None
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
        if size == 10_000:
            gx_10k = gx_s
        if args.table and size == sizes[0]:
            print()
            print(format_table(result))
            print()
    print()
    budget = EXPORT_SECONDS_10K * TARGET_SHARE
    if gx_10k is None:
        print(f"target (10,000 documents: checks <= {TARGET_SHARE:.0%} of the export step, {budget:.0f} s): n/a "
              "(run with 10000 in --sizes)")
    else:
        worst = gx_10k + startup
        verdict = "PASS" if worst <= budget else "FAIL"
        status |= 0 if verdict == "PASS" else 1
        print(f"target (10,000 documents: checks <= {TARGET_SHARE:.0%} of the export step, which takes about "
              f"{EXPORT_SECONDS_10K / 60:.0f} min, so <= {budget:.0f} s): {gx_10k:.2f} s + {startup:.2f} s start = "
              f"{worst:.2f} s, {worst / EXPORT_SECONDS_10K:.1%} of the step: {verdict}")
    return status


if __name__ == "__main__":
    sys.exit(main())
