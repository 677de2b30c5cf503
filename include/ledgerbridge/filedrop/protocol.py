"""The file-drop protocol, versions 1 to 8: directory layout, message kinds and file names.

docs/file-drop-protocol.md is the specification; this module is its single source of constants.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

PROTOCOL_VERSION = 8  # the newest this package speaks; it reads and writes every version of VERSIONS
VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8)
# Kinds a version added; every other kind is written as version 1, so an agent speaking only 1 reads it.
# Version 4: QuickBooks Desktop's CreditMemo, VendorCredit and SalesReceipt.
# Version 6: bank entries (a Check out of a bank account, a Deposit into it) and expense reports (a Check to the
# payee when paid from a bank account, else a Bill owed to the payee).
KIND_VERSIONS = {"attachments": 2, "credit_notes": 4, "vendor_credits": 4, "sales_receipts": 4,
                 "bank_entries": 6, "expense_reports": 6}
# Record fields a version added, per message kind that carries them: a file holding one is written in that
# version (and a reader refuses the field in a file of an older one); a file without stays as it was.
# Version 5: a confirmation may say the rate a foreign document was booked at, and its home total.
RATED_KINDS = ("bills", "invoices", "journal_entries", "credit_notes", "vendor_credits", "sales_receipts",
               "bank_entries", "expense_reports")
BOOKED_RATES_VERSION = 5
# Version 8: the lists carry journal codes (a list_type, below, with its code and journal_type) and a vendor's or
# customer's auxiliary (sub-ledger) account and the collective account it rolls up to.
SUB_LEDGERS_VERSION = 8
FIELD_VERSIONS: dict[str, dict[str, int]] = {
    "exchange_rate": {**{kind: 3 for kind in RATED_KINDS}, "confirmations": BOOKED_RATES_VERSION},
    "home_total": {"confirmations": BOOKED_RATES_VERSION},
    "code": {"lists": SUB_LEDGERS_VERSION},
    "journal_type": {"lists": SUB_LEDGERS_VERSION},
    "auxiliary_account": {"lists": SUB_LEDGERS_VERSION},
    "collective_account": {"lists": SUB_LEDGERS_VERSION},
}
# The kinds whose confirmations may carry the booked rate (documents with a total): a file of one of them
# written in version 5 asks for it, so an agent answers it only to a reader that takes it (its answer is in
# its input's version). Journal entries are booked in the home currency by a desktop company.
BOOKED_RATE_KINDS = ("bills", "invoices", "credit_notes", "vendor_credits", "sales_receipts", "bank_entries",
                     "expense_reports")
# Values of a record field a version added, per message kind: a file holding one is written in that version (a
# reader refuses it in a file of an older one). Version 7: an attachment may support any kind of entry the drop
# carries, not only a bill, an invoice or a journal entry. Version 8: a list entry may be a journal code.
ATTACHABLE_SINCE = {"bill": 2, "invoice": 2, "journal_entry": 2, "credit_note": 7, "vendor_credit": 7,
                    "sales_receipt": 7, "bank_entry": 7, "expense_report": 7}
ATTACHMENTS_EVERYWHERE_VERSION = 7
VALUE_VERSIONS: dict[str, dict[str, dict[str, int]]] = {
    "attachments": {"document_type": {value: since for value, since in ATTACHABLE_SINCE.items() if since > 2}},
    "lists": {"list_type": {"journal_code": SUB_LEDGERS_VERSION}},
}
JOURNAL_TYPES = ("purchases", "sales", "bank", "cash", "payroll", "opening", "general")  # lists.json journal_type
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # one document; the agent holds it in memory to check and store it
DEFAULT_MAX_BYTES = 8 * 1024 * 1024  # a 500-bill file is ~1 MiB; 8 MiB leaves room without inviting abuse
PART_SUFFIX = ".part"
ERROR_SUFFIX = ".error.json"

TO_ACCOUNTING = "to_accounting"
FROM_ACCOUNTING = "from_accounting"
CONFIRMATIONS = "confirmations"
PROCESSED = "processed"
REJECTED = "rejected"

# Inbox directory (relative to the entity root) -> the message kinds it holds.
INBOX_KINDS: dict[str, tuple[str, ...]] = {
    f"{TO_ACCOUNTING}/bills": ("bills",),
    f"{TO_ACCOUNTING}/invoices": ("invoices",),
    f"{TO_ACCOUNTING}/payments": ("payments",),
    f"{TO_ACCOUNTING}/journal_entries": ("journal_entries",),
    f"{TO_ACCOUNTING}/attachments": ("attachments",),
    f"{TO_ACCOUNTING}/credit_notes": ("credit_notes",),
    f"{TO_ACCOUNTING}/vendor_credits": ("vendor_credits",),
    f"{TO_ACCOUNTING}/sales_receipts": ("sales_receipts",),
    f"{TO_ACCOUNTING}/bank_entries": ("bank_entries",),
    f"{TO_ACCOUNTING}/expense_reports": ("expense_reports",),
    f"{FROM_ACCOUNTING}/lists": ("lists",),
    f"{FROM_ACCOUNTING}/purchase_orders": ("purchase_orders",),
    f"{FROM_ACCOUNTING}/payments": ("payments_made", "payments_received"),
    CONFIRMATIONS: ("confirmations",),
}
TO_ACCOUNTING_KINDS = ("bills", "invoices", "payments", "journal_entries", "attachments", "credit_notes",
                       "vendor_credits", "sales_receipts", "bank_entries", "expense_reports")
FROM_ACCOUNTING_KINDS = ("lists", "purchase_orders", "payments_made", "payments_received")
KINDS = TO_ACCOUNTING_KINDS + FROM_ACCOUNTING_KINDS + ("confirmations",)
# The documents' bytes, beside the attachments messages that name them (not an inbox: never read alone).
ATTACHMENT_FILES = f"{TO_ACCOUNTING}/attachment_files"
ENTITY_DIRECTORIES = tuple(INBOX_KINDS) + (ATTACHMENT_FILES, PROCESSED, REJECTED)

ENTITY_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")
BATCH_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
# <kind>-<UTC timestamp>-<batch key>[~N].json; kinds and timestamps hold no '-', batch keys may.
FILE_NAME = re.compile(
    r"(?P<kind>[a-z_]{1,40})-(?P<stamp>\d{8}T\d{6}(?:\.\d{3})?Z)-(?P<batch_key>[A-Za-z0-9][A-Za-z0-9_-]{0,63})"
    r"(?:~(?P<copy>[1-9]\d{0,3}))?\.json"
)


@dataclass(frozen=True)
class FileName:
    kind: str
    stamp: str
    batch_key: str

    @property
    def created_at(self) -> datetime:
        return datetime.strptime(self.stamp[:15], TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def kind_version(kind: str) -> int:
    """The protocol version a message of this kind is written with: the first that has the kind."""
    return KIND_VERSIONS.get(kind, 1)


def field_version(kind: str, record: object) -> int:
    """The oldest version whose `kind` records may hold every field of `record` (1 when none is newer)."""
    if not isinstance(record, dict):
        return 1
    return max((versions[kind] for name, versions in FIELD_VERSIONS.items()
                if name in record and kind in versions), default=1)


def value_version(kind: str, record: object) -> int:
    """The oldest version whose `kind` records may hold every field value of `record` (1 when none is newer)."""
    if not isinstance(record, dict):
        return 1
    return max((versions.get(record.get(name), 1) for name, versions in VALUE_VERSIONS.get(kind, {}).items()
                if isinstance(record.get(name), str)), default=1)


def message_version(kind: str, records: list) -> int:
    """The version a message is written in: the oldest that has its kind and every field of its records,
    so a file that needs nothing newer stays byte for byte what an agent speaking version 1 reads."""
    return max([kind_version(kind), *(field_version(kind, record) for record in records),
                *(value_version(kind, record) for record in records)])


def inbox_directory(kind: str) -> str:
    """Where files of a kind land, relative to the entity root."""
    for directory, kinds in INBOX_KINDS.items():
        if kind in kinds:
            return directory
    raise ValueError(f"unknown message kind {kind!r}; known: {', '.join(KINDS)}")


def file_stamp(moment: datetime) -> str:
    """UTC, to the millisecond, so two files of one batch key written in a second still differ."""
    moment = moment.astimezone(UTC)
    return f"{moment.strftime(TIMESTAMP_FORMAT)}.{moment.microsecond // 1000:03d}Z"


def make_file_name(kind: str, batch_key: str, moment: datetime) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    if not BATCH_KEY.fullmatch(batch_key):
        raise ValueError(f"batch key {batch_key!r} must match {BATCH_KEY.pattern}")
    return f"{kind}-{file_stamp(moment)}-{batch_key}.json"


def parse_file_name(name: str) -> FileName | None:
    match = FILE_NAME.fullmatch(name)
    if not match:
        return None
    return FileName(match["kind"], match["stamp"], match["batch_key"])


def utc_timestamp(moment: datetime) -> str:
    """The envelope's created_at: ISO 8601 in UTC with a Z, to the millisecond."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
