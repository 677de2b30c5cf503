"""Desktop accounting systems (QuickBooks Desktop, Sage, on-premise ERPs) through the file drop.

Exports become files in `<entity>/to_accounting/<kind>/`, one per batch, written atomically; the
agent beside the accounting system answers each with a confirmation file. Until it has, the outbox
rows stay `sending` (handed over, answer pending). Lists, purchase orders and payments the agent
uploads come in as changes. The protocol: docs/file-drop-protocol.md.

Credit notes, vendor credits and sales receipts (QuickBooks Desktop's CreditMemo, VendorCredit, SalesReceipt)
go to an agent speaking protocol version 4; for an older agent the capabilities leave them out and say why
(`kinds_not_carried`), so such records are held in quarantine with that reason until the connection says 4.
Bank entries (a Check out of the bank account, a Deposit into it) and expense reports (a Check to the payee
when paid from a bank account, else a Bill owed to them) go the same way from protocol version 6.
Attachments (version 2) support bills, invoices and journal entries; from version 7 every kind of entry the drop
carries. For an older agent the capabilities say why a kind's files cannot go (`attachments_not_carried`), so
export_documents keeps them in the ledger unqueued until the connection says 7, then sends them.
An agent of version 8 publishes journal codes in its lists (mirrored as kind journal_code: the code as the name,
the journal's type as account_type) and each vendor's and customer's auxiliary and collective accounts; they are
read from any agent whatever the connection says, as nothing is sent for them.

A foreign document's exchange rate (the source's) goes with it to an agent speaking protocol version 3;
for an older agent the capabilities say it cannot (`rates_not_sent`), so such a document is held in
quarantine with that reason rather than booked at the desktop company's own rate. Without a rate the
agent applies its own (`own_exchange_rates`), as before. To an agent speaking version 5, documents files go
as version 5, and its confirmations say the rate each foreign document was booked at and its home total
(`Created.exchange_rate`, `home_total`): the ledger keeps them on a document that went without a rate.

A file read is moved to processed/ only when `acknowledge()` is called, after the ledger committed
what it said: a crash in between reads it again, and every consumer upserts by key.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ledgerbridge.connectors.base import (
    KeepsNoExchangeRates,
    AttachmentExport,
    Awaiting,
    BankEntryExport,
    BillExport,
    BillPaymentExport,
    Capabilities,
    ChangeSet,
    Created,
    CreditNoteExport,
    CustomerPaymentExport,
    ExpenseReportExport,
    Export,
    InvoiceExport,
    JournalEntryExport,
    LineExport,
    Outgoing,
    ReferenceData,
    RemoteDocument,
    SalesLineExport,
    SalesReceiptExport,
    VendorCreditExport,
)
from ledgerbridge.connectors.errors import (
    ConnectorError,
    RecordRejected,
    TransientError,
)
from ledgerbridge.filedrop.files import (
    ensure_layout,
    move_to,
    reject_file,
    write_atomic,
    write_message,
)
from ledgerbridge.filedrop.fs import FileSystem, join
from ledgerbridge.filedrop.protocol import (
    ATTACHABLE_SINCE,
    ATTACHMENT_FILES,
    ATTACHMENTS_EVERYWHERE_VERSION,
    BOOKED_RATE_KINDS,
    BOOKED_RATES_VERSION,
    CONFIRMATIONS,
    MAX_ATTACHMENT_BYTES,
    PROCESSED,
    REJECTED,
    SUB_LEDGERS_VERSION,
    TO_ACCOUNTING,
    VERSIONS,
    inbox_directory,
    kind_version,
)
from ledgerbridge.filedrop.reader import (
    LEAVE_IN_PLACE,
    InboundMessage,
    Rejection,
    list_inbound,
    read_inbound,
)
from ledgerbridge.filedrop.wire import build_message, wire_rate

log = logging.getLogger(__name__)

FileSystemOpener = Callable[[], AbstractContextManager[FileSystem]]
# What the agent uploads, and the reference kind each record becomes in the mirror.
_LIST_KINDS = {"vendor": "vendor", "customer": "customer", "account": "account", "class": "class",
               "term": "term", "item": "item", "journal_code": "journal_code"}  # journal codes: version 8
_INBOUND = (("from_accounting/lists", "lists"), ("from_accounting/purchase_orders", "purchase_orders"),
            ("from_accounting/payments", "payments"))
_TRANSACTION_KINDS = {"purchase_orders": "purchase_order", "payments_made": "bill_payment",
                      "payments_received": "payment"}
DOC_NUMBER_LIMIT = 20  # QuickBooks Desktop's RefNumber
# Our record kinds -> the protocol's message kinds.
MESSAGE_KINDS = {"bill": "bills", "invoice": "invoices", "journal_entry": "journal_entries",
                 "bill_payment": "payments", "customer_payment": "payments", "attachment": "attachments",
                 "credit_note": "credit_notes", "vendor_credit": "vendor_credits", "sales_receipt": "sales_receipts",
                 "bank_entry": "bank_entries", "expense_report": "expense_reports"}
# Our record kinds a later protocol version added (protocol.KIND_VERSIONS); an older agent is never sent these.
KIND_SINCE = {"attachment": 2, "credit_note": 4, "vendor_credit": 4, "sales_receipt": 4, "bank_entry": 6,
              "expense_report": 6}
VERSION_2_KINDS = frozenset(kind for kind, since in KIND_SINCE.items() if since == 2)
VERSION_4_KINDS = frozenset(kind for kind, since in KIND_SINCE.items() if since == 4)
# Our record kinds whose exchange rate version 3 carries (protocol.FIELD_VERSIONS["exchange_rate"]).
RATED_KINDS = frozenset({"bill", "invoice", "journal_entry", "credit_note", "vendor_credit", "sales_receipt",
                         "bank_entry", "expense_report"})
RATES_VERSION = 3
# Our record kinds that go as a payments message, which no protocol version gives an exchange_rate field.
UNRATED_PAYMENT_KINDS = frozenset(kind for kind, message in MESSAGE_KINDS.items() if message == "payments")
# What QuickBooks Desktop calls each kind versions 4 and 6 added, for the reason an older agent's records are held.
_DESKTOP_OBJECTS = {"credit_note": "CreditMemo", "vendor_credit": "VendorCredit", "sales_receipt": "SalesReceipt",
                    "bank_entry": "Check and Deposit", "expense_report": "Check or Bill"}


def _kinds_carried(version: int) -> frozenset[str]:
    return frozenset(kind for kind in MESSAGE_KINDS if KIND_SINCE.get(kind, 1) <= version)


def _kinds_not_carried(version: int, system: str | None = None) -> dict[str, str]:
    """Why each kind a later version added cannot go to an agent speaking `version`: held, not lost. The
    QuickBooks Desktop object is named when that is the `system` behind the agent."""
    quickbooks = system == "quickbooks_desktop"
    return {kind: (f"the entity's desktop agent speaks file-drop protocol version {version}, which has no "
                   f"{MESSAGE_KINDS[kind]} message (version {since} added it"
                   + (f": QuickBooks Desktop's {_DESKTOP_OBJECTS[kind]}" if quickbooks and kind in _DESKTOP_OBJECTS
                      else "")
                   + f"); once the agent is upgraded, set the connection's extra protocol_version to {since} and the "
                   f"next run sends it")
            for kind, since in KIND_SINCE.items() if since > version}


def _attachments_not_carried(version: int) -> dict[str, str]:
    """Why the files of each kind of entry the agent takes cannot be attached by it (before version 7): kept in
    the ledger, not lost. Empty before version 2 (no attachments at all: Capabilities.attachments says so)."""
    if version < KIND_SINCE["attachment"]:
        return {}
    return {kind: _attachment_upgrade_reason(kind, version, since)
            for kind, since in ATTACHABLE_SINCE.items() if since > version and KIND_SINCE.get(kind, 1) <= version}


def _attachment_upgrade_reason(kind: str, version: int, since: int) -> str:
    return (f"the entity's desktop agent speaks file-drop protocol version {version}, which attaches files to "
            f"{', '.join(k for k, v in ATTACHABLE_SINCE.items() if v <= version)} only (version {since} attaches them "
            f"to a {kind} too); once the agent is upgraded, set the connection's extra protocol_version to {since} "
            f"and the next run sends it")


def _rates_not_sent(version: int) -> dict[str, str]:
    """Why a rate cannot go with each kind to an agent speaking `version`: none before version 3, and never with a
    payment (no version carries a payment's rate: the desktop company books it at its own)."""
    reasons = {kind: "the file-drop protocol carries no exchange rate on a payment (no version does), so the desktop "
                     "company would book it at its own rate"
               for kind in UNRATED_PAYMENT_KINDS}
    if version < RATES_VERSION:
        reasons.update({kind: (
            f"the entity's desktop agent speaks file-drop protocol version {version}, which carries no exchange "
            f"rate (version {RATES_VERSION} does), so the desktop company would book its own rate; once the agent "
            f"is upgraded, set the connection's extra protocol_version to {RATES_VERSION} and the next run sends it")
            for kind in RATED_KINDS})
    return reasons


class FileDropConnector(KeepsNoExchangeRates):
    """An AccountingConnector over the file drop; `kind` names the system behind the agent."""

    capabilities = Capabilities(
        kinds=_kinds_carried(1),  # no vendors or customers; attachments from version 2, credit notes... from 4
        kinds_not_carried=_kinds_not_carried(1),
        reference_kinds=("account", "vendor", "customer", "class", "term", "item", "journal_code", "purchase_order",
                         "bill_payment", "payment"),  # journal codes: what an agent of version 8 publishes
        batch_size=500,  # records per file: ~1 MiB, well under the reader's 8 MiB limit
        changes_only=True,  # the agent uploads changes; a missing record is not a deleted one
        reads_documents=False,  # documents cannot be read back; balances arrive as payments
        own_exchange_rates=True,  # a multicurrency desktop company books at its own rate for the day
        rates_not_sent=_rates_not_sent(1),  # a source's rate goes from protocol version 3 (see __init__)
        attachments=False, doc_number_limit=DOC_NUMBER_LIMIT, doc_number_required=True, name_limit=41,
        acknowledges=True, inbound_files=True)

    def __init__(self, open_fs: FileSystemOpener, entity_id: str, company_id: str, kind: str = "quickbooks_desktop",
                 max_bytes: int | None = None, protocol_version: int = 1):
        """`protocol_version`: the newest the entity's agent speaks (the connection's extra
        `protocol_version`); version 2 adds attachments, version 3 exchange rates, version 4 credit notes, vendor
        credits and sales receipts, version 5 the booked rate in confirmations, version 6 bank entries and expense
        reports, version 7 attachments to every kind of entry, version 8 journal codes and parties' auxiliary
        accounts in the agent's lists (read whatever this says: nothing goes out for them). Every message goes out
        in the oldest version that carries it (protocol.message_version), except that documents files go as
        version 5 to an agent speaking it: that asks its answer for the rate it booked."""
        if protocol_version not in VERSIONS or isinstance(protocol_version, bool):
            raise ValueError(f"protocol_version {protocol_version!r} is not a file-drop protocol version (this "
                             f"connector speaks {', '.join(map(str, VERSIONS))}; 2 for an agent taking attachments, "
                             f"{RATES_VERSION} for one also taking exchange rates, 4 for one also taking credit notes, "
                             f"vendor credits and sales receipts, {BOOKED_RATES_VERSION} for one also answering the "
                             f"rate it booked, 6 for one also taking bank entries and expense reports, "
                             f"{ATTACHMENTS_EVERYWHERE_VERSION} for one also attaching files to every kind of entry, "
                             f"{SUB_LEDGERS_VERSION} for one also publishing journal codes and auxiliary accounts)")
        self.capabilities = replace(FileDropConnector.capabilities, kinds=_kinds_carried(protocol_version),
                                    kinds_not_carried=_kinds_not_carried(protocol_version, kind),
                                    attachments=protocol_version >= 2, rates_not_sent=_rates_not_sent(protocol_version),
                                    attachments_not_carried=_attachments_not_carried(protocol_version))
        self.protocol_version = protocol_version
        self.open_fs = open_fs
        self.entity_id = entity_id
        self.company_id = company_id
        self.kind = kind
        self.max_bytes = max_bytes
        self._read: set[str] = set()  # files whose content the caller has yet to commit

    # -- reference data in ----------------------------------------------------------------------

    def fetch_changes(self, starts: dict[str, datetime | None], now: datetime) -> ChangeSet:
        """Every record the agent uploaded and nobody acknowledged yet, for the kinds of `starts` (the
        starts themselves are not needed: the files are the changes).

        Only a file all of whose records were handed over is consumed by `acknowledge()`; one that also
        carries other kinds stays for the read that asks for them."""
        changes: dict[str, list[ReferenceData]] = {kind: [] for kind in starts}
        with self.open_fs() as fs:
            ensure_layout(fs, self.entity_id)
            for directory, _ in _INBOUND:
                for path, message in self._read_inbox(fs, directory):
                    refs = [_reference(message.kind, record) for record in message.records]
                    for kind, ref in refs:
                        if kind in changes:
                            changes[kind].append(ref)
                    if all(kind in changes for kind, _ in refs):
                        self._read.add(path)
        return ChangeSet(changes)

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]:
        yield from self.fetch_changes({kind: since}, datetime.now(UTC)).changes[kind]

    def existing_ids(self, kind: str, external_ids: list[str]) -> set[str]:
        return set(external_ids)  # never asked: its lists arrive as changes, never in full

    def server_time(self) -> None:
        return None

    def warns_on_duplicate_bill_numbers(self) -> bool:
        return True  # QuickBooks Desktop refuses a vendor's bill number twice

    def api_calls_left_today(self) -> None:
        return None

    def acknowledge(self) -> int:
        """Move every file read so far to processed/: what it said is committed in the ledger."""
        moved = 0
        with self.open_fs() as fs:
            for path in sorted(self._read):
                try:
                    move_to(fs, path, join(self.entity_id, PROCESSED))
                    moved += 1
                except FileNotFoundError:
                    pass  # a concurrent run (the inbound DAG) consumed it first: same content, same upserts
        self._read.clear()
        return moved

    def inbound_files(self) -> set[str]:
        """Ready files waiting for us (uploads and confirmations): what the real-time watcher polls."""
        with self.open_fs() as fs:
            return {path for directory in (*(d for d, _ in _INBOUND), CONFIRMATIONS)
                    for path in list_inbound(fs, join(self.entity_id, directory))}

    # -- documents out --------------------------------------------------------------------------

    def payload(self, kind: str, record: Export, key: str) -> dict[str, Any]:
        build = _BUILDERS.get(kind)
        if build is None or kind not in self.capabilities.kinds:
            raise TypeError(f"the file drop cannot carry a record of kind {kind!r} "
                            f"(protocol version {self.protocol_version})")
        body = {"key": key, **build(record)}
        rate = getattr(record, "exchange_rate", None) if kind in RATED_KINDS else None
        if rate is not None:
            if self.protocol_version < RATES_VERSION:
                # The documents suite holds such a document (exchange_rate_known, capabilities.rates_not_sent);
                # one reaching here bypassed it, and is refused rather than sent without its rate.
                raise ValueError(f"{kind} {record.hub_id}: carries exchange rate {rate}, which the agent (file-drop "
                                 f"protocol version {self.protocol_version}) cannot take; it is never sent without it")
            body["exchange_rate"] = wire_rate(rate)
        return body

    def create_many(self, items: list[Outgoing], batch_key: str) -> dict[str, Created | ConnectorError | Awaiting]:
        """One file per kind for the batch; every record then awaits the agent's confirmation."""
        outcomes: dict[str, Created | ConnectorError | Awaiting] = {}
        by_kind: dict[str, list[Outgoing]] = {}
        for item in items:
            refusal = self._attachment_refusal(item) if item.kind == "attachment" else self._rate_refusal(item)
            if refusal is not None:
                outcomes[item.ref] = refusal
                continue
            by_kind.setdefault(MESSAGE_KINDS[item.kind], []).append(item)
        try:
            with self.open_fs() as fs:
                ensure_layout(fs, self.entity_id)
                for kind, group in by_kind.items():
                    records = [item.payload for item in group]
                    if kind == "attachments":
                        # The bytes first: the agent never sees a message whose file is missing.
                        records = [self._write_attachment_file(fs, item) for item in group]
                    message = build_message(kind, entity_id=self.entity_id, company_id=self.company_id,
                                            batch_key=batch_key, records=records, created_at=datetime.now(UTC),
                                            protocol_version=self._version_asking_rates(kind))
                    path = write_message(fs, self.entity_id, message)
                    outcomes.update({item.ref: Awaiting(path) for item in group})
        except OSError as exc:
            # A file that did land is harmless to send again: the agent answers a known key with
            # "duplicate" and the original id.
            raise TransientError(f"file drop of {self.entity_id}: upload failed ({exc}); sent again next run") from exc
        return outcomes

    def _version_asking_rates(self, message_kind: str) -> int | None:
        """Version 5 for a documents file to an agent speaking it (its answer then says the rate each foreign
        document was booked at); None: the oldest version the file needs, as before."""
        if self.protocol_version >= BOOKED_RATES_VERSION and message_kind in BOOKED_RATE_KINDS:
            return max(BOOKED_RATES_VERSION, kind_version(message_kind))  # a kind newer than 5 goes in its own
        return None

    def _attachment_refusal(self, item: Outgoing) -> RecordRejected | None:
        return _attachment_refusal(item, self.protocol_version)

    def _rate_refusal(self, item: Outgoing) -> RecordRejected | None:
        """A payload holding a rate (queued while the connection said version 3) for an agent now said to speak
        an older version: it would refuse the whole file, or drop the rate. Refused alone, saying why."""
        if "exchange_rate" not in item.payload or self.protocol_version >= RATES_VERSION:
            return None
        return RecordRejected(f"{item.kind} {item.key}: carries exchange_rate {item.payload['exchange_rate']}, but "
                              f"the connection now says the agent speaks protocol version {self.protocol_version}, "
                              f"which has no exchange rate; set protocol_version {RATES_VERSION} again and retry it",
                              "protocol_version", "exchange_rate")

    def find_existing_many(self, items: list[Outgoing]) -> dict[str, Created | RecordRejected | Awaiting]:
        """What the agent said about each item (its confirmation), or that its file still waits."""
        wanted = {item.key: item.ref for item in items}
        found: dict[str, Created | RecordRejected | Awaiting] = {}
        with self.open_fs() as fs:
            for path, message in self._read_inbox(fs, CONFIRMATIONS):
                self._read.add(path)
                for key, outcome in self._answers(fs, message).items():
                    if key in wanted:
                        found[wanted[key]] = outcome
            for kind in {MESSAGE_KINDS[item.kind] for item in items}:
                for path, keys in self._waiting_files(fs, kind):
                    for key in keys & wanted.keys():
                        found.setdefault(wanted[key], Awaiting(path))
        return found

    def _write_attachment_file(self, fs: FileSystem, item: Outgoing) -> dict[str, Any]:
        """Upload a document's bytes under its key's name; the record completed with size and checksum.

        The same key always carries the same bytes, so a re-send rewrites (or finds) the same file."""
        content = item.content or b""
        record = {**item.payload, "file": f"{item.key}.bin", "size": len(content),
                  "sha256": hashlib.sha256(content).hexdigest()}
        write_atomic(fs, join(self.entity_id, ATTACHMENT_FILES, record["file"]), content, replace=True)
        return record

    def fetch_documents(self, kind: str, external_ids: list[str]) -> dict[str, RemoteDocument]:
        return {}  # never asked: capabilities.reads_documents is False

    # -- files ----------------------------------------------------------------------------------

    def _read_inbox(self, fs: FileSystem, directory: str) -> Iterator[tuple[str, InboundMessage]]:
        """Sound files of an inbox, by path; a bad one goes to rejected/ with its reason and blocks
        nothing. The caller marks what `acknowledge()` may consume."""
        for path in list_inbound(fs, join(self.entity_id, directory)):
            options = {"max_bytes": self.max_bytes} if self.max_bytes else {}
            result = read_inbound(fs, path, entity_id=self.entity_id, company_id=self.company_id, **options)
            if isinstance(result, Rejection):
                if result.code not in LEAVE_IN_PLACE:
                    reject_file(fs, path, result, join(self.entity_id, REJECTED))
                log.warning("file drop of %s: %s %s", self.entity_id, path,
                            "left in place" if result.code in LEAVE_IN_PLACE else f"rejected: {result}")
                continue
            for note in result.notes:
                log.info("file drop of %s: %s %s", self.entity_id, path, note)
            yield path, result

    def _answers(self, fs: FileSystem, message: InboundMessage) -> dict[str, Created | RecordRejected]:
        """key -> outcome of one confirmation file."""
        error = message.envelope.get("file_error")
        if error:
            # The whole file was refused: every record in it is, with the file's reason.
            refused = _file_keys(fs, self.entity_id, message.envelope["in_reply_to"])
            reason = error.get("message") or error.get("reason") or "file refused by the agent"
            return {key: RecordRejected(f"the agent refused the whole file: {reason}", error.get("code"),
                                        error.get("field")) for key in refused}
        answers: dict[str, Created | RecordRejected] = {}
        for record in message.records:
            if record["status"] in ("confirmed", "duplicate"):
                # The booked rate and home total (version 5, both or neither: the reader checked them).
                answers[record["key"]] = Created(record["external_id"], adopted=record["status"] == "duplicate",
                                                 exchange_rate=record.get("exchange_rate"),
                                                 home_total=record.get("home_total"))
            else:
                problem = record.get("error") or {}
                answers[record["key"]] = RecordRejected(
                    f"{problem.get('message', 'refused by the agent')} [field {problem.get('field')}]",
                    problem.get("code"), problem.get("field"))
        return answers

    def _waiting_files(self, fs: FileSystem, kind: str) -> Iterator[tuple[str, set[str]]]:
        """Our files the agent has not consumed yet, with the keys they carry."""
        for path in list_inbound(fs, join(self.entity_id, inbox_directory(kind))):
            result = read_inbound(fs, path, entity_id=self.entity_id, company_id=self.company_id)
            if not isinstance(result, Rejection):
                yield path, {record["key"] for record in result.records}


def _file_keys(fs: FileSystem, entity_id: str, in_reply_to: dict) -> set[str]:
    """The record keys of a to_accounting file the agent refused whole (it lies in rejected/)."""
    for directory in (REJECTED, PROCESSED, join(TO_ACCOUNTING, in_reply_to["kind"])):
        path = join(entity_id, directory, in_reply_to["file"])
        if fs.exists(path):
            result = read_inbound(fs, path, entity_id=entity_id, strict=False)
            if not isinstance(result, Rejection):
                return {record["key"] for record in result.records if isinstance(record, dict) and "key" in record}
            return _keys_in_raw(fs, path)
    return set()


def _keys_in_raw(fs: FileSystem, path: str) -> set[str]:
    """Keys in a file too broken to parse as a message: our keys are UUIDs, found by their shape."""
    text = fs.read_bytes(path, 64 * 1024 * 1024).decode("utf-8", errors="replace")
    return set(re.findall(r'"key"\s*:\s*"([0-9a-f-]{36})"', text))


# -- records in ----------------------------------------------------------------------------------

def _reference(message_kind: str, record: dict) -> tuple[str, ReferenceData]:
    modified = record.get("modified_at")
    updated = datetime.fromisoformat(modified) if modified else None
    if message_kind == "lists":
        kind = _LIST_KINDS[record["list_type"]]
        if kind == "journal_code":
            # Version 8: the mirror finds a journal by its code (CodeIndex: number, then name), so the code is the
            # name; the journal's label stays in raw["name"], its type in account_type.
            return kind, ReferenceData(external_id=record["key"], name=record["code"], active=record["active"],
                                       updated_at=updated, number=None, account_type=record["journal_type"],
                                       raw=record)
        return kind, ReferenceData(
            external_id=record["key"], name=record["name"], active=record["active"], updated_at=updated,
            number=record.get("number"), account_type=_account_type(record.get("account_type")),
            email=record.get("email"), tax_id=record.get("tax_id"), currency=record.get("currency"),
            # Version 8: a vendor's or customer's auxiliary (sub-ledger) account, and the ListID of the collective
            # payables/receivables account it rolls up to.
            auxiliary_account=record.get("auxiliary_account"),
            collective_account=(record.get("collective_account") or {}).get("external_id"), raw=record)
    kind = _TRANSACTION_KINDS[message_kind]
    party = record.get("vendor") or record.get("customer") or {}
    return kind, ReferenceData(
        external_id=record["key"], name=record.get("po_number") or record.get("reference"), active=True,
        updated_at=updated, number=record.get("po_number") or record.get("reference"),
        party_external_id=party.get("external_id"), currency=record.get("currency"), raw=record)


def _account_type(desktop_type: str | None) -> str | None:
    """QuickBooks Desktop's "AccountsPayable" in the mirror's vocabulary ("Accounts Payable")."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", desktop_type) if desktop_type else None


# -- records out ---------------------------------------------------------------------------------

def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _ref(external_id: str) -> dict[str, str]:
    return {"external_id": external_id}


def _optional(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _expense_lines(lines: tuple[LineExport, ...]) -> list[dict[str, Any]]:
    """Account lines (bills, vendor credits: bills.json#/$defs/line)."""
    return [{"account": _ref(line.account_id), "amount": _money(line.amount),
             **_optional(description=line.description, **({"class": _ref(line.class_id)} if line.class_id else {}))}
            for line in lines]


def _bill(bill: BillExport) -> dict[str, Any]:
    return {"vendor": _ref(bill.vendor_id), "bill_number": bill.doc_number, "txn_date": bill.doc_date.isoformat(),
            "currency": bill.currency, "lines": _expense_lines(bill.lines), "total": _money(bill.total),
            **_optional(due_date=bill.due_date.isoformat() if bill.due_date else None, memo=bill.memo)}


def _vendor_credit(credit: VendorCreditExport) -> dict[str, Any]:
    """QuickBooks Desktop's VendorCredit: the reverse of a bill, by account; never due."""
    return {"vendor": _ref(credit.vendor_id), "credit_number": credit.doc_number,
            "txn_date": credit.doc_date.isoformat(), "currency": credit.currency,
            "lines": _expense_lines(credit.lines), "total": _money(credit.total), **_optional(memo=credit.memo)}


def _sales_lines(lines: tuple[SalesLineExport, ...]) -> list[dict[str, Any]]:
    """Item lines (invoices, credit notes, sales receipts: invoices.json#/$defs/line)."""
    return [{"item": _ref(line.item_id), "amount": _money(line.amount),
             **_optional(quantity=str(line.quantity) if line.quantity is not None else None,
                         unit_price=str(line.unit_price) if line.unit_price is not None else None,
                         description=line.description),
             **({"class": _ref(line.class_id)} if line.class_id else {})}
            for line in lines]


def _invoice(invoice: InvoiceExport) -> dict[str, Any]:
    return {"customer": _ref(invoice.customer_id), "invoice_number": invoice.doc_number,
            "txn_date": invoice.doc_date.isoformat(), "currency": invoice.currency,
            "lines": _sales_lines(invoice.lines), "total": _money(invoice.total),
            **_optional(due_date=invoice.due_date.isoformat() if invoice.due_date else None, memo=invoice.memo)}


def _credit_note(credit_note: CreditNoteExport) -> dict[str, Any]:
    """QuickBooks Desktop's CreditMemo: what the customer is credited, by item; never due."""
    return {"customer": _ref(credit_note.customer_id), "credit_note_number": credit_note.doc_number,
            "txn_date": credit_note.doc_date.isoformat(), "currency": credit_note.currency,
            "lines": _sales_lines(credit_note.lines), "total": _money(credit_note.total),
            **_optional(memo=credit_note.memo)}


def _sales_receipt(receipt: SalesReceiptExport) -> dict[str, Any]:
    """QuickBooks Desktop's SalesReceipt: a sale paid on the spot; without a deposit account, Undeposited Funds."""
    return {"customer": _ref(receipt.customer_id), "receipt_number": receipt.doc_number,
            "txn_date": receipt.doc_date.isoformat(), "currency": receipt.currency,
            "lines": _sales_lines(receipt.lines), "total": _money(receipt.total),
            **({"deposit_account": _ref(receipt.deposit_account_id)} if receipt.deposit_account_id else {}),
            **_optional(memo=receipt.memo)}


def _bank_entry(entry: BankEntryExport) -> dict[str, Any]:
    """QuickBooks Desktop's Check (out: paid from the bank account, expense lines) or Deposit (in: into it, lines
    from the counterpart accounts); the vendor or customer named is the Check's payee, each Deposit line's name."""
    return {"direction": entry.direction, "bank_account": _ref(entry.bank_account_id),
            "txn_date": entry.doc_date.isoformat(), "currency": entry.currency,
            "lines": _expense_lines(entry.lines), "total": _money(entry.total),
            **({"entity": _ref(entry.party_id)} if entry.party_id else {}),
            **_optional(entry_number=entry.doc_number, memo=entry.memo)}  # a statement line may have no number


def _expense_report(report: ExpenseReportExport) -> dict[str, Any]:
    """Paid from a bank account: a Check to the payee; without one, owed: a Bill to the payee (the agent tells
    them apart by bank_account alone)."""
    return {"payee": _ref(report.payee_id), "report_number": report.doc_number,
            "txn_date": report.doc_date.isoformat(), "currency": report.currency,
            "lines": _expense_lines(report.lines), "total": _money(report.total),
            **({"bank_account": _ref(report.bank_account_id)} if report.bank_account_id else {}),
            **_optional(memo=report.memo)}


def _journal_entry(entry: JournalEntryExport) -> dict[str, Any]:
    lines = [{"account": _ref(line.account_id), line.posting_type.lower(): _money(line.amount),
              **_optional(description=line.description), **({"class": _ref(line.class_id)} if line.class_id else {})}
             for line in entry.lines]
    return {"txn_date": entry.doc_date.isoformat(), "currency": entry.currency, "lines": lines,
            **_optional(journal_number=entry.doc_number, memo=entry.memo)}


def _bill_payment(payment: BillPaymentExport) -> dict[str, Any]:
    return {"payment_type": "bill_payment", "vendor": _ref(payment.vendor_id), "bank_account": _ref(payment.bank_account_id),
            "txn_date": payment.payment_date.isoformat(), "currency": payment.currency,
            "amount": _money(payment.amount),
            "applications": [{"bill": {"external_id": a.document_external_id}, "amount": _money(a.amount)}
                             for a in payment.applied],
            **_optional(reference=payment.reference)}


def _customer_payment(payment: CustomerPaymentExport) -> dict[str, Any]:
    if payment.deposit_account_id is None:
        raise ValueError(f"customer payment {payment.hub_id}: the file drop needs a deposit_account")
    return {"payment_type": "customer_payment", "customer": _ref(payment.customer_id),
            "bank_account": _ref(payment.deposit_account_id), "txn_date": payment.payment_date.isoformat(),
            "currency": payment.currency, "amount": _money(payment.amount),
            "applications": [{"invoice": {"external_id": a.document_external_id}, "amount": _money(a.amount)}
                             for a in payment.applied],
            **_optional(reference=payment.reference)}


def _attachment(attachment: AttachmentExport) -> dict[str, Any]:
    """The document it supports named as every attachment names it: its kind (the protocol's document_type is our
    record kind) and its TxnID. Size, checksum and the bytes' file name are added when the bytes are written
    (create_many), where one the agent cannot attach (a kind its version does not) is refused alone."""
    return {"document_type": attachment.document_kind,
            "document": {"external_id": attachment.document_external_id},
            "file_name": attachment.file_name,
            "content_type": attachment.content_type.split(";")[0].strip().lower()}  # no "; charset=" parameters


FILE_NAME = re.compile(r"(?!\.\.?$)[^/\\\x00-\x1f\x7f]{1,200}")  # attachments.json#/$defs/attachment/file_name
CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def _attachment_refusal(item: Outgoing, version: int) -> RecordRejected | None:
    """What the agent's schema would refuse, refused here for this record alone (not its whole file)."""
    document_type = item.payload["document_type"]
    since = ATTACHABLE_SINCE.get(document_type)
    if since is None:
        return RecordRejected(f"attachment {item.payload['file_name']!r}: the file drop attaches files to "
                              f"{', '.join(ATTACHABLE_SINCE)} only (attachments.json), not to a {document_type}; "
                              "attach it in the accounting system by hand", "attachment", "document_type")
    if since > version:
        # Not queued for such an agent (capabilities.attachments_not_carried); one queued while the connection
        # said 7 and sent after it said less is refused alone, saying what makes it go.
        return RecordRejected(f"attachment {item.payload['file_name']!r}: "
                              f"{_attachment_upgrade_reason(document_type, version, since)}",
                              "protocol_version", "document_type")
    if not FILE_NAME.fullmatch(item.payload["file_name"]):
        return RecordRejected(f"attachment {item.payload['file_name']!r}: a file name of 1 to 200 characters "
                              "without '/', a backslash or control characters is needed", "attachment", "file_name")
    if not CONTENT_TYPE.fullmatch(item.payload["content_type"]):
        return RecordRejected(f"attachment {item.payload['file_name']!r}: content type "
                              f"{item.payload['content_type']!r} is not a MIME type", "attachment", "content_type")
    if not item.content:
        return RecordRejected(f"attachment {item.payload['file_name']!r}: no file content", "attachment", "content")
    if len(item.content) > MAX_ATTACHMENT_BYTES:
        return RecordRejected(f"attachment {item.payload['file_name']!r}: {len(item.content)} bytes is over the file "
                              f"drop's limit of {MAX_ATTACHMENT_BYTES} bytes per document", "too_large", "content")
    return None


_BUILDERS = {"bill": _bill, "invoice": _invoice, "journal_entry": _journal_entry, "bill_payment": _bill_payment,
             "customer_payment": _customer_payment, "attachment": _attachment, "credit_note": _credit_note,
             "vendor_credit": _vendor_credit, "sales_receipt": _sales_receipt, "bank_entry": _bank_entry,
             "expense_report": _expense_report}
