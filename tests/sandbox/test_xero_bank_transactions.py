"""The Xero sandbox's BankTransactions over real HTTP on loopback: spend and receive money through a BANK
account with a contact, computed totals, CurrencyRate as the documents have it, Xero's validation
(a BankAccount that is no bank account, no Contact, unknown or bank account codes on lines, all answered at
once), summarizeErrors=false, Idempotency-Key replays, If-Modified-Since and pages, deleting, attachments."""
from __future__ import annotations

from decimal import Decimal
from email.utils import formatdate

import pytest
import requests
from test_xero_sandbox import Xero, supplier


@pytest.fixture
def xero():
    served = Xero(rate_limits=False)
    yield served
    served.server.stop()


def spend(contact_id: str | None, reference: str, *amounts, bank: dict | None = None, **fields) -> dict:
    body = {"Type": "SPEND", "BankAccount": bank or {"Code": "090"}, "Reference": reference,
            "Date": "2026-09-20", "LineAmountTypes": "Exclusive",
            "LineItems": [{"Description": f"line {i}", "Quantity": 1, "UnitAmount": amount, "AccountCode": "429",
                           "TaxType": "INPUT"} for i, amount in enumerate(amounts, 1)], **fields}
    if contact_id:
        body["Contact"] = {"ContactID": contact_id}
    return body


def errors(reply) -> list[str]:
    return [e["Message"] for e in reply.json()["Elements"][0]["ValidationErrors"]]


def test_spend_and_receive_money_are_read_back_with_computed_totals(xero: Xero):
    contact_id = supplier(xero)
    made = xero.send("PUT", "BankTransactions", {"BankTransactions": [
        spend(contact_id, "BQ-1", "100.00", "20.00"),
        {**spend(contact_id, "BQ-2", "50.00"), "Type": "RECEIVE", "LineAmountTypes": "NoTax",
         "LineItems": [{"Description": "refund", "Quantity": 1, "UnitAmount": "50.00", "AccountCode": "200"}]}]})
    assert made.status_code == 200, made.text
    out, into = made.json()["BankTransactions"]
    assert (out["Type"], out["Status"], out["IsReconciled"], out["Reference"]) == ("SPEND", "AUTHORISED", False, "BQ-1")
    assert (out["SubTotal"], out["TotalTax"], out["Total"]) == (Decimal("120.00"), Decimal("18.00"), Decimal("138.00"))
    bank = next(a for a in xero.get("Accounts").json()["Accounts"] if a["Code"] == "090")
    assert out["BankAccount"] == {"AccountID": bank["AccountID"], "Code": "090", "Name": bank["Name"]}
    assert out["Contact"]["ContactID"] == contact_id and out["Date"] == "/Date(1789862400000+0000)/"
    assert (out["CurrencyCode"], out["CurrencyRate"]) == ("USD", 1)
    assert (into["Type"], into["Total"], into["TotalTax"]) == ("RECEIVE", Decimal("50.00"), Decimal("0.00"))
    # by AccountID too; by id; a foreign currency at the rate given (its currency per 1 of the base), else the day's
    by_id = xero.send("PUT", "BankTransactions", spend(contact_id, "BQ-3", "10", bank={"AccountID": bank["AccountID"]},
                                                       CurrencyCode="NZD", CurrencyRate="1.63934426"))
    assert by_id.status_code == 200, by_id.text
    read = xero.get(f"BankTransactions/{by_id.json()['BankTransactions'][0]['BankTransactionID']}").json()
    assert (read["BankTransactions"][0]["CurrencyCode"], read["BankTransactions"][0]["CurrencyRate"]) == (
        "NZD", 1.639344)  # six places, as Xero keeps it
    days = xero.send("PUT", "BankTransactions", spend(contact_id, "BQ-4", "10", CurrencyCode="NZD"))
    assert days.json()["BankTransactions"][0]["CurrencyRate"] == 1.6523
    assert len(xero.get("BankTransactions").json()["BankTransactions"]) == 4


def test_xero_refuses_a_bank_transaction_naming_every_problem(xero: Xero):
    contact_id = supplier(xero)
    no_bank = xero.send("PUT", "BankTransactions", spend(contact_id, "X-1", "5", bank={"Code": "429"}))
    assert no_bank.status_code == 400 and no_bank.json()["Type"] == "ValidationException"
    assert errors(no_bank) == ["The BankAccount with Code '429' (General Expenses) is of Type EXPENSE: a bank "
                               "transaction's BankAccount must be of Type BANK"]
    assert no_bank.json()["Elements"][0]["Reference"] == "X-1"  # the element as sent, with its errors
    unknown = xero.send("PUT", "BankTransactions", spend(contact_id, "X-2", "5", bank={"Code": "999"}))
    assert errors(unknown) == ["The BankAccount with Code '999' could not be found"]
    nobody = xero.send("PUT", "BankTransactions", spend(None, "X-3", "5"))
    assert errors(nobody) == ["A Contact must be specified for this type of transaction"]
    lines = spend(contact_id, "X-4", "5", "6")
    lines["LineItems"][0]["AccountCode"], lines["LineItems"][1]["AccountCode"] = "999", "090"
    several = xero.send("PUT", "BankTransactions", {**lines, "Contact": None, "BankAccount": None})
    assert errors(several) == [
        "A Contact must be specified for this type of transaction",
        "The BankAccount must be specified (by AccountID or Code)",
        "Account code '999' is not a valid code for this document.",
        "Account code '090' cannot be used on a line item of a bank transaction: it is of Type BANK."]
    for kind in ("SPEND-TRANSFER", None):
        assert errors(xero.send("PUT", "BankTransactions", spend(contact_id, "X-5", "5", Type=kind))) == [
            "Type must be one of SPEND, RECEIVE"]
    assert xero.get("BankTransactions").json()["BankTransactions"] == []

    # summarizeErrors=false: the good applied, the bad answered with its errors
    mixed = xero.send("PUT", "BankTransactions", {"BankTransactions": [
        spend(contact_id, "G-1", "5"), spend(contact_id, "B-1", "5", bank={"Code": "200"})]}, summarizeErrors="false")
    assert mixed.status_code == 200
    assert [t["StatusAttributeString"] for t in mixed.json()["BankTransactions"]] == ["OK", "ERROR"]
    assert [t["Reference"] for t in xero.get("BankTransactions").json()["BankTransactions"]] == ["G-1"]


def test_an_idempotency_key_replays_the_first_answer_and_creates_one_transaction(xero: Xero):
    contact_id = supplier(xero)
    key = {"Idempotency-Key": "bank-BQ-77-attempt"}
    first = xero.send("PUT", "BankTransactions", {"BankTransactions": [spend(contact_id, "BQ-77", "5")]}, headers=key)
    again = xero.send("PUT", "BankTransactions", {"BankTransactions": [spend(contact_id, "BQ-77", "5")]}, headers=key)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert len(xero.get("BankTransactions").json()["BankTransactions"]) == 1
    assert xero.sandbox.stats(xero.tenant)["idempotency_replays"] == 1


def test_if_modified_since_pages_and_deleting(xero: Xero):
    contact_id = supplier(xero)
    old = xero.send("PUT", "BankTransactions", spend(contact_id, "OLD", "5")).json()["BankTransactions"][0]
    xero.clock.advance(60)
    cut = xero.clock.now
    xero.clock.advance(1)
    made = xero.send("PUT", "BankTransactions", {"BankTransactions": [spend(contact_id, f"N-{i:03d}", "1")
                                                                      for i in range(120)]})
    assert made.status_code == 200
    header = {"If-Modified-Since": formatdate(cut, usegmt=True)}
    page1 = xero.get("BankTransactions", headers=header, page=1).json()["BankTransactions"]
    page2 = xero.get("BankTransactions", headers=header, page=2).json()["BankTransactions"]
    assert (len(page1), len(page2)) == (100, 20) and "OLD" not in {t["Reference"] for t in page1 + page2}

    xero.clock.advance(60)
    later = xero.clock.now
    xero.clock.advance(1)
    gone = xero.send("POST", f"BankTransactions/{old['BankTransactionID']}", {"Status": "DELETED"})
    assert gone.status_code == 200 and gone.json()["BankTransactions"][0]["Status"] == "DELETED"
    changed = xero.get("BankTransactions", headers={"If-Modified-Since": formatdate(later, usegmt=True)}).json()
    assert [(t["Reference"], t["Status"]) for t in changed["BankTransactions"]] == [("OLD", "DELETED")]
    assert errors(xero.send("POST", f"BankTransactions/{old['BankTransactionID']}", {"Reference": "again"})) == [
        "This Bank Transaction cannot be edited as it has been deleted."]
    # an update of a live one: its lines and totals again
    one = made.json()["BankTransactions"][0]
    updated = xero.send("POST", f"BankTransactions/{one['BankTransactionID']}",
                        {"LineItems": [{"Description": "more", "Quantity": 2, "UnitAmount": "10", "AccountCode": "429"}]})
    assert updated.status_code == 200, updated.text
    assert updated.json()["BankTransactions"][0]["Total"] == Decimal("23.00")


def test_an_attachment_is_kept_with_its_bank_transaction(xero: Xero):
    made = xero.send("PUT", "BankTransactions", spend(supplier(xero), "BQ-9", "5")).json()["BankTransactions"][0]
    path = f"BankTransactions/{made['BankTransactionID']}/Attachments/releve.pdf"
    put = requests.put(f"{xero.url}/api.xro/2.0/{path}", data=b"%PDF-1.4 x", timeout=10,
                       headers=xero.headers(**{"Content-Type": "application/pdf"}))
    assert put.status_code == 200, put.text
    assert xero.get(path).content == b"%PDF-1.4 x"
    assert xero.get(f"BankTransactions/{made['BankTransactionID']}").json()["BankTransactions"][0]["HasAttachments"]


def test_receive_money_lines_by_item_take_the_items_sales_details_and_an_unknown_item_is_refused(xero: Xero):
    """A cash sale as Xero has it ("Receive money"): lines naming an ItemCode, as an invoice's."""
    item = xero.send("PUT", "Items", {"Code": "WIDGET", "Name": "Widget",
                                      "SalesDetails": {"AccountCode": "200", "UnitPrice": "150.00"}})
    assert item.status_code == 200, item.text
    contact_id = supplier(xero)
    sale = {"Type": "RECEIVE", "BankAccount": {"Code": "090"}, "Contact": {"ContactID": contact_id},
            "Reference": "SR-1", "Date": "2026-09-20", "LineAmountTypes": "Exclusive",
            "LineItems": [{"ItemCode": "WIDGET", "Quantity": 2, "TaxType": "OUTPUT"}]}
    made = xero.send("PUT", "BankTransactions", sale)
    assert made.status_code == 200, made.text
    [line] = made.json()["BankTransactions"][0]["LineItems"]
    assert (line["ItemCode"], line["AccountCode"], line["Description"], line["UnitAmount"], line["LineAmount"],
            line["TaxAmount"]) == ("WIDGET", "200", "Widget", 150, 300, 45)
    assert made.json()["BankTransactions"][0]["Total"] == 345
    unknown = xero.send("PUT", "BankTransactions", {**sale, "Reference": "SR-2",
                                                    "LineItems": [{"ItemCode": "GADGET", "Quantity": 1}]})
    assert unknown.status_code == 400
    assert errors(unknown) == ["Item code 'GADGET' is not valid"]
    assert len(xero.get("BankTransactions").json()["BankTransactions"]) == 1
