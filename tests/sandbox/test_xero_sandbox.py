"""The Xero sandbox over real HTTP on loopback: identity (token expiry, rotation, connections), tenancy,
the Accounting API (contacts, bills with tracking and computed totals, batches with and without
summarizeErrors, Idempotency-Key, If-Modified-Since paging, IDs filters, payments, manual journals, attachments),
limits, faults, persistence and the command line. (xero-python is not installable offline: no SDK test.)"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
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


def test_a_bill_with_lines_and_tracking_is_read_back_with_computed_totals(xero):
    contact_id = supplier(xero)
    created = xero.send("PUT", "Invoices", {"Invoices": [bill(contact_id, "DM-1001", (2, "10.50"), (1, "100"))]})
    assert created.status_code == 200, created.text
    invoice_id = created.json()["Invoices"][0]["InvoiceID"]
    read = xero.get(f"Invoices/{invoice_id}").json()["Invoices"][0]
    assert (read["SubTotal"], read["TotalTax"], read["Total"], read["AmountDue"]) == (121, 18.15, 139.15, 139.15)
    assert read["Status"] == "AUTHORISED" and read["Type"] == "ACCPAY" and read["Reference"] == "DM-1001"
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
    assert sorted(i["Reference"] for i in xero.get("Invoices").json()["Invoices"]) == ["G1", "G2"]

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
