"""The Xero sandbox over real HTTP on loopback: identity (token expiry, rotation, connections), tenancy,
the Accounting API (contacts, bills with tracking and computed totals, batches with and without
summarizeErrors, Idempotency-Key, If-Modified-Since paging, IDs filters, payments, manual journals,
attachments, credit notes, items, deleting a payment), limits (concurrent, minute, day, app minute),
faults, persistence and the command line. xero-python's view of it is tests/sandbox/test_xero_sdk.py."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from email.utils import formatdate

import pytest
import requests
from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread
from support import FakeClock

START = 1_790_000_000.0  # 2026-09-21
CLIENT = ("ledgerbridge-test", "test-secret")
API = "/api.xro/2.0"


class Xero:
    """A served sandbox, one connected tenant and a fresh access token."""

    def __init__(self, **options) -> None:
        self.clock = FakeClock(START)
        self.sandbox = XeroSandbox(clients=dict([CLIENT]), clock=self.clock, **options)
        self.server = serve_in_thread(self.sandbox)
        self.url = self.server.url
        made = requests.post(f"{self.url}/_sandbox/tenants", json={"client_id": CLIENT[0], "name": "Demo NZ"},
                             timeout=10).json()
        self.tenant, self.refresh_token = made["tenant_id"], made["refresh_token"]
        self.refresh()

    def refresh(self) -> requests.Response:
        reply = requests.post(f"{self.url}/connect/token", auth=CLIENT, timeout=10,
                              data={"grant_type": "refresh_token", "refresh_token": self.refresh_token})
        if reply.ok:
            self.access_token, self.refresh_token = reply.json()["access_token"], reply.json()["refresh_token"]
        return reply

    def headers(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.access_token}", "xero-tenant-id": self.tenant,
                "Accept": "application/json", **extra}

    def get(self, path: str, headers: dict | None = None, **params) -> requests.Response:
        return requests.get(f"{self.url}{API}/{path}", headers={**self.headers(), **(headers or {})},
                            params=params, timeout=10)

    def send(self, method: str, path: str, body, headers: dict | None = None, **params) -> requests.Response:
        return requests.request(method, f"{self.url}{API}/{path}", json=body, params=params, timeout=10,
                                headers={**self.headers(), **(headers or {})})


@pytest.fixture
def xero():
    served = Xero(rate_limits=False)
    yield served
    served.server.stop()


def bill(contact_id: str, reference: str, *lines, status: str = "AUTHORISED") -> dict:
    return {"Type": "ACCPAY", "Contact": {"ContactID": contact_id}, "InvoiceNumber": reference,
            "Reference": reference, "Status": status, "Date": "2026-09-20", "DueDate": "2026-10-20",
            "LineAmountTypes": "Exclusive",
            "LineItems": [{"Description": f"line {i}", "Quantity": q, "UnitAmount": u, "AccountCode": "429",
                           "TaxType": "INPUT", "Tracking": [{"Name": "Region", "Option": "North"}]}
                          for i, (q, u) in enumerate(lines, 1)]}


def supplier(xero: Xero, name: str = "Dunder Mifflin Paper") -> str:
    reply = xero.send("PUT", "Contacts", {"Contacts": [{"Name": name, "ContactNumber": "V-1"}]})
    assert reply.status_code == 200, reply.text
    return reply.json()["Contacts"][0]["ContactID"]


def test_access_tokens_expire_and_refresh_tokens_rotate(xero):
    assert xero.get("Contacts").status_code == 200
    connections = requests.get(f"{xero.url}/connections", timeout=10,
                               headers={"Authorization": f"Bearer {xero.access_token}"}).json()
    assert [(c["tenantId"], c["tenantType"], c["tenantName"]) for c in connections] == [
        (xero.tenant, "ORGANISATION", "Demo NZ")]
    xero.clock.advance(1801)
    expired = xero.get("Contacts")
    assert expired.status_code == 401 and expired.json()["Detail"].startswith("TokenExpired")
    old_refresh = xero.refresh_token
    assert xero.refresh().status_code == 200 and xero.refresh_token != old_refresh
    assert xero.get("Contacts").status_code == 200
    reused = requests.post(f"{xero.url}/connect/token", auth=CLIENT, timeout=10,
                           data={"grant_type": "refresh_token", "refresh_token": old_refresh})
    assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant"}
    wrong_secret = requests.post(f"{xero.url}/connect/token", auth=(CLIENT[0], "nope"), timeout=10,
                                 data={"grant_type": "refresh_token", "refresh_token": xero.refresh_token})
    assert wrong_secret.json() == {"error": "invalid_client"}


def test_the_tenant_header_is_required_and_must_be_connected(xero):
    missing = requests.get(f"{xero.url}{API}/Contacts", timeout=10,
                           headers={"Authorization": f"Bearer {xero.access_token}"})
    assert missing.status_code == 403 and missing.json()["Title"] == "Forbidden"
    other = xero.get("Contacts", headers={"xero-tenant-id": "00000000-0000-0000-0000-000000000001"})
    assert other.status_code == 403 and other.json()["Detail"] == "AuthenticationUnsuccessful"
    unauthenticated = requests.get(f"{xero.url}{API}/Contacts", headers={"xero-tenant-id": xero.tenant}, timeout=10)
    assert unauthenticated.status_code == 401


def test_the_organisation_answers_in_xeros_shape_with_what_it_was_created_with(xero):
    first = xero.get("Organisation").json()["Organisations"]
    made = requests.post(f"{xero.url}/_sandbox/tenants", timeout=10, json={
        "client_id": CLIENT[0], "name": "Kiwi Ltd", "base_currency": "NZD", "country_code": "NZ"}).json()
    xero.refresh_token = made["refresh_token"]
    xero.refresh()
    second = xero.get("organisation", headers={"xero-tenant-id": made["tenant_id"]}).json()["Organisations"]

    assert [(o["Name"], o["BaseCurrency"], o["CountryCode"]) for o in first] == [("Demo NZ", "USD", "US")]
    assert [(o["OrganisationID"], o["Name"], o["BaseCurrency"], o["CountryCode"]) for o in second] == [
        (made["tenant_id"], "Kiwi Ltd", "NZD", "NZ")]
    assert re.fullmatch(r"![0-9a-f]{5}", second[0]["ShortCode"]) and second[0]["ShortCode"] != first[0]["ShortCode"]


def test_a_bill_with_lines_and_tracking_is_read_back_with_computed_totals(xero):
    contact_id = supplier(xero)
    created = xero.send("PUT", "Invoices", {"Invoices": [bill(contact_id, "DM-1001", (2, "10.50"), (1, "100"))]})
    assert created.status_code == 200, created.text
    invoice_id = created.json()["Invoices"][0]["InvoiceID"]
    read = xero.get(f"Invoices/{invoice_id}").json()["Invoices"][0]
    assert (read["SubTotal"], read["TotalTax"], read["Total"], read["AmountDue"]) == (121, 18.15, 139.15, 139.15)
    assert read["Status"] == "AUTHORISED" and read["Type"] == "ACCPAY" and read["InvoiceNumber"] == "DM-1001"
    assert "Reference" not in read  # Xero keeps a Reference on sales documents only
    assert read["LineItems"][0]["Tracking"] == [{"Name": "Region", "Option": "North"}]
    assert read["LineItems"][0]["LineAmount"] == 21 and read["LineItems"][0]["TaxAmount"] == 3.15
    assert re.fullmatch(r"/Date\(\d+\+0000\)/", read["UpdatedDateUTC"])
    contact = xero.get(f"Contacts/{contact_id}").json()["Contacts"][0]
    assert contact["IsSupplier"] is True and contact["IsCustomer"] is False
    sale = xero.send("PUT", "Invoices", {"Type": "ACCREC", "Contact": {"Name": "Vance Refrigeration"},
                                         "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10,
                                                        "AccountCode": "200"}]}).json()["Invoices"][0]
    assert sale["InvoiceNumber"] == "INV-0002" and sale["TotalTax"] == 1.5 and sale["Status"] == "DRAFT"
    duplicate = xero.send("PUT", "Invoices", {**bill(contact_id, "x", (1, 1)), "Type": "ACCREC",
                                              "InvoiceNumber": "INV-0002"})
    assert duplicate.status_code == 400
    assert duplicate.json()["Elements"][0]["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]
    taken = xero.send("PUT", "Contacts", {"Name": "dunder mifflin paper"})
    assert taken.status_code == 400 and "already assigned" in taken.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_currency_rate_is_foreign_per_base_the_days_when_none_is_sent_and_1_in_the_base_currency(xero):
    contact_id = supplier(xero)  # the organisation's base currency is USD; NZD is enabled

    def sent(reference: str, **fields) -> requests.Response:
        return xero.send("PUT", "Invoices", {**bill(contact_id, reference, (1, "90")), **fields})

    given = sent("R-1", CurrencyCode="NZD", CurrencyRate="1.63934426")
    assert given.status_code == 200, given.text
    assert given.json()["Invoices"][0]["CurrencyRate"] == 1.639344  # six places, as Xero keeps it
    days = sent("R-2", CurrencyCode="NZD").json()["Invoices"][0]
    assert days["CurrencyRate"] == 1.6523  # the sandbox's rate of the day, NZD per 1 USD
    home = sent("R-3", CurrencyRate="0.5").json()["Invoices"][0]
    assert (home["CurrencyCode"], home["CurrencyRate"]) == ("USD", 1)
    for rate in ("0", "-1.2", "abc"):
        refused = sent(f"R-bad-{rate}", CurrencyCode="NZD", CurrencyRate=rate)
        assert refused.status_code == 400
        assert refused.json()["Elements"][0]["ValidationErrors"] == [
            {"Message": "The currency rate must be a number greater than zero"}]
    # Changing a document keeps the rate it was booked at unless a new one is given.
    changed = xero.send("POST", f"Invoices/{days['InvoiceID']}", {"InvoiceID": days["InvoiceID"],
                                                                 "Reference": "R-2b"})
    assert changed.status_code == 200, changed.text
    assert xero.get(f"Invoices/{days['InvoiceID']}").json()["Invoices"][0]["CurrencyRate"] == 1.6523


def test_summarize_errors_false_applies_the_good_and_names_the_bad(xero):
    contact_id = supplier(xero)
    bad = {**bill(contact_id, "BAD", (1, 5)), "LineItems": [{"Description": "?", "Quantity": 1, "UnitAmount": 5,
                                                             "AccountCode": "999"}]}
    batch = {"Invoices": [bill(contact_id, "G1", (1, 5)), bad, bill(contact_id, "G2", (1, 7))]}
    reply = xero.send("POST", "Invoices", batch, summarizeErrors="false")
    assert reply.status_code == 200
    answered = reply.json()["Invoices"]
    assert [a["StatusAttributeString"] for a in answered] == ["OK", "ERROR", "OK"]
    assert answered[1]["ValidationErrors"] == [{"Message": "Account code '999' is not a valid code for this document."}]
    assert sorted(i["InvoiceNumber"] for i in xero.get("Invoices").json()["Invoices"]) == ["G1", "G2"]

    whole = xero.send("POST", "Invoices", {"Invoices": [bill(contact_id, "G3", (1, 5)), bad]})
    assert whole.status_code == 400
    body = whole.json()
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (10, "ValidationException",
                                                                    "A validation exception occurred")
    assert body["Elements"][0]["Reference"] == "BAD" and body["Elements"][0]["ValidationErrors"]
    assert len(xero.get("Invoices").json()["Invoices"]) == 2  # G3 was not kept


def test_the_same_idempotency_key_returns_the_first_answer_and_creates_one_invoice(xero):
    contact_id = supplier(xero)
    key = {"Idempotency-Key": "bill-DM-77-attempt"}
    first = xero.send("PUT", "Invoices", {"Invoices": [bill(contact_id, "DM-77", (1, 5))]}, headers=key)
    again = xero.send("PUT", "Invoices", {"Invoices": [bill(contact_id, "DM-77", (1, 5))]}, headers=key)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert len(xero.get("Invoices").json()["Invoices"]) == 1
    assert xero.sandbox.stats(xero.tenant)["idempotency_replays"] == 1
    xero.clock.advance(86401)  # past the key's lifetime (a fresh token too)
    xero.refresh()
    assert xero.send("PUT", "Invoices", bill(contact_id, "DM-77", (1, 5)), headers=key).status_code == 200
    assert len(xero.get("Invoices").json()["Invoices"]) == 2


def test_if_modified_since_and_pages_of_100(xero):
    xero.send("PUT", "Contacts", {"Contacts": [{"Name": f"Old {i}"} for i in range(3)]})
    xero.clock.advance(60)
    cut = xero.clock.now
    xero.clock.advance(1)
    reply = xero.send("PUT", "Contacts", {"Contacts": [{"Name": f"New {i:03d}"} for i in range(150)]})
    assert reply.status_code == 200
    header = {"If-Modified-Since": formatdate(cut, usegmt=True)}
    page1 = xero.get("Contacts", headers=header, page=1).json()["Contacts"]
    page2 = xero.get("Contacts", headers=header, page=2).json()["Contacts"]
    page3 = xero.get("Contacts", headers=header, page=3).json()["Contacts"]
    assert (len(page1), len(page2), page3) == (100, 50, [])
    assert {c["Name"] for c in page1 + page2} == {f"New {i:03d}" for i in range(150)}
    assert len(xero.get("Contacts", headers={"If-Modified-Since": "2026-09-21T00:00:00"}).json()["Contacts"]) == 153
    assert len(xero.get("Contacts").json()["Contacts"]) == 153  # no page: all of them


def test_ids_filters_invoices_to_the_ones_named_and_pages_them(xero):
    contact = supplier(xero)
    made = xero.send("PUT", "Invoices", {"Invoices": [bill(contact, f"B-{n:03d}", (1, n + 1)) for n in range(120)]})
    ids = [invoice["InvoiceID"] for invoice in made.json()["Invoices"]]
    wanted = ids[5:115:2] + ["00000000-0000-0000-0000-000000000000"]  # 55 of ours and one nobody has

    page1 = xero.get("Invoices", IDs=",".join(i.upper() for i in wanted), page=1).json(parse_float=Decimal)["Invoices"]

    assert {i["InvoiceID"] for i in page1} == set(ids[5:115:2])
    assert {i["InvoiceID"]: i["Total"] for i in page1}[ids[7]] == Decimal("9.20")  # 8.00 and 15% tax
    assert len(xero.get("Invoices", IDs=",".join(ids[:110]), page=2).json()["Invoices"]) == 10  # 100 a page
    assert len(xero.get("Invoices").json()["Invoices"]) == 120  # without IDs: all


def test_a_partial_payment_lowers_amount_due_and_the_rest_pays_it(xero):
    contact_id = supplier(xero)
    invoice = xero.send("PUT", "Invoices", bill(contact_id, "P-1", (1, 100))).json()["Invoices"][0]
    pay = {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-09-22"}
    assert xero.send("PUT", "Payments", {"Payments": [{**pay, "Amount": "40.00"}]}).status_code == 200
    partly = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (partly["AmountPaid"], partly["AmountDue"], partly["Status"]) == (40, 75, "AUTHORISED")
    too_much = xero.send("PUT", "Payments", {**pay, "Amount": 80})
    assert too_much.status_code == 400 and "exceeds" in too_much.text
    assert xero.send("PUT", "Payments", {**pay, "Amount": 75}).status_code == 200
    paid = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (paid["AmountDue"], paid["Status"], len(paid["Payments"])) == (0, "PAID", 2)


def test_a_manual_journal_must_balance(xero):
    lines = [{"AccountCode": "429", "LineAmount": 50, "Description": "accrual"},
             {"AccountCode": "800", "LineAmount": -45}]
    refused = xero.send("PUT", "ManualJournals", {"Narration": "Accrual", "JournalLines": lines})
    assert refused.status_code == 400
    assert refused.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "The total debits (50.00) must equal total credits (45.00)"}]
    lines[1]["LineAmount"] = -50
    made = xero.send("PUT", "ManualJournals", {"Narration": "Accrual", "JournalLines": lines})
    assert made.status_code == 200 and made.json()["ManualJournals"][0]["Status"] == "DRAFT"


def test_an_attachment_is_stored_with_the_invoice(xero):
    invoice = xero.send("PUT", "Invoices", bill(supplier(xero), "A-1", (1, 9))).json()["Invoices"][0]
    path = f"Invoices/{invoice['InvoiceID']}/Attachments/receipt.pdf"
    stored = requests.put(f"{xero.url}{API}/{path}", data=b"%PDF-1.4 receipt", timeout=10,
                          headers={**xero.headers(), "Content-Type": "application/pdf"})
    assert stored.status_code == 200, stored.text
    attachment = stored.json()["Attachments"][0]
    assert (attachment["FileName"], attachment["MimeType"], attachment["ContentLength"]) == (
        "receipt.pdf", "application/pdf", 16)
    assert xero.get(path).content == b"%PDF-1.4 receipt"
    assert xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["HasAttachments"] is True


def test_the_minute_limit_gives_429_and_the_remaining_headers_count_down():
    xero = Xero(per_minute=5)
    try:
        remaining = [xero.get("Currencies").headers["X-MinLimit-Remaining"] for _ in range(5)]
        assert remaining == ["4", "3", "2", "1", "0"]
        refused = xero.get("Currencies")
        assert refused.status_code == 429
        assert refused.headers["X-Rate-Limit-Problem"] == "minute" and int(refused.headers["Retry-After"]) == 60
        assert refused.headers["X-DayLimit-Remaining"] == "4995"
        assert refused.headers["X-AppMinLimit-Remaining"] == "9995"
        xero.clock.advance(61)
        assert xero.get("Currencies").status_code == 200
    finally:
        xero.server.stop()



def test_credit_notes_of_both_kinds_are_numbered_totalled_and_validated(xero):
    contact_id = supplier(xero)
    lines = [{"Description": "returned", "Quantity": 2, "UnitAmount": "12.50", "AccountCode": "200"}]
    sale_credit = xero.send("PUT", "CreditNotes", {"CreditNotes": [
        {"Type": "ACCRECCREDIT", "Contact": {"Name": "Vance Refrigeration"}, "Status": "AUTHORISED",
         "Date": "2026-09-20", "LineItems": lines}]})
    assert sale_credit.status_code == 200, sale_credit.text
    made = sale_credit.json()["CreditNotes"][0]
    assert (made["CreditNoteNumber"], made["Total"], made["TotalTax"], made["RemainingCredit"]) == (
        "CN-0001", 28.75, 3.75, 28.75)
    assert made["Date"] == "/Date(1789862400000+0000)/"
    supplier_credit = xero.send("PUT", "CreditNotes", {
        "Type": "ACCPAYCREDIT", "Contact": {"ContactID": contact_id}, "CreditNoteNumber": "DM-CR-9",
        "LineAmountTypes": "NoTax", "LineItems": [{**lines[0], "AccountCode": "429"}]}).json()["CreditNotes"][0]
    assert (supplier_credit["Total"], supplier_credit["TotalTax"], supplier_credit["Status"]) == (25, 0, "DRAFT")
    assert xero.get(f"CreditNotes/{supplier_credit['CreditNoteID']}").json()["CreditNotes"][0][
        "CreditNoteNumber"] == "DM-CR-9"

    refused = xero.send("PUT", "CreditNotes", {"CreditNotes": [
        {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": lines},
        {"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact_id}, "CreditNoteNumber": "CN-0001",
         "LineItems": lines},
        {"Type": "ACCPAYCREDIT", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED", "LineItems": []},
        {"Type": "ACCPAYCREDIT", "Contact": {"ContactID": contact_id}, "Date": "20/09/2026", "LineItems": lines}]},
        summarizeErrors="false")
    assert [(e["StatusAttributeString"], e["ValidationErrors"]) for e in refused.json()["CreditNotes"]] == [
        ("ERROR", [{"Message": "Type must be one of ACCPAYCREDIT, ACCRECCREDIT"}]),
        ("ERROR", [{"Message": "Credit Note # must be unique."}]),
        ("ERROR", [{"Message": "Documents must have at least one line item to be approved"}]),
        ("ERROR", [{"Message": "Date '20/09/2026' is not a valid date"}])]
    assert len(xero.get("CreditNotes").json()["CreditNotes"]) == 2


def test_items_have_unique_codes_and_update_by_id(xero):
    made = xero.send("PUT", "Items", {"Items": [{"Code": "PAPER-A4", "Name": "A4 paper",
                                                 "PurchaseDetails": {"UnitPrice": "4.25", "AccountCode": "429"}}]})
    assert made.status_code == 200, made.text
    item_id = made.json()["Items"][0]["ItemID"]
    duplicate = xero.send("PUT", "Items", {"Code": "PAPER-A4", "Name": "Another"})
    assert duplicate.status_code == 400
    assert duplicate.json()["Elements"][0]["ValidationErrors"] == [{"Message": "Item code 'PAPER-A4' already exists"}]
    no_code = xero.send("PUT", "Items", {"Name": "Nameless"})
    assert no_code.json()["Elements"][0]["ValidationErrors"] == [{"Message": "Item code must be specified"}]
    no_price = xero.send("PUT", "Items", {"Code": "PEN", "SalesDetails": {"UnitPrice": "ten"}})
    assert no_price.json()["Elements"][0]["ValidationErrors"] == [{"Message": "SalesDetails.UnitPrice must be a number"}]
    renamed = xero.send("POST", f"Items/{item_id}", {"Name": "A4 paper, 80 g"})
    assert renamed.status_code == 200, renamed.text
    items = xero.get("Items").json()["Items"]
    assert [(i["ItemID"], i["Code"], i["Name"], i["PurchaseDetails"]["UnitPrice"]) for i in items] == [
        (item_id, "PAPER-A4", "A4 paper, 80 g", 4.25)]
    missing = xero.send("POST", "Items/00000000-0000-0000-0000-000000000009", {"Name": "x"})
    assert missing.status_code == 400 and "was not found" in missing.text


def test_deleting_a_payment_lists_it_as_deleted_and_gives_the_amount_due_back(xero):
    invoice = xero.send("PUT", "Invoices", bill(supplier(xero), "D-1", (1, 100))).json()["Invoices"][0]
    pay = {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-09-22"}
    payment = xero.send("PUT", "Payments", {**pay, "Amount": "115.00"}).json()["Payments"][0]
    paid = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (paid["Status"], paid["AmountDue"], paid["FullyPaidOnDate"]) == ("PAID", 0, "/Date(1790035200000+0000)/")
    xero.clock.advance(5)
    cut = formatdate(xero.clock.now, usegmt=True)
    xero.clock.advance(1)

    deleted = xero.send("POST", f"Payments/{payment['PaymentID']}", {"Status": "DELETED"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["Payments"][0]["Status"] == "DELETED"
    assert [(p["PaymentID"], p["Status"]) for p in xero.get("Payments").json()["Payments"]] == [
        (payment["PaymentID"], "DELETED")]
    reopened = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (reopened["Status"], reopened["AmountPaid"], reopened["AmountDue"], reopened["Payments"]) == (
        "AUTHORISED", 0, 115, [])
    assert "FullyPaidOnDate" not in reopened
    changed = xero.get("Payments", headers={"If-Modified-Since": cut}).json()["Payments"]
    assert [p["Status"] for p in changed] == ["DELETED"]
    again = xero.send("POST", f"Payments/{payment['PaymentID']}", {"Status": "DELETED"})
    assert again.status_code == 400 and "can only be deleted" in again.text
    assert xero.send("PUT", "Payments", {**pay, "Amount": "115.00"}).status_code == 200  # it can be paid again


def test_a_sixth_call_in_progress_gives_429_concurrent():
    xero = Xero()
    try:
        requests.post(f"{xero.url}/_sandbox/faults", json={"latency_seconds": 0.5}, timeout=10).raise_for_status()
        start = threading.Barrier(6)

        def call(_):
            start.wait()
            return xero.get("Currencies")
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(call, range(6)))
        assert sorted(a.status_code for a in answers) == [200] * 5 + [429]
        refused = next(a for a in answers if a.status_code == 429)
        assert (refused.headers["X-Rate-Limit-Problem"], refused.headers["Retry-After"]) == ("concurrent", "1")
        requests.post(f"{xero.url}/_sandbox/faults", json={}, timeout=10).raise_for_status()
        assert xero.get("Currencies").status_code == 200  # the five that ended left room
    finally:
        xero.server.stop()


def test_the_day_limit_gives_429_day_until_a_day_has_passed():
    xero = Xero(per_day=3)
    try:
        assert [xero.get("Currencies").headers["X-DayLimit-Remaining"] for _ in range(3)] == ["2", "1", "0"]
        xero.clock.advance(1000)
        refused = xero.get("Currencies")
        assert refused.status_code == 429
        assert (refused.headers["X-Rate-Limit-Problem"], refused.headers["X-MinLimit-Remaining"]) == ("day", "60")
        assert int(refused.headers["Retry-After"]) == 86400 - 1000
        xero.clock.advance(86400 - 1000)
        assert xero.refresh().status_code == 200  # the token endpoint is not counted
        assert xero.get("Currencies").status_code == 200
    finally:
        xero.server.stop()


def test_the_app_minute_limit_is_shared_by_the_apps_tenants():
    xero = Xero(app_per_minute=4)
    try:
        other_tenant, other_refresh = xero.sandbox.create_tenant(CLIENT[0], "Demo AU")
        other_token = requests.post(f"{xero.url}/connect/token", auth=CLIENT, timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": other_refresh}).json()["access_token"]
        other = {"Authorization": f"Bearer {other_token}", "xero-tenant-id": other_tenant}
        assert [xero.get("Currencies").headers["X-AppMinLimit-Remaining"] for _ in range(3)] == ["3", "2", "1"]
        assert xero.get("Currencies", headers=other).headers["X-AppMinLimit-Remaining"] == "0"
        refused = xero.get("Currencies", headers=other)
        assert refused.status_code == 429
        assert (refused.headers["X-Rate-Limit-Problem"], refused.headers["X-MinLimit-Remaining"]) == ("appminute", "59")
        assert int(refused.headers["Retry-After"]) == 60
        xero.clock.advance(61)
        assert xero.get("Currencies", headers=other).status_code == 200
    finally:
        xero.server.stop()

def test_a_dropped_answer_after_the_commit_leaves_the_record(xero):
    requests.post(f"{xero.url}/_sandbox/faults", json={"drop_rate": 1.0}, timeout=10).raise_for_status()
    with pytest.raises(requests.exceptions.RequestException):
        xero.send("PUT", "Contacts", {"Name": "Committed Then Dropped"})
    requests.post(f"{xero.url}/_sandbox/faults", json={"error_rate": 1.0}, timeout=10).raise_for_status()
    assert xero.send("PUT", "Contacts", {"Name": "Never Made"}).status_code == 500
    requests.post(f"{xero.url}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    names = [c["Name"] for c in xero.get("Contacts").json()["Contacts"]]
    assert names == ["Committed Then Dropped"]


def test_state_round_trips_through_a_file(xero, tmp_path):
    contact_id = supplier(xero)
    invoice = xero.send("PUT", "Invoices", bill(contact_id, "S-1", (3, "3.33"))).json()["Invoices"][0]
    xero.sandbox.save(tmp_path / "xero.json")
    loaded = XeroSandbox.load(tmp_path / "xero.json", clients=dict([CLIENT]), clock=xero.clock, rate_limits=False)
    again = loaded.tenants[xero.tenant].records["Invoices"][invoice["InvoiceID"]]
    assert again["Total"] == Decimal("11.49") and isinstance(again["Total"], Decimal)
    served = serve_in_thread(loaded)
    try:
        reply = requests.get(f"{served.url}{API}/Invoices/{invoice['InvoiceID']}", headers=xero.headers(), timeout=10)
        assert reply.status_code == 200 and reply.json()["Invoices"][0]["AmountDue"] == 11.49
    finally:
        served.stop()


def test_command_line_serves_and_saves_on_shutdown(tmp_path):
    state = tmp_path / "xero.json"
    process = subprocess.Popen([sys.executable, "-m", "ledgerbridge.cli", "sandbox", "xero", "--port", "0",
                                "--state", str(state), "--client-id", "cli", "--client-secret", "cli-secret"],
                               stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"listening on (http://\S+)", process.stderr.readline()).group(1)
        made = requests.post(f"{url}/_sandbox/tenants", json={"client_id": "cli"}, timeout=10)
        assert made.status_code == 201
        token = requests.post(f"{url}/connect/token", auth=("cli", "cli-secret"), timeout=10,
                              data={"grant_type": "refresh_token", "refresh_token": made.json()["refresh_token"]})
        assert token.status_code == 200 and token.json()["expires_in"] == 1800
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert made.json()["tenant_id"] in XeroSandbox.load(state).tenants


def test_a_given_tax_amount_overrides_the_one_xero_works_out(xero):
    contact_id = supplier(xero)
    given = bill(contact_id, "DM-2001", (1, "33.37"), (1, "100"))
    given["LineItems"][0]["TaxAmount"] = "5.00"  # 15% of 33.37 would be 5.01
    read = xero.send("PUT", "Invoices", given).json()["Invoices"][0]
    assert [line["TaxAmount"] for line in read["LineItems"]] == [5, 15]
    assert (read["SubTotal"], read["TotalTax"], read["Total"]) == (133.37, 20, 153.37)
    inclusive = {**given, "InvoiceNumber": "DM-2002", "LineAmountTypes": "Inclusive"}
    read = xero.send("PUT", "Invoices", inclusive).json()["Invoices"][0]
    assert (read["SubTotal"], read["TotalTax"], read["Total"]) == (115.33, 18.04, 133.37)  # 5.00 + 13.04
    untaxed = {**given, "InvoiceNumber": "DM-2003", "LineAmountTypes": "NoTax"}
    assert xero.send("PUT", "Invoices", untaxed).json()["Invoices"][0]["TotalTax"] == 0
    bad = {**given, "InvoiceNumber": "DM-2004", "LineItems": [{**given["LineItems"][0], "TaxAmount": "lots"}]}
    refused = xero.send("PUT", "Invoices", bad)
    assert refused.status_code == 400
    assert {"Message": "Line 1: the TaxAmount must be a number"} in refused.json()["Elements"][0]["ValidationErrors"]
