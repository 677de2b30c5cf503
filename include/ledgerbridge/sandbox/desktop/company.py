"""A QuickBooks Desktop company as the agent sees it: lists, transactions, ids, and its state file.

Lists and transactions are kept in the protocol's own record shapes (money as Decimal), so
publishing them is a matter of choosing fields, and the state file is plain JSON.

QuickBooks Desktop keeps no journal codes and no auxiliary (sub-ledger) accounts; a company made with
`sub_ledgers=True` stands for a desktop system that does (Sage 100, EBP, Cegid...): it has journal codes in its
lists and may give each vendor and customer an auxiliary account and the collective account it rolls up to,
which its agent publishes from protocol version 8.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledgerbridge.filedrop.wire import from_wire, to_wire

LIST_TYPES = ("vendor", "customer", "account", "class", "term", "item",
              "journal_code")  # protocol version 8, in a company keeping sub-ledgers only
SUB_LEDGER_FIELDS = ("auxiliary_account", "collective_account")  # a vendor's or customer's, from version 8
# The account type a party's collective account must be of.
COLLECTIVE_ACCOUNT_TYPES = {"vendor": "AccountsPayable", "customer": "AccountsReceivable"}
TXN_TYPES = ("bill", "invoice", "journal_entry", "bill_payment", "customer_payment", "purchase_order",
             "credit_memo", "vendor_credit", "sales_receipt",  # protocol version 4
             "check", "deposit")  # protocol version 6: bank entries, expense reports paid from a bank account
# An attachment's document_type -> the transaction types that kind of entry is booked as.
ATTACHED_TXN_TYPES = {"bill": ("bill",), "invoice": ("invoice",), "journal_entry": ("journal_entry",),
                      "credit_note": ("credit_memo",), "vendor_credit": ("vendor_credit",),
                      "sales_receipt": ("sales_receipt",),  # protocol version 7
                      "bank_entry": ("check", "deposit"), "expense_report": ("check", "bill")}
STATE_VERSION = 1
FIRST_TXN_SEQUENCE = 0x1A2B  # QuickBooks Desktop TxnIDs look like "1A2B-1700000000"
FIRST_LIST_SEQUENCE = 0x80000001  # and ListIDs like "80000001-1700000000"


def utcnow() -> datetime:
    return datetime.now(UTC)


def fingerprint(record: dict) -> str:
    """What a record said, so a key sent again with different content is told apart from a retry."""
    canonical = json.dumps(to_wire(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class CreatedRecord:
    """What an idempotency key created: kept forever so a re-send is answered, never re-created."""

    txn_id: str
    txn_type: str
    fingerprint: str


@dataclass
class DesktopCompany:
    company_id: str
    entity_id: str
    home_currency: str = "USD"
    closing_date: date | None = None
    # A company keeping journal codes and auxiliary accounts (not QuickBooks Desktop's: see the module's doc).
    sub_ledgers: bool = False
    clock: Callable[[], datetime] = utcnow
    lists: dict[str, dict[str, dict]] = field(default_factory=lambda: {t: {} for t in LIST_TYPES})
    transactions: dict[str, dict[str, dict]] = field(default_factory=lambda: {t: {} for t in TXN_TYPES})
    keys: dict[str, CreatedRecord] = field(default_factory=dict)
    # Attachment id -> the document attached (Doc Center): its transaction, name, type and bytes.
    attachments: dict[str, dict] = field(default_factory=dict)
    # The currency list's rates (home currency per 1 unit): what a document sent without a rate is booked at.
    exchange_rates: dict[str, Decimal] = field(default_factory=dict)
    txn_sequence: int = FIRST_TXN_SEQUENCE
    list_sequence: int = FIRST_LIST_SEQUENCE
    change_sequence: int = 0  # bumps on every change; publishing sends what changed since last time
    published_sequence: int = 0
    publish_count: int = 0
    published_version: int | None = None  # the protocol version the agent last published in

    # --- ids and change tracking -------------------------------------------------------------

    def _epoch(self) -> int:
        return int(self.clock().timestamp())

    def new_txn_id(self) -> str:
        self.txn_sequence += 1
        return f"{self.txn_sequence:X}-{self._epoch()}"

    def new_list_id(self) -> str:
        self.list_sequence += 1
        return f"{self.list_sequence:X}-{self._epoch()}"

    def touch(self, record: dict) -> dict:
        self.change_sequence += 1
        record["modified_at"] = self.clock()
        record["_changed"] = self.change_sequence  # internal: never published (see publish.py)
        return record

    # --- lists -------------------------------------------------------------------------------

    def add_list_entry(self, list_type: str, name: str, **fields: Any) -> str:
        """Enter a list entry the way a person would in QuickBooks; returns its ListID."""
        if list_type not in LIST_TYPES:
            raise ValueError(f"unknown list type {list_type!r}")
        if self.find_by_name(list_type, name):
            raise ValueError(f"a {list_type} named {name!r} already exists")
        self._check_sub_ledgers(list_type, fields)
        list_id = self.new_list_id()
        entry = {"key": list_id, "list_type": list_type, "name": name, "active": True, **fields}
        self.lists[list_type][list_id] = self.touch(entry)
        return list_id

    def update_list_entry(self, list_type: str, list_id: str, **fields: Any) -> dict:
        """Change fields of a list entry as a person would (None removes one); it is published again."""
        entry = self.lists[list_type][list_id]
        self._check_sub_ledgers(list_type, {name: value for name, value in fields.items() if value is not None},
                                list_id)
        for name, value in fields.items():
            if value is None:
                entry.pop(name, None)
            else:
                entry[name] = value
        return self.touch(entry)

    def _check_sub_ledgers(self, list_type: str, fields: dict[str, Any], list_id: str | None = None) -> None:
        """Journal codes and parties' auxiliary accounts exist in a company keeping sub-ledgers only; a collective
        account is one of its payables (vendor) or receivables (customer) accounts, by ListID."""
        given = [name for name in SUB_LEDGER_FIELDS if name in fields]
        if list_type == "journal_code" or given:
            if not self.sub_ledgers:
                what = "journal codes" if list_type == "journal_code" else f"{given[0]} on a {list_type}"
                raise ValueError(f"QuickBooks Desktop has no {what}; a company keeping sub-ledgers is made with "
                                 "sub_ledgers=True")
        if given and list_type not in COLLECTIVE_ACCOUNT_TYPES:
            raise ValueError(f"{given[0]} belongs to a vendor or a customer, not a {list_type}")
        if list_type == "journal_code" and (list_id is None or "code" in fields):
            code = fields.get("code")
            if not code or any(e["code"].casefold() == code.casefold() for key, e in self.lists[list_type].items()
                               if key != list_id):
                raise ValueError(f"a journal code needs a code of its own, not {code!r}")
        collective = fields.get("collective_account")
        if collective is not None:
            account = self.lists["account"].get(collective.get("external_id", ""))
            wanted = COLLECTIVE_ACCOUNT_TYPES[list_type]
            if account is None or account["account_type"] != wanted:
                raise ValueError(f"collective_account {collective!r} is not an account of type {wanted} (by ListID)")

    def find_by_name(self, list_type: str, name: str) -> dict | None:
        # QuickBooks Desktop names are unique per list, compared without regard to case.
        folded = name.casefold()
        return next((e for e in self.lists[list_type].values() if e["name"].casefold() == folded), None)

    def resolve(self, list_type: str, ref: dict) -> dict | None:
        """A reference's list entry: by ListID when given (QuickBooks uses it over the name), else by name."""
        if "external_id" in ref:
            return self.lists[list_type].get(ref["external_id"])
        return self.find_by_name(list_type, ref["name"])

    # --- transactions ------------------------------------------------------------------------

    def add_transaction(self, txn_type: str, record: dict, created_from: dict | None = None) -> str:
        """Store a transaction; `created_from` is the inbound record whose key now belongs to it."""
        txn_id = self.new_txn_id()
        self.transactions[txn_type][txn_id] = self.touch({**record, "txn_id": txn_id})
        if created_from is not None:
            self.keys[created_from["key"]] = CreatedRecord(txn_id, txn_type, fingerprint(created_from))
        return txn_id

    def attach(self, txn_type: str, txn_id: str, file_name: str, content_type: str, content: bytes,
               created_from: dict) -> str:
        """Store a document against a transaction; `created_from`'s key now belongs to it."""
        attachment_id = self.new_txn_id()
        self.attachments[attachment_id] = {"txn_type": txn_type, "txn_id": txn_id, "file_name": file_name,
                                           "content_type": content_type, "content": content}
        self.keys[created_from["key"]] = CreatedRecord(attachment_id, "attachment", fingerprint(created_from))
        return attachment_id

    def attachments_of(self, txn_id: str) -> list[dict]:
        return [{"attachment_id": attachment_id, **stored} for attachment_id, stored in self.attachments.items()
                if stored["txn_id"] == txn_id]

    def created_by_key(self, key: str) -> CreatedRecord | None:
        return self.keys.get(key)

    def document(self, txn_type: str, ref: dict) -> dict | None:
        """A transaction (bill, invoice, credit memo, ...) by its TxnID, or by the key that created it."""
        if "external_id" in ref:
            return self.transactions[txn_type].get(ref["external_id"])
        created = self.keys.get(ref["key"])
        if created is None or created.txn_type != txn_type:
            return None
        return self.transactions[txn_type].get(created.txn_id)

    def supported_document(self, document_type: str, ref: dict) -> tuple[str, dict] | None:
        """The transaction an attachment's document names, by TxnID or creating key, with its type: a kind of
        entry becomes one of several QuickBooks Desktop objects (a bank entry a Check or a Deposit, an expense
        report a Check or a Bill), and only one created from that kind of entry answers for it."""
        for txn_type in ATTACHED_TXN_TYPES.get(document_type, ()):
            document = self.document(txn_type, ref)
            if document is not None and _entry_kind(txn_type, document) == document_type:
                return txn_type, document
        return None

    def in_closed_period(self, txn_date: date | str) -> bool:
        day = date.fromisoformat(txn_date) if isinstance(txn_date, str) else txn_date
        return self.closing_date is not None and day <= self.closing_date

    # --- state file --------------------------------------------------------------------------

    def to_state(self) -> dict:
        return to_wire({
            "state_version": STATE_VERSION, "company_id": self.company_id, "entity_id": self.entity_id,
            "home_currency": self.home_currency, "closing_date": self.closing_date, "sub_ledgers": self.sub_ledgers,
            "published_version": self.published_version, "lists": self.lists, "transactions": self.transactions,
            "keys": {key: vars(created) for key, created in self.keys.items()},
            "attachments": {attachment_id: {**stored, "content": base64.b64encode(stored["content"]).decode("ascii")}
                            for attachment_id, stored in self.attachments.items()},
            "exchange_rates": {currency: format(rate, "f") for currency, rate in self.exchange_rates.items()},
            "sequences": {"txn": self.txn_sequence, "list": self.list_sequence, "change": self.change_sequence,
                          "published": self.published_sequence, "publish_count": self.publish_count},
        })

    @classmethod
    def from_state(cls, state: dict, clock: Callable[[], datetime] = utcnow) -> DesktopCompany:
        if state.get("state_version") != STATE_VERSION:
            raise ValueError(f"state file version {state.get('state_version')!r}; this agent reads {STATE_VERSION}")
        sequences = state["sequences"]
        closing = state.get("closing_date")
        return cls(
            company_id=state["company_id"], entity_id=state["entity_id"], home_currency=state["home_currency"],
            closing_date=date.fromisoformat(closing) if closing else None, clock=clock,
            sub_ledgers=state.get("sub_ledgers", False), published_version=state.get("published_version"),
            # A state file of an older agent lacks the list types later versions added (journal codes).
            lists={list_type: {} for list_type in LIST_TYPES} | from_wire(state["lists"]),
            # A state file of an older agent lacks the transaction types later versions added (credit memos, checks...).
            transactions={txn_type: {} for txn_type in TXN_TYPES} | from_wire(state["transactions"]),
            keys={key: CreatedRecord(**created) for key, created in state["keys"].items()},
            attachments={attachment_id: {**stored, "content": base64.b64decode(stored["content"])}
                         for attachment_id, stored in state.get("attachments", {}).items()},
            exchange_rates={currency: Decimal(rate) for currency, rate in state.get("exchange_rates", {}).items()},
            txn_sequence=sequences["txn"], list_sequence=sequences["list"], change_sequence=sequences["change"],
            published_sequence=sequences["published"], publish_count=sequences["publish_count"],
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the state file atomically: a crash leaves the old state or the new one, never half."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(self.to_state(), file, indent=1, ensure_ascii=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: str | os.PathLike, clock: Callable[[], datetime] = utcnow) -> DesktopCompany:
        return cls.from_state(json.loads(Path(path).read_text(encoding="utf-8")), clock=clock)


def seed_demo(company: DesktopCompany) -> DesktopCompany:
    """The lists a small US company starts with, a purchase order, and a payment entered in QuickBooks."""
    add = company.add_list_entry
    add("account", "Checking", account_type="Bank", number="1000")
    add("account", "Undeposited Funds", account_type="OtherCurrentAsset", number="1499")
    add("account", "Accounts Receivable", account_type="AccountsReceivable", number="1200")
    add("account", "Accounts Payable", account_type="AccountsPayable", number="2000")
    add("account", "Sales", account_type="Income", number="4000")
    add("account", "Office Supplies", account_type="Expense", number="6010")
    add("account", "Professional Fees", account_type="Expense", number="6030")
    add("class", "Operations")
    net30 = add("term", "Net 30", due_days=30)
    add("vendor", "Nick Brown", email="nick@brown.example", terms={"external_id": net30, "name": "Net 30"})
    paper = add("vendor", "Dunder Mifflin Paper", company_name="Dunder Mifflin Inc.")
    add("customer", "Vance Refrigeration")
    add("item", "Consulting", item_type="service", unit_price=Decimal("150.00"),
        income_account={"name": "Sales"})
    company.add_transaction("purchase_order", {
        "po_number": "PO-1001", "vendor": {"external_id": paper, "name": "Dunder Mifflin Paper"},
        "txn_date": "2025-01-15", "currency": company.home_currency, "status": "open", "total": Decimal("250.00"),
        "lines": [{"line_id": company.new_txn_id(), "account": {"name": "Office Supplies"},
                   "description": "Copy paper, 50 cases", "quantity": Decimal(50), "received_quantity": Decimal(0),
                   "unit_price": Decimal("5.00"), "amount": Decimal("250.00")}],
    })
    return company


# The journals a French desktop company keeps: (code, label, journal_type).
FRENCH_JOURNALS = (("ACH", "Achats", "purchases"), ("VTE", "Ventes", "sales"), ("BQ", "Banque", "bank"),
                   ("CAI", "Caisse", "cash"), ("OD", "Opérations diverses", "general"))


def seed_sub_ledgers(company: DesktopCompany) -> DesktopCompany:
    """On a company keeping sub-ledgers (after seed_demo): its journals, and an auxiliary account for each vendor and
    customer rolling up to Accounts Payable / Accounts Receivable."""
    if not company.sub_ledgers:
        raise ValueError("seed_sub_ledgers needs a company made with sub_ledgers=True")
    for code, label, journal_type in FRENCH_JOURNALS:
        company.add_list_entry("journal_code", label, code=code, journal_type=journal_type)
    for list_type, prefix in (("vendor", "F"), ("customer", "C")):
        collective = next((e["key"] for e in company.lists["account"].values()
                           if e["account_type"] == COLLECTIVE_ACCOUNT_TYPES[list_type]), None)
        for entry in list(company.lists[list_type].values()):
            auxiliary = (prefix + "".join(c for c in entry["name"].upper() if c.isalnum()))[:17]
            company.update_list_entry(list_type, entry["key"], auxiliary_account=auxiliary,
                                      collective_account={"external_id": collective} if collective else None)
    return company


def _entry_kind(txn_type: str, stored: dict) -> str:
    """Which kind of entry a stored transaction was booked from: a Check or Deposit with a direction from a bank
    entry, a Check to a payee or a Bill marked booked_from from an expense report."""
    if "direction" in stored:
        return "bank_entry"
    if "payee" in stored or stored.get("booked_from") == "expense_report":
        return "expense_report"
    return {"credit_memo": "credit_note"}.get(txn_type, txn_type)
