"""Accounting software with no connector, reached by entry files (FEC, CSV, XLSX, IIF, Sage 50).

The accountant's software exports its lists into `<entity>/reference/` (chart of accounts, journals,
tax codes, items, auxiliary accounts of vendors and customers: docs/entry-files.md says the columns);
they are mirrored like any system's lists. Each batch of documents becomes one entry file in
`<entity>/entries/`, in the entity's format, written atomically; its attachments land in
`<entity>/documents/<entry>/`. A vendor or customer it creates is an auxiliary account opened by
the entries naming it.

Exactly once: before a file is written, a manifest in `<entity>/manifests/` names it and the keys
of every record in it; once it is written, a `.written` marker beside the manifest says so. A batch
whose outcome is unknown is looked up there: a marked manifest (or one whose file exists) confirms
its records, even after the accountant moved the file away; a manifest whose file never landed
confirms nothing, and the records go again in a new file.
"""
from __future__ import annotations

import calendar
import csv
import dataclasses
import errno
import hashlib
import io
import json
import logging
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerbridge.connectors.base import (
    KeepsNoExchangeRates,
    Capabilities,
    ChangeSet,
    Created,
    Export,
    Outgoing,
    ReferenceData,
    RemoteDocument,
)
from ledgerbridge.connectors.errors import ConnectorError, OutcomeUnknown, RecordRejected, TransientError
from ledgerbridge.entryfiles import Entry, EntryError, EntryLine, Side
from ledgerbridge.entryfiles.building import EntryBuilder, EntryRules, plain
from ledgerbridge.entryfiles.convert import Declared
from ledgerbridge.entryfiles.fec import fec_file_name, render_fec, validate_fec, validation_order
from ledgerbridge.entryfiles.writer import FILE_EXTENSIONS, check_entry, render_entries, validate
from ledgerbridge.filedrop.files import write_atomic
from ledgerbridge.filedrop.fs import FileSystem, join
from ledgerbridge.filedrop.protocol import file_stamp
from ledgerbridge.registry import EntryFileSettings

log = logging.getLogger(__name__)

FileSystemOpener = Callable[[], AbstractContextManager[FileSystem]]
REFERENCE, ENTRIES, MANIFESTS, DOCUMENTS = "reference", "entries", "manifests", "documents"
FISCAL_YEARS = "fec"  # the full-year FECs
# What became of a fiscal year's FEC (FiscalYearFec.outcome).
FEC_WRITTEN, ALREADY_WRITTEN, WOULD_WRITE = "written", "already written", "would write"
NOT_ENDED, NOT_CLOSED, REFUSED = "not ended", "not closed", "refused"
# The accountant's exports: file and required columns per reference kind (optional: type, active, ...).
REFERENCE_FILES = {
    "account": ("accounts.csv", ("number", "name")),
    "journal_code": ("journals.csv", ("code", "name")),
    "tax_code": ("tax_codes.csv", ("code", "name", "rate", "account")),
    "item": ("items.csv", ("code", "name", "income_account")),
    "vendor": ("vendors.csv", ("code", "name")),
    "customer": ("customers.csv", ("code", "name")),
}
MAX_REFERENCE_BYTES = 64 * 1024 * 1024
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
GONE = "gone"  # a row's digest once it left its file
LIST_STAMPS = "lists.json"  # when each row of the lists was first seen as it is (the change times)
WRITTEN = ".written"  # beside a manifest: its file was written whole (the file's sha256 inside)
ENTRY_KINDS = frozenset({"bill", "invoice", "credit_note", "sales_receipt", "journal_entry", "vendor_credit",
                         "bank_entry", "expense_report"})
AUXILIARY_CODE_LIMIT = 17  # what French packages take for an auxiliary account (Sage: 17)

# The French chart of accounts (PCG) by number, in the mirror's (QuickBooks') account types, for an
# accounts.csv without a type column: the longest prefix wins.
_PCG_TYPES = (("16", "Long Term Liability"), ("17", "Long Term Liability"), ("1", "Equity"), ("2", "Fixed Asset"),
              ("3", "Other Current Asset"), ("40", "Accounts Payable"), ("41", "Accounts Receivable"),
              ("4", "Other Current Liability"), ("5", "Bank"), ("6", "Expense"), ("7", "Income"))


def pcg_account_type(number: str) -> str | None:
    for prefix, account_type in _PCG_TYPES:
        if number.startswith(prefix):
            return account_type
    return None


@dataclasses.dataclass(frozen=True)
class FiscalYearFec:
    """A fiscal year of the entity's entries, and what became of its FEC (`outcome`, one of FEC_WRITTEN,
    ALREADY_WRITTEN, WOULD_WRITE, NOT_ENDED, NOT_CLOSED, REFUSED with its `reason`)."""

    closing_date: date
    opening_date: date
    path: str | None  # <entity>/fec/<SIREN>FEC<YYYYMMDD>.txt, once known
    outcome: str
    entries: int  # in the file; else written dated in the year
    reason: str | None = None


class EntryFilesConnector(KeepsNoExchangeRates):
    """An AccountingConnector writing entry files for the entity's accountant."""

    kind = "entry_files"
    capabilities = Capabilities(
        kinds=ENTRY_KINDS | {"vendor", "customer", "attachment"},
        reference_kinds=tuple(REFERENCE_FILES),
        deletable_kinds=frozenset(REFERENCE_FILES),  # a row gone from the export is gone from the books
        change_capture=True,  # by the stamps of manifests/lists.json
        batch_size=500,
        reads_documents=False,  # a file cannot tell what the accountant's software did with it
        doc_number_limit=35, name_limit=200,
        payment_account_types={"bill_payment": frozenset({"Bank"}), "customer_payment": frozenset({"Bank"})},
    )

    def __init__(self, open_fs: FileSystemOpener, entity_id: str, company_id: str, base_currency: str,
                 settings: EntryFileSettings, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 declared: Callable[[], Declared] | None = None):
        self.open_fs = open_fs
        self.entity_id = entity_id
        self.company_id = company_id
        self.base_currency = base_currency
        self.settings = settings
        self.now = now
        # What the entity's source declared (its journals' names, its parties' auxiliary accounts), read from
        # the ledger once per batch (entryfiles.convert.source_declarations); None: nothing declared.
        self.declared = declared
        self._declarations: Declared | None = None
        self._lists: dict[str, dict[str, ReferenceData]] | None = None
        self._read_at: datetime | None = None
        self._gone: dict[str, list[ReferenceData]] = {}

    # -- reference data in ----------------------------------------------------------------------

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]:
        """The list as the accountant's software last exported it; since a moment, the rows that changed
        after it (a row's time is when a read first saw it as it is: the files carry none)."""
        self._lists = None  # every read reads the files
        yield from _since(self._reference_lists()[kind].values(), since)

    def fetch_changes(self, starts: dict[str, datetime | None], now: datetime) -> ChangeSet:
        """Every row changed since each kind's start, and every row gone from its file since then."""
        self._lists = None
        lists = self._reference_lists()
        return ChangeSet({kind: [*_since(lists[kind].values(), since), *_since(self._gone[kind], since)]
                          for kind, since in starts.items()}, as_of=self._read_at)

    def existing_ids(self, kind: str, external_ids: list[str]) -> set[str]:
        self._lists = None  # a second look reads the files again
        return set(external_ids) & set(self._reference_lists()[kind])

    def server_time(self) -> datetime | None:
        return self._read_at  # when the rows were stamped: the next read starts there

    def warns_on_duplicate_bill_numbers(self) -> bool:
        return False

    def api_calls_left_today(self) -> None:
        return None

    def acknowledge(self) -> int:
        return 0

    def inbound_files(self) -> set[str]:
        return set()

    def fetch_documents(self, kind: str, external_ids: list[str]) -> dict[str, RemoteDocument]:
        return {}  # never asked: capabilities.reads_documents is False

    def _reference_lists(self) -> dict[str, dict[str, ReferenceData]]:
        if self._lists is None:
            with self.open_fs() as fs:
                lists = {kind: self._read_list(fs, kind) for kind in REFERENCE_FILES}
                for _, manifest in self._manifests(fs):
                    opened = manifest.get("auxiliary_account")
                    if opened:  # ours until the accountant's next export lists it
                        lists[opened["kind"]].setdefault(opened["code"], ReferenceData(
                            opened["code"], opened["name"], True, None, number=opened["code"],
                            raw={"code": opened["code"], "name": opened["name"]}))
                self._lists = self._stamped(fs, lists)
            log.info("entry files of %s: reference read (%s)", self.entity_id,
                     ", ".join(f"{len(rows)} {kind}" for kind, rows in self._lists.items()))
        return self._lists

    def _stamped(self, fs: FileSystem, lists: dict[str, dict[str, ReferenceData]]
                 ) -> dict[str, dict[str, ReferenceData]]:
        """Each row with the time a read first saw it as it is now, and each row gone since with the
        time a read first missed it (`self._gone`), kept in `manifests/lists.json`: the change times the
        files do not carry."""
        path = join(self.entity_id, MANIFESTS, LIST_STAMPS)
        try:
            stamps = json.loads(fs.read_bytes(path, MAX_MANIFEST_BYTES)) if fs.exists(path) else {}
        except ValueError:
            stamps = {}  # unreadable: every row counts as changed once
        self._read_at = now = self.now()
        fresh: dict[str, dict[str, list]] = {}
        stamped: dict[str, dict[str, ReferenceData]] = {}
        self._gone = {}
        for kind, rows in lists.items():
            known, fresh[kind], stamped[kind], self._gone[kind] = stamps.get(kind, {}), {}, {}, []
            for code, row in rows.items():
                digest = hashlib.sha256(json.dumps([row.raw, row.active], sort_keys=True).encode()).hexdigest()[:16]
                seen = known[code][1] if code in known and known[code][0] == digest else now.isoformat()
                fresh[kind][code] = [digest, seen, row.name]
                stamped[kind][code] = dataclasses.replace(row, updated_at=datetime.fromisoformat(seen))
            for code, (digest, seen, *name) in known.items():
                if code not in rows:
                    name = name[0] if name else code
                    seen = seen if digest == GONE else now.isoformat()
                    fresh[kind][code] = [GONE, seen, name]
                    self._gone[kind].append(ReferenceData(code, name, False, datetime.fromisoformat(seen),
                                                          deleted=True, number=code))
        if fresh != stamps:
            write_atomic(fs, path, _json(fresh), replace=True)
        return stamped

    def _read_list(self, fs: FileSystem, kind: str) -> dict[str, ReferenceData]:
        name, required = REFERENCE_FILES[kind]
        path = join(self.entity_id, REFERENCE, name)
        if not fs.exists(path):
            if kind == "account":
                raise ConnectorError(f"entry files of {self.entity_id}: {path} is missing: export the chart of "
                                     "accounts of the accounting software there (columns: number, name[, type])")
            return {}
        rows = _csv_rows(fs.read_bytes(path, MAX_REFERENCE_BYTES), path, required)
        records: dict[str, ReferenceData] = {}
        for line, row in rows:
            code = row.get("number" if kind == "account" else "code", "")
            if code in records:
                log.warning("%s line %d: %s %r appears twice: the first is kept", path, line, kind, code)
                continue
            records[code] = _reference(kind, code, row)
        return records

    # -- documents out --------------------------------------------------------------------------

    def payload(self, kind: str, record: Export, key: str) -> dict[str, Any]:
        """The export as plain JSON (money as text): the entry is built when it is sent, against the
        lists as they are then, so that a refusal names what to fix."""
        if kind not in self.capabilities.kinds:
            raise TypeError(f"entry files carry no record of kind {kind!r}")
        return {"key": key, **plain(dataclasses.asdict(record))}

    def create_many(self, items: list[Outgoing], batch_key: str) -> dict[str, Created | Exception]:
        """Each record once: a key a manifest already names is answered with what was written (the
        idempotency key of an API), the rest go in one new file (and beside it)."""
        outcomes: dict[str, Created | Exception] = {}
        entries: list[tuple[Outgoing, Entry]] = []
        parties: list[Outgoing] = []
        attachments: list[Outgoing] = []
        self._lists = None  # the entries are built against the lists as they are now
        self._declarations = None  # and what the source declared, as it is now
        try:
            with self.open_fs() as fs:
                written = self._written(fs)
        except OSError as exc:
            raise TransientError(f"entry files of {self.entity_id}: reading the manifests failed ({exc})") from exc
        for item in items:
            if item.key in written:
                outcomes[item.ref] = Created(written[item.key], adopted=True)
            elif item.kind in ENTRY_KINDS:
                try:
                    entry = self.entry(item.kind, item.payload)
                    # balance, accounts, cents, what the format refuses: a bad entry never stops a file
                    check_entry(entry, self.settings.format)
                    _number_free(entry, [other for _, other in entries])
                except EntryError as exc:
                    outcomes[item.ref] = RecordRejected(str(exc), "entry", exc.problem)
                    continue
                entries.append((item, entry))
            elif item.kind in ("vendor", "customer"):
                parties.append(item)
            else:
                attachments.append(item)
        handed_over = False  # once a manifest names the batch, a failure may leave a file behind
        try:
            with self.open_fs() as fs:
                if entries:
                    data, manifest_path, manifest = self._entry_file(entries, batch_key)
                    write_atomic(fs, manifest_path, _json(manifest))
                    handed_over = True
                    write_atomic(fs, manifest["file"], data)
                    # A marker, not a rewrite of the manifest: replacing a file over SFTP leaves a moment
                    # with neither, and a lost manifest would send its records twice.
                    write_atomic(fs, manifest_path.removesuffix(".json") + WRITTEN, manifest["sha256"].encode())
                    log.info("entry files of %s: %s written (%d entries, %s)", self.entity_id, manifest["file"],
                             len(entries), manifest["format"])
                    outcomes.update({item.ref: Created(manifest["records"][item.key]) for item, _ in entries})
                for item in parties:
                    outcomes[item.ref] = self._open_auxiliary_account(fs, item)
                for item in attachments:
                    outcomes[item.ref] = self._write_document(fs, item)
        except OSError as exc:
            if handed_over:
                raise OutcomeUnknown(f"entry files of {self.entity_id}: writing batch {batch_key} failed midway "
                                     f"({exc}); its manifest tells next time whether the file landed") from exc
            raise TransientError(f"entry files of {self.entity_id}: writing failed ({exc}); written again next "
                                 "run") from exc
        return outcomes

    def find_existing_many(self, items: list[Outgoing]) -> dict[str, Created | Exception]:
        """What the manifests say was written; an attachment is found by its path and checksum."""
        found: dict[str, Created | Exception] = {}
        with self.open_fs() as fs:
            written = self._written(fs)
            for item in items:
                if item.key in written:
                    found[item.ref] = Created(written[item.key], adopted=True)
                elif item.kind == "attachment" and item.content is not None:
                    path = self._document_path(item.payload)
                    if fs.exists(path) and fs.read_bytes(path, len(item.content) + 1) == item.content:
                        found[item.ref] = Created(path, adopted=True)
        return found

    def _written(self, fs: FileSystem) -> dict[str, str]:
        """Record key -> external id of everything a manifest names whose file landed (marked written,
        or there); a manifest whose file never landed names nothing."""
        written = {}
        for path, manifest in self._manifests(fs):
            if manifest["file"] is None or fs.exists(path.removesuffix(".json") + WRITTEN) \
                    or fs.exists(manifest["file"]):
                written.update(manifest["records"])
        return written

    # -- entries --------------------------------------------------------------------------------

    def entry(self, kind: str, payload: dict[str, Any]) -> Entry:
        """The balanced entry of one exported document, as the lists are now (entryfiles.building);
        EntryError names what is wrong."""
        settings = self.settings
        if self._declarations is None:
            self._declarations = self.declared() if self.declared is not None else Declared()
        declared = self._declarations
        rules = EntryRules(settings.payables_account, settings.receivables_account, settings.journal,
                           self.base_currency, settings.closed_through,
                           chart=f"{REFERENCE}/{REFERENCE_FILES['account'][0]}",
                           journal_names=declared.journal_names, auxiliary_accounts=declared.auxiliary_accounts)
        return EntryBuilder(rules, self._lists_of).entry(kind, payload)

    def _lists_of(self, kind: str) -> dict[str, ReferenceData]:
        return self._reference_lists()[kind]

    def _entry_file(self, entries: list[tuple[Outgoing, Entry]], batch_key: str) -> tuple[bytes, str, dict]:
        """The batch's file, rendered and read back, and its manifest (where it goes, which keys it holds)."""
        fmt = self.settings.format
        data = render_entries([entry for _, entry in entries], fmt)
        report = validate(data, fmt)
        if not report.ok:  # what we write must read back: never hand a broken file to an accountant
            raise ConnectorError(f"entry files of {self.entity_id}: the {fmt} file of batch {batch_key} does not "
                                 f"read back: {'; '.join(report.problems[:5])}")
        name = f"{self.entity_id}-{file_stamp(self.now())}-{batch_key[:8]}.{FILE_EXTENSIONS[fmt]}"
        manifest = {"file": join(self.entity_id, ENTRIES, name), "format": fmt, "batch_key": batch_key,
                    "sha256": hashlib.sha256(data).hexdigest(), "entries": len(entries),
                    "records": {item.key: f"{entry.journal_code}-{entry.number}" for item, entry in entries},
                    # The entries as written, whatever the format: the full-year FEC is made of them.
                    "written_entries": {item.key: plain(dataclasses.asdict(entry)) for item, entry in entries}}
        return data, join(self.entity_id, MANIFESTS, f"{name}.json"), manifest

    def _manifests(self, fs: FileSystem) -> Iterator[tuple[str, dict]]:
        directory = join(self.entity_id, MANIFESTS)
        for name in sorted(fs.list(directory)) if fs.exists(directory) else ():
            if not name.endswith(".json") or name == LIST_STAMPS:
                continue
            try:
                yield join(directory, name), json.loads(fs.read_bytes(join(directory, name), MAX_MANIFEST_BYTES))
            except (ValueError, KeyError) as exc:
                log.warning("entry files of %s: manifest %s unreadable (%s): ignored", self.entity_id, name, exc)

    # -- the full-year FEC -----------------------------------------------------------------------

    def fiscal_year_fec(self, closing_date: date, written: list[Entry] | None = None) -> tuple[str, bytes]:
        """The legal FEC of the fiscal year closing on `closing_date`: `<SIREN>FEC<YYYYMMDD>.txt` and
        its bytes, every entry this entity wrote dated in the year, once each, in order of validation,
        numbered 1, 2, ... in that order (A47 A-1: a continuous sequence), read back before it is given.

        The entries come from the manifests, ours, not from the entry files, which the accountant
        may move away or which may be in another format: each manifest whose file landed keeps its
        entries exactly as they were written (docs/entry-files.md, "The full-year FEC"). `written`:
        those entries, already read (`written_entries()`), else they are read now."""
        name, data, _ = self._fiscal_year_fec(closing_date, written)
        return name, data

    def _fiscal_year_fec(self, closing_date: date, written: list[Entry] | None) -> tuple[str, bytes, int]:
        siren = self.settings.siren
        if not siren:
            raise ConnectorError(f"entry files of {self.entity_id}: no SIREN: set accounting.entry_files.siren "
                                 "in the registry, the FEC's file name needs it")
        if closing_date != self.fiscal_year_closing(closing_date):
            raise ConnectorError(f"entry files of {self.entity_id}: closing date {closing_date} is not a fiscal year "
                                 f"end of the entity (entry_files.fiscal_year_end {self.settings.fiscal_year_end})")
        try:
            name = fec_file_name(siren, closing_date)
        except ValueError as exc:  # a SIREN whose check digit is wrong
            raise ConnectorError(f"entry files of {self.entity_id}: accounting.entry_files.siren: {exc}") from None
        opening = self.fiscal_year_opening(closing_date)
        if written is None:
            written = self.written_entries()
        entries = [entry for entry in written if opening <= entry.entry_date <= closing_date]
        if not entries:
            raise ConnectorError(f"entry files of {self.entity_id}: no entry written for the fiscal year "
                                 f"{opening} to {closing_date}")
        entries.sort(key=validation_order)
        try:
            data = render_fec([dataclasses.replace(entry, number=str(number))
                               for number, entry in enumerate(entries, start=1)])
        except EntryError as exc:  # written in another format, it may lack what the FEC requires
            raise ConnectorError(f"entry files of {self.entity_id}: an entry written cannot go into {name}: "
                                 f"{exc}") from None
        report = validate_fec(data, closing_date=closing_date)
        if not report.ok:
            raise ConnectorError(f"entry files of {self.entity_id}: {name} does not read back: "
                                 f"{'; '.join(report.problems[:5])}")
        return name, data, len(entries)

    def write_fiscal_year_fec(self, closing_date: date, written: list[Entry] | None = None, *,
                              dry_run: bool = False) -> FiscalYearFec:
        """Write the full-year FEC in `<entity>/fec/`, atomically (`.part`, then renamed), through the
        entity's own FileSystem (a folder or SFTP). Never twice: a file of that name holding the same
        bytes is `already written`; one holding other bytes is left alone (FileExistsError): the person
        moves it away. A dry run renders and checks it, and writes nothing (`would write`)."""
        name, data, entries = self._fiscal_year_fec(closing_date, written)
        path = join(self.entity_id, FISCAL_YEARS, name)
        with self.open_fs() as fs:
            if fs.exists(path):
                if not _holds(fs, path, data):
                    raise FileExistsError(errno.EEXIST, "holds another file", path)
                outcome = ALREADY_WRITTEN
            elif dry_run:
                outcome = WOULD_WRITE
            else:
                write_atomic(fs, path, data)  # a race to the same bytes is done; to others, FileExistsError
                outcome = FEC_WRITTEN
        log.info("entry files of %s: %s %s (%d entries)", self.entity_id, path, outcome, entries)
        return FiscalYearFec(closing_date, self.fiscal_year_opening(closing_date), path, outcome, entries)

    def fiscal_year_closing(self, day: date) -> date:
        """The last day of the entity's fiscal year holding `day` (entry_files.fiscal_year_end, MM-DD; a
        29 February end is the 28th in other years)."""
        closing = _year_end(day.year, self.settings.fiscal_year_end)
        return closing if day <= closing else _year_end(day.year + 1, self.settings.fiscal_year_end)

    def fiscal_year_opening(self, closing_date: date) -> date:
        return _year_end(closing_date.year - 1, self.settings.fiscal_year_end) + timedelta(days=1)

    def closed_fiscal_years(self, *, dry_run: bool = False) -> list[FiscalYearFec]:
        """Each fiscal year the entity's written entries fall in, oldest first, and what became of its
        FEC: written (or `would write` in a dry run), `already written`, or why not: `not ended`, `not
        closed` (its closing date is after entry_files.closed_through: the accountant has not closed
        it), `refused` (why in `reason`: a file of that name holding other bytes, an entry the FEC cannot
        hold). The manifests are read once; a year with no entry written is not one of them."""
        today = self.now().date()
        closed_through = self.settings.closed_through
        written = self.written_entries()
        years: dict[date, int] = {}
        for entry in written:
            closing = self.fiscal_year_closing(entry.entry_date)
            years[closing] = years.get(closing, 0) + 1
        outcomes = []
        for closing, count in sorted(years.items()):
            opening = self.fiscal_year_opening(closing)
            if closing >= today:
                outcomes.append(FiscalYearFec(closing, opening, None, NOT_ENDED, count))
            elif closed_through is None or closed_through < closing:
                outcomes.append(FiscalYearFec(closing, opening, None, NOT_CLOSED, count))
            else:
                try:
                    outcomes.append(self.write_fiscal_year_fec(closing, written, dry_run=dry_run))
                except ConnectorError as exc:
                    outcomes.append(FiscalYearFec(closing, opening, None, REFUSED, count, str(exc)))
                except FileExistsError as exc:
                    outcomes.append(FiscalYearFec(closing, opening, exc.filename, REFUSED, count,
                                                  f"{exc.filename} already holds another file: move it away "
                                                  "to write the fiscal year again"))
        return outcomes

    def written_entries(self) -> list[Entry]:
        """Each entry a landed manifest holds, once per record key (read now)."""
        with self.open_fs() as fs:
            return self._written_entries(fs)

    def _written_entries(self, fs: FileSystem) -> list[Entry]:
        """Each entry a landed manifest holds, once per record key."""
        entries: dict[str, Entry] = {}
        for path, manifest in self._manifests(fs):
            if manifest.get("file") is None:
                continue  # an auxiliary account opened, no entry
            if not (fs.exists(path.removesuffix(".json") + WRITTEN) or fs.exists(manifest["file"])):
                continue  # its file never landed: its records went again in another file
            if "written_entries" not in manifest:
                raise ConnectorError(f"entry files of {self.entity_id}: manifest {path} was written before "
                                     "manifests kept their entries: its file "
                                     f"{manifest['file']} cannot go into a full-year FEC")
            for key, entry in manifest["written_entries"].items():
                entries.setdefault(key, _entry_from_json(entry))
        return list(entries.values())

    # -- parties and documents ------------------------------------------------------------------

    def auxiliary_code(self, kind: str, hub_id: str, name: str) -> str:
        """The auxiliary account a new vendor or customer gets: the prefix, the name's first letters
        (accents dropped) and the hub id's, so that the accountant recognises it; the hub id keeps two
        apart but for contrived names (a code taken by a party of another name is refused, never shared)."""
        prefix = self.settings.vendor_prefix if kind == "vendor" else self.settings.customer_prefix
        letters = re.sub(r"[^A-Z0-9]", "", unicodedata.normalize("NFKD", name).encode("ascii", "ignore")
                         .decode().upper())
        suffix = re.sub(r"[^A-Z0-9]", "", hub_id.upper())
        room = AUXILIARY_CODE_LIMIT - len(prefix) - len(suffix)
        return f"{prefix}{letters[:max(room, 0)]}{suffix}"[:AUXILIARY_CODE_LIMIT]

    def _open_auxiliary_account(self, fs: FileSystem, item: Outgoing) -> Created | Exception:
        """Opened by the entries that name it; recorded in a manifest so that a second look finds it."""
        payload = item.payload
        # The auxiliary account the source declared for the party, else one made of its name and hub id.
        code = payload.get("auxiliary_account") or self.auxiliary_code(item.kind, payload["hub_id"], payload["name"])
        taken = self._lists_of(item.kind).get(code)
        if taken is not None and (taken.name or "").casefold() != payload["name"].casefold():
            return RecordRejected(f"{item.kind} {payload['hub_id']}: auxiliary account {code} is taken by "
                                  f"{taken.name!r}", "auxiliary_account", "code")
        self._lists_of(item.kind)[code] = ReferenceData(code, payload["name"], True, None, number=code)
        name = f"{self.entity_id}-{item.kind}-{item.key[:8]}.json"
        write_atomic(fs, join(self.entity_id, MANIFESTS, name), _json({
            "file": None, "records": {item.key: code},
            "auxiliary_account": {"kind": item.kind, "code": code, "name": payload["name"]}}))
        return Created(code)

    def _document_path(self, payload: dict) -> str:
        folder = re.sub(r"[^A-Za-z0-9._-]", "_", payload["document_external_id"])
        return join(self.entity_id, DOCUMENTS, folder, posixpath.basename(payload["file_name"]))

    def _write_document(self, fs: FileSystem, item: Outgoing) -> Created | Exception:
        if item.content is None:
            return RecordRejected(f"attachment {item.payload['hub_id']}: no file content", "attachment", "content")
        path = self._document_path(item.payload)
        try:
            write_atomic(fs, path, item.content)
        except FileExistsError:
            return RecordRejected(f"attachment {item.payload['hub_id']}: {path} already holds another file",
                                  "attachment", "file_name")
        return Created(path)


def _number_free(entry: Entry, taken: list[Entry]) -> None:
    """An entry's number is its hub id: two kinds sharing a journal may bring the same one in one file."""
    for other in taken:
        if (other.journal_code, other.number) == (entry.journal_code, entry.number):
            raise EntryError(entry.source, f"entry number {entry.number} is taken in journal {entry.journal_code} "
                                           f"by {other.source} in the same file: give the kinds their own "
                                           "journals (entry_files.journals), then Retry")


def _year_end(year: int, month_day: str) -> date:
    """The fiscal year end `month_day` (MM-DD) in `year`, on the month's last day when it has fewer."""
    month, day = int(month_day[:2]), int(month_day[3:])
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _holds(fs: FileSystem, path: str, data: bytes) -> bool:
    try:
        return fs.read_bytes(path, len(data)) == data
    except OSError:  # larger (FileTooLarge), not a regular file, a symlink: not this file
        return False


def _entry_from_json(data: dict) -> Entry:
    """An entry as a manifest keeps it (`_plain` of the dataclass), back to the dataclass."""
    def day(text: str | None) -> date | None:
        return date.fromisoformat(text) if text else None

    lines = tuple(EntryLine(**{**line, "side": Side(line["side"]), "amount": Decimal(line["amount"]),
                               "foreign_amount": None if line["foreign_amount"] is None
                               else Decimal(line["foreign_amount"])}) for line in data["lines"])
    return Entry(**{**data, "entry_date": day(data["entry_date"]), "reference_date": day(data["reference_date"]),
                    "validated_on": day(data["validated_on"]), "lines": lines,
                    "attachment_names": tuple(data["attachment_names"])})


def _since(rows, since: datetime | None) -> list[ReferenceData]:
    return [row for row in rows if since is None or row.updated_at is None or row.updated_at > since]


def _reference(kind: str, code: str, row: dict[str, str]) -> ReferenceData:
    active = row.get("active", "").strip().lower() not in ("false", "no", "0", "inactive")
    if kind == "account":
        return ReferenceData(code, row["name"], active, None, number=code,
                             account_type=row.get("type") or pcg_account_type(code), raw=row)
    return ReferenceData(code, row["name"], active, None, number=code, email=row.get("email") or None,
                         tax_id=row.get("tax_id") or None, raw=row)


def _csv_rows(data: bytes, path: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a reference export (UTF-8, a BOM accepted, ',' or ';'), each with its line number;
    a row lacking a required value is left out and said (it names the line and the column)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConnectorError(f"{path}: not UTF-8 (byte {exc.start}): export it as UTF-8") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [(name or "").strip().lower() for name in reader.fieldnames or ()]
    missing = [column for column in required if column not in header]
    if missing:
        raise ConnectorError(f"{path}: column(s) {', '.join(missing)} missing (header: {', '.join(header)})")
    reader.fieldnames = header
    rows = []
    for row in reader:
        values = {name: (value or "").strip() for name, value in row.items() if name}
        line = reader.line_num
        empty = [column for column in required if not values.get(column)]
        if empty:
            log.warning("%s line %d: column %s is empty: row left out", path, line, empty[0])
            continue
        if "rate" in required:
            try:
                rate = Decimal(values["rate"].replace(",", "."))
            except InvalidOperation:
                log.warning("%s line %d: column rate %r is not a number: row left out", path, line, values["rate"])
                continue
            if not 0 <= rate < 100:
                log.warning("%s line %d: column rate %s is not a percentage: row left out", path, line, rate)
                continue
            values["rate"] = str(rate)
        rows.append((line, values))
    return rows


def reference_csv(rows: list[dict[str, str]]) -> str:
    """A list as the accountant's software would export it (the columns of its first row), for the
    demo, the tests and a person preparing a folder by hand."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _json(document: dict) -> bytes:
    return json.dumps(document, indent=1, sort_keys=True).encode()
