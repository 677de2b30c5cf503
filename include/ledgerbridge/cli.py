"""`ledgerbridge` command line: ledger migrations, registry check, sandboxes, the demo, quarantine."""
from __future__ import annotations

import argparse
import re
import sys
from contextlib import contextmanager
from datetime import date

# `ledgerbridge sandbox <name> ...`: each sandbox parses its own options.
SANDBOXES = {
    "qbo": "ledgerbridge.sandbox.qbo",
    "syspro": "ledgerbridge.sandbox.syspro",
    "xero": "ledgerbridge.sandbox.xero",
    "desktop-agent": "ledgerbridge.sandbox.desktop.runner",
    "sftp": "ledgerbridge.sandbox.sftp.runner",
}
SANDBOX_HELP = ", ".join(f"`ledgerbridge sandbox {name} --help`" for name in SANDBOXES)


class CommandError(Exception):
    """A mistake in what was asked (an unknown entity or dataset, a ledger not set up): the message
    is the whole answer."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"] and argv[1:2] and argv[1] in SANDBOXES:
        from importlib import import_module

        return import_module(SANDBOXES[argv[1]]).main(argv[2:])
    if argv[:2] == ["entry-files", "fec-year"]:  # no entity id has a '-': the name is free
        return _fec_year(argv[2:])

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
    matcher.add_argument("--out", required=True, type=_file_in_a_folder, help="pairs CSV: hub_id,accounting_id,score,decision")
    matcher.add_argument("--auto", type=_threshold, default=0.90, help="auto-link threshold (default 0.90)")
    matcher.add_argument("--review", type=_threshold, default=0.80,
                         help="review threshold, at most --auto (default 0.80)")
    review = commands.add_parser("review", help="the party review queue").add_subparsers(dest="action", required=True)
    review_list = review.add_parser("list", help="parties waiting for a person, with their candidates")
    review_list.add_argument("--entity", dest="entity_id", help="only this legal entity")
    confirm = review.add_parser("confirm", help="link a hub party to an accounting party (final)")
    reject = review.add_parser("reject", help="say a hub party matches none of its candidates and keep it out of the "
                                              "accounting system: its documents wait (final)")
    create = review.add_parser("create", help="say a hub party matches none of its candidates: the next run creates "
                                              "it in the accounting system (final)")
    for sub in (confirm, reject, create):
        sub.add_argument("entity_id")
        sub.add_argument("hub_id", help="the hub party's id (vendor or customer)")
        sub.add_argument("--kind", choices=("vendor", "customer"), help="when the id exists for both kinds")
    confirm.add_argument("accounting_id", help="the accounting system's id of the party")
    refused = commands.add_parser("rejected", help="records the accounting system refused").add_subparsers(
        dest="action", required=True)
    refused_list = refused.add_parser("list", help="refused records with the accounting system's error")
    refused_list.add_argument("--entity", dest="entity_id", help="only this legal entity")
    retry = refused.add_parser("retry", help="send a refused record again after a fix: the next run checks it again "
                                             "and sends it once, with a new idempotency key")
    retry.add_argument("entity_id")
    retry.add_argument("outbox_id", type=int, help="its outbox number (`ledgerbridge rejected list` shows it)")
    sandbox = commands.add_parser("sandbox", help=f"sandboxes: {SANDBOX_HELP}")
    sandbox.add_argument("name", nargs="?", help=", ".join(SANDBOXES))
    entry_files = commands.add_parser("entry-files", help="approved documents of every kind (bills, invoices, "
                                                          "credit notes, bank entries, ...) as CSV/XLSX entry "
                                                          "files, for accounting software with no connector; "
                                                          "`ledgerbridge entry-files fec-year --help`: the legal "
                                                          "full-year FEC of an entry-files entity")
    entry_files.add_argument("entity_id")
    entry_files.add_argument("--out", required=True, type=_folder, help="the folder to write into")
    entry_files.add_argument("--payables-account", required=True, help="the vendors' control account, e.g. 401000")
    entry_files.add_argument("--receivables-account", help="the customers' control account, e.g. 411000 (invoices, "
                                                           "credit notes and sales receipts need it)")
    entry_files.add_argument("--income-account", help="where a sales line goes when --item-account names none for "
                                                      "its item, e.g. 706000")
    entry_files.add_argument("--item-account", dest="item_accounts", action="append", type=_item_account, default=[],
                             metavar="ITEM=ACCOUNT", help="the income account of an item's sales lines (repeatable)")
    entry_files.add_argument("--tax-code", dest="tax_codes", action="append", type=_tax_code, default=[],
                             metavar="CODE=RATE:ACCOUNT", help="a tax code's rate (percent) and the account its tax "
                                                               "goes to, e.g. TVA20=20:445710 (repeatable)")
    entry_files.add_argument("--journal", dest="journals", action="append", type=_journal, default=[],
                             metavar="KIND=CODE", help="the journal of a kind, e.g. invoice=VE (repeatable; default "
                                                       "bill and vendor_credit PUR, journal_entry OD, the others as "
                                                       "an entry-files entity's)")
    entry_files.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    entry_files.add_argument("--from", dest="date_from", type=_date, help="documents dated on or after (YYYY-MM-DD)")
    entry_files.add_argument("--to", dest="date_to", type=_date, help="documents dated on or before (YYYY-MM-DD)")
    entry_files.add_argument("--french", action="store_true", help="';' between columns and a decimal comma")
    demo = commands.add_parser("demo", help="seed and sync the demo entities (what `make demo` runs)")
    demo.add_argument("--airflow", action="store_true", help="seed, then serve the Airflow UI instead")
    quarantine = commands.add_parser("quarantine", help="records held back").add_subparsers(dest="action", required=True)
    listing = quarantine.add_parser("list", help="quarantine entries with every failed expectation")
    listing.add_argument("--entity", dest="entity_id", help="only this legal entity")
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
        sub.add_argument("dataset", help="bills, invoices, credit_notes, sales_receipts, journal_entries, vendor_credits, "
                                         "bank_entries, expense_reports, bill_payments, "
                                         "customer_payments, reference.<kind>")
        sub.add_argument("record_key", help="the hub id (or the accounting id for reference data)")
    for sub in (release, dismiss):
        sub.add_argument("--reason", required=True, help="why: kept on the entry and in the audit log")
    args = parser.parse_args(argv)
    if args.command == "sandbox":
        sandbox.error(f"no sandbox {args.name!r}: known are {', '.join(SANDBOXES)} (`ledgerbridge sandbox <name> "
                      "--help` says what each takes)" if args.name else f"which sandbox? {SANDBOX_HELP}")
    if args.command == "match" and args.review > args.auto:
        matcher.error(f"--review {args.review} is above --auto {args.auto}: the review band lies below the "
                     "auto-link threshold")
    if args.command == "entry-files" and args.date_from and args.date_to and args.date_from > args.date_to:
        entry_files.error(f"--from {args.date_from} is after --to {args.date_to}: no document is dated in between")
    if args.command == "entry-files" and args.receivables_account == args.payables_account:
        entry_files.error(f"--receivables-account {args.receivables_account} is also the payables account: vendors' "
                          "and customers' balances would be one")
    for option, pairs in (("--item-account", "item_accounts"), ("--tax-code", "tax_codes"), ("--journal", "journals")):
        named = [key for key, _ in getattr(args, pairs, ())]
        twice = sorted({key for key in named if named.count(key) > 1})
        if twice:
            entry_files.error(f"{option} {', '.join(twice)} given twice: which one?")
    from sqlalchemy.exc import OperationalError

    said = f"ledgerbridge {args.command} {getattr(args, 'action', '')}".rstrip()
    try:
        return _run(args)
    except _refusals() as exc:
        print(f"{said}: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the ledger went away or stayed locked mid-command: nothing was committed
        print(f"{said}: the ledger did not answer ({str(exc.orig).strip()}): its unfinished change was rolled "
              "back; run it again", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.command == "db":
        from ledgerbridge import settings
        from ledgerbridge.ledger import migrate

        url = settings.ledger_url()
        with _reaching(url):
            migrate(url)
        print(f"ledger schema up to date ({_redact(url)})")
        return 0
    if args.command == "registry":
        return _registry_check(args.file)
    if args.command == "match":
        return _match_files(args)
    if args.command == "demo":
        from ledgerbridge.demo import main as demo_main

        return demo_main(airflow_ui=args.airflow)
    ledger = _open_ledger()
    with ledger.session() as session:
        if args.entity_id:
            _check_entity(session, args.entity_id)
    if getattr(args, "dataset", None):
        _check_dataset(args.dataset)
    if args.command == "entity":
        return _repin(ledger, args.entity_id)
    if args.command == "review":
        return _review(ledger, args)
    if args.command == "entry-files":
        return _entry_files(ledger, args)
    if args.command == "rejected":
        return _rejected(ledger, args)
    return _quarantine_list(ledger, args) if args.action == "list" else _quarantine_decide(ledger, args)


def _refusals() -> tuple[type[Exception], ...]:
    """The core's errors that speak to the person at the command line: shown as they are, exit 1."""
    from ledgerbridge.context import RepinRefused
    from ledgerbridge.flows.outbox import RetryRefused
    from ledgerbridge.ledger.quarantine import DecisionRefused
    from ledgerbridge.matching.engine import PartyFileError
    from ledgerbridge.matching.review import ReviewError
    from ledgerbridge.registry import RegistryFileError

    return CommandError, DecisionRefused, PartyFileError, RegistryFileError, RepinRefused, RetryRefused, ReviewError


# -- options: argparse names the option and shows the usage when one of these refuses a value -------

def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        why = f" ({exc})" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else ""  # e.g. month must be in 1..12
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD{why}") from None


def _threshold(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is None or not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a score above 0 and at most 1, e.g. 0.85")
    return number


def _key_value(value: str, what: str) -> tuple[str, str]:
    key, equals, rest = value.partition("=")
    if not equals or not key.strip() or not rest.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not {what}")
    return key.strip(), rest.strip()


def _item_account(value: str) -> tuple[str, str]:
    return _key_value(value, "ITEM=ACCOUNT, e.g. PAIN-50=701000")


def _tax_code(value: str):
    from decimal import Decimal, InvalidOperation

    from ledgerbridge.entryfiles import TaxCode

    code, rest = _key_value(value, "CODE=RATE:ACCOUNT, e.g. TVA20=20:445710")
    rate, colon, account = rest.partition(":")
    try:
        percent = Decimal(rate.strip())
    except InvalidOperation:
        percent = Decimal(-1)
    if not colon or not account.strip() or not percent.is_finite() or not 0 <= percent < 100:
        raise argparse.ArgumentTypeError(f"{value!r} is not CODE=RATE:ACCOUNT with a rate in percent (0 to 100) and "
                                         "an account, e.g. TVA20=20:445710")
    return code, TaxCode(percent, account.strip())


def _journal(value: str) -> tuple[str, str]:
    from ledgerbridge.registry import DEFAULT_JOURNALS

    kind, code = _key_value(value, "KIND=CODE, e.g. invoice=VE")
    if kind not in DEFAULT_JOURNALS:
        raise argparse.ArgumentTypeError(f"{value!r}: no document kind {kind!r}; entry files carry "
                                         f"{', '.join(DEFAULT_JOURNALS)}")
    if not re.fullmatch(r"[A-Z0-9]{1,8}", code):
        raise argparse.ArgumentTypeError(f"{value!r}: a journal code is 1 to 8 capital letters or digits")
    return kind, code


def _folder(value: str) -> str:
    from pathlib import Path

    if not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is not a folder (create it first)")
    return value


def _file_in_a_folder(value: str) -> str:
    from pathlib import Path

    folder = Path(value).parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r}: no folder {str(folder)!r} to write it in")
    if Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a folder: name the file to write")
    return value


# -- names the ledger or the registry must know ------------------------------------------------------

def _open_ledger():
    """The ledger, reachable and with this version's schema, or a CommandError saying what to do."""
    from ledgerbridge import settings
    from ledgerbridge.connection_checks import ledger_schema
    from ledgerbridge.ledger import Ledger

    url = settings.ledger_url()
    with _reaching(url):
        ready, message = ledger_schema(url)
    if not ready:
        raise CommandError(message)
    return Ledger(url)


@contextmanager
def _reaching(url: str):
    """A ledger that cannot be reached, or a URL that cannot be used, becomes a CommandError naming it."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    try:
        yield
    except OperationalError as exc:
        raise CommandError(f"cannot reach the ledger {_redact(url)}: {str(exc.orig).strip()}") from None
    except (ArgumentError, ImportError) as exc:  # no such dialect, or its driver is not installed
        raise CommandError(f"cannot use the ledger URL {_redact(url)} (LEDGERBRIDGE_DB_URL): {exc}") from None


def _check_entity(session, entity_id: str) -> None:
    """An entity of the registry, or one the ledger has data of (it may have left the registry since)."""
    from sqlalchemy import select

    from ledgerbridge.ledger.models import LegalEntityRow
    from ledgerbridge.registry import load_registry

    registry = load_registry()
    known = {entity.id for entity in registry.entities} | {error.entity_id for error in registry.errors
                                                            if error.entity_id}
    known |= set(session.scalars(select(LegalEntityRow.id)))
    if entity_id not in known:
        raise CommandError(_unknown("legal entity", entity_id, sorted(known)))


def _check_dataset(dataset: str) -> None:
    from ledgerbridge.sources.records import quarantine_datasets

    known = quarantine_datasets()
    if dataset not in known:
        raise CommandError(_unknown("dataset", dataset, known))


def _unknown(what: str, name: str, known: list[str] | tuple[str, ...]) -> str:
    from difflib import get_close_matches

    guess = get_close_matches(name, known, n=1)
    return (f"no {what} {name!r}" + (f" (did you mean {guess[0]!r}?)" if guess else "")
            + f"; known are: {', '.join(known) or 'none'}")


def _registry_check(path: str | None) -> int:
    from ledgerbridge.registry import RegistryFileError, load_registry

    try:
        registry = load_registry(path)
    except RegistryFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    for entity in registry.entities:
        state = "enabled" if entity.enabled else "disabled"
        runs = f"full run {entity.schedule} UTC" if entity.schedule else "manual runs only"
        if entity.exports_in_realtime:
            runs = f"exports every minute, {runs}"
        print(f"ok    {entity.id}: {entity.name} ({entity.base_currency}, {entity.accounting.kind.value} via "
              f"{entity.accounting.conn_id}, {runs}, {state})")
    for error in registry.errors:
        print(f"error {error}", file=sys.stderr)
    return 1 if registry.errors else 0


def _match_files(args) -> int:
    import csv

    from ledgerbridge.matching.engine import Thresholds, match, read_parties

    skipped: list[str] = []
    hub, accounting = read_parties(args.hub_csv, skipped), read_parties(args.accounting_csv, skipped)
    for problem in skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    results = match(hub, accounting, Thresholds(auto=args.auto, review=args.review))
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("hub_id", "accounting_id", "score", "decision"))
        for result in results:
            linked = result.decision != "none"
            writer.writerow((result.hub_id, result.accounting_id if linked and result.accounting_id else "",
                             f"{result.score:.4f}" if linked else "", result.decision))
    decisions = {d: sum(1 for r in results if r.decision == d) for d in ("auto", "review", "none")}
    left_out = f" ({len(skipped)} row(s) left out: see above)" if skipped else ""
    print(f"{len(hub)} hub parties against {len(accounting)}: {decisions['auto']} auto, {decisions['review']} "
          f"review, {decisions['none']} none -> {args.out}{left_out}")
    return 0


def _review(ledger, args) -> int:
    import getpass

    from ledgerbridge.matching import review

    actor = f"cli:{getpass.getuser()}"
    with ledger.session() as session:
        if args.action == "list":
            rows = review.queue(session, args.entity_id)
            for row in rows:
                print(review.describe(row))
            print(f"{len(rows)} part{'y' if len(rows) == 1 else 'ies'} in review")
        elif args.action == "confirm":
            print(review.confirm(session, args.entity_id, args.hub_id, args.accounting_id, actor, args.kind))
        elif args.action == "create":
            print(review.create_new(session, args.entity_id, args.hub_id, actor, args.kind,
                                    creates_parties=_creates_parties(args.entity_id)))
        else:
            print(review.reject(session, args.entity_id, args.hub_id, actor, args.kind))
    return 0


def _creates_parties(entity_id: str) -> bool:
    from ledgerbridge.registry import load_registry

    try:
        return load_registry().get(entity_id).creates_parties
    except KeyError:
        return True  # no longer in the registry: its next run (if any) decides


def _rejected(ledger, args) -> int:
    import getpass

    from ledgerbridge.flows import outbox
    from ledgerbridge.ledger.paging import MAX_PAGE

    with ledger.session() as session:
        if args.action == "retry":
            print(outbox.retry(session, args.entity_id, args.outbox_id, f"cli:{getpass.getuser()}"))
            return 0
        shown = 0
        while True:
            page = outbox.rejected_page(session, args.entity_id, offset=shown, limit=MAX_PAGE)
            for refused in page.items:
                row = refused.as_dict()
                what = "to be retried on the next run" if row["state"] == "retry" else (
                    f"retry: ledgerbridge rejected retry {row['entity_id']} {row['outbox_id']}" if row["retryable"]
                    else f"no retry: {row['retry_blocked']}")
                print(f"{row['entity_id']}  #{row['outbox_id']}  {row['record_key']}  {row['operation']}  "
                      f"{row['attempts']} attempt(s)\n    {row['error']}\n    {what}")
            shown += len(page.items)
            if not page.items or shown >= page.total:
                break
    print(f"{shown} refused record{'' if shown == 1 else 's'}")
    return 0


def _repin(ledger, entity_id: str) -> int:
    import getpass

    from ledgerbridge.context import repin

    with ledger.session() as session:
        previous = repin(session, entity_id, actor=f"cli:{getpass.getuser()}")
    unpinned = f"unpinned from company {previous}" if previous else "was pinned to no company"
    print(f"{entity_id}: {unpinned}; its next run pins the company its connection reaches")
    return 0


def _quarantine_decide(ledger, args) -> int:
    import getpass

    from ledgerbridge.ledger import quarantine
    from ledgerbridge.quality import overridable_expectations

    with ledger.session() as session:
        done = quarantine.decide(session, args.entity_id, args.dataset, args.record_key, args.action,
                                 f"cli:{getpass.getuser()}", getattr(args, "reason", None), overridable_expectations())
    print(done)
    return 0


def _quarantine_list(ledger, args) -> int:
    from ledgerbridge.ledger.paging import MAX_PAGE
    from ledgerbridge.ledger.quarantine import listing
    from ledgerbridge.quality import overridable_expectations

    shown, overridable = 0, overridable_expectations()
    with ledger.session() as session:
        while True:
            page = listing(session, args.entity_id, overridable, args.status, args.dataset, offset=shown,
                           limit=MAX_PAGE)
            for held in page.items:
                _print_held(held.as_dict())
            shown += len(page.items)
            if not page.items or shown >= page.total:
                break
    status = "" if args.status == "all" else f"{args.status} "
    print(f"{shown} {status}quarantine entr{'y' if shown == 1 else 'ies'}")
    return 0


def _print_held(entry: dict) -> None:
    print(f"{entry['entity_id']}  {entry['dataset']}  {entry['record_key']}  {entry['status']}  since "
          f"{entry['first_seen_at'][:16].replace('T', ' ')}, last checked {entry['last_seen_at'][:16].replace('T', ' ')}")
    for reason in entry["reasons"]:
        expectation = reason["expectation"]
        tag = f"[{expectation}{', may be released' if reason['overridable'] else ''}] " if expectation else ""
        print(f"    {tag}{reason['message']}")
    if entry["decided_by"]:
        waived = ", waived " + ", ".join(w["expectation"] for w in entry["waived"]) if entry["waived"] else ""
        print(f"    {entry['status']} by {entry['decided_by']}{waived}: {entry['decision_note'] or ''}".rstrip(": "))


def _entry_files(ledger, args) -> int:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from ledgerbridge.entryfiles import (
        PLAIN_CSV,
        CsvFormat,
        EntryConfig,
        attachment_names_by_document,
        convert_documents,
        default_party_code,
        rows_for,
        write_entry_file,
    )
    from ledgerbridge.entryfiles.convert import mirrored_auxiliary_accounts, source_declarations
    from ledgerbridge import kinds
    from ledgerbridge.ledger.models import Document, DocumentStatus, Party
    from ledgerbridge.registry import load_registry

    try:
        entity = load_registry().get(args.entity_id)
    except KeyError as exc:  # in the ledger, but not (or no longer validly) in the registry
        raise CommandError(exc.args[0]) from None
    csv_format = CsvFormat.french() if args.french else PLAIN_CSV
    source = entity.source
    written = 0
    with ledger.session() as session:
        # CompAuxNum: the hub party's declared auxiliary account, else the mirror's; JournalLib: a declared journal's name.
        mirrored = mirrored_auxiliary_accounts(session, entity.id)
        config = EntryConfig(payables_account=args.payables_account, receivables_account=args.receivables_account,
                             currency=entity.base_currency, journals=dict(args.journals),
                             party_code=lambda party: default_party_code(party, mirrored),
                             income_account=args.income_account, item_accounts=dict(args.item_accounts),
                             tax_codes=dict(args.tax_codes),
                             amounts_include_tax=source.amounts_include_tax if source else False,
                             journal_names=source_declarations(session, entity.id).journal_names)
        for kind in kinds.documents():  # every kind the DAG posts, one file each
            query = select(Document).where(Document.entity_id == entity.id, Document.kind == kind.ledger_kind,
                                           Document.status == DocumentStatus.APPROVED).order_by(Document.doc_date)
            if args.date_from:
                query = query.where(Document.doc_date >= args.date_from)
            if args.date_to:
                query = query.where(Document.doc_date <= args.date_to)
            documents = session.scalars(query.options(selectinload(Document.lines), selectinload(
                Document.party).selectinload(Party.link))).all()
            converted = convert_documents(documents, config, attachment_names_by_document(
                session, entity.id, [d.id for d in documents]))
            for refused in converted.refused:
                print(f"not exported: {refused}", file=sys.stderr)
            if converted.entries:
                path = write_entry_file(args.out, entity.id, kind.dataset, rows_for(converted.entries),
                                        file_format=args.format, csv_format=csv_format)
                print(f"{len(converted.entries)} {kind.label}(s) -> {args.out}/{path}")
                written += 1
    if not written:
        print(f"{entity.id}: no approved document to export")
    return 0


def _fec_year(argv: list[str]) -> int:
    """`ledgerbridge entry-files fec-year`: the legal FEC of a fiscal year, from what the entity wrote."""
    parser = argparse.ArgumentParser(
        prog="ledgerbridge entry-files fec-year",
        description="Write <SIREN>FEC<closing date>.txt into <entity>/fec/ of the entity's entry files (its "
                    "connection's folder or SFTP server, or --folder): every entry the entry-files entity wrote "
                    "dated in the fiscal year, once, in order of validation, numbered, read back "
                    "(docs/entry-files.md).")
    parser.add_argument("--entity", dest="entity_id", required=True, help="an entity of kind entry_files")
    parser.add_argument("--closing-date", required=True, type=_date, help="the fiscal year's last day (YYYY-MM-DD)")
    parser.add_argument("--folder", type=_folder,
                        help="a local folder holding the entity's directory (a copy of its entry files); without "
                             "it, the entity's own connection (accounting.conn_id, read through Airflow: its "
                             "local_root, or its SFTP server)")
    args = parser.parse_args(argv)
    from paramiko import SSHException

    from ledgerbridge.connectors.errors import ConnectorError
    from ledgerbridge.connectors.factory import ConnectionSettingsError
    from ledgerbridge.filedrop.sftp import HostKeyRefused

    try:
        print(_write_fec_year(args))
    except (CommandError, ConnectorError, ConnectionSettingsError) as exc:
        print(f"ledgerbridge entry-files fec-year: {exc}", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"ledgerbridge entry-files fec-year: {exc.filename or exc} already holds another file: move it "
              "away to write the fiscal year again", file=sys.stderr)
        return 1
    except (OSError, HostKeyRefused, SSHException) as exc:  # the folder or the SFTP server: unreachable, refused
        print(f"ledgerbridge entry-files fec-year: the entry files of {args.entity_id} could not be read or "
              f"written: {exc}", file=sys.stderr)
        return 1
    return 0


def _write_fec_year(args) -> str:
    from ledgerbridge.connectors.factory import ConnectionSettings, entry_files
    from ledgerbridge.registry import load_registry

    try:
        entity = load_registry().get(args.entity_id)
    except KeyError as exc:
        raise CommandError(exc.args[0]) from None
    if entity.accounting.entry_files is None:
        raise CommandError(f"{entity.id} is not an entry-files entity (accounting kind "
                           f"{entity.accounting.kind.value}): its books are kept in that system")
    if args.folder:
        conn, where = ConnectionSettings(entity.accounting.conn_id, extra={"local_root": str(args.folder)}), args.folder
    else:
        conn = _airflow_connection(entity.accounting.conn_id)
        where = conn.extra.get("local_root") or f"sftp://{conn.host}:{conn.port or 22}/{conn.extra.get('root') or ''}"
    fec = entry_files(entity, conn).write_fiscal_year_fec(args.closing_date)
    return (f"{entity.id}: fiscal year {fec.opening_date} to {fec.closing_date}, {fec.entries} entries -> "
            f"{str(where).rstrip('/')}/{fec.path} ({fec.outcome})")


def _airflow_connection(conn_id: str):
    """An Airflow connection as the core's ConnectionSettings, read as the DAG's tasks read it (environment
    variable AIRFLOW_CONN_<ID>, secrets backend, metadata database) by Airflow's own command: the core never
    imports Airflow. What it prints holds the connection's secrets: parsed here, never shown."""
    import json
    import subprocess

    from ledgerbridge.connectors.factory import ConnectionSettings

    command = [sys.executable, "-m", "airflow", "connections", "get", conn_id, "--output", "json"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandError(f"connection {conn_id!r} could not be read through Airflow ({exc}): give --folder") from None
    found = None
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("[{"):
            try:
                found = json.loads(line)[0]
            except (ValueError, IndexError, KeyError):
                found = None
            break
    if result.returncode != 0 or not isinstance(found, dict):
        said = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no answer"])[-1]
        if "No module named airflow" in result.stderr:
            said = "Airflow is not installed here"
        raise CommandError(f"connection {conn_id!r} could not be read through Airflow ({said[:300]}): define it "
                           "where the workers read it (Admin -> Connections, or AIRFLOW_CONN_"
                           f"{conn_id.upper()}), run this where Airflow's settings are, or give --folder")
    try:
        port = int(found["port"]) if found.get("port") not in (None, "", "None") else None
    except (TypeError, ValueError):
        raise CommandError(f"connection {conn_id!r}: port {found['port']!r} is not a number") from None
    return ConnectionSettings(conn_id=conn_id, host=found.get("host") or None, login=found.get("login") or None,
                              password=found.get("password") or None, schema=found.get("schema") or None,
                              extra=found.get("extra_dejson") or {}, port=port)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL: not shown, it may hold a password)"


if __name__ == "__main__":
    sys.exit(main())
