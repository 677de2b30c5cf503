"""Records for the data-quality tests: good ones, and the mixed batch of 1,000 documents with 50 bad."""
from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal as D

DOC_DATE = date(2025, 3, 1)


def bill(key: str, **changes) -> dict:
    record = {
        "hub_id": key, "kind": "bill", "doc_number": f"N-{key[-18:]}", "doc_date": DOC_DATE,
        "due_date": DOC_DATE + timedelta(days=30), "currency": "USD", "total": D("120.00"),
        "party": f"V-{key}", "party_ref": f"vendor-{key}", "party_linked": True,
        "lines": [
            {"line_no": 1, "amount": D("100.00"), "account_code": "6000", "account_resolved": True,
             "class_code": "East", "class_resolved": True},
            {"line_no": 2, "amount": D("20.00"), "account_code": "6010", "account_resolved": True},
        ],
    }
    record.update(changes)
    return record


def invoice(key: str, **changes) -> dict:
    record = {
        "hub_id": key, "kind": "invoice", "doc_number": f"INV-{key[-16:]}", "doc_date": DOC_DATE,
        "due_date": DOC_DATE + timedelta(days=14), "currency": "USD", "total": D("120.00"),
        "party": f"C-{key}", "party_ref": f"customer-{key}", "party_linked": True,
        "lines": [
            {"line_no": 1, "amount": D("100.00"), "item_code": "Consulting", "item_resolved": True,
             "quantity": D(2), "unit_price": D("50.00")},
            {"line_no": 2, "amount": D("20.00"), "item_code": "Travel", "item_resolved": True},
        ],
    }
    record.update(changes)
    return record


def credit_note(key: str, **changes) -> dict:
    """What the customer is credited: an invoice's shape, positive amounts, no due date."""
    return invoice(key, **{"kind": "credit_note", "doc_number": f"CN-{key[-16:]}", "due_date": None, **changes})


def journal_entry(key: str, **changes) -> dict:
    record = {
        "hub_id": key, "kind": "journal_entry", "doc_number": None, "doc_date": DOC_DATE, "currency": "USD",
        "total": D("120.00"),
        "lines": [
            {"line_no": 1, "amount": D("120.00"), "posting_type": "debit", "account_code": "6000",
             "account_resolved": True},
            {"line_no": 2, "amount": D("120.00"), "posting_type": "credit", "account_code": "1000",
             "account_resolved": True},
        ],
    }
    record.update(changes)
    return record


def bank_entry(key: str, **changes) -> dict:
    """Money out of bank account 1000 to a vendor: the counterpart lines debited."""
    record = bill(key, kind="bank_entry", doc_number=None, due_date=None, party_kind="vendor",
                  bank_account="1000", bank_account_resolved=True, bank_account_type="Bank")
    for entry_line in record["lines"]:
        entry_line["posting_type"] = "debit"
    record.update(changes)
    return record


def expense_report(key: str, **changes) -> dict:
    """An employee's expenses (a vendor of the hub), owed to them: no bank account."""
    return bill(key, **{"kind": "expense_report", "doc_number": f"NDF-{key[-16:]}", "due_date": None, **changes})


def payment(key: str, **changes) -> dict:
    record = {
        "hub_id": key, "kind": "bill_payment", "payment_date": date(2025, 4, 1), "currency": "USD",
        "amount": D("80.00"), "party": f"V-{key}", "party_linked": True, "bank_account_code": "1000",
        "bank_account_resolved": True,
        "applications": [application(f"B-{key}")],
    }
    record.update(changes)
    return record


def application(document: str, **changes) -> dict:
    record = {"document": document, "document_kind": "bill", "amount": D("80.00"), "open_balance": D("120.00"),
              "document_date": DOC_DATE, "document_state": "confirmed", "same_party": True}
    record.update(changes)
    return record


def line(record: dict, n: int, **changes) -> dict:
    """The record with line n (1-based) changed."""
    record = copy.deepcopy(record)
    record["lines"][n - 1].update(changes)
    return record


# -- the mixed batch ---------------------------------------------------------------------------

TAKEN_MESSAGE = ("the vendor already has a bill with this number (bill 130 in the accounting system); the company "
                 "refuses duplicate bill numbers")


def _defects():
    """(name, make a bad document from a good key, {expectation: (field, problem)} it must fail with)."""
    return [
        ("total off by a cent", lambda k: bill(k, total=D("120.01")),
         {"total_equals_lines": ("total", "120.01 differs from the sum of its lines 120.00")}),
        ("unknown account", lambda k: line(bill(k), 2, account_code="9999", account_resolved=False),
         {"line_account_resolves": ("lines[2].account_code", "no active account with this number or name")}),
        ("vendor in review", lambda k: bill(k, party_linked=False, party_problem="the vendor is in review"),
         {"party_linked": ("vendor", "the vendor is in review")}),
        ("euro bill", lambda k: bill(k, currency="EUR"),
         {"currency_allowed": ("currency", "EUR is not the entity's currency USD")}),
        ("long number", lambda k: bill(k, doc_number="N" * 22),
         {"doc_number_length": ("doc_number", "longer than 21 characters")}),
        ("due before date", lambda k: bill(k, due_date=DOC_DATE - timedelta(days=1)),
         {"due_date_not_before_doc_date": ("due_date", "before the document date 2025-03-01")}),
        ("number taken", lambda k: bill(k, party_ref="vendor-taken", doc_number=f"OLD-{k}"),
         {"doc_number_not_taken": ("doc_number", TAKEN_MESSAGE)}),
        ("unbalanced entry", lambda k: line(journal_entry(k), 2, amount=D("119.99")),
         {"journal_entry_balances": ("lines", "debits 120.00 and credits 119.99 do not balance")}),
        ("unknown item", lambda k: line(invoice(k), 2, item_code="Nope", item_resolved=False),
         {"line_item_resolves": ("lines[2].item_code", "no active product or service with this SKU or name")}),
        ("negative line", lambda k: line(line(bill(k), 1, amount=D("130.00")), 2, amount=D("-10.00")),
         {"line_amount_positive": ("lines[2].amount", "must be positive")}),
    ]


def mixed_batch(n: int = 1000, bad_every: int = 20) -> tuple[list[dict], dict[str, dict]]:
    """n documents (bills, invoices, journal entries), every `bad_every`-th one bad: the records and,
    per bad key, {expectation: (field, problem)} it must fail with (and with nothing else)."""
    makers = (bill, invoice, bill, journal_entry)  # half bills, as most defects are bills
    defects = _defects()
    records, expected = [], {}
    for i in range(n):
        key = f"D-{i:04d}"
        if i % bad_every == bad_every - 1:
            _, make, reasons = defects[(i // bad_every) % len(defects)]
            records.append(make(key))
            expected[key] = reasons
        else:
            records.append(makers[i % len(makers)](key))
    return records, expected


# (vendor, number) pairs already in the accounting system, with who holds them
TAKEN = {("vendor-taken", number): "bill 130 in the accounting system"
         for number in ["OLD-1"] + [f"OLD-D-{i:04d}" for i in range(1000)]}
