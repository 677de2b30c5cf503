"""Sales receipts into a Xero organisation over HTTP (the sandbox). Xero has no sales receipt: a cash sale is
"Receive money", a RECEIVE BankTransaction into the receipt's deposit account (a BANK account) from the customer
as the Contact, its lines by item as an invoice's (ItemCode, TaxType, LineAmountTypes), its currency and rate as
other documents', our key in the Reference; the receipt's scan attached to it. Each created once, a re-run sending
nothing, a lost answer found by our key and adopted; a receipt naming no deposit account refused before sending,
naming the feed's field; one whose deposit account is no bank account refused by Xero saying so; one naming an
account the chart does not have waits."""
from __future__ import annotations

import base64
import itertools
from dataclasses import replace
from decimal import Decimal

from dropping_proxy import DroppingProxy
from ledgerbridge.connectors.xero.connector import XeroConnector, xero_currency_rate
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxState
from ledgerbridge.registry import LegalEntity
from test_xero_bank_entries import rows, run
from test_xero_flows import Books, open_books

SCAN = b"%PDF-1.4 ticket de caisse\n"
CUSTOMERS = {"customers": [{"hub_id": "C-1", "name": "Pied Piper Inc"}, {"hub_id": "C-2", "name": "Hooli"}]}


def receipts_entity(entity_id: str) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD",
        "accounting": {"kind": "xero", "conn_id": f"xero_{entity_id}"},
        "flows": ["reference", "parties", "sales_receipts"], "quality": {"allowed_currencies": ["NZD"]},
        "matching": {"create_missing_vendors": True, "create_missing_customers": True}})


def receipt(hub_id: str, customer: str = "C-1", **extra) -> dict:
    return {"hub_id": hub_id, "customer": customer, "doc_number": hub_id, "doc_date": "2026-11-14",
            "status": "approved", "deposit_account": "090",
            "lines": [{"item": "WIDGET", "quantity": "2", "unit_price": "150.00", "amount": "300.00",
                       "tax_code": "OUTPUT"},
                      {"item": "SERVICE", "amount": "45.50", "description": "Fitting", "tax_code": "OUTPUT"}],
            **extra}


def stock_items(books: Books) -> None:
    books.enter("Items", {"Code": "WIDGET", "Name": "Widget", "SalesDetails": {"AccountCode": "200"}})
    books.enter("Items", {"Code": "SERVICE", "Name": "Service call", "SalesDetails": {"AccountCode": "200"}})


def by_reference(books: Books) -> dict[str, dict]:
    return {t["Reference"].split(" [")[0]: t for t in books.records("BankTransactions")}


def test_sales_receipts_become_receive_money_into_their_bank_account_once(ledger, xero_server):
    assert "sales_receipt" in XeroConnector.capabilities.kinds
    entity = receipts_entity("xero_receipts")
    books = open_books(xero_server, entity)
    stock_items(books)
    scan = {"file_name": "ticket-sr1.pdf", "content_type": "application/pdf",
            "content_base64": base64.b64encode(SCAN).decode()}
    untaxed = [{"item": "SERVICE", "quantity": "3", "unit_price": "20.00", "amount": "60.00"}]
    with ledger.session() as session:
        import_hub_data(session, entity, {**CUSTOMERS, "sales_receipts": [
            receipt("SR-1", memo="Counter sale", attachments=[scan]),
            receipt("SR-2", customer="C-2", currency="NZD", exchange_rate="0.61", lines=untaxed),
            {**receipt("SR-3"), "deposit_account": None},  # where did the money go? Xero needs a bank account
            receipt("SR-4", deposit_account="200"),  # Sales: no bank account
            receipt("SR-5", deposit_account="999"),  # no such account in the chart
        ]})

    first = run(entity, ledger, books.conn)

    contacts = {c["Name"]: c["ContactID"] for c in books.records("Contacts")}
    bank = next(a for a in books.records("Accounts") if a["Code"] == "090")
    made = by_reference(books)
    assert set(made) == {"SR-1: Counter sale", "SR-2"}
    sale, foreign = made["SR-1: Counter sale"], made["SR-2"]
    assert (sale["Type"], sale["BankAccount"]["AccountID"], sale["Contact"]["ContactID"], sale["Status"]) == (
        "RECEIVE", bank["AccountID"], contacts["Pied Piper Inc"], "AUTHORISED")
    # Lines by item as an invoice's: the item's code, its quantity and unit price, the tax on top (15%).
    assert [(line["ItemCode"], line["Quantity"], line["UnitAmount"], line["LineAmount"], line["TaxType"],
             line["AccountCode"]) for line in sale["LineItems"]] == [
        ("WIDGET", Decimal("2"), Decimal("150.00"), Decimal("300.00"), "OUTPUT", "200"),
        ("SERVICE", Decimal("1"), Decimal("45.50"), Decimal("45.50"), "OUTPUT", "200")]
    assert (sale["LineAmountTypes"], sale["SubTotal"], sale["TotalTax"], sale["Total"]) == (
        "Exclusive", Decimal("345.50"), Decimal("51.83"), Decimal("397.33"))
    assert (foreign["Contact"]["ContactID"], foreign["CurrencyCode"], foreign["LineAmountTypes"], foreign["Total"],
            foreign["CurrencyRate"]) == (contacts["Hooli"], "NZD", "NoTax", Decimal("60.00"),
                                         xero_currency_rate(Decimal("0.61")))
    assert [(line["ItemCode"], line["Quantity"], line["UnitAmount"]) for line in foreign["LineItems"]] == [
        ("SERVICE", Decimal("3"), Decimal("20.00"))]

    outbox = rows(ledger)
    assert outbox["sales_receipt:SR-1"].external_id == sale["BankTransactionID"]
    assert outbox["sales_receipt:SR-2"].external_id == foreign["BankTransactionID"]
    [attachment] = books.org.attachments.values()
    assert (attachment["_owner"], attachment["FileName"]) == (sale["BankTransactionID"], "ticket-sr1.pdf")
    assert base64.b64decode(attachment["_content"]) == SCAN
    # No deposit account: refused before any call, naming the feed's field and why.
    assert outbox["sales_receipt:SR-3"].state == OutboxState.REJECTED
    assert "deposit_account" in outbox["sales_receipt:SR-3"].error
    assert "names no deposit_account" in outbox["sales_receipt:SR-3"].error
    # A deposit account that is no bank account: Xero refuses it, saying so.
    assert outbox["sales_receipt:SR-4"].state == OutboxState.REJECTED
    assert "Type BANK" in outbox["sales_receipt:SR-4"].error
    # An account the chart does not have: not sent, it waits for the chart (or the feed) to change.
    assert "sales_receipt:SR-5" not in outbox
    assert first["prepare_exports"]["sales_receipts"]["waiting"] == 1
    # Read back from Xero: the totals agree (the tax Xero adds on top left aside).
    buckets = first["reconcile"]["sales_receipts"]["buckets"]
    assert (buckets["confirmed"], buckets["rejected"]) == (2, 2)
    assert first["reconcile"]["accounting_total_of_confirmed_sales_receipts"] == Decimal("405.50")
    assert not any("mismatch" in key and value for key, value in first["reconcile"].items()
                   if isinstance(value, (list, int)))

    second = run(entity, ledger, books.conn)

    assert second["export_documents"]["sent"] == 0
    assert (len(books.records("BankTransactions")), len(books.org.attachments)) == (2, 1)
    assert not any("mismatch" in key and value for key, value in second["reconcile"].items()
                   if isinstance(value, (list, int)))


def test_a_lost_answer_is_found_by_our_key_in_the_reference_and_adopted_not_sent_again(ledger, xero_server):
    entity = receipts_entity("xero_receipts_lost")
    books = open_books(xero_server, entity)
    stock_items(books)
    with ledger.session() as session:
        import_hub_data(session, entity, {**CUSTOMERS, "sales_receipts": [receipt("SR-1"),
                                                                          receipt("SR-2", customer="C-2")]})
    attempts = itertools.count()
    proxy = DroppingProxy(xero_server.url, lambda request: request.startswith(
        b"PUT /api.xro/2.0/BankTransactions") and next(attempts) < 1)
    try:
        lost = run(entity, ledger, replace(books.conn, host=proxy.url), max_attempts=1)
    finally:
        proxy.close()
    assert proxy.dropped == 1
    # Both receipts went in the one lost request: looked up by our key in the Reference and adopted in the same
    # run, not sent again (the sandbox replayed no request).
    assert (lost["export_documents"]["uncertain"], lost["collect_confirmations"]["settled_by_lookup"]) == (2, 2)
    assert len(books.records("BankTransactions")) == 2
    assert books.server.sandbox.stats(books.conn.schema)["idempotency_replays"] == 0

    again = run(entity, ledger, books.conn)

    assert again["export_documents"]["sent"] == 0
    assert len(books.records("BankTransactions")) == 2
    outbox = rows(ledger)
    assert {outbox["sales_receipt:SR-1"].external_id, outbox["sales_receipt:SR-2"].external_id} == {
        t["BankTransactionID"] for t in books.records("BankTransactions")}
    assert all(row.state == OutboxState.CONFIRMED for row in outbox.values() if row.record_key.startswith("sales"))
