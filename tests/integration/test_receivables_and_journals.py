"""Invoices, customer payments (partial, through LinkedTxn), journal entries and their attached files
go to QuickBooks once each; bad ones are quarantined with the field named."""
from __future__ import annotations

import base64
import itertools
from dataclasses import replace
from decimal import Decimal

from dropping_proxy import DroppingProxy
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import (
    Document,
    OutboxEntry,
    OutboxState,
    PaidStatus,
    QuarantineEntry,
)
from ledgerbridge.pipeline import run_all
from sqlalchemy import select
from support import bill, company, connect_company, context, make_entity, sync

SCAN = b"%PDF-1.4 scanned invoice \x00\x01\x02"
RECEIPT = b"\x89PNG receipt"


def _file(name: str, content: bytes, content_type: str = "application/pdf") -> dict:
    return {"file_name": name, "content_type": content_type, "content_base64": base64.b64encode(content).decode()}


def _hub_feed() -> dict:
    return {
        "vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
        "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}, {"hub_id": "C-2", "name": "Acme Widgets"}],
        "bills": [bill("B-1", "V-1", "40.00", attachments=[_file("b-1.pdf", SCAN)])],
        "invoices": [
            {"hub_id": "I-1", "customer": "C-1", "doc_number": "INV-1", "doc_date": "2026-11-02", "status": "approved",
             "lines": [{"item": "Services", "quantity": "2", "unit_price": "150.00"}],
             "attachments": [_file("timesheet.pdf", SCAN)]},
            {"hub_id": "I-2", "customer": "C-2", "doc_number": "INV-2", "doc_date": "2026-11-03", "status": "approved",
             "lines": [{"item": "Materials", "amount": "80.00", "description": "copper pipe"}]},
            {"hub_id": "I-3", "customer": "C-2", "doc_number": "INV-3", "doc_date": "2026-11-03", "status": "approved",
             "lines": [{"item": "Gizmos", "amount": "5.00"}]},
        ],
        "customer_payments": [
            {"hub_id": "CP-1", "customer": "C-1", "payment_date": "2026-11-10", "amount": "100.00",
             "deposit_account": "1000", "applied": {"I-1": "100.00"}},
            {"hub_id": "CP-2", "customer": "C-2", "payment_date": "2026-11-10", "amount": "90.00",
             "applied": {"I-2": "90.00"}},
        ],
        "journal_entries": [
            {"hub_id": "JE-1", "doc_number": "ACC-11", "doc_date": "2026-11-30", "status": "approved",
             "memo": "November accrual", "attachments": [_file("receipt.png", RECEIPT, "image/png")],
             "lines": [{"account": "6030", "debit": "50.00", "description": "consulting accrued"},
                       {"account": "2000", "credit": "50.00"}]},
            {"hub_id": "JE-2", "doc_date": "2026-11-30", "status": "approved",
             "lines": [{"account": "6030", "debit": "50.00"}, {"account": "2000", "credit": "49.99"}]},
        ],
    }


def test_invoices_payments_journal_entries_and_attachments_land_once(ledger, qbo_server):
    entity = make_entity("receivables", flows=("reference", "parties", "bills", "bill_payments", "invoices",
                                               "customer_payments", "journal_entries"),
                         create_missing_customers=True)
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, _hub_feed())

    first = sync(entity, ledger, conn)

    books = company(qbo_server, conn).objects
    invoices = {i["DocNumber"]: i for i in books["Invoice"].values()}
    assert set(invoices) == {"INV-1", "INV-2"}
    assert invoices["INV-1"]["TotalAmt"] == Decimal("300.00")
    assert invoices["INV-1"]["Balance"] == Decimal("200.00")  # the partial payment, through LinkedTxn
    [payment] = books["Payment"].values()
    assert payment["Line"][0]["LinkedTxn"][0] == {"TxnId": invoices["INV-1"]["Id"], "TxnType": "Invoice"}
    [entry] = books["JournalEntry"].values()
    assert entry["DocNumber"] == "ACC-11" and entry["TotalAmt"] == Decimal("50.00")
    assert {line["JournalEntryLineDetail"]["PostingType"] for line in entry["Line"]} == {"Debit", "Credit"}
    linked = {(a["AttachableRef"][0]["EntityRef"]["type"], a["AttachableRef"][0]["EntityRef"]["value"]): a
              for a in books["Attachable"].values()}
    [bill_id] = [b["Id"] for b in books["Bill"].values()]
    assert set(linked) == {("Bill", bill_id), ("Invoice", invoices["INV-1"]["Id"]), ("JournalEntry", entry["Id"])}
    assert company(qbo_server, conn).files[linked[("JournalEntry", entry["Id"])]["Id"]] == RECEIPT
    assert first["export_documents"]["attachments"]["confirmed"] == 3

    with ledger.session() as session:
        held = {q.record_key: q.reasons for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.status == "open"))}
        timesheet_invoice = session.scalars(select(Document).where(Document.hub_id == "I-1")).one()
        assert (timesheet_invoice.paid_status, timesheet_invoice.open_balance) == (
            PaidStatus.PARTIALLY_PAID, Decimal("200.00"))
    assert set(held) == {"I-3", "CP-2", "JE-2"}
    assert held["I-3"][0]["field"] == "lines[1].item_code"
    assert held["CP-2"][0]["field"] == "applications[I-2].amount" and "open balance 80.00" in held["CP-2"][0]["problem"]
    assert held["JE-2"][0]["field"] == "lines" and "do not balance" in held["JE-2"][0]["problem"]
    assert first["reconcile"]["invoices"]["buckets"] == {"confirmed": 2, "quarantined": 1}
    assert first["reconcile"]["accounting_total_of_confirmed_journal_entries"] == Decimal("50.00")

    second = sync(entity, ledger, conn)

    assert second["export_documents"]["sent"] == 0 and second["export_documents"]["attachments"]["sent"] == 0
    assert second["export_payments"]["sent"] == 0
    assert {name: len(objects) for name, objects in company(qbo_server, conn).objects.items()
            if name in ("Invoice", "Payment", "JournalEntry", "Attachable")} == {
        "Invoice": 2, "Payment": 1, "JournalEntry": 1, "Attachable": 3}


def _uploads(request: bytes) -> bool:
    return request.startswith(b"POST ") and b"/upload?" in request.split(b"\r\n", 1)[0]


def test_an_upload_whose_answer_is_lost_is_attached_once(ledger, qbo_server):
    entity = make_entity("lost_upload")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}], "bills": [
            bill("B-1", "V-1", "40.00", attachments=[_file("one.pdf", SCAN), _file("two.pdf", RECEIPT)])]})
    attempts = itertools.count()
    proxy = DroppingProxy(qbo_server.url, lambda r: _uploads(r) and next(attempts) % 2 == 0)
    through = replace(conn, host=proxy.url, extra={**conn.extra, "token_url": f"{proxy.url}/oauth2/v1/tokens/bearer"})
    try:
        # One attempt per request: the lost answer leaves the row uncertain until the look-up finds it.
        report = run_all(context(entity, ledger, through, client_options={"max_attempts": 1}))
    finally:
        proxy.close()

    assert proxy.dropped >= 1
    assert report["export_documents"]["attachments"]["uncertain"] >= 1
    assert sorted(company(qbo_server, conn).files.values()) == sorted([SCAN, RECEIPT])  # each once
    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "attachment")).all()
        assert {r.state for r in rows} == {OutboxState.CONFIRMED}


def test_a_payment_entered_in_quickbooks_lowers_what_a_hub_payment_may_apply(ledger, qbo_server):
    from ledgerbridge.connectors.factory import quickbooks_online

    entity = make_entity("paid_there", flows=("reference", "parties", "invoices", "customer_payments"),
                         create_missing_customers=True)
    conn = connect_company(qbo_server, ledger, entity)
    feed = {"customers": [{"hub_id": "C-1", "name": "Acme Widgets"}],
            "invoices": [{"hub_id": "I-1", "customer": "C-1", "doc_number": "INV-1", "doc_date": "2026-11-02",
                          "status": "approved", "lines": [{"item": "Materials", "amount": "80.00"}]}]}
    with ledger.session() as session:
        import_hub_data(session, entity, feed)
    sync(entity, ledger, conn)
    [invoice] = company(qbo_server, conn).objects["Invoice"].values()
    # Somebody records 50.00 received against it, in QuickBooks directly.
    quickbooks_online(conn, ledger).client.create("Payment", {
        "CustomerRef": invoice["CustomerRef"], "TotalAmt": "50.00",
        "Line": [{"Amount": "50.00", "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]},
        request_id="paid-in-qbo")
    sync(entity, ledger, conn)  # reads the invoice's balance back: 30.00
    with ledger.session() as session:
        import_hub_data(session, entity, {**feed, "customer_payments": [
            {"hub_id": "CP-1", "customer": "C-1", "payment_date": "2026-11-20", "amount": "40.00",
             "applied": {"I-1": "40.00"}}]})

    report = sync(entity, ledger, conn)

    assert report["export_payments"]["sent"] == 0
    with ledger.session() as session:
        [held] = session.scalars(select(QuarantineEntry).where(QuarantineEntry.record_key == "CP-1")).all()
    assert held.reasons[0]["field"] == "applications[I-1].amount"
    assert "open balance 30.00" in held.reasons[0]["problem"]
