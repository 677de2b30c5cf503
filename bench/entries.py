"""Entries: a FEC of 100,000 entries written and read back, and 10,000 entries with documents exported
by an entry-files entity's DAG steps.

Usage: python bench/entries.py [--fec-entries 100000] [--entries 10000] [--skip-fec] [--skip-export] [--skip-qbo]
                               [--speed 1]

1. FEC. --fec-entries purchase entries of 3 lines (the vendor's payable with its auxiliary account,
   an expense, the VAT), as an entry-files entity's connector builds them, rendered by `render_fec`
   and read back by `validate_fec`. Timed without tracemalloc, then run again under it for the peak
   memory. The baseline, in the same process: the same 18 columns of every line, already formatted
   as text, written by the standard library's csv.writer into memory: what writing the bytes costs
   with no check and no formatting. The file must validate with no problem (else FAIL).
2. Export. --entries bills, each with a one-page document (a PDF-sized attachment of 40 KiB), of one
   entity of kind entry_files (FEC), in one temporary SQLite ledger; the lists are the demo's
   (include/config/demo_data.yaml, martin_fr). Setup (hub import, pull_reference, check_reference,
   match_parties, prepare_exports) is not timed; export_documents is (the entry files and the
   documents), to a local folder and to the embedded SFTP server on loopback (in this process).
   Printed: entries a minute, against QuickBooks Online's ceiling for entries with a document (each
   document is one upload request, the entries go 30 a batch request, all within 500 requests a
   minute: 500 / (1 + 1/30) = 484 a minute). The check: the files are not the bottleneck an API is
   (>= the ceiling), every entry is in exactly one file, every document beside it.
3. QuickBooks Online. --entries bills, each with a small document (a PDF of 8 KiB), of one QuickBooks
   Online entity, into the QuickBooks Online sandbox on loopback (in this process) with its default
   limits per realm (connectors/limits.py RealmLimits: 500 requests a minute, 10 at a time, 40 batch
   requests a minute), the client keeping to them with its limiter. Setup (the company's lists, hub
   import, pull_reference, check_reference, match_parties, prepare_exports) is not timed; after it the
   bench waits for an empty window. export_documents is timed: the bills go 30 a POST /batch, then
   every document is one POST /upload (an Attachable linked to its bill). Printed: entries a minute and
   documents a minute against the ceiling (500 / (1 + 1/30) = 484 a minute for entries with a
   document), and each phase of the step against its own ceiling (bills: 40 batch requests x 30 =
   1,200 a minute; documents: 500 uploads a minute). Checks: every bill and every document confirmed
   and in the company once; >= 90% of the ceiling (n/a when every request fits in the first minute's
   window). --speed N runs the sandbox's and the limiter's clocks N times faster than real time
   (bench/qbo_export.py): the figures are then on that clock.

Progress goes to stderr. Exit status 1 on any FAIL.
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
import time
import tracemalloc
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import print_table, print_targets, private_data_dir, progress, scaled  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
QBO_REQUESTS_PER_MINUTE, QBO_BATCH_ITEMS = 500, 30  # connectors/limits.py RealmLimits, qbo/client.py BATCH_MAX_ITEMS
QBO_CEILING_WITH_DOCUMENTS = QBO_REQUESTS_PER_MINUTE / (1 + 1 / QBO_BATCH_ITEMS)
DOCUMENT_BYTES = 40 * 1024
QBO_DOCUMENT_BYTES = 8 * 1024
QBO_TARGET_SHARE_OF_CEILING = 0.90  # as bench/qbo_export.py's target for bills alone
ENTITY = "bench_fr"


def fec_entries(count: int):
    from ledgerbridge.entryfiles import Entry, EntryLine, Side

    start = date(2026, 1, 1)
    entries = []
    for n in range(count):
        net = Decimal(100 + n % 9000) + Decimal(n % 100) / 100
        tax = (net * Decimal("0.2")).quantize(Decimal("0.01"))
        vendor = f"F{n % 500:05d}"
        entries.append(Entry(
            source=f"bill B-{n}", journal_code="HA", entry_date=start + timedelta(days=n % 365), reference=f"FA-{n}",
            number=f"B-{n}", journal_label="Journal des achats", lines=(
                EntryLine("401000", Side.CREDIT, net + tax, f"Fournisseur {vendor} FA-{n}", vendor, "Fournisseurs",
                          f"Fournisseur {vendor}"),
                EntryLine("606100", Side.DEBIT, net, "Fournitures", account_label="Fournitures non stockables"),
                EntryLine("445660", Side.DEBIT, tax, "TVA", account_label="TVA déductible"))))
    return entries


def baseline_bytes(entries) -> bytes:
    """The same lines as text, formatted beforehand (not timed), written by csv.writer (timed by the caller)."""
    rows = []
    for entry in entries:
        day = entry.entry_date.strftime("%Y%m%d")
        for line in entry.lines:
            debit = f"{line.amount:.2f}".replace(".", ",") if line.side == "debit" else "0,00"
            credit = f"{line.amount:.2f}".replace(".", ",") if line.side == "credit" else "0,00"
            rows.append((entry.journal_code, entry.journal_label, entry.number, day, line.account, line.account_label,
                         line.subsidiary_account, line.subsidiary_label, entry.reference, day, line.label, debit,
                         credit, "", "", day, "", ""))
    return rows


def bench_fec(count: int) -> tuple[list[list[str]], list]:
    from ledgerbridge.entryfiles.fec import render_fec, validate_fec

    progress(f"building {count:,} entries")
    entries = fec_entries(count)
    rows = baseline_bytes(entries)
    progress("baseline: csv.writer of the pre-formatted lines")
    started = time.perf_counter()
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\r\n").writerows(rows)
    baseline_bytes_out = out.getvalue().encode("iso-8859-15")
    baseline = time.perf_counter() - started
    progress("render_fec")
    started = time.perf_counter()
    data = render_fec(entries)
    render = time.perf_counter() - started
    progress("validate_fec")
    started = time.perf_counter()
    report = validate_fec(data)
    check = time.perf_counter() - started
    progress("the same again under tracemalloc, for the peak memory")
    peaks = []
    for step in (lambda: render_fec(entries), lambda: validate_fec(data)):
        tracemalloc.start()
        step()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    mib = 1024 * 1024
    table = [
        ["baseline: csv.writer, text given", f"{baseline:.2f}", "1.00x", "-", f"{len(baseline_bytes_out) / mib:.1f}"],
        ["render_fec (checks, formats, encodes)", f"{render:.2f}", f"{render / baseline:.2f}x", f"{peaks[0] / mib:.0f}",
         f"{len(data) / mib:.1f}"],
        ["validate_fec (reads back, checks)", f"{check:.2f}", f"{check / baseline:.2f}x", f"{peaks[1] / mib:.0f}", "-"],
        ["written and validated", f"{render + check:.2f}", f"{(render + check) / baseline:.2f}x", "-", "-"],
    ]
    print(f"\n1. FEC of {count:,} entries ({report.lines:,} lines; entries the validator counted: {report.entries:,})")
    print_table(["", "seconds", "vs baseline", "peak MiB", "file MiB"], table)
    checks = [(f"the FEC of {count:,} entries validates", report.ok and report.entries == count,
               f"{len(report.problems)} problem(s)" + (f": {report.problems[0]}" if report.problems else ""))]
    return table, checks


def write_lists(root: Path) -> None:
    import yaml

    from ledgerbridge.connectors.entryfiles import reference_csv

    demo = yaml.safe_load((PROJECT_ROOT / "include/config/demo_data.yaml").read_text())["entities"]["martin_fr"]
    folder = root / ENTITY / "reference"
    folder.mkdir(parents=True)
    for name, rows in demo["reference"].items():
        (folder / f"{name}.csv").write_text(reference_csv(rows), encoding="utf-8")


def hub(count: int) -> dict:
    import base64

    document = base64.b64encode(b"%PDF-1.4\n" + b"0" * (DOCUMENT_BYTES - 9)).decode()
    vendors = [{"hub_id": f"V-{n}", "name": f"Fournisseur {n:03d} SARL"} for n in range(50)]
    bills = [{"hub_id": f"B-{n}", "vendor": f"V-{n % 50}", "doc_number": f"FA-{n}", "doc_date": "2026-11-03",
              "status": "approved", "attachments": [{"file_name": f"FA-{n}.pdf", "content_type": "application/pdf",
                                                     "content_base64": document}],
              "lines": [{"amount": f"{100 + n % 900}.{n % 100:02d}", "account": "606400", "tax_code": "TVA20D"}]}
             for n in range(count)]
    return {"vendors": vendors, "bills": bills}


def bench_export(count: int, transport: str, workdir: Path) -> tuple[list[str], list]:
    from sqlalchemy import func, select

    from ledgerbridge.connectors.factory import ConnectionSettings, build_connector
    from ledgerbridge.hub_import import import_hub_data
    from ledgerbridge.ledger import Ledger, migrate
    from ledgerbridge.ledger.models import OutboxEntry, OutboxState
    from ledgerbridge.pipeline import RunContext, RunParams, run_step
    from ledgerbridge.registry import LegalEntity
    from ledgerbridge.sandbox.sftp import serve_in_thread

    root = workdir / transport
    write_lists(root)
    url = f"sqlite:///{workdir / f'{transport}.db'}"
    migrate(url)
    ledger = Ledger(url)
    entity = LegalEntity.model_validate({
        "id": ENTITY, "name": "Bench SARL", "base_currency": "EUR",
        "accounting": {"kind": "entry_files", "conn_id": "files_bench",
                       "entry_files": {"payables_account": "401000", "receivables_account": "411000"}},
        "flows": ["reference", "parties", "bills"], "matching": {"create_missing_vendors": True}})
    server = None
    if transport == "sftp":
        server = serve_in_thread(root, users={"bench": "bench-secret"}, host_key_path=workdir / "host_key")
        conn = ConnectionSettings("files_bench", host=server.host, port=server.port, login="bench",
                                  password="bench-secret", extra={"root": "/", "host_key": server.host_key_line})
    else:
        conn = ConnectionSettings("files_bench", extra={"local_root": str(root)})
    try:
        progress(f"{transport}: importing {count:,} bills with their documents")
        with ledger.session() as session:
            import_hub_data(session, entity, hub(count))
        log = logging.getLogger(f"bench.entries.{transport}")

        def step(name: str) -> dict:
            ctx = RunContext(entity=entity, ledger=ledger, run_id=f"bench__{uuid.uuid4().hex[:8]}",
                             params=RunParams.from_mapping({}), connect=lambda: build_connector(entity, conn, ledger),
                             log=log)
            return run_step(ctx, name)

        for name in ("pull_reference", "check_reference", "match_parties", "prepare_exports"):
            progress(f"{transport}: setup {name}")
            step(name)  # match_parties opens the new vendors' auxiliary accounts, as a first run would
        progress(f"{transport}: export_documents ({count:,} entries, {count:,} documents)")
        started = time.perf_counter()
        summary = step("export_documents")
        seconds = time.perf_counter() - started
        with ledger.session() as session:
            confirmed = session.scalar(select(func.count()).select_from(OutboxEntry).where(
                OutboxEntry.kind == "bill", OutboxEntry.state == OutboxState.CONFIRMED))
            documents = session.scalar(select(func.count()).select_from(OutboxEntry).where(
                OutboxEntry.kind == "attachment", OutboxEntry.state == OutboxState.CONFIRMED))
    finally:
        if server is not None:
            server.stop()
    files = sorted((root / ENTITY / "entries").glob("*.txt"))
    numbers = []
    for path in files:
        numbers += [line.split("\t")[2] for line in path.read_bytes().decode("iso-8859-15").splitlines()[1:]
                    if line.split("\t")[4] == "401000"]
    on_disk = sum(1 for _ in (root / ENTITY / "documents").rglob("*.pdf"))
    rate = confirmed / seconds * 60
    row = [transport, f"{confirmed:,}", f"{documents:,}", f"{len(files)}", f"{seconds:.1f}", f"{rate:,.0f}",
           f"{QBO_CEILING_WITH_DOCUMENTS:,.0f}", f"{rate / QBO_CEILING_WITH_DOCUMENTS:.1f}x"]
    checks = [
        (f"{transport}: every entry in exactly one file, every document beside it",
         confirmed == count and len(numbers) == len(set(numbers)) == count and documents == on_disk == count,
         f"{confirmed:,} confirmed, {len(numbers):,} entries in {len(files)} file(s) ({len(set(numbers)):,} distinct), "
         f"{documents:,} documents confirmed, {on_disk:,} on disk; summary {summary.get('confirmed')} confirmed"),
        (f"{transport}: >= QuickBooks Online's ceiling for entries with a document ({QBO_CEILING_WITH_DOCUMENTS:,.0f}/min)",
         rate >= QBO_CEILING_WITH_DOCUMENTS, f"{rate:,.0f} entries/min"),
    ]
    return row, checks


# --- 3. QuickBooks Online: entries with documents into the sandbox under its limits ---------------

def qbo_hub(count: int) -> dict:
    """bench/qbo_export.py's bills, each with one small document."""
    import base64

    from qbo_export import hub_bills

    hub = hub_bills("QE", count, 50)
    document = base64.b64encode(b"%PDF-1.4\n" + b"0" * (QBO_DOCUMENT_BYTES - 9)).decode()
    for bill in hub["bills"]:
        bill["attachments"] = [{"file_name": f"{bill['doc_number']}.pdf", "content_type": "application/pdf",
                                "content_base64": document}]
    return hub


def bench_qbo(count: int, speed: float, workdir: Path) -> tuple[list[list[str]], list, list[str]]:
    from sqlalchemy import func, select

    from ledgerbridge.connectors.limits import RealmLimits
    from ledgerbridge.connectors.qbo.client import BATCH_MAX_ITEMS
    from ledgerbridge.demo import _seed_company
    from ledgerbridge.ledger import Ledger, migrate
    from ledgerbridge.ledger.models import OutboxEntry, OutboxState
    from ledgerbridge.pipeline import run_step
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread
    from qbo_export import (CLIENT_ID, CLIENT_SECRET, LISTS, WINDOW, Probe, Realm, Ticker,
                            bills_entity, context, import_and_prepare, new_company, stats, wait_for_empty_window)

    limits = RealmLimits()
    per_minute, batch_per_minute = limits.requests_per_minute, limits.batch_requests_per_minute
    ceiling = per_minute / (1 + 1 / BATCH_MAX_ITEMS)  # requests: one upload per entry + one batch per 30 entries
    bills_ceiling, uploads_ceiling = batch_per_minute * BATCH_MAX_ITEMS, per_minute
    clock = scaled(time.monotonic, speed)
    url = f"sqlite:///{workdir / 'qbo.db'}"
    migrate(url)
    ledger = Ledger(url)
    sandbox = QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=scaled(time.time, speed),
                         access_token_ttl=int(3600 * speed), requests_per_minute=per_minute,
                         concurrent_requests=limits.concurrent_requests, batch_requests_per_minute=batch_per_minute)
    server = serve_in_thread(sandbox)
    try:
        entity = bills_entity("bench_qbo_entries", "quickbooks_online", "qbo_bench_entries")
        realm_id, connector = new_company(server, ledger, entity, clock, speed)
        realm = Realm("qbo", entity, realm_id, connector, Probe(connector.client, clock), count)
        progress(f"qbo: company {realm_id}: creating its lists, importing {count:,} bills with a document each")
        _seed_company(connector.client, entity.id, LISTS)
        import_and_prepare(realm, ledger, qbo_hub(count))
        wait_for_empty_window(realm, clock, speed)
        ctx = context(realm, ledger, "bench-qbo-entries-export", connector)
        _ = ctx.connector  # connect and pin the company before the clock starts
        progress(f"qbo: export_documents: {count:,} bills and {count:,} documents (about "
                 f"{count / ceiling:.1f} min at the ceiling)")
        before = stats(server, realm_id)
        first_call, waited0, t0 = len(realm.probe.calls), connector.client.limiter.waited_seconds, clock()
        with Ticker("qbo", realm.probe, first_call, count, clock, t0, noun="bills"):
            summary = run_step(ctx, "export_documents")
        seconds = clock() - t0
        after = stats(server, realm_id)
        waited = connector.client.limiter.waited_seconds - waited0
        calls = [c for c in realm.probe.calls[first_call:] if c.api]
        with ledger.session() as session:
            confirmed = {kind: session.scalar(select(func.count()).select_from(OutboxEntry).where(
                OutboxEntry.kind == kind, OutboxEntry.state == OutboxState.CONFIRMED)) for kind in ("bill", "attachment")}
    finally:
        server.stop()
        ledger.dispose()
    served = after["api_requests"] - before["api_requests"]
    in_company = {name: after["objects"].get(name, 0) for name in ("Bill", "Attachable")}
    last_batch = max((c.end for c in calls if c.batch), default=t0)
    bills_s, uploads_s = last_batch - t0, seconds - (last_batch - t0)
    entries_rate, documents_rate = confirmed["bill"] / seconds * WINDOW, confirmed["attachment"] / seconds * WINDOW
    unit = " (sped-up clock)" if speed != 1 else ""
    rows = [
        ["the step: entries with a document", f"{seconds:.1f}", f"{served:,}", f"{entries_rate:,.0f}",
         f"{ceiling:,.0f}", f"{entries_rate / ceiling:.1%}", f"{ceiling - entries_rate:,.0f}"],
        ["the step: documents", f"{seconds:.1f}", "-", f"{documents_rate:,.0f}", f"{ceiling:,.0f}",
         f"{documents_rate / ceiling:.1%}", f"{ceiling - documents_rate:,.0f}"],
        ["phase 1: bills, POST /batch of 30", f"{bills_s:.1f}", f"{sum(c.batch for c in calls):,}",
         f"{count / bills_s * WINDOW:,.0f}" if bills_s else "-", f"{bills_ceiling:,}",
         f"{count / bills_s * WINDOW / bills_ceiling:.1%}" if bills_s else "-", "-"],
        ["phase 2: documents, POST /upload", f"{uploads_s:.1f}", f"{sum(not c.batch for c in calls):,}",
         f"{count / uploads_s * WINDOW:,.0f}" if uploads_s else "-", f"{uploads_ceiling:,}",
         f"{count / uploads_s * WINDOW / uploads_ceiling:.1%}" if uploads_s else "-", "-"],
    ]
    # One phase after the other, each at its own ceiling, from a full window: what this order allows at most.
    phases_bound = count / (count / bills_ceiling + count / uploads_ceiling)
    notes = [
        f"   requests: /v3 requests the sandbox served during the step{unit}; limiter wait {waited:.1f} s; "
        f"phase 2 counts every request after the last batch (look-ups included)",
        f"   ceiling: {per_minute} requests/min, one upload per document and one batch request per "
        f"{BATCH_MAX_ITEMS} entries: {per_minute} / (1 + 1/{BATCH_MAX_ITEMS}) = {ceiling:,.0f} entries/min",
        f"   export_documents uploads each confirmed batch's documents before the next batch; sent one phase "
        f"after the other they would allow {phases_bound:,.0f} entries/min ({phases_bound / ceiling:.1%} of the "
        f"ceiling), the bills' phase leaving {per_minute - batch_per_minute} requests/min unused",
    ]
    limited = served > per_minute  # else every request fitted in the first minute's window
    checks = [
        ("qbo: every bill and every document confirmed, each once in the company",
         confirmed["bill"] == confirmed["attachment"] == in_company["Bill"] == in_company["Attachable"] == count
         and not summary.get("rejected"),
         f"{confirmed['bill']:,} bills and {confirmed['attachment']:,} documents confirmed; {in_company['Bill']:,} "
         f"bills and {in_company['Attachable']:,} attachables in the company; the step's errors: "
         f"{(summary.get('errors') or []) + (summary.get('attachments', {}).get('errors') or [])}"),
        (f"qbo: >= {QBO_TARGET_SHARE_OF_CEILING:.0%} of the {ceiling:,.0f} entries/min ceiling (entries with a document)",
         entries_rate >= QBO_TARGET_SHARE_OF_CEILING * ceiling if limited else None,
         f"{entries_rate:,.0f} entries/min = {entries_rate / ceiling:.1%}, {ceiling - entries_rate:,.0f}/min under "
         f"the ceiling" + ("" if limited else f" (n/a: {served:,} requests fit in the first minute's window; "
                                              f"the limits never bit)")),
    ]
    return rows, checks, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fec-entries", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--skip-fec", action="store_true")
    parser.add_argument("--skip-export", action="store_true", help="skip 2. (entry files)")
    parser.add_argument("--skip-qbo", action="store_true", help="skip 3. (QuickBooks Online sandbox)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="3.: run the sandbox's and the limiter's clocks N times faster than real time")
    args = parser.parse_args(argv)
    if args.entries < 1 or args.speed <= 0:
        parser.error("--entries must be >= 1, --speed > 0")
    logging.basicConfig(level=logging.WARNING)
    checks = []
    if not args.skip_fec:
        _, fec_checks = bench_fec(args.fec_entries)
        checks += fec_checks
    if not args.skip_export:
        rows = []
        with private_data_dir("ledgerbridge-bench-entries-") as workdir:
            for transport in ("folder", "sftp"):
                row, export_checks = bench_export(args.entries, transport, Path(workdir))
                rows.append(row)
                checks += export_checks
        print(f"\n2. {args.entries:,} entries with a document each, export_documents of an entry-files entity (FEC)")
        print_table(["to", "entries", "documents", "files", "step s", "entries/min", "QBO ceiling/min", "vs ceiling"],
                    rows)
        print("   QBO ceiling: 500 requests/min, one upload per document and one batch request per 30 entries")
    if not args.skip_qbo:
        with private_data_dir("ledgerbridge-bench-entries-qbo-") as workdir:
            rows, qbo_checks, notes = bench_qbo(args.entries, args.speed, Path(workdir))
        checks += qbo_checks
        speed = f", --speed {args.speed:g}: seconds and minutes on the sandbox's clock" if args.speed != 1 else ""
        print(f"\n3. {args.entries:,} entries with a document each, export_documents into the QuickBooks Online "
              f"sandbox{speed}")
        print_table(["", "seconds", "requests", "per min", "ceiling/min", "% ceiling", "gap/min"], rows)
        print("\n".join(notes))
    return print_targets(checks)


if __name__ == "__main__":
    sys.exit(main())
