"""The desktop agent: consumes to_accounting/ files, answers in confirmations/, uploads its lists.
It speaks protocol version 8 unless told an older one (`protocol_version`, what it publishes in): attachments
(version 2), their bytes checked by size and SHA-256, are stored once against a bill, invoice or journal entry,
from version 7 against any kind of entry below; a document's
exchange_rate (version 3) is the rate it is booked at, else the company's own applies;
credit notes, vendor credits and sales receipts (version 4) become CreditMemo, VendorCredit and SalesReceipt;
the confirmation of a version-5 documents file says the rate each foreign document was booked at and its
home total (version 5), an older file's never does (its writer's reader would refuse the fields); bank entries
become a Check (money out) or a Deposit (money in), expense reports a Check to the payee (paid from a bank
account) or a Bill owed to them (version 6); a company keeping sub-ledgers publishes its journal codes and its
parties' auxiliary and collective accounts (version 8), which an agent told an older version leaves out.

Per file, in this order, so a crash anywhere loses nothing and creates nothing twice:
records applied -> state saved -> confirmation written -> input moved to processed/. A crash
before the move means the file is read again, and every record comes back "duplicate".
"""
from __future__ import annotations

import hashlib
import logging
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from ledgerbridge.filedrop import (
    CONFIRMATIONS,
    FileTooLarge,
    DEFAULT_MAX_BYTES,
    LEAVE_IN_PLACE,
    PROCESSED,
    REJECTED,
    TO_ACCOUNTING_KINDS,
    FileSystem,
    InboundMessage,
    Rejection,
    build_message,
    ensure_layout,
    inbox_directory,
    join,
    list_inbound,
    move_to,
    parse_file_name,
    read_inbound,
    reject_file,
    write_message,
)
from ledgerbridge.filedrop.protocol import (
    ATTACHMENT_FILES,
    BOOKED_RATE_KINDS,
    BOOKED_RATES_VERSION,
    MAX_ATTACHMENT_BYTES,
    PROTOCOL_VERSION,
    VERSIONS,
    kind_version,
)

from .books import Answer, answer, rejected
from .company import DesktopCompany
from .publish import mark_published, publish_messages

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")  # common.json#/$defs/key
log = logging.getLogger("ledgerbridge.sandbox.desktop")

# Bills and invoices before the payments that may apply to them, and the documents attached to them,
# in the same poll.
PROCESSING_ORDER = ("bills", "invoices", "credit_notes", "vendor_credits", "sales_receipts", "bank_entries",
                    "expense_reports", "journal_entries", "payments", "attachments")
assert set(PROCESSING_ORDER) == set(TO_ACCOUNTING_KINDS)


@dataclass
class FileOutcome:
    path: str
    status: str  # processed | rejected | skipped
    counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    moved_to: str | None = None
    confirmation: str | None = None


class DesktopAgent:
    def __init__(self, company: DesktopCompany, state_file: str | Path | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, protocol_version: int = PROTOCOL_VERSION) -> None:
        """`protocol_version`: the version the agent declares it speaks, which decides what it publishes (from 8,
        journal codes and parties' auxiliary accounts); what it is sent it reads in any version."""
        if protocol_version not in VERSIONS or isinstance(protocol_version, bool):
            raise ValueError(f"protocol_version {protocol_version!r}: the agent speaks {', '.join(map(str, VERSIONS))}")
        self.company, self.state_file, self.max_bytes = company, state_file, max_bytes
        self.protocol_version = protocol_version

    def save(self) -> None:
        if self.state_file is not None:
            self.company.save(self.state_file)

    # --- to_accounting -> books -> confirmations ---------------------------------------------

    def process(self, fs: FileSystem, entity_root: str) -> list[FileOutcome]:
        """Consume every ready file (never a `.part`) in the entity's to_accounting inboxes."""
        ensure_layout(fs, entity_root)
        outcomes = []
        for kind in PROCESSING_ORDER:
            for path in list_inbound(fs, join(entity_root, inbox_directory(kind))):
                outcomes.append(self.process_file(fs, entity_root, path))
        return outcomes

    def process_file(self, fs: FileSystem, entity_root: str, path: str) -> FileOutcome:
        result = read_inbound(fs, path, self.max_bytes, entity_id=self.company.entity_id,
                              company_id=self.company.company_id, strict=False)
        if isinstance(result, Rejection):
            return self._reject(fs, entity_root, path, result)
        answers = [self._answer(fs, entity_root, result, index, record) for index, record in enumerate(result.records)]
        self.save()
        confirmation = self._confirm(fs, entity_root, result.name, result.kind, result.batch_key,
                                     records=[a.as_record() for a in answers],
                                     protocol_version=result.envelope["protocol_version"])
        if result.kind == "attachments":
            self._consume_attachment_files(fs, entity_root, result.records)
        moved = move_to(fs, path, join(entity_root, PROCESSED))
        counts = {status: sum(a.status == status for a in answers) for status in ("confirmed", "duplicate", "rejected")}
        log.info("%s: %s; moved to %s", path, _summary(counts, answers), moved)
        return FileOutcome(path, "processed", counts, moved_to=moved, confirmation=confirmation)

    def _answer(self, fs: FileSystem, entity_root: str, message: InboundMessage, index: int, record: dict) -> Answer:
        problems = message.problems_of(index)
        if problems:  # the record broke the schema: refused alone, the rest of the file goes on
            first = problems[0]
            return rejected(_usable_key(record, index), index, first.field or f"/records/{index}",
                            first.code, first.reason if len(problems) == 1 else
                            f"{first.reason} (and {len(problems) - 1} more problem(s))")
        if message.kind == "attachments":
            return self._attach(fs, entity_root, index, record)
        answered = answer(self.company, message.kind, record, index)
        if message.envelope["protocol_version"] >= BOOKED_RATES_VERSION and message.kind in BOOKED_RATE_KINDS:
            return answered.with_booked_rate(self.company)
        return answered

    def _attach(self, fs: FileSystem, entity_root: str, index: int, record: dict) -> Answer:
        """Store one document against its transaction, once: a known key is answered from memory, so a
        re-sent message whose bytes were consumed already is still a duplicate."""
        key, pointer = record["key"], f"/records/{index}"
        if self.company.created_by_key(key) is not None:
            return answer(self.company, "attachments", record, index)  # duplicate, or key_reused
        found = self.company.supported_document(record["document_type"], record["document"])
        if found is None:
            return rejected(key, index, f"{pointer}/document", "unknown_reference",
                            f"no {record['document_type']} {record['document']} in the company file to attach "
                            f"{record['file_name']!r} to")
        txn_type, document = found
        path = join(entity_root, ATTACHMENT_FILES, record["file"])
        try:
            content = fs.read_bytes(path, MAX_ATTACHMENT_BYTES)
        except FileNotFoundError:
            return rejected(key, index, f"{pointer}/file", "missing_file",
                            f"{record['file']} is not in {ATTACHMENT_FILES}/: write the bytes before the message")
        except FileTooLarge:
            return rejected(key, index, f"{pointer}/file", "too_large",
                            f"{record['file']} is over the limit of {MAX_ATTACHMENT_BYTES} bytes per document")
        if len(content) != record["size"]:
            return rejected(key, index, f"{pointer}/size", "size_mismatch",
                            f"{record['file']} holds {len(content)} bytes; the message says {record['size']}")
        digest = hashlib.sha256(content).hexdigest()
        if digest != record["sha256"]:
            return rejected(key, index, f"{pointer}/sha256", "checksum_mismatch",
                            f"{record['file']} has SHA-256 {digest}; the message says {record['sha256']}")
        attachment_id = self.company.attach(txn_type, document["txn_id"], record["file_name"],
                                            record["content_type"], content, created_from=record)
        return Answer(key, index, "confirmed", attachment_id)

    def _consume_attachment_files(self, fs: FileSystem, entity_root: str, records: list) -> None:
        """The bytes a message named go to processed/ with it (a re-send writes them again)."""
        for record in records:
            name = record.get("file") if isinstance(record, dict) else None
            path = join(entity_root, ATTACHMENT_FILES, name) if isinstance(name, str) and "/" not in name else None
            if path is not None and fs.exists(path):
                move_to(fs, path, join(entity_root, PROCESSED))

    def _reject(self, fs: FileSystem, entity_root: str, path: str, rejection: Rejection) -> FileOutcome:
        if rejection.code in LEAVE_IN_PLACE:
            log.warning("%s: skipped, %s", path, rejection.reason)
            return FileOutcome(path, "skipped", reason=rejection.reason)
        name = parse_file_name(posixpath.basename(path))
        confirmation = None
        if name is not None and name.kind in TO_ACCOUNTING_KINDS:
            # Answer first, then move: LedgerBridge learns the file's fate even if we crash in between.
            confirmation = self._confirm(fs, entity_root, posixpath.basename(path), name.kind, name.batch_key,
                                         records=[], file_error=_file_error(rejection),
                                         protocol_version=kind_version(name.kind))
        moved = reject_file(fs, path, rejection, join(entity_root, REJECTED), now=self.company.clock())
        log.warning("%s: rejected, %s; moved to %s", path, rejection.reason, moved)
        return FileOutcome(path, "rejected", reason=rejection.reason, moved_to=moved, confirmation=confirmation)

    def _confirm(self, fs: FileSystem, entity_root: str, file_name: str, kind: str, batch_key: str,
                 records: list[dict], **extra) -> str:
        message = build_message(CONFIRMATIONS, entity_id=self.company.entity_id, company_id=self.company.company_id,
                                batch_key=batch_key, records=records, created_at=self.company.clock(),
                                in_reply_to={"file": file_name, "kind": kind, "batch_key": batch_key}, **extra)
        return write_message(fs, entity_root, message)

    # --- books -> from_accounting ------------------------------------------------------------

    def publish_lists(self, fs: FileSystem, entity_root: str, full: bool = False) -> dict[str, int]:
        """Upload what changed since the last publication (everything when full=True, or when the agent's version
        rose since: what the older one left out goes then); record counts."""
        ensure_layout(fs, entity_root)
        messages = publish_messages(self.company, full=full, version=self.protocol_version)
        for message in messages:
            write_message(fs, entity_root, message)
        mark_published(self.company, self.protocol_version)
        self.save()
        counts = {message["kind"]: len(message["records"]) for message in messages}
        if counts:
            log.info("published %s", ", ".join(f"{count} {kind}" for kind, count in counts.items()))
        return counts


def _file_error(rejection: Rejection) -> dict:
    """The headline problem, clipped to the confirmation schema's limits."""
    problem = rejection.problems[0].as_dict()
    for name, limit in (("reason", 2000), ("message", 2000), ("field", 500), ("record_key", 200)):
        if problem[name]:
            problem[name] = problem[name][:limit]
    return problem


def _usable_key(record: object, index: int) -> str:
    """The record's key if it can stand in a confirmation; otherwise record_index alone identifies it."""
    key = record.get("key") if isinstance(record, dict) else None
    return key if isinstance(key, str) and KEY.fullmatch(key) else f"record-{index}"


def _summary(counts: dict[str, int], answers: list[Answer]) -> str:
    text = ", ".join(f"{count} {status}" for status, count in counts.items() if count) or "no records"
    first_refused = next((a for a in answers if a.status == "rejected"), None)
    if first_refused:
        text += f" (first refusal: record {first_refused.record_index} key {first_refused.key!r} " \
                f"{first_refused.error['field']}: {first_refused.error['message']})"
    return text
