"""Bank entries and expense reports into a Xero organisation over HTTP (the sandbox): money out a SPEND
BankTransaction from the bank account, money in a RECEIVE one, each with its vendor or customer as the Contact;
an expense report paid from the bank a SPEND BankTransaction to the payee, one owed an ACCPAY Invoice; typed
external ids for expense reports ("BankTransaction:<id>" / "Invoice:<id>"), the scan attached to the right
object; each created once, a re-run sending nothing, a lost answer found by our key in the Reference and
adopted; a bank entry naming no party refused before sending, naming the Contact Xero requires."""
from __future__ import annotations

import base64
import itertools
import logging
import uuid
from dataclasses import replace
from decimal import Decimal

from dropping_proxy import DroppingProxy
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import Document, OutboxEntry, OutboxState
from ledgerbridge.pipeline import RunContext, RunParams, run_all
from ledgerbridge.connectors.xero.factory import xero
from ledgerbridge.registry import LegalEntity
from sqlalchemy import select
from test_xero_flows import Books, open_books

FLOWS = ("reference", "parties", "bank_entries", "expense_reports")
SCAN = b"%PDF-1.4 releve\n"
PARTIES = {"vendors": [{"hub_id": "V-1", "name": "Lefevre Legal"}, {"hub_id": "E-7", "name": "Camille Martin"}],
           "customers": [{"hub_id": "C-1", "name": "Pied Piper Inc"}]}


def bank_entity(entity_id: str) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD",
        "accounting": {"kind": "xero", "conn_id": f"xero_{entity_id}"}, "flows": list(FLOWS),
        "matching": {"create_missing_vendors": True, "create_missing_customers": True}})


def bank_entry(hub_id: str, direction: str, amount: str, account: str, **extra) -> dict:
    return {"hub_id": hub_id, "doc_date": "2026-11-12", "status": "approved", "bank_account": "090",
            "direction": direction, "lines": [{"account": account, "amount": amount}], **extra}


def expense_report(hub_id: str, **extra) -> dict:
    return {"hub_id": hub_id, "vendor": "E-7", "doc_number": hub_id, "doc_date": "2026-11-20", "status": "approved",
            "lines": [{"account": "429", "amount": "45.50", "description": "Train", "date": "2026-11-03"},
                      {"account": "429", "amount": "12.30", "description": "Taxi", "date": "2026-11-04"}], **extra}


def run(entity: LegalEntity, ledger, conn, **client_options) -> dict:
    return run_all(RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                              params=RunParams(),
                              connect=lambda: xero(conn, ledger, **{"backoff_seconds": 0.01, **client_options}),
                              log=logging.getLogger(f"ledgerbridge.test.{entity.id}")))


def rows(ledger) -> dict[str, OutboxEntry]:
    with ledger.session() as session:
        return {row.record_key: row for row in session.scalars(select(OutboxEntry))}


def by_reference(books: Books) -> dict[str, dict]:
    return {t["Reference"].split(" [")[0]: t for t in books.records("BankTransactions")}


def test_bank_entries_and_expense_reports_become_bank_transactions_and_a_bill_once(ledger, xero_server):
    entity = bank_entity("xero_bank")
    books = open_books(xero_server, entity)
    scan = {"file_name": "releve-novembre.pdf", "content_type": "application/pdf",
            "content_base64": base64.b64encode(SCAN).decode()}
    with ledger.session() as session:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [
            bank_entry("BQ-1", "out", "1200.00", "429", vendor="V-1", doc_number="BQ-1", memo="October fees",
                       attachments=[scan]),
            bank_entry("BQ-2", "in", "3000.00", "200", customer="C-1", doc_number="BQ-2"),
            bank_entry("BQ-3", "out", "80.00", "429", doc_number="BQ-3"),  # no party: Xero wants a Contact
            bank_entry("BQ-4", "out", "15.00", "429", doc_number="BQ-4", bank_account="429"),  # not a bank account
        ], "expense_reports": [expense_report("NDF-1"), expense_report("NDF-2", bank_account="090")]})

    first = run(entity, ledger, books.conn)

    contacts = {c["Name"]: c["ContactID"] for c in books.records("Contacts")}
    bank = next(a for a in books.records("Accounts") if a["Code"] == "090")
    made = by_reference(books)
    assert set(made) == {"BQ-1: October fees", "BQ-2", "NDF-2"}
    out, into, paid = made["BQ-1: October fees"], made["BQ-2"], made["NDF-2"]
    assert (out["Type"], out["BankAccount"]["AccountID"], out["Contact"]["ContactID"], out["Total"]) == (
        "SPEND", bank["AccountID"], contacts["Lefevre Legal"], Decimal("1200.00"))
    assert out["LineItems"][0]["AccountCode"] == "429" and out["LineAmountTypes"] == "NoTax"
    assert (into["Type"], into["Contact"]["ContactID"], into["Total"], into["LineItems"][0]["AccountCode"]) == (
        "RECEIVE", contacts["Pied Piper Inc"], Decimal("3000.00"), "200")
    assert (paid["Type"], paid["Contact"]["ContactID"], paid["Total"]) == (
        "SPEND", contacts["Camille Martin"], Decimal("57.80"))
    [owed] = [i for i in books.records("Invoices") if i["Type"] == "ACCPAY"]  # owed to the employee: a bill
    assert (owed["InvoiceNumber"], owed["Contact"]["ContactID"], owed["Total"], owed["AmountDue"]) == (
        "NDF-1", contacts["Camille Martin"], Decimal("57.80"), Decimal("57.80"))

    outbox = rows(ledger)
    assert outbox["bank_entry:BQ-1"].external_id == out["BankTransactionID"]  # one endpoint: Xero's id as it is
    assert outbox["bank_entry:BQ-2"].external_id == into["BankTransactionID"]
    assert outbox["expense_report:NDF-1"].external_id == f"Invoice:{owed['InvoiceID']}"
    assert outbox["expense_report:NDF-2"].external_id == f"BankTransaction:{paid['BankTransactionID']}"
    [attachment] = books.org.attachments.values()
    assert (attachment["_owner"], attachment["FileName"]) == (out["BankTransactionID"], "releve-novembre.pdf")
    assert base64.b64decode(attachment["_content"]) == SCAN
    # No party: refused before any call, naming the field Xero requires; not sent again.
    assert outbox["bank_entry:BQ-3"].state == OutboxState.REJECTED
    assert "Contact" in outbox["bank_entry:BQ-3"].error and "names no vendor or customer" in outbox[
        "bank_entry:BQ-3"].error
    assert "bank_entry:BQ-4" not in outbox  # held by the documents suite: 429 is no bank account
    with ledger.session() as session:
        report = session.scalars(select(Document).where(Document.hub_id == "NDF-1")).one()
        assert report.external_id == f"Invoice:{owed['InvoiceID']}"
    # Read back from the endpoint each id names: totals agree.
    assert first["reconcile"]["bank_entries"]["buckets"] == {"confirmed": 2, "rejected": 1, "quarantined": 1}
    assert first["reconcile"]["accounting_total_of_confirmed_bank_entries"] == Decimal("4200.00")
    assert first["reconcile"]["accounting_total_of_confirmed_expense_reports"] == Decimal("115.60")

    second = run(entity, ledger, books.conn)

    assert second["export_documents"]["sent"] == 0
    assert (len(books.records("BankTransactions")), len(books.records("Invoices")), len(books.org.attachments)) == (
        3, 1, 1)
    assert not any("mismatch" in key and value for key, value in second["reconcile"].items()
                   if isinstance(value, (list, int)))


def test_a_lost_answer_is_found_by_our_key_and_adopted_not_sent_again(ledger, xero_server):
    entity = bank_entity("xero_bank_lost")
    books = open_books(xero_server, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [
            bank_entry("BQ-1", "out", "10.00", "429", vendor="V-1"),
            bank_entry("BQ-2", "in", "20.00", "200", customer="C-1")],
            "expense_reports": [expense_report("NDF-1", bank_account="090"), expense_report("NDF-2")]})
    attempts = itertools.count()
    proxy = DroppingProxy(xero_server.url, lambda request: request.startswith(
        (b"PUT /api.xro/2.0/BankTransactions", b"PUT /api.xro/2.0/Invoices")) and next(attempts) < 2)
    try:
        # One attempt a call: the answers lost, the outcomes are uncertain until looked up.
        lost = run(entity, ledger, replace(books.conn, host=proxy.url), max_attempts=1)
    finally:
        proxy.close()
    assert proxy.dropped == 2
    # The four uncertain rows are looked up (our key in a bank transaction's Reference; a bill's number, payee,
    # date and lines) and adopted in the same run, not sent again: the sandbox replayed no request.
    assert (lost["export_documents"]["uncertain"], lost["collect_confirmations"]["settled_by_lookup"]) == (4, 4)
    assert len(books.records("BankTransactions")) == 3 and len(books.records("Invoices")) == 1
    assert books.server.sandbox.stats(books.conn.schema)["idempotency_replays"] == 0

    again = run(entity, ledger, books.conn)

    assert again["export_documents"]["sent"] == 0
    assert len(books.records("BankTransactions")) == 3 and len(books.records("Invoices")) == 1
    outbox = rows(ledger)
    made = {t["BankTransactionID"] for t in books.records("BankTransactions")}
    [owed] = books.records("Invoices")
    assert {outbox["bank_entry:BQ-1"].external_id, outbox["bank_entry:BQ-2"].external_id,
            outbox["expense_report:NDF-1"].external_id.removeprefix("BankTransaction:")} == made
    assert outbox["expense_report:NDF-2"].external_id == f"Invoice:{owed['InvoiceID']}"
    assert all(row.state == OutboxState.CONFIRMED for row in outbox.values())
