"""`ledgerbridge` command line: ledger migrations, registry check, sandboxes, the demo, quarantine."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["sandbox", "desktop-agent"]:
        from ledgerbridge.sandbox.desktop.runner import main as agent_main

        return agent_main(argv[2:])
    if argv[:2] == ["sandbox", "sftp"]:
        from ledgerbridge.sandbox.sftp.runner import main as sftp_main

        return sftp_main(argv[2:])
    if argv[:2] == ["sandbox", "qbo"]:
        from ledgerbridge.sandbox.qbo import main as sandbox_main

        return sandbox_main(argv[2:])
    if argv[:2] == ["sandbox", "syspro"]:
        from ledgerbridge.sandbox.syspro import main as syspro_main

        return syspro_main(argv[2:])
    if argv[:2] == ["sandbox", "xero"]:
        from ledgerbridge.sandbox.xero import main as xero_main

        return xero_main(argv[2:])

    parser = argparse.ArgumentParser(prog="ledgerbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    db = commands.add_parser("db", help="the ledger database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply the ledger's migrations (LEDGERBRIDGE_DB_URL, default a SQLite file)")
    registry = commands.add_parser("registry", help="the registry of legal entities").add_subparsers(
        dest="action", required=True)
    check = registry.add_parser("check", help="validate include/config/legal_entities.yaml")
    check.add_argument("--file", help="another registry file")
    entity = commands.add_parser("entity", help="legal entities in the ledger").add_subparsers(
        dest="action", required=True)
    repin = entity.add_parser("repin", help="let an entity move to another accounting company on its next run")
    repin.add_argument("entity_id")
    matcher = commands.add_parser("match", help="preview party matching of two CSV files (before a first sync)")
    matcher.add_argument("hub_csv")
    matcher.add_argument("accounting_csv")
    matcher.add_argument("--out", required=True, help="pairs CSV: hub_id,accounting_id,score,decision")
    matcher.add_argument("--auto", type=float, default=0.90, help="auto-link threshold (default 0.90)")
    matcher.add_argument("--review", type=float, default=0.80, help="review threshold (default 0.80)")
    review = commands.add_parser("review", help="the party review queue").add_subparsers(dest="action", required=True)
    review_list = review.add_parser("list", help="parties waiting for a person, with their candidates")
    review_list.add_argument("--entity")
    confirm = review.add_parser("confirm", help="link a hub party to an accounting party (final)")
    reject = review.add_parser("reject", help="say a hub party matches none of its candidates (final)")
    for sub in (confirm, reject):
        sub.add_argument("entity_id")
        sub.add_argument("hub_id", help="the hub party's id (vendor or customer)")
        sub.add_argument("--kind", choices=("vendor", "customer"), help="when the id exists for both kinds")
    confirm.add_argument("accounting_id", help="the accounting system's id of the party")
    commands.add_parser("sandbox", help="sandboxes: `ledgerbridge sandbox qbo --help`, "
                                        "`ledgerbridge sandbox syspro --help`, `ledgerbridge sandbox xero --help`, "
                                        "`ledgerbridge sandbox desktop-agent --help`, `ledgerbridge sandbox sftp --help`")
    entry_files = commands.add_parser("entry-files", help="approved bills and journal entries as CSV/XLSX entry "
                                                          "files, for accounting software with no connector")
    entry_files.add_argument("entity_id")
    entry_files.add_argument("--out", required=True, help="the folder to write into")
    entry_files.add_argument("--payables-account", required=True, help="the vendors' control account, e.g. 401000")
    entry_files.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    entry_files.add_argument("--from", dest="date_from", help="documents dated on or after (YYYY-MM-DD)")
    entry_files.add_argument("--to", dest="date_to", help="documents dated on or before (YYYY-MM-DD)")
    entry_files.add_argument("--french", action="store_true", help="';' between columns and a decimal comma")
    demo = commands.add_parser("demo", help="seed and sync the demo entities (what `make demo` runs)")
    demo.add_argument("--airflow", action="store_true", help="seed, then serve the Airflow UI instead")
    quarantine = commands.add_parser("quarantine", help="records held back").add_subparsers(dest="action", required=True)
    listing = quarantine.add_parser("list", help="quarantine entries with every failed expectation")
    listing.add_argument("--entity", help="only this legal entity")
    listing.add_argument("--dataset", help="only this dataset: bills, invoices, bill_payments, reference.account, ...")
    listing.add_argument("--status", choices=("open", "released", "dismissed", "resolved", "all"), default="open",
                         help="which entries (default: open, i.e. held now)")
    release = quarantine.add_parser(
        "release", help="export a held record as it is: a person waives what it fails (only where the "
                        "accounting system would take it, e.g. a due date before the document date)")
    dismiss = quarantine.add_parser("dismiss", help="a record that must never be exported (final until reopened)")
    reopen = quarantine.add_parser("reopen", help="undo a release or a dismissal: check the record again next run")
    for sub in (release, dismiss, reopen):
        sub.add_argument("entity_id")
        sub.add_argument("dataset", help="bills, invoices, credit_notes, journal_entries, bill_payments, "
                                         "customer_payments, reference.<kind>")
        sub.add_argument("record_key", help="the hub id (or the accounting id for reference data)")
    for sub in (release, dismiss):
        sub.add_argument("--reason", required=True, help="why: kept on the entry and in the audit log")
    args = parser.parse_args(argv)

    if args.command == "db":
        from ledgerbridge import settings
        from ledgerbridge.ledger import migrate

        url = settings.ledger_url()
        migrate(url)
        print(f"ledger schema up to date ({_redact(url)})")
        return 0
    if args.command == "registry":
        return _registry_check(args.file)
    if args.command == "entity":
        return _repin(args.entity_id)
    if args.command == "match":
        return _match_files(args)
    if args.command == "review":
        return _review(args)
    if args.command == "entry-files":
        return _entry_files(args)
    if args.command == "sandbox":
        parser.error("which sandbox? `ledgerbridge sandbox qbo --help`, `ledgerbridge sandbox syspro --help`, "
                     "`ledgerbridge sandbox xero --help`, `ledgerbridge sandbox desktop-agent --help` or `ledgerbridge sandbox sftp --help`")
    if args.command == "demo":
        from ledgerbridge.demo import main as demo_main

        return demo_main(airflow_ui=args.airflow)
    if args.command == "quarantine":
        return _quarantine_list(args) if args.action == "list" else _quarantine_decide(args)
    return 2


def _registry_check(path: str | None) -> int:
    from ledgerbridge.registry import RegistryFileError, load_registry

    try:
        registry = load_registry(path)
    except RegistryFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    for entity in registry.entities:
        state = "enabled" if entity.enabled else "disabled"
        print(f"ok    {entity.id}: {entity.name} ({entity.base_currency}, {entity.accounting.kind.value} via "
              f"{entity.accounting.conn_id}, {state})")
    for error in registry.errors:
        print(f"error {error}", file=sys.stderr)
    return 1 if registry.errors else 0


def _match_files(args) -> int:
    import csv

    from ledgerbridge.matching.engine import PartyFileError, Thresholds, match, read_parties

    try:
        hub, accounting = read_parties(args.hub_csv), read_parties(args.accounting_csv)
        thresholds = Thresholds(auto=args.auto, review=args.review)
    except (PartyFileError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    results = match(hub, accounting, thresholds)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("hub_id", "accounting_id", "score", "decision"))
        for result in results:
            linked = result.decision != "none"
            writer.writerow((result.hub_id, result.accounting_id if linked and result.accounting_id else "",
                             f"{result.score:.4f}" if linked else "", result.decision))
    decisions = {d: sum(1 for r in results if r.decision == d) for d in ("auto", "review", "none")}
    print(f"{len(hub)} hub parties against {len(accounting)}: {decisions['auto']} auto, {decisions['review']} "
          f"review, {decisions['none']} none -> {args.out}")
    return 0


def _review(args) -> int:
    import getpass

    from ledgerbridge.ledger import Ledger
    from ledgerbridge.matching import review

    ledger = Ledger()
    actor = f"cli:{getpass.getuser()}"
    try:
        with ledger.session() as session:
            if args.action == "list":
                rows = review.queue(session, args.entity)
                for row in rows:
                    print(review.describe(row))
                print(f"{len(rows)} part{'y' if len(rows) == 1 else 'ies'} in review")
            elif args.action == "confirm":
                print(review.confirm(session, args.entity_id, args.hub_id, args.accounting_id, actor, args.kind))
            else:
                print(review.reject(session, args.entity_id, args.hub_id, actor, args.kind))
    except review.ReviewError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _repin(entity_id: str) -> int:
    import getpass

    from ledgerbridge.context import repin
    from ledgerbridge.ledger import Ledger

    with Ledger().session() as session:
        previous = repin(session, entity_id, actor=f"cli:{getpass.getuser()}")
    print(f"{entity_id}: unpinned from company {previous}; its next run pins the company its connection reaches")
    return 0


def _quarantine_decide(args) -> int:
    import getpass

    from ledgerbridge.ledger import quarantine
    from ledgerbridge.ledger import Ledger
    from ledgerbridge.quality import overridable_expectations

    actor = f"cli:{getpass.getuser()}"
    try:
        with Ledger().session() as session:
            if args.action == "release":
                entry = quarantine.release(session, args.entity_id, args.dataset, args.record_key, actor, args.reason,
                                           overridable_expectations())
                waived = "; ".join(f"{w['expectation']} ({w['field']} {w['value']})" for w in entry.waived)
                done = f"released: waived {waived}; it goes out on the next run unless it fails something else"
            elif args.action == "dismiss":
                quarantine.dismiss(session, args.entity_id, args.dataset, args.record_key, actor, args.reason)
                done = "dismissed: never exported (until reopened)"
            else:
                quarantine.reopen(session, args.entity_id, args.dataset, args.record_key, actor)
                done = "reopened: checked again on the next run"
    except (KeyError, quarantine.DecisionRefused) as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    print(f"{args.entity_id} {args.dataset} {args.record_key}: {done}")
    return 0


def _quarantine_list(args) -> int:
    from sqlalchemy import select

    from ledgerbridge.ledger.quarantine import describe
    from ledgerbridge.ledger import Ledger
    from ledgerbridge.ledger.models import QuarantineEntry
    from ledgerbridge.quality import overridable_expectations

    overridable = overridable_expectations()
    with Ledger().session() as session:
        query = select(QuarantineEntry)
        if args.status != "all":
            query = query.where(QuarantineEntry.status == args.status)
        if args.entity:
            query = query.where(QuarantineEntry.entity_id == args.entity)
        if args.dataset:
            query = query.where(QuarantineEntry.dataset == args.dataset)
        entries = session.scalars(query.order_by(QuarantineEntry.entity_id, QuarantineEntry.dataset,
                                                 QuarantineEntry.record_key)).all()
        for entry in entries:
            print(f"{entry.entity_id}  {entry.dataset}  {entry.record_key}  {entry.status}  since "
                  f"{entry.first_seen_at:%Y-%m-%d %H:%M}, last checked {entry.last_seen_at:%Y-%m-%d %H:%M}")
            for reason in entry.reasons:
                expectation = reason.get("expectation")
                tag = f"[{expectation}{', may be released' if expectation in overridable else ''}] " \
                    if expectation else ""
                print(f"    {tag}{describe(reason)}")
            if entry.decided_by:
                waived = ", waived " + ", ".join(w["expectation"] for w in entry.waived) if entry.waived else ""
                print(f"    {entry.status} by {entry.decided_by}{waived}: {entry.decision_note or ''}".rstrip(": "))
    status = "" if args.status == "all" else f"{args.status} "
    print(f"{len(entries)} {status}quarantine entr{'y' if len(entries) == 1 else 'ies'}")
    return 0


def _entry_files(args) -> int:
    from datetime import date

    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from ledgerbridge import settings
    from ledgerbridge.entryfiles import (
        PLAIN_CSV,
        CsvFormat,
        EntryConfig,
        attachment_names_by_document,
        convert_documents,
        rows_for,
        write_entry_file,
    )
    from ledgerbridge.ledger import Ledger
    from ledgerbridge.ledger.models import Document, DocumentStatus, Party
    from ledgerbridge.registry import load_registry

    entity = load_registry().get(args.entity_id)
    csv_format = CsvFormat.french() if args.french else PLAIN_CSV
    config = EntryConfig(payables_account=args.payables_account, currency=entity.base_currency)
    written = 0
    with Ledger(settings.ledger_url()).session() as session:
        for kind, file_kind in (("bill", "bills"), ("journal_entry", "journal_entries")):
            query = select(Document).where(Document.entity_id == entity.id, Document.kind == kind,
                                           Document.status == DocumentStatus.APPROVED).order_by(Document.doc_date)
            if args.date_from:
                query = query.where(Document.doc_date >= date.fromisoformat(args.date_from))
            if args.date_to:
                query = query.where(Document.doc_date <= date.fromisoformat(args.date_to))
            documents = session.scalars(query.options(selectinload(Document.lines), selectinload(
                Document.party).selectinload(Party.link))).all()
            converted = convert_documents(documents, config, attachment_names_by_document(
                session, entity.id, [d.id for d in documents]))
            for refused in converted.refused:
                print(f"not exported: {refused}", file=sys.stderr)
            if converted.entries:
                path = write_entry_file(args.out, entity.id, file_kind, rows_for(converted.entries),
                                        file_format=args.format, csv_format=csv_format)
                print(f"{len(converted.entries)} {kind.replace('_', ' ')}(s) -> {args.out}/{path}")
                written += 1
    if not written:
        print(f"{entity.id}: no approved bill or journal entry to export")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
