"""Valid sample records per message kind, a fake clock, and `send` (an upload as LedgerBridge makes it),
for the file-drop tests.

Samples are plain JSON values (money as strings), exactly what sits in a file; a test changes one
thing and expects the refusal to name that record and that field.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from ledgerbridge.filedrop import (
    LocalFileSystem,
    build_message,
    from_wire,
    inbox_directory,
    make_file_name,
    read_inbound,
    write_message,
)
from ledgerbridge.filedrop.protocol import kind_version

ENTITY, COMPANY = "acme_us", "QBD-acme_us"
START = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
MODIFIED = "2025-01-31T17:00:00.000Z"


class FakeClock:
    """Advances 1 ms per reading: every file name differs, and tests never wait."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def bill(key: str = "bill-1", vendor: str = "Nick Brown", number: str = "NB-1001", amounts=("80.00", "20.50"),
         txn_date: str = "2025-01-30", account: str = "Office Supplies") -> dict:
    lines = [{"account": {"name": account}, "amount": amount, "description": f"line {i}"}
             for i, amount in enumerate(amounts)]
    total = sum((Decimal(amount) for amount in amounts), Decimal(0))
    return {"key": key, "vendor": {"name": vendor}, "bill_number": number, "txn_date": txn_date,
            "due_date": "2025-03-01", "currency": "USD", "memo": "approved in the hub", "lines": lines,
            "total": f"{total:.2f}"}


def invoice(key: str = "inv-1", customer: str = "Vance Refrigeration", number: str = "S-1") -> dict:
    return {"key": key, "customer": {"name": customer}, "invoice_number": number, "txn_date": "2025-01-30",
            "currency": "USD", "total": "375.00",
            "lines": [{"item": {"name": "Consulting"}, "quantity": "2.5", "unit_price": "150.00", "amount": "375.00"}]}


def credit_note(key: str = "cn-1", customer: str = "Vance Refrigeration", number: str = "CN-1") -> dict:
    """Protocol version 4: a CreditMemo, item lines as on an invoice."""
    return {"key": key, "customer": {"name": customer}, "credit_note_number": number, "txn_date": "2025-01-31",
            "currency": "USD", "memo": "returned compressor", "total": "150.00",
            "lines": [{"item": {"name": "Consulting"}, "quantity": "1", "unit_price": "150.00", "amount": "150.00"}]}


def vendor_credit(key: str = "vc-1", vendor: str = "Nick Brown", number: str = "NB-C1",
                  account: str = "Office Supplies") -> dict:
    """Protocol version 4: a VendorCredit, expense lines as on a bill."""
    return {"key": key, "vendor": {"name": vendor}, "credit_number": number, "txn_date": "2025-01-31",
            "currency": "USD", "total": "30.50",
            "lines": [{"account": {"name": account}, "amount": "30.50", "description": "damaged paper returned"}]}


def sales_receipt(key: str = "sr-1", customer: str = "Vance Refrigeration", number: str = "SR-1") -> dict:
    """Protocol version 4: a SalesReceipt, item lines, paid on the spot into a deposit account."""
    return {"key": key, "customer": {"name": customer}, "receipt_number": number, "txn_date": "2025-01-31",
            "currency": "USD", "deposit_account": {"name": "Checking"}, "total": "300.00",
            "lines": [{"item": {"name": "Consulting"}, "quantity": "2", "unit_price": "150.00", "amount": "300.00"}]}


def bank_entry(key: str = "be-1", number: str = "CHK-1", direction: str = "out", entity: str | None = "Nick Brown",
               account: str = "Office Supplies", bank: str = "Checking") -> dict:
    """Protocol version 6: money out of the bank account (a Check) or into it (a Deposit), counterpart lines."""
    return {"key": key, "direction": direction, "bank_account": {"name": bank}, "entry_number": number,
            "txn_date": "2025-01-31", "currency": "USD", "memo": "bank statement line", "total": "42.50",
            **({"entity": {"name": entity}} if entity else {}),
            "lines": [{"account": {"name": account}, "amount": "42.50", "description": "paper and toner"}]}


def expense_report(key: str = "er-1", number: str = "NDF-1", payee: str = "Nick Brown", bank: str | None = None,
                   account: str = "Office Supplies") -> dict:
    """Protocol version 6: what a payee spent for the company; paid from `bank` (a Check) or owed (a Bill)."""
    return {"key": key, "payee": {"name": payee}, "report_number": number, "txn_date": "2025-01-31",
            "currency": "USD", "total": "65.00", **({"bank_account": {"name": bank}} if bank else {}),
            "lines": [{"account": {"name": account}, "amount": "40.00", "description": "train"},
                      {"account": {"name": account}, "amount": "25.00", "description": "lunch"}]}


def journal_entry(key: str = "je-1") -> dict:
    return {"key": key, "journal_number": "JE-7", "txn_date": "2025-01-31", "currency": "USD", "memo": "accrual",
            "lines": [{"account": {"name": "Professional Fees"}, "debit": "1200.00", "class": {"name": "Operations"}},
                      {"account": {"name": "Accounts Payable"}, "credit": "1200.00",
                       "party": {"name": "Nick Brown"}}]}


def bill_payment(key: str = "pay-1", bill_key: str = "bill-1", amount: str = "50.00") -> dict:
    return {"key": key, "payment_type": "bill_payment", "vendor": {"name": "Nick Brown"},
            "bank_account": {"name": "Checking"}, "txn_date": "2025-02-01", "currency": "USD", "amount": amount,
            "method": "check", "reference": "1042", "applications": [{"bill": {"key": bill_key}, "amount": amount}]}


def customer_payment(key: str = "rcv-1", invoice_key: str = "inv-1", amount: str = "375.00") -> dict:
    return {"key": key, "payment_type": "customer_payment", "customer": {"name": "Vance Refrigeration"},
            "bank_account": {"name": "Undeposited Funds"}, "txn_date": "2025-02-01", "currency": "USD",
            "amount": amount, "applications": [{"invoice": {"key": invoice_key}, "amount": amount}]}


def list_entries() -> list[dict]:
    base = {"active": True, "modified_at": MODIFIED}
    return [
        {**base, "key": "80000001-1738000000", "list_type": "vendor", "name": "Nick Brown",
         "email": "nick@brown.example", "balance": "0.00", "terms": {"name": "Net 30"}},
        {**base, "key": "80000002-1738000000", "list_type": "customer", "name": "Vance Refrigeration"},
        {**base, "key": "80000003-1738000000", "list_type": "account", "name": "Checking", "account_type": "Bank",
         "number": "1000"},
        {**base, "key": "80000004-1738000000", "list_type": "class", "name": "Operations"},
        {**base, "key": "80000005-1738000000", "list_type": "term", "name": "Net 30", "due_days": 30},
        {**base, "key": "80000006-1738000000", "list_type": "item", "name": "Consulting", "item_type": "service",
         "unit_price": "150.00"},
    ]


def purchase_order(key: str = "1A30-1738000000") -> dict:
    return {"key": key, "po_number": "PO-1001", "vendor": {"external_id": "80000001-1738000000", "name": "Nick Brown"},
            "txn_date": "2025-01-15", "currency": "USD", "status": "open", "total": "250.00", "modified_at": MODIFIED,
            "lines": [{"line_id": "1A31-1738000000", "account": {"name": "Office Supplies"}, "quantity": "50",
                       "received_quantity": "0", "unit_price": "5.00", "amount": "250.00"}]}


def payment_made(key: str = "1A40-1738000000") -> dict:
    return {"key": key, "vendor": {"name": "Nick Brown"}, "txn_date": "2025-01-31", "currency": "USD",
            "amount": "100.00", "bank_account": {"name": "Checking"}, "modified_at": MODIFIED,
            "applications": [{"bill": {"external_id": "1A2C-1738000000", "key": "bill-1"}, "amount": "100.00"}]}


def payment_received(key: str = "1A50-1738000000") -> dict:
    return {"key": key, "customer": {"name": "Vance Refrigeration"}, "txn_date": "2025-01-31", "currency": "USD",
            "amount": "375.00", "bank_account": {"name": "Undeposited Funds"}, "modified_at": MODIFIED,
            "applications": [{"invoice": {"external_id": "1A2D-1738000000"}, "amount": "300.00"}]}


def confirmation_records() -> list[dict]:
    return [{"key": "bill-1", "record_index": 0, "status": "confirmed", "external_id": "1A2C-1738000000"},
            {"key": "bill-2", "record_index": 1, "status": "duplicate", "external_id": "1A2B-1738000000"},
            {"key": "bill-3", "record_index": 2, "status": "rejected",
             "error": {"field": "/records/2/vendor", "message": "no vendor named 'X'", "code": "unknown_reference"}}]


def attachment(content: bytes = b"%PDF-1.4 scanned bill", key: str = "att-1", file: str = "att-1.bin") -> dict:
    return {"key": key, "document_type": "bill", "document": {"key": "bill-1"}, "file": file,
            "file_name": "Brown invoice 2025-017.pdf", "content_type": "application/pdf", "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest()}


SAMPLE_RECORDS = {
    "bills": lambda: [bill()],
    "invoices": lambda: [invoice()],
    "journal_entries": lambda: [journal_entry()],
    "attachments": lambda: [attachment()],
    "credit_notes": lambda: [credit_note()],
    "vendor_credits": lambda: [vendor_credit()],
    "sales_receipts": lambda: [sales_receipt()],
    "bank_entries": lambda: [bank_entry()],
    "expense_reports": lambda: [expense_report()],
    "payments": lambda: [bill_payment(), customer_payment()],
    "lists": list_entries,
    "purchase_orders": lambda: [purchase_order()],
    "payments_made": lambda: [payment_made()],
    "payments_received": lambda: [payment_received()],
    "confirmations": confirmation_records,
}


def message(kind: str, records: list[dict] | None = None, batch_key: str = "batch-1", **envelope) -> dict:
    """A valid message as plain JSON (what a file holds)."""
    data = {"protocol_version": kind_version(kind), "kind": kind, "entity_id": ENTITY, "company_id": COMPANY,
            "batch_key": batch_key, "created_at": "2025-02-01T09:00:00.000Z"}
    if kind == "confirmations":
        data["in_reply_to"] = {"file": "bills-20250201T090000.000Z-batch-1.json", "kind": "bills",
                               "batch_key": batch_key}
    data.update(envelope)
    data["records"] = copy.deepcopy(records if records is not None else SAMPLE_RECORDS[kind]())
    return data


DELETE = object()


def changed(data: dict, pointer: str, value) -> dict:
    """A copy of data with the value at a JSON pointer replaced (or removed with DELETE)."""
    data = copy.deepcopy(data)
    *parents, last = pointer.strip("/").split("/")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DELETE:
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def file_name(kind: str, batch_key: str = "batch-1", at: datetime = START) -> str:
    return make_file_name(kind, batch_key, at)


def drop(root: Path, kind: str, content: bytes | str | dict, *, name: str | None = None,
         batch_key: str | None = None, entity: str = ENTITY) -> Path:
    """Put a file straight into an inbox (no `.part`: the tests that need one make it themselves).
    The name carries the message's own batch key unless told otherwise."""
    folder = root / entity / inbox_directory(kind)
    folder.mkdir(parents=True, exist_ok=True)
    batch_key = batch_key or (content.get("batch_key") if isinstance(content, dict) else None) or "batch-1"
    path = folder / (name or file_name(kind, batch_key))
    if isinstance(content, dict):
        content = json.dumps(content, indent=1)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def send(root: Path, clock, kind: str, records: list[dict], batch_key: str = "batch-1",
         protocol_version: int | None = None) -> str:
    """Upload the way LedgerBridge does: a validated message, `.part` then rename (in the oldest version it
    needs unless told)."""
    built = build_message(kind, entity_id=ENTITY, company_id=COMPANY, batch_key=batch_key,
                          records=from_wire(records), created_at=clock(), protocol_version=protocol_version)
    return write_message(LocalFileSystem(root), ENTITY, built)


# -- the agent sandbox, as the tests drive it ---------------------------------------------------------

def answers_to(root: Path, sent: str):
    """The agent's one confirmation file answering the file `sent` (its path or name)."""
    fs, name = LocalFileSystem(root), sent.rsplit("/", 1)[-1]
    found = [read_inbound(fs, f"{ENTITY}/confirmations/{path.name}", entity_id=ENTITY, company_id=COMPANY)
             for path in sorted((root / ENTITY / "confirmations").glob("*.json"))]
    [answer] = [m for m in found if m.envelope["in_reply_to"]["file"] == name]
    return answer


def poll(agent, root: Path):
    return agent.process(LocalFileSystem(root), ENTITY)
