"""The QBO sandbox over real HTTP: OAuth, CRUD, queries, faults, payments, void, attachments, batch, limits,
persistence."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC
from decimal import Decimal

import pytest
import requests
from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread
from ledgerbridge.sandbox.qbo.codec import dumps, parse_instant
from ledgerbridge.sandbox.qbo.limits import RealmLimiter

CLIENT = ("ledgerbridge-demo", "demo-secret")
START = 1_780_000_000.0  # 2026-05-28; the clock, sandbox and server fixtures are in conftest.py


class Api:
    """A minimal QBO client for one realm."""

    def __init__(self, url: str, realm_id: str, refresh_token: str) -> None:
        self.url, self.realm_id, self.refresh_token = url, realm_id, refresh_token
        self.refresh()

    def refresh(self) -> dict:
        reply = requests.post(f"{self.url}/oauth2/v1/tokens/bearer", auth=CLIENT,
                              data={"grant_type": "refresh_token", "refresh_token": self.refresh_token})
        assert reply.status_code == 200, reply.text
        self.refresh_token, self.access_token = reply.json()["refresh_token"], reply.json()["access_token"]
        return reply.json()

    def _send(self, method: str, path: str, realm_id: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json",
                   **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/v3/company/{realm_id or self.realm_id}/{path}",
                                headers=headers, params={"minorversion": "75", **kwargs.pop("params", {})},
                                **kwargs)

    def post(self, entity: str, body: dict, **params) -> requests.Response:
        return self._send("POST", entity.lower(), params=params, data=dumps(body),
                          headers={"Content-Type": "application/json"})

    def get(self, path: str, realm_id: str | None = None) -> requests.Response:
        return self._send("GET", path, realm_id)

    def query(self, text: str) -> requests.Response:
        return self._send("GET", "query", params={"query": text})

    def create(self, entity: str, body: dict, **params) -> dict:
        reply = self.post(entity, body, **params)
        assert reply.status_code == 200, reply.text
        return body_of(reply)[entity]

    def account_id(self, name: str) -> str:
        return body_of(self.query(f"select * from Account where Name = '{name}'"))["QueryResponse"]["Account"][0]["Id"]


def body_of(reply: requests.Response) -> dict:
    return json.loads(reply.text, parse_float=Decimal)


def fault_of(reply: requests.Response, status: int = 400) -> dict:
    assert reply.status_code == status, reply.text
    body = body_of(reply)
    assert set(body) == {"Fault", "time"}
    return body["Fault"]["Error"][0]


def bill(vendor_id: str, account_id: str, *amounts: str, **fields) -> dict:
    return {"VendorRef": {"value": vendor_id}, **fields,
            "Line": [{"DetailType": "AccountBasedExpenseLineDetail", "Amount": Decimal(a),
                      "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account_id}}} for a in amounts]}


def invoice(customer_id: str, item_id: str, *amounts: str, **fields) -> dict:
    return {"CustomerRef": {"value": customer_id}, **fields,
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": Decimal(a),
                      "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": Decimal(a)}}
                     for a in amounts]}


def bill_payment(vendor_id: str, bank_id: str, applied: dict[str, str]) -> dict:
    """A BillPayment by check paying {bill Id: amount}."""
    return {"VendorRef": {"value": vendor_id}, "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": bank_id}},
            "TotalAmt": sum(Decimal(a) for a in applied.values()),
            "Line": [{"Amount": Decimal(a), "LinkedTxn": [{"TxnId": i, "TxnType": "Bill"}]}
                     for i, a in applied.items()]}


def payment(customer_id: str, applied: dict[str, str]) -> dict:
    """A customer Payment paying {invoice Id: amount}."""
    return {"CustomerRef": {"value": customer_id}, "TotalAmt": sum(Decimal(a) for a in applied.values()),
            "Line": [{"Amount": Decimal(a), "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]}
                     for i, a in applied.items()]}


def upload(api: Api, metadata: dict | None, content: bytes | None, file_name: str = "receipt.pdf",
           **params) -> requests.Response:
    """POST /upload as Intuit documents it: file_metadata_0 (JSON) and file_content_0 (the bytes)."""
    files = {}
    if metadata is not None:
        files["file_metadata_0"] = (None, dumps(metadata), "application/json")
    if content is not None:
        files["file_content_0"] = (file_name, content, "application/pdf")
    return api._send("POST", "upload", params=params, files=files)


@pytest.fixture
def api(sandbox, server) -> Api:
    return Api(server.url, *sandbox.create_realm(client_id=CLIENT[0], company_name="Acme US"))


@pytest.fixture
def vendor(api) -> dict:
    return api.create("Vendor", {"DisplayName": "Acme Widgets"})


@pytest.fixture
def expense(api) -> str:
    return api.account_id("Office Expenses")


@pytest.fixture
def customer(api) -> dict:
    return api.create("Customer", {"DisplayName": "Brown, Nick"})


@pytest.fixture
def services(api) -> str:
    return body_of(api.query("select * from Item where Name = 'Services'"))["QueryResponse"]["Item"][0]["Id"]


# -- OAuth -------------------------------------------------------------------------------------
def test_refresh_rotates_token_and_old_one_is_invalid_grant(api, server):
    old = api.refresh_token
    reply = api.refresh()
    assert reply["refresh_token"] != old and reply["expires_in"] == 3600
    assert reply["token_type"] == "bearer" and reply["x_refresh_token_expires_in"] == 8726400
    for token in (old, "never-issued"):
        again = requests.post(f"{server.url}/oauth2/v1/tokens/bearer", auth=CLIENT,
                              data={"grant_type": "refresh_token", "refresh_token": token})
        assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})
    wrong = requests.post(f"{server.url}/oauth2/v1/tokens/bearer", auth=(CLIENT[0], "nope"),
                          data={"grant_type": "refresh_token", "refresh_token": api.refresh_token})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})


def test_access_token_expires_on_the_clock(api, clock):
    assert api.get("preferences").status_code == 200
    clock.advance(3599)
    assert api.get("preferences").status_code == 200
    clock.advance(1)
    error = fault_of(api.get("preferences"), 401)
    assert error["code"] == "3200"
    assert error["Message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert body_of(api.get("preferences"))["Fault"]["type"] == "AUTHENTICATION"
    api.refresh()
    assert api.get("preferences").status_code == 200


def test_access_token_is_bound_to_its_realm(api, sandbox):
    other_realm, _ = sandbox.create_realm(client_id=CLIENT[0], company_name="Acme EU")
    reply = api.get("preferences", realm_id=other_realm)
    assert fault_of(reply, 403)["code"] == "3100"
    assert body_of(reply)["Fault"]["type"] == "AuthorizationFault"
    api.access_token = "forged"
    assert fault_of(api.get("preferences"), 401)["code"] == "3200"


# -- CRUD and queries --------------------------------------------------------------------------
def test_create_read_sparse_update_and_stale_sync_token(api, vendor):
    assert vendor["SyncToken"] == "0" and vendor["domain"] == "QBO" and vendor["Balance"] == 0
    read = body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]
    assert read == vendor
    updated = api.create("Vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "AcctNum": "A-1"})
    assert updated["SyncToken"] == "1" and updated["DisplayName"] == "Acme Widgets" and updated["AcctNum"] == "A-1"
    assert parse_instant(updated["MetaData"]["LastUpdatedTime"]) > parse_instant(vendor["MetaData"]["LastUpdatedTime"])
    assert fault_of(api.post("Vendor", {"Id": vendor["Id"], "SyncToken": "0", "DisplayName": "X"}))["code"] == "5010"
    assert fault_of(api.get("vendor/9999"))["code"] == "610"


def test_last_updated_time_strictly_increases_on_a_frozen_clock(api):
    stamps = [api.create("Class", {"Name": f"C{i}"})["MetaData"]["LastUpdatedTime"] for i in range(3)]
    instants = [parse_instant(s) for s in stamps]
    assert instants == sorted(set(instants)) and stamps[0].endswith("-07:00")


def test_query_paging_count_order_like_in_and_limits(api):
    batch = [{"bId": str(i), "operation": "create", "Vendor": {"DisplayName": f"Vendor {i:02d}"}} for i in range(25)]
    assert api.post("batch", {"BatchItemRequest": batch}).status_code == 200

    def rows(text: str) -> dict:
        reply = api.query(text)
        assert reply.status_code == 200, reply.text
        return body_of(reply)["QueryResponse"]

    assert rows("SELECT count(*) FROM Vendor") == {"totalCount": 25}
    page = rows("select * from vendor orderby DisplayName desc startposition 11 maxresults 10")
    assert [v["DisplayName"] for v in page["Vendor"]] == [f"Vendor {i:02d}" for i in range(14, 4, -1)]
    assert (page["startPosition"], page["maxResults"]) == (11, 10)
    assert rows("select * from Vendor STARTPOSITION 26") == {}
    assert len(rows("select * from Vendor where DisplayName like 'vendor 1%'")["Vendor"]) == 10
    assert len(rows("select * from Vendor where DisplayName IN ('Vendor 01', 'Vendor 02', 'nobody')")["Vendor"]) == 2
    assert len(rows("select * from Vendor")["Vendor"]) == 25  # default MAXRESULTS is 100
    # Timestamps compare as instants whatever the offset; Metadata == MetaData.
    first = rows("select * from Vendor orderby Metadata.LastUpdatedTime")["Vendor"][0]
    utc = parse_instant(first["MetaData"]["LastUpdatedTime"]).astimezone(UTC)
    since = rows(f"select * from Vendor where Metadata.LastUpdatedTime > '{utc:%Y-%m-%dT%H:%M:%S.%f}Z'")["Vendor"]
    assert len(since) == 24 and first["Id"] not in {v["Id"] for v in since}

    too_many = fault_of(api.query("select * from Vendor maxresults 1500"))
    assert too_many["code"] == "4001" and "value 1500 is too large. Max allowed value is 1000" in too_many["Detail"]
    assert fault_of(api.query("select * from Vendor where"))["code"] == "4000"
    assert fault_of(api.query("select * from Vendor where DisplayName = 'a' or Id = '1'"))["code"] == "4000"


def test_inactive_list_objects_only_when_the_query_asks(api, vendor):
    api.create("Vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    api.create("Vendor", {"DisplayName": "Still Active"})

    def names(where: str) -> list[str]:
        found = body_of(api.query(f"select * from Vendor {where}"))["QueryResponse"].get("Vendor", [])
        return sorted(v["DisplayName"] for v in found)

    assert names("") == ["Still Active"]
    assert names("where Active = false") == ["Acme Widgets"]
    assert names("where Active IN (true, false)") == ["Acme Widgets", "Still Active"]
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Active"] is False


def test_query_grammar_fields_and_operators(api, clock, vendor, expense, customer, services):
    other = api.create("Vendor", {"DisplayName": "Globex"})
    bills = []
    for number, (vendor_id, txn_date) in enumerate([(vendor["Id"], "2026-01-05"), (vendor["Id"], "2026-01-10"),
                                                    (other["Id"], "2026-01-20"), (other["Id"], "2026-02-01")], 1):
        clock.advance(60)
        bills.append(api.create("Bill", bill(vendor_id, expense, f"{number}0.00", DocNumber=f"INV-{number}",
                                             TxnDate=txn_date)))
    sales = api.create("Invoice", invoice(customer["Id"], services, "5.00"))
    b = [created["Id"] for created in bills]

    def ids(entity: str, rest: str = "") -> list[str]:
        reply = api.query(f"select * from {entity} {rest}")
        assert reply.status_code == 200, reply.text
        return [obj["Id"] for obj in body_of(reply)["QueryResponse"].get(entity, [])]

    assert ids("Bill", "where TxnDate >= '2026-01-10' and TxnDate < '2026-02-01'") == b[1:3]
    assert ids("Bill", "where TxnDate <= '2026-01-10' orderby TxnDate desc") == [b[1], b[0]]
    assert ids("Bill", "WHERE TxnDate > '2026-01-10' ORDERBY TxnDate ASC") == b[2:]
    assert ids("Bill", "where DocNumber = 'inv-3'") == [b[2]]
    assert ids("Bill", "where DocNumber like '%-4'") == [b[3]]
    assert ids("Bill", "where DocNumber like 'INV-%'") == b
    assert ids("Bill", "where DocNumber like 'INV-_'") == []  # only % is a wildcard
    assert ids("Bill", "where DocNumber like 'INV-2'") == [b[1]]
    assert ids("Bill", f"where VendorRef = '{other['Id']}' orderby DocNumber DESC") == [b[3], b[2]]
    assert ids("Bill", f"where VendorRef IN ('{vendor['Id']}', '99999')") == b[:2]
    assert ids("Bill", "orderby VendorRef desc, TxnDate") == [b[2], b[3], b[0], b[1]]
    assert ids("Bill", f"where Id > '{b[1]}' and Id <= '{b[3]}'") == b[2:]
    assert ids("Bill", f"where Id IN ('{b[0]}', '{b[3]}')") == [b[0], b[3]]
    assert ids("Invoice", f"where CustomerRef = '{customer['Id']}'") == [sales["Id"]]
    assert ids("Account", "where Name = 'Checking'") == [api.account_id("Checking")]
    assert ids("Account", "where Name like '%Expenses'") == [expense]
    assert ids("Vendor", "where DisplayName = 'globex'") == [other["Id"]]
    assert ids("Vendor", "where Active = true orderby DisplayName") == [vendor["Id"], other["Id"]]
    assert ids("Bill", f"where Metadata.CreateTime <= '{bills[2]['MetaData']['CreateTime']}'") == b[:3]
    since = bills[1]["MetaData"]["LastUpdatedTime"]  # the incremental pattern peers use
    assert ids("Bill", f"where Metadata.LastUpdatedTime >= '{since}' ORDERBY Metadata.LastUpdatedTime "
                       "STARTPOSITION 2 MAXRESULTS 1000") == b[2:]
    counted = body_of(api.query(f"select count(*) from Bill where VendorRef = '{vendor['Id']}'"))
    assert counted["QueryResponse"] == {"totalCount": 2}
    posted = api._send("POST", "query", data="select * from Bill where DocNumber = 'INV-1'",
                       headers={"Content-Type": "application/text"})
    assert [obj["Id"] for obj in body_of(posted)["QueryResponse"]["Bill"]] == [b[0]]
    error = fault_of(api.query("select * from Bill maxresults 1001"))
    assert error["code"] == "4001" and "value 1001 is too large. Max allowed value is 1000" in error["Detail"]
    assert fault_of(api.query("select * from Bill startposition 0"))["code"] == "4001"
    assert fault_of(api.query("select Id from Bill"))["code"] == "4000"


def test_delete_a_transaction(api, vendor, expense):
    created = api.create("Bill", bill(vendor["Id"], expense, "12.00"))
    assert fault_of(api.post("Bill", {"Id": created["Id"], "SyncToken": "7"}, operation="delete"))["code"] == "5010"
    deleted = api.post("Bill", {"Id": created["Id"], "SyncToken": "0"}, operation="delete")
    assert body_of(deleted)["Bill"] == {"status": "Deleted", "Id": created["Id"], "domain": "QBO"}
    assert fault_of(api.get(f"bill/{created['Id']}"))["code"] == "610"
    assert body_of(api.query("select count(*) from Bill"))["QueryResponse"] == {"totalCount": 0}
    assert fault_of(api.post("Bill", {"Id": created["Id"], "SyncToken": "0"}, operation="delete"))["code"] == "610"
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Balance"] == 0


# -- faults ------------------------------------------------------------------------------------
def test_6140_duplicate_bill_number_per_vendor(api, vendor, expense):
    first = api.create("Bill", bill(vendor["Id"], expense, "10.00", DocNumber="INV-1"))
    error = fault_of(api.post("Bill", bill(vendor["Id"], expense, "12.00", DocNumber="INV-1")))
    assert error["code"] == "6140" and f"TxnId={first['Id']}" in error["Detail"]
    assert api.post("Bill", bill(vendor["Id"], expense, "12.00", DocNumber="INV-1"),
                    include="allowduplicatedocnum").status_code == 200
    other = api.create("Vendor", {"DisplayName": "Other Co"})
    assert api.post("Bill", bill(other["Id"], expense, "12.00", DocNumber="INV-1")).status_code == 200


def test_6240_display_name_unique_across_parties_including_inactive(api, vendor):
    error = fault_of(api.post("Customer", {"DisplayName": "ACME widgets"}))
    assert error["code"] == "6240" and f"Id={vendor['Id']}" in error["Detail"]
    api.create("Vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert fault_of(api.post("Employee", {"GivenName": "Acme", "FamilyName": "Widgets"}))["code"] == "6240"


def test_2020_required_parameters_name_the_element(api, vendor, expense):
    cases = [("Bill", {"Line": bill(vendor["Id"], expense, "1")["Line"]}, "VendorRef"),
             ("Bill", {"VendorRef": {"value": vendor["Id"]}}, "Line"),
             ("Bill", {**bill(vendor["Id"], expense, "1"), "Line": [{"DetailType": "AccountBasedExpenseLineDetail",
                       "AccountBasedExpenseLineDetail": {"AccountRef": {"value": expense}}}]}, "Line.Amount"),
             ("Invoice", {"Line": []}, "CustomerRef"),
             ("Customer", {"Notes": "no name"}, "DisplayName"),
             ("Class", {}, "Name")]
    for entity, body, element in cases:
        error = fault_of(api.post(entity, body))
        assert (error["code"], error["element"]) == ("2020", element), (entity, error)


def test_2500_unknown_reference_and_610_inactive_reference(api, vendor, expense):
    error = fault_of(api.post("Bill", bill("99999", expense, "1")))
    assert (error["code"], error["element"]) == ("2500", "VendorRef")
    assert fault_of(api.post("Bill", bill(vendor["Id"], "99999", "1")))["element"] == "AccountRef"
    error = fault_of(api.post("BillPayment", {
        "VendorRef": {"value": vendor["Id"]}, "TotalAmt": 5, "PayType": "Check",
        "CheckPayment": {"BankAccountRef": {"value": api.account_id("Checking")}},
        "Line": [{"Amount": 5, "LinkedTxn": [{"TxnId": "99999", "TxnType": "Bill"}]}]}))
    assert error["code"] == "2500"
    api.create("Vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert fault_of(api.post("Bill", bill(vendor["Id"], expense, "1")))["code"] == "610"


def test_6000_business_rules(api, vendor, expense):
    checking = api.account_id("Checking")
    assert fault_of(api.post("Bill", bill(vendor["Id"], expense, "1", DocNumber="X" * 22)))["code"] == "6000"
    assert fault_of(api.post("Vendor", {"DisplayName": "Smith: John"}))["code"] == "6000"
    unbalanced = {"Line": [
        {"DetailType": "JournalEntryLineDetail", "Amount": Decimal("100.00"),
         "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": expense}}},
        {"DetailType": "JournalEntryLineDetail", "Amount": Decimal("99.99"),
         "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": checking}}}]}
    assert fault_of(api.post("JournalEntry", unbalanced))["code"] == "6000"
    unbalanced["Line"][1]["Amount"] = Decimal("100.00")
    assert api.create("JournalEntry", unbalanced)["TotalAmt"] == Decimal("100.00")
    assert fault_of(api.post("Vendor", {"Id": vendor["Id"], "SyncToken": "0"}, operation="delete"))["code"] == "500"



def test_6000_a_payables_or_receivables_ref_must_name_an_account_of_that_kind(api, vendor, expense):
    payables, checking = api.account_id("Accounts Payable (A/P)"), api.account_id("Checking")
    error = fault_of(api.post("Bill", bill(vendor["Id"], expense, "1", APAccountRef={"value": checking})))
    assert (error["code"], error["element"]) == ("6000", "APAccountRef")
    assert "must be an Accounts Payable account" in error["Message"] + error.get("Detail", "")
    assert fault_of(api.post("Customer", {"DisplayName": "Zeta", "ARAccountRef": {"value": payables}}))[
        "element"] == "ARAccountRef"
    created = api.create("Bill", bill(vendor["Id"], expense, "1", APAccountRef={"value": payables}))
    assert created["APAccountRef"]["value"] == payables


# -- payments ----------------------------------------------------------------------------------
def test_bill_payment_applies_partially_and_lowers_balances(api, vendor, expense):
    checking = api.account_id("Checking")
    created = api.create("Bill", bill(vendor["Id"], expense, "60.10", "39.90", DocNumber="B-7"))
    assert (created["TotalAmt"], created["Balance"]) == (Decimal("100.00"), Decimal("100.00"))

    def pay(amount: str) -> requests.Response:
        return api.post("BillPayment", {
            "VendorRef": {"value": vendor["Id"]}, "TotalAmt": Decimal(amount), "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": checking}},
            "Line": [{"Amount": Decimal(amount), "LinkedTxn": [{"TxnId": created["Id"], "TxnType": "Bill"}]}]})

    payment = body_of(pay("40.00"))["BillPayment"]
    after = body_of(api.get(f"bill/{created['Id']}"))["Bill"]
    assert after["Balance"] == Decimal("60.00") and after["SyncToken"] == "1"
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "BillPaymentCheck"}]
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Balance"] == Decimal("60.00")
    assert body_of(api.query("select * from Bill where Balance > '0'"))["QueryResponse"]["totalCount"] == 1

    over = fault_of(pay("60.01"))
    assert over["code"] == "6000" and "60.00" in over["Detail"]
    assert fault_of(api.post("Bill", {"Id": created["Id"], "SyncToken": "1"}, operation="delete"))["code"] == "6000"
    deleted = api.post("BillPayment", {"Id": payment["Id"], "SyncToken": "0"}, operation="delete")
    assert body_of(deleted)["BillPayment"] == {"status": "Deleted", "Id": payment["Id"], "domain": "QBO"}
    restored = body_of(api.get(f"bill/{created['Id']}"))["Bill"]
    assert restored["Balance"] == Decimal("100.00") and "LinkedTxn" not in restored


def test_customer_payment_partially_pays_an_invoice(api):
    customer = api.create("Customer", {"DisplayName": "Brown, Nick"})
    services = body_of(api.query("select * from Item where Name = 'Services'"))["QueryResponse"]["Item"][0]
    invoice = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [
        {"DetailType": "SalesItemLineDetail", "Amount": Decimal("250.00"),
         "SalesItemLineDetail": {"ItemRef": {"value": services["Id"]}, "Qty": 2, "UnitPrice": Decimal("125.00")}}]})
    api.create("Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": Decimal("100.00"),
                           "Line": [{"Amount": Decimal("100.00"),
                                     "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    assert body_of(api.get(f"invoice/{invoice['Id']}"))["Invoice"]["Balance"] == Decimal("150.00")
    assert body_of(api.get(f"customer/{customer['Id']}"))["Customer"]["Balance"] == Decimal("150.00")


def test_vendor_credit_lowers_what_the_vendor_is_owed_until_deleted(api, vendor, expense):
    since = body_of(api.get(f"vendor/{vendor['Id']}"))["time"]
    api.create("Bill", bill(vendor["Id"], expense, "100.00"))
    created = api.create("VendorCredit", bill(vendor["Id"], expense, "30.00", "0.05", DocNumber="VC-1",
                                              TotalAmt=0, Balance=0))
    assert (created["TotalAmt"], created["Balance"]) == (Decimal("30.05"), Decimal("30.05"))
    assert created["TxnDate"] and "DueDate" not in created
    assert body_of(api.get(f"vendorcredit/{created['Id']}"))["VendorCredit"] == created
    assert body_of(api.query("select * from VendorCredit where DocNumber = 'VC-1'"))["QueryResponse"][
        "VendorCredit"] == [created]
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Balance"] == Decimal("69.95")

    missing_vendor = fault_of(api.post("VendorCredit", {"Line": created["Line"]}))
    assert missing_vendor["element"] == "VendorRef"
    unknown_account = fault_of(api.post("VendorCredit", bill(vendor["Id"], "9999", "1.00")))
    assert (unknown_account["code"], unknown_account["element"]) == ("2500", "AccountRef")
    unknown_vendor = fault_of(api.post("VendorCredit", bill("9999", expense, "1.00")))
    assert (unknown_vendor["code"], unknown_vendor["element"]) == ("2500", "VendorRef")
    assert fault_of(api.post("VendorCredit", {"VendorRef": {"value": vendor["Id"]}}))["element"] == "Line"
    deleted = body_of(api.post("VendorCredit", {"Id": created["Id"], "SyncToken": "0"}, operation="delete"))
    assert deleted["VendorCredit"] == {"status": "Deleted", "Id": created["Id"], "domain": "QBO"}
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Balance"] == Decimal("100.00")
    changes = body_of(api._send("GET", "cdc", params={"entities": "VendorCredit", "changedSince": since}))
    [page] = changes["CDCResponse"][0]["QueryResponse"]
    assert [(credit["Id"], credit.get("status")) for credit in page["VendorCredit"]] == [(created["Id"], "Deleted")]


def test_credit_memo_credits_the_customer_until_deleted(api, customer, services):
    since = body_of(api.get(f"customer/{customer['Id']}"))["time"]
    api.create("Invoice", invoice(customer["Id"], services, "100.00"))
    # What a client sends for the computed fields (python-quickbooks sends 0s) is ignored.
    created = api.create("CreditMemo", invoice(customer["Id"], services, "30.00", "0.05", DocNumber="CN-1",
                                               TotalAmt=0, Balance=0, RemainingCredit=0))
    assert (created["TotalAmt"], created["Balance"], created["RemainingCredit"]) == (
        Decimal("30.05"), Decimal("30.05"), Decimal("30.05"))
    assert created["TxnDate"] and "DueDate" not in created  # a credit falls due never
    assert body_of(api.get(f"creditmemo/{created['Id']}"))["CreditMemo"] == created
    assert body_of(api.query("select * from CreditMemo where DocNumber = 'CN-1'"))["QueryResponse"]["CreditMemo"] == [
        created]
    assert body_of(api.get(f"customer/{customer['Id']}"))["Customer"]["Balance"] == Decimal("69.95")

    assert fault_of(api.post("CreditMemo", {"Line": created["Line"]}))["element"] == "CustomerRef"
    unknown_item = fault_of(api.post("CreditMemo", invoice(customer["Id"], "9999", "1.00")))
    assert (unknown_item["code"], unknown_item["element"]) == ("2500", "ItemRef")
    unknown_customer = fault_of(api.post("CreditMemo", invoice("9999", services, "1.00")))
    assert (unknown_customer["code"], unknown_customer["element"]) == ("2500", "CustomerRef")
    assert fault_of(api.post("CreditMemo", invoice(customer["Id"], services, "1.00", DocNumber="C" * 22)))[
        "element"] == "DocNumber"
    batch = body_of(api.post("batch", {"BatchItemRequest": [
        {"bId": "1", "operation": "create", "CreditMemo": invoice(customer["Id"], services, "5.00")},
        {"bId": "2", "operation": "create", "CreditMemo": invoice(customer["Id"], "9999", "5.00")}]}))
    first, second = batch["BatchItemResponse"]
    assert first["CreditMemo"]["Balance"] == Decimal("5.00") and second["Fault"]["Error"][0]["element"] == "ItemRef"
    # Not voidable in the sandbox (Intuit's pages do not settle it): delete instead.
    assert fault_of(api.post("CreditMemo", {"Id": created["Id"], "SyncToken": "0"}, operation="void"))["code"] == "500"
    deleted = body_of(api.post("CreditMemo", {"Id": created["Id"], "SyncToken": "0"}, operation="delete"))
    assert deleted["CreditMemo"] == {"status": "Deleted", "Id": created["Id"], "domain": "QBO"}
    assert body_of(api.get(f"customer/{customer['Id']}"))["Customer"]["Balance"] == Decimal("95.00")
    changes = body_of(api._send("GET", "cdc", params={"entities": "CreditMemo", "changedSince": since}))
    [page] = changes["CDCResponse"][0]["QueryResponse"]
    assert [(memo["Id"], memo.get("status")) for memo in page["CreditMemo"]] == [
        (first["CreditMemo"]["Id"], None), (created["Id"], "Deleted")]


# -- sales receipts and the amounts of item lines --------------------------------------------------
def test_sales_receipt_is_paid_on_the_spot_into_undeposited_funds_by_default(api, customer, services):
    since = body_of(api.get(f"customer/{customer['Id']}"))["time"]
    undeposited = api.account_id("Undeposited Funds")
    checking, expense = api.account_id("Checking"), api.account_id("Office Expenses")
    created = api.create("SalesReceipt", invoice(customer["Id"], services, "30.00", "0.05", DocNumber="SR-1",
                                                 TotalAmt=0, Balance=99))
    assert (created["TotalAmt"], created["Balance"]) == (Decimal("30.05"), 0)
    assert created["DepositToAccountRef"] == {"value": undeposited, "name": "Undeposited Funds"}
    assert created["TxnDate"] and "DueDate" not in created
    assert body_of(api.get(f"salesreceipt/{created['Id']}"))["SalesReceipt"] == created
    assert body_of(api.query("select * from SalesReceipt where DocNumber = 'SR-1'"))["QueryResponse"][
        "SalesReceipt"] == [created]
    assert body_of(api.get(f"customer/{customer['Id']}"))["Customer"]["Balance"] == 0  # nothing owed
    to_bank = api.create("SalesReceipt", invoice(customer["Id"], services, "12.00",
                                                 DepositToAccountRef={"value": checking}))
    assert to_bank["DepositToAccountRef"]["value"] == checking

    assert fault_of(api.post("SalesReceipt", {"Line": created["Line"]}))["element"] == "CustomerRef"
    wrong_account = fault_of(api.post("SalesReceipt", invoice(customer["Id"], services, "1.00",
                                                              DepositToAccountRef={"value": expense})))
    assert (wrong_account["code"], wrong_account["element"]) == ("6000", "DepositToAccountRef")
    assert "Bank or Other Current Asset" in wrong_account["Detail"]
    assert fault_of(api.post("SalesReceipt", invoice(customer["Id"], services, "1.00",
                                                     DepositToAccountRef={"value": "9999"})))["code"] == "2500"
    assert fault_of(api.post("SalesReceipt", invoice(customer["Id"], services, "1.00", DocNumber="S" * 22)))[
        "element"] == "DocNumber"
    batch = body_of(api.post("batch", {"BatchItemRequest": [
        {"bId": "1", "operation": "create", "SalesReceipt": invoice(customer["Id"], services, "5.00")},
        {"bId": "2", "operation": "create", "SalesReceipt": invoice(customer["Id"], "9999", "5.00")}]}))
    first, second = batch["BatchItemResponse"]
    assert first["SalesReceipt"]["Balance"] == 0 and second["Fault"]["Error"][0]["element"] == "ItemRef"

    # Sparse update, void (REST, as Intuit documents it: operation=update&include=void), delete.
    updated = api.create("SalesReceipt", {"Id": created["Id"], "SyncToken": "0", "sparse": True,
                                          "Line": invoice(customer["Id"], services, "40.00")["Line"]})
    assert (updated["TotalAmt"], updated["Balance"], updated["SyncToken"], updated["DocNumber"]) == (
        Decimal("40.00"), 0, "1", "SR-1")
    voided = api.create("SalesReceipt", {"Id": to_bank["Id"], "SyncToken": "0", "sparse": True},
                        operation="update", include="void")
    assert (voided["TotalAmt"], voided["Balance"], voided["PrivateNote"]) == (0, 0, "Voided")
    assert [line["Amount"] for line in voided["Line"]] == [0]
    assert fault_of(api.post("SalesReceipt", {"Id": to_bank["Id"], "SyncToken": "1", "sparse": True,
                                              "PrivateNote": "again"}))["code"] == "6000"
    batch_void = body_of(api.post("batch", {"BatchItemRequest": [{"bId": "1", "operation": "update",
        "optionsData": "void", "SalesReceipt": {"Id": first["SalesReceipt"]["Id"], "SyncToken": "0", "sparse": True}}]}))
    assert batch_void["BatchItemResponse"][0]["SalesReceipt"]["TotalAmt"] == 0
    deleted = body_of(api.post("SalesReceipt", {"Id": created["Id"], "SyncToken": "1"}, operation="delete"))
    assert deleted["SalesReceipt"] == {"status": "Deleted", "Id": created["Id"], "domain": "QBO"}
    changes = body_of(api._send("GET", "cdc", params={"entities": "SalesReceipt", "changedSince": since}))
    [page] = changes["CDCResponse"][0]["QueryResponse"]
    assert [(r["Id"], r.get("status")) for r in page["SalesReceipt"]] == [
        (to_bank["Id"], None), (first["SalesReceipt"]["Id"], None), (created["Id"], "Deleted")]


def test_item_line_amount_must_be_qty_times_unit_price_to_the_cent(api, customer, services):
    def line(amount, **detail):
        return {"CustomerRef": {"value": customer["Id"]}, "Line": [{
            "DetailType": "SalesItemLineDetail", "Amount": Decimal(amount),
            "SalesItemLineDetail": {"ItemRef": {"value": services}, **detail}}]}

    # 3 x 3.335 = 10.005, rounded half-up: 10.01 (not the banker's 10.00).
    assert api.create("Invoice", line("10.01", Qty=3, UnitPrice=Decimal("3.335")))["TotalAmt"] == Decimal("10.01")
    for entity in ("Invoice", "CreditMemo", "SalesReceipt"):
        refused = fault_of(api.post(entity, line("10.00", Qty=3, UnitPrice=Decimal("3.335"))))
        assert (refused["code"], refused["Message"], refused["element"]) == (
            "6070", "Amount calculation incorrect in the request", "Line.Amount")
        assert refused["Detail"].startswith("Amount is not equal to Qty * UnitPrice. Supplied value:10.00")
    # Qty without UnitPrice: the UnitPrice is derived and stored.
    derived = api.create("Invoice", line("100.00", Qty=3))
    assert derived["Line"][0]["SalesItemLineDetail"]["UnitPrice"] == Decimal("33.3333333")
    assert api.create("SalesReceipt", line("100.00", Qty=4))["Line"][0]["SalesItemLineDetail"]["UnitPrice"] == 25
    # A zero Qty is no quantity (python-quickbooks sends Qty 0, UnitPrice 0 with only an Amount).
    assert api.create("Invoice", line("80.00", Qty=0, UnitPrice=0))["TotalAmt"] == Decimal("80.00")
    # A sparse update is checked too.
    current = api.create("Invoice", line("20.00", Qty=2, UnitPrice=10))
    bad = {"Id": current["Id"], "SyncToken": "0", "sparse": True, "Line": line("21.00", Qty=2, UnitPrice=10)["Line"]}
    assert fault_of(api.post("Invoice", bad))["code"] == "6070"


def test_item_keeps_its_sku_and_is_queried_by_it(api):
    income = api.account_id("Services")
    created = api.create("Item", {"Name": "Widget", "Sku": "WID-001", "Type": "Service",
                                  "IncomeAccountRef": {"value": income}})
    assert created["Sku"] == "WID-001"
    assert body_of(api.query("select * from Item where Sku = 'WID-001'"))["QueryResponse"]["Item"] == [created]
    assert body_of(api.query("select * from Item where Sku = 'NOPE'"))["QueryResponse"] == {}


# -- void ----------------------------------------------------------------------------------------
def test_void_invoice_zeroes_it_and_keeps_it(api, clock, customer, services):
    created = api.create("Invoice", invoice(customer["Id"], services, "100.00", "50.00", PrivateNote="Spring order"))
    clock.advance(5)
    assert fault_of(api.post("Invoice", {"Id": created["Id"], "SyncToken": "3"}, operation="void"))["code"] == "5010"
    voided = api.create("Invoice", {"Id": created["Id"], "SyncToken": "0"}, operation="void")
    assert (voided["TotalAmt"], voided["Balance"], voided["SyncToken"]) == (0, 0, "1")
    assert [(line["Amount"], line["SalesItemLineDetail"]["Qty"]) for line in voided["Line"]] == [(0, 0), (0, 0)]
    assert voided["PrivateNote"] == "Voided - Spring order"
    assert parse_instant(voided["MetaData"]["LastUpdatedTime"]) > parse_instant(created["MetaData"]["LastUpdatedTime"])
    assert body_of(api.get(f"invoice/{created['Id']}"))["Invoice"] == voided
    queried = body_of(api.query(f"select * from Invoice where Id = '{created['Id']}'"))["QueryResponse"]
    assert queried["Invoice"] == [voided]
    assert body_of(api.get(f"customer/{customer['Id']}"))["Customer"]["Balance"] == 0
    # A voided invoice takes no payment, no change and no second void.
    assert fault_of(api.post("Payment", payment(customer["Id"], {created["Id"]: "1.00"})))["code"] == "6000"
    sparse = {"Id": created["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "Revived"}
    assert fault_of(api.post("Invoice", sparse))["code"] == "6000"
    assert fault_of(api.post("Invoice", {"Id": created["Id"], "SyncToken": "1"}, operation="void"))["code"] == "6000"


def test_void_bill_payment_gives_the_bills_their_balance_back(api, vendor, expense):
    checking = api.account_id("Checking")
    first = api.create("Bill", bill(vendor["Id"], expense, "100.00"))
    second = api.create("Bill", bill(vendor["Id"], expense, "50.00"))
    paid = api.create("BillPayment", bill_payment(vendor["Id"], checking,
                                                  {first["Id"]: "40.00", second["Id"]: "50.00"}))
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Balance"] == Decimal("60.00")
    stale = {"Id": paid["Id"], "SyncToken": "1", "sparse": True}
    assert fault_of(api.post("BillPayment", stale, operation="update", include="void"))["code"] == "5010"

    voided = api.create("BillPayment", {"Id": paid["Id"], "SyncToken": "0", "sparse": True},
                        operation="update", include="void")
    assert (voided["TotalAmt"], voided["Line"], voided["PrivateNote"], voided["SyncToken"]) == (0, [], "Voided", "1")
    assert voided["VendorRef"]["value"] == vendor["Id"] and voided["PayType"] == "Check"
    assert body_of(api.get(f"billpayment/{paid['Id']}"))["BillPayment"] == voided
    for document, total in ((first, "100.00"), (second, "50.00")):
        reopened = body_of(api.get(f"bill/{document['Id']}"))["Bill"]
        assert (reopened["Balance"], reopened["SyncToken"]) == (Decimal(total), "2") and "LinkedTxn" not in reopened
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Balance"] == Decimal("150.00")
    # The bills are free again: paid anew or deleted; the voided payment can be deleted; bills are not voided.
    assert api.post("BillPayment", bill_payment(vendor["Id"], checking, {first["Id"]: "100.00"})).status_code == 200
    assert api.post("Bill", {"Id": second["Id"], "SyncToken": "2"}, operation="delete").status_code == 200
    assert api.post("BillPayment", {"Id": paid["Id"], "SyncToken": "1"}, operation="delete").status_code == 200
    assert fault_of(api.post("Bill", {"Id": first["Id"], "SyncToken": "3"}, operation="void"))["code"] == "500"


def test_void_customer_payment_reopens_the_invoice(api, customer, services):
    created = api.create("Invoice", invoice(customer["Id"], services, "80.00"))
    paid = api.create("Payment", payment(customer["Id"], {created["Id"]: "30.00"}))
    refused = fault_of(api.post("Invoice", {"Id": created["Id"], "SyncToken": "1"}, operation="void"))
    assert refused["code"] == "6000" and paid["Id"] in refused["Detail"]

    voided = api.create("Payment", {"Id": paid["Id"], "SyncToken": "0", "sparse": True},
                        operation="update", include="void")
    assert (voided["TotalAmt"], voided["UnappliedAmt"], voided["Line"], voided["PrivateNote"]) == (0, 0, [], "Voided")
    reopened = body_of(api.get(f"invoice/{created['Id']}"))["Invoice"]
    assert reopened["Balance"] == Decimal("80.00") and "LinkedTxn" not in reopened
    assert body_of(api.get(f"customer/{customer['Id']}"))["Customer"]["Balance"] == Decimal("80.00")
    # Older Intuit pages void a Payment with operation=void: the sandbox takes that spelling too.
    again = api.create("Payment", payment(customer["Id"], {created["Id"]: "80.00"}))
    assert api.create("Payment", {"Id": again["Id"], "SyncToken": "0"}, operation="void")["TotalAmt"] == 0
    reopened = body_of(api.get(f"invoice/{created['Id']}"))["Invoice"]
    assert reopened["Balance"] == Decimal("80.00")
    assert api.create("Invoice", {"Id": created["Id"], "SyncToken": reopened["SyncToken"]},
                      operation="void")["TotalAmt"] == 0


def test_batch_voids_with_options_data(api, customer, services):
    first = api.create("Invoice", invoice(customer["Id"], services, "10.00"))
    second = api.create("Invoice", invoice(customer["Id"], services, "20.00"))
    items = [
        {"bId": "1", "operation": "update", "optionsData": "void", "Invoice": {"Id": first["Id"], "SyncToken": "0"}},
        {"bId": "2", "operation": "update", "optionsData": "void", "Invoice": {"Id": second["Id"], "SyncToken": "5"}},
        {"bId": "3", "operation": "delete", "optionsData": "void", "Invoice": {"Id": second["Id"], "SyncToken": "0"}},
    ]
    results = body_of(api.post("batch", {"BatchItemRequest": items}))["BatchItemResponse"]
    assert (results[0]["Invoice"]["TotalAmt"], results[0]["Invoice"]["PrivateNote"]) == (0, "Voided")
    assert [result["Fault"]["Error"][0]["code"] for result in results[1:]] == ["5010", "500"]
    assert body_of(api.get(f"invoice/{second['Id']}"))["Invoice"]["TotalAmt"] == Decimal("20.00")


# -- attachments -------------------------------------------------------------------------------
def test_upload_attaches_a_file_to_a_bill(api, sandbox, vendor, expense):
    target = api.create("Bill", bill(vendor["Id"], expense, "10.00"))
    content = b"%PDF-1.7\n" + bytes(range(256)) * 4
    metadata = {"AttachableRef": [{"EntityRef": {"type": "Bill", "value": target["Id"]}}],
                "FileName": "receipt.pdf", "ContentType": "application/pdf"}
    reply = upload(api, metadata, content, requestid="up-1")
    assert reply.status_code == 200, reply.text
    assert set(body_of(reply)) == {"AttachableResponse", "time"}
    (attachable,) = [item["Attachable"] for item in body_of(reply)["AttachableResponse"]]
    assert (attachable["FileName"], attachable["ContentType"], attachable["Size"]) == ("receipt.pdf", "application/pdf",
                                                                                       len(content))
    assert attachable["AttachableRef"] == [{"EntityRef": {"type": "Bill", "value": target["Id"]},
                                            "IncludeOnSend": False}]
    assert attachable["SyncToken"] == "0" and set(attachable["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
    assert sandbox.realms[api.realm_id].files[attachable["Id"]] == content
    assert body_of(api.get(f"attachable/{attachable['Id']}"))["Attachable"] == attachable
    # A repeat with the same requestid answers the same and stores nothing more.
    assert upload(api, metadata, content, requestid="up-1").text == reply.text
    assert sandbox.stats(api.realm_id)["objects"]["Attachable"] == 1

    def found(where: str) -> list[dict]:
        return body_of(api.query(f"SELECT * FROM Attachable {where}"))["QueryResponse"].get("Attachable", [])

    api.create("Attachable", {"Note": "Call them",
                              "AttachableRef": [{"EntityRef": {"type": "Vendor", "value": vendor["Id"]}}]})
    assert found(f"WHERE AttachableRef.EntityRef.Value = '{target['Id']}'") == [attachable]
    assert found("WHERE AttachableRef.EntityRef.Type = 'bill'") == [attachable]
    assert found("WHERE AttachableRef.EntityRef.Value = '99999'") == []
    assert len(found("")) == 2


def test_attachable_update_keeps_the_file_and_delete_drops_it(api, sandbox, vendor, expense):
    target = api.create("Bill", bill(vendor["Id"], expense, "10.00"))
    metadata = {"AttachableRef": [{"EntityRef": {"type": "Bill", "value": target["Id"]}}]}
    stored = body_of(upload(api, metadata, b"12345", file_name="scan.pdf"))["AttachableResponse"][0]["Attachable"]
    assert (stored["FileName"], stored["ContentType"], stored["Size"]) == ("scan.pdf", "application/pdf", 5)
    noted = api.create("Attachable", {"Id": stored["Id"], "SyncToken": "0", "sparse": True, "Note": "Paid"})
    assert (noted["Note"], noted["FileName"], noted["Size"], noted["SyncToken"]) == ("Paid", "scan.pdf", 5, "1")
    gone = api.post("Attachable", {"Id": stored["Id"], "SyncToken": "1"}, operation="delete")
    assert body_of(gone)["Attachable"]["status"] == "Deleted"
    assert stored["Id"] not in sandbox.realms[api.realm_id].files
    assert fault_of(api.get(f"attachable/{stored['Id']}"))["code"] == "610"


def test_upload_faults(api, sandbox, vendor, expense):
    target = api.create("Bill", bill(vendor["Id"], expense, "10.00"))

    def attached_to(entity_type: str, value: str) -> dict:
        return {"AttachableRef": [{"EntityRef": {"type": entity_type, "value": value}}], "FileName": "a.pdf",
                "ContentType": "application/pdf"}

    for metadata in (attached_to("Bill", "99999"), attached_to("Spaceship", target["Id"]),
                     attached_to("Invoice", target["Id"])):
        error = fault_of(upload(api, metadata, b"data"))
        assert (error["code"], error["element"]) == ("2500", "AttachableRef.EntityRef"), metadata
    error = fault_of(upload(api, attached_to("Bill", target["Id"]), None))
    assert (error["code"], error["element"]) == ("2020", "file_content_0")
    not_multipart = api._send("POST", "upload", data=b"{}", headers={"Content-Type": "application/json"})
    assert fault_of(not_multipart)["code"] == "2010"
    note_only_without_note = {"AttachableRef": attached_to("Bill", target["Id"])["AttachableRef"]}
    note_missing = fault_of(api.post("Attachable", note_only_without_note))
    assert (note_missing["code"], note_missing["element"]) == ("2020", "Note")
    assert sandbox.stats(api.realm_id)["objects"]["Attachable"] == 0


def test_upload_over_the_size_limit_is_refused(clock):
    sandbox = QBOSandbox(clock=clock, rate_limits=False, max_upload_bytes=4096)
    running = serve_in_thread(sandbox)
    try:
        api = Api(running.url, *sandbox.create_realm(client_id=CLIENT[0]))
        small = body_of(upload(api, None, b"x" * 1000))["AttachableResponse"][0]["Attachable"]
        assert (small["FileName"], small["Size"]) == ("receipt.pdf", 1000) and "AttachableRef" not in small
        error = fault_of(upload(api, None, b"x" * 5000))
        assert error["code"] == "6000" and "at most 4096 bytes" in error["Detail"]
        assert sandbox.stats(api.realm_id)["objects"]["Attachable"] == 1
    finally:
        running.stop()


# -- idempotency and batch ---------------------------------------------------------------------
def test_requestid_replays_the_first_reply_and_creates_nothing(api, sandbox, vendor, expense):
    first = api.post("Bill", bill(vendor["Id"], expense, "10.00"), requestid="req-1")
    again = api.post("Bill", bill(vendor["Id"], expense, "10.00"), requestid="req-1")
    assert (again.status_code, again.text) == (first.status_code, first.text)
    failed = api.post("Bill", {"VendorRef": {"value": vendor["Id"]}}, requestid="req-2")
    assert api.post("Bill", bill(vendor["Id"], expense, "10.00"), requestid="req-2").text == failed.text
    stats = sandbox.stats(api.realm_id)
    assert stats["objects"]["Bill"] == 1 and stats["requestid_replays"] == 2
    assert fault_of(api.post("Bill", bill(vendor["Id"], expense, "1"), requestid="x" * 51))["code"] == "6000"


def test_batch_mixed_results_and_size_limit(api, vendor, expense):
    items = [
        {"bId": "v", "operation": "create", "Vendor": {"DisplayName": "Batch Vendor"}},
        {"bId": "b1", "operation": "create", "Bill": bill("__later__", expense, "5.00")},
        {"bId": "b2", "operation": "create", "Bill": bill(vendor["Id"], expense, "7.25")},
        {"bId": "dup", "operation": "create", "Vendor": {"DisplayName": "Acme Widgets"}},
        {"bId": "q", "Query": "select count(*) from Vendor"},
    ]
    reply = api.post("batch", {"BatchItemRequest": items}, requestid="batch-1")
    assert reply.status_code == 200
    results = {item["bId"]: item for item in body_of(reply)["BatchItemResponse"]}
    assert list(results) == ["v", "b1", "b2", "dup", "q"]
    new_vendor = results["v"]["Vendor"]["Id"]
    assert results["b1"]["Fault"]["Error"][0]["code"] == "2500"
    assert results["b2"]["Bill"]["TotalAmt"] == Decimal("7.25")
    assert results["dup"]["Fault"]["Error"][0]["code"] == "6240"
    assert results["q"]["QueryResponse"] == {"totalCount": 1}  # the batch's own vendor is not visible yet

    # A later item cannot use what an earlier one created; a later request can.
    items[1]["Bill"]["VendorRef"]["value"] = new_vendor
    second = body_of(api.post("batch", {"BatchItemRequest": items[1:2]}))["BatchItemResponse"][0]
    assert "Bill" in second
    replayed = api.post("batch", {"BatchItemRequest": items}, requestid="batch-1")
    assert body_of(replayed)["BatchItemResponse"][:4] == body_of(reply)["BatchItemResponse"][:4]
    assert body_of(api.query("select count(*) from Bill"))["QueryResponse"]["totalCount"] == 2

    too_big = [{"bId": str(i), "Query": "select * from Vendor"} for i in range(31)]
    assert fault_of(api.post("batch", {"BatchItemRequest": too_big}))["code"] == "1040"
    assert len(body_of(api.post("batch", {"BatchItemRequest": too_big[:30]}))["BatchItemResponse"]) == 30


# -- limits ------------------------------------------------------------------------------------
def test_rate_limits_answer_429_with_the_qbo_xml(clock):
    sandbox = QBOSandbox(clock=clock, requests_per_minute=3, batch_requests_per_minute=1)
    running = serve_in_thread(sandbox)
    try:
        api = Api(running.url, *sandbox.create_realm(client_id=CLIENT[0]))
        assert [api.get("preferences").status_code for _ in range(3)] == [200, 200, 200]
        throttled = api.get("preferences")
        assert throttled.status_code == 429 and throttled.headers["content-type"].startswith("application/xml")
        assert '<Error code="3001">' in throttled.text and "ThrottleExceeded" in throttled.text
        clock.advance(61)
        batch = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}
        assert api.post("batch", batch).status_code == 200
        assert api.post("batch", batch).status_code == 429
        assert api.get("preferences").status_code == 200
    finally:
        running.stop()


def test_concurrent_requests_over_the_limit_are_refused(clock):
    limiter = RealmLimiter(clock, requests_per_minute=100, concurrent_requests=2, batch_requests_per_minute=10)
    assert limiter.enter("1", batch=False) and limiter.enter("1", batch=False)
    assert not limiter.enter("1", batch=False) and limiter.enter("2", batch=False)
    limiter.leave("1")
    assert limiter.enter("1", batch=False)


def test_parallel_creates_with_one_requestid_create_once(api, sandbox, vendor, expense):
    replies: list[str] = []

    def create() -> None:
        replies.append(api.post("Bill", bill(vendor["Id"], expense, "3.00"), requestid="same").text)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(replies)) == 1 and sandbox.stats(api.realm_id)["objects"]["Bill"] == 1


# -- persistence and isolation -----------------------------------------------------------------
def test_save_and_load_keep_everything_exact(api, sandbox, vendor, expense, clock, tmp_path):
    created = api.post("Bill", bill(vendor["Id"], expense, "0.10", "0.20", "1234567890.123456789"), requestid="r1")
    assert body_of(created)["Bill"]["TotalAmt"] == Decimal("1234567890.423456789")
    path = tmp_path / "qbo.json"
    sandbox.save(path)
    restored = QBOSandbox.load(path, clock=clock, rate_limits=False)
    running = serve_in_thread(restored)
    try:
        again = Api(running.url, api.realm_id, api.refresh_token)  # the rotated refresh token survives
        bill_id = body_of(created)["Bill"]["Id"]
        assert body_of(again.get(f"bill/{bill_id}"))["Bill"] == body_of(created)["Bill"]
        replay = again.post("Bill", bill(vendor["Id"], expense, "9"), requestid="r1")
        assert replay.text == created.text
        assert restored.stats(api.realm_id)["objects"] == sandbox.stats(api.realm_id)["objects"]
        later = again.create("Class", {"Name": "After restart"})
        assert int(later["Id"]) > int(bill_id)
    finally:
        running.stop()


def test_save_and_load_keep_uploaded_files_and_voids(api, sandbox, vendor, expense, customer, services, clock,
                                                     tmp_path):
    target = api.create("Bill", bill(vendor["Id"], expense, "10.00"))
    content = bytes(range(256))
    metadata = {"AttachableRef": [{"EntityRef": {"type": "Bill", "value": target["Id"]}}]}
    attachable = body_of(upload(api, metadata, content))["AttachableResponse"][0]["Attachable"]
    sales = api.create("Invoice", invoice(customer["Id"], services, "9.00"))
    api.create("Invoice", {"Id": sales["Id"], "SyncToken": "0"}, operation="void")
    path = tmp_path / "qbo.json"
    sandbox.save(path)
    restored = QBOSandbox.load(path, clock=clock, rate_limits=False)
    assert restored.realms[api.realm_id].files == {attachable["Id"]: content}
    running = serve_in_thread(restored)
    try:
        again = Api(running.url, api.realm_id, api.refresh_token)
        assert body_of(again.get(f"attachable/{attachable['Id']}"))["Attachable"] == attachable
        still_voided = again.post("Invoice", {"Id": sales["Id"], "SyncToken": "1"}, operation="void")
        assert fault_of(still_voided)["code"] == "6000"
    finally:
        running.stop()


def test_two_realms_are_isolated(api, sandbox, server, vendor, expense):
    created = api.create("Bill", bill(vendor["Id"], expense, "1.00"))
    other = Api(server.url, *sandbox.create_realm(client_id=CLIENT[0], company_name="Acme EU"))
    assert fault_of(other.get(f"vendor/{vendor['Id']}"))["code"] == "610"
    assert fault_of(other.get(f"bill/{created['Id']}"))["code"] == "610"
    assert body_of(other.query("select * from Vendor"))["QueryResponse"] == {}
    assert other.create("Vendor", {"DisplayName": "Acme Widgets"})["DisplayName"] == "Acme Widgets"
    assert body_of(other.query("select count(*) from Bill"))["QueryResponse"] == {"totalCount": 0}
    assert sandbox.stats(api.realm_id)["objects"]["Vendor"] == 1
    assert sandbox.stats(other.realm_id)["objects"]["Vendor"] == 1


def test_admin_endpoints(server):
    assert requests.get(f"{server.url}/_sandbox/health").json() == {"ok": True}
    created = requests.post(f"{server.url}/_sandbox/realms",
                            json={"client_id": CLIENT[0], "company_name": "Admin Co", "realm_id": "123456"})
    assert created.status_code == 201 and created.json()["realm_id"] == "123456"
    api = Api(server.url, "123456", created.json()["refresh_token"])
    api.get("preferences")
    stats = requests.get(f"{server.url}/_sandbox/realms/123456/stats").json()
    assert stats["api_requests"] == 1 and stats["objects"]["Account"] >= 4
    assert requests.post(f"{server.url}/_sandbox/realms", json={"client_id": "nobody"}).status_code == 400
    preferences = body_of(api.get("preferences"))["Preferences"]["OtherPrefs"]["NameValue"]
    assert {"Name": "WarnDuplicateBillNumber", "Value": "true"} in preferences


def test_command_line_server_saves_its_state_on_shutdown(tmp_path):
    state = tmp_path / "state" / "qbo.json"
    process = subprocess.Popen([sys.executable, "-m", "ledgerbridge.sandbox.qbo", "--port", "0",
                                "--state-file", str(state), "--client", "cli:secret"],
                               stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"listening on (http://\S+)", process.stderr.readline()).group(1)
        created = requests.post(f"{url}/_sandbox/realms", json={"client_id": "cli", "realm_id": "42"})
        assert created.status_code == 201
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "42" in QBOSandbox.load(state, clients={"cli": "secret"}).realms


def test_fault_knobs_are_set_over_http_and_refuse_nonsense():
    import requests as http
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    server = serve_in_thread(QBOSandbox())
    try:
        reply = http.post(f"{server.url}/_sandbox/faults", json={"throttle_rate": 1.0}, timeout=5)
        assert reply.status_code == 200 and server.sandbox.faults.throttle_rate == 1.0
        realm, refresh = server.sandbox.create_realm("ledgerbridge-demo")
        token = http.post(f"{server.url}/oauth2/v1/tokens/bearer", auth=("ledgerbridge-demo", "demo-secret"),
                          data={"grant_type": "refresh_token", "refresh_token": refresh}, timeout=5).json()
        throttled = http.get(f"{server.url}/v3/company/{realm}/query", params={"query": "SELECT * FROM Account"},
                             headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5)
        assert throttled.status_code == 429 and "ThrottleExceeded" in throttled.text
        assert http.post(f"{server.url}/_sandbox/faults", json={"throttle_rate": 2}, timeout=5).status_code == 400
        assert http.post(f"{server.url}/_sandbox/faults", json={"chaos": 1}, timeout=5).status_code == 400
        for nonsense in ({"drop_rate": True}, {"error_rate": "0.5"}, {"latency_seconds": -1}, [0.5]):
            assert http.post(f"{server.url}/_sandbox/faults", json=nonsense, timeout=5).status_code == 400, nonsense
        assert server.sandbox.faults.throttle_rate == 1.0  # a refused change leaves the knobs as they were
    finally:
        server.stop()


def test_cdc_refuses_more_than_30_days_back_and_unknown_entities():
    from datetime import datetime, timedelta

    import requests as http
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    server = serve_in_thread(QBOSandbox())
    try:
        realm, refresh = server.sandbox.create_realm("ledgerbridge-demo")
        token = http.post(f"{server.url}/oauth2/v1/tokens/bearer", auth=("ledgerbridge-demo", "demo-secret"),
                          data={"grant_type": "refresh_token", "refresh_token": refresh}, timeout=5).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
        old = http.get(f"{server.url}/v3/company/{realm}/cdc", headers=headers, timeout=5,
                       params={"entities": "Vendor", "changedSince": "2020-01-01T00:00:00Z"})
        assert old.status_code == 400 and "30 days" in old.text
        unknown = http.get(f"{server.url}/v3/company/{realm}/cdc", headers=headers, timeout=5,
                           params={"entities": "Spaceship", "changedSince": "2026-11-20T00:00:00Z"})
        assert unknown.status_code == 400 and "Spaceship" in unknown.text
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        recent = http.get(f"{server.url}/v3/company/{realm}/cdc", headers=headers, timeout=5,
                          params={"entities": "Account", "changedSince": an_hour_ago})
        assert recent.status_code == 200 and recent.json()["CDCResponse"][0]["QueryResponse"][0]["Account"]
    finally:
        server.stop()


def test_commit_then_drop_cuts_the_answer_after_the_object_is_created():
    import requests as http

    from ledgerbridge.sandbox.qbo import Faults, QBOSandbox, serve_in_thread

    sandbox = QBOSandbox(clients={"c": "s"}, rate_limits=False)
    realm, refresh = sandbox.create_realm(client_id="c", company_name="Dropped")
    server = serve_in_thread(sandbox)
    try:
        token = http.post(f"{server.url}/oauth2/v1/tokens/bearer", auth=("c", "s"),
                          data={"grant_type": "refresh_token", "refresh_token": refresh}, timeout=10).json()
        sandbox.faults = Faults(drop_rate=1.0)
        with pytest.raises(http.exceptions.RequestException):
            http.post(f"{server.url}/v3/company/{realm}/vendor?requestid=drop-1", json={"DisplayName": "Cut Off"},
                      headers={"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"},
                      timeout=10)
        sandbox.faults = Faults()
        assert [v["DisplayName"] for v in sandbox.realms[realm].objects["Vendor"].values()] == ["Cut Off"]
    finally:
        server.stop()


def _purchase(bank_id: str, account_id: str, *amounts: str, **fields) -> dict:
    body = bill("", account_id, *amounts, **fields)
    del body["VendorRef"]
    return {"PaymentType": "Cash", "AccountRef": {"value": bank_id}, **body}


def _deposit(bank_id: str, account_id: str, *amounts: str, entity: dict | None = None) -> dict:
    return {"DepositToAccountRef": {"value": bank_id},
            "Line": [{"DetailType": "DepositLineDetail", "Amount": Decimal(a),
                      "DepositLineDetail": {"AccountRef": {"value": account_id},
                                            **({"Entity": entity} if entity else {})}} for a in amounts]}


def test_purchase_is_paid_from_a_bank_account_to_an_optional_payee(api, sandbox, vendor, expense):
    since = body_of(api.get(f"vendor/{vendor['Id']}"))["time"]
    bank = api.account_id("Checking")
    body = _purchase(bank, expense, "40.00", "2.10", EntityRef={"value": vendor["Id"], "type": "Vendor"},
                     TotalAmt=0, PrivateNote="LedgerBridge key: k-1")
    first = api.post("Purchase", body, requestid="purchase-1")
    again = api.post("Purchase", body, requestid="purchase-1")  # a retry: the first reply, nothing created
    assert (again.status_code, again.text) == (first.status_code, first.text)
    created = body_of(first)["Purchase"]
    assert (created["TotalAmt"], created["EntityRef"]["name"], "Balance" in created) == (
        Decimal("42.10"), "Acme Widgets", False)
    assert sandbox.stats(api.realm_id)["objects"]["Purchase"] == 1
    assert body_of(api.get(f"purchase/{created['Id']}"))["Purchase"] == created
    assert body_of(api.query(f"select * from Purchase where Id = '{created['Id']}'"))["QueryResponse"][
        "Purchase"] == [created]
    assert body_of(api.get(f"vendor/{vendor['Id']}"))["Vendor"]["Balance"] == 0  # nothing owed

    missing = fault_of(api.post("Purchase", {k: v for k, v in body.items() if k != "PaymentType"}))
    assert (missing["code"], missing["element"]) == ("2020", "PaymentType")
    no_account = fault_of(api.post("Purchase", {k: v for k, v in body.items() if k != "AccountRef"}))
    assert (no_account["code"], no_account["element"]) == ("2020", "AccountRef")
    not_a_bank = fault_of(api.post("Purchase", _purchase(expense, expense, "1.00")))
    assert (not_a_bank["code"], not_a_bank["element"]) == ("6000", "AccountRef")
    assert "must be a Bank account" in not_a_bank["Detail"] and "is Expense" in not_a_bank["Detail"]
    bad_type = fault_of(api.post("Purchase", {**body, "EntityRef": {"value": vendor["Id"], "type": "Item"}}))
    assert (bad_type["code"], bad_type["element"]) == ("6000", "EntityRef.type")
    unknown = fault_of(api.post("Purchase", {**body, "EntityRef": {"value": "9999", "type": "Customer"}}))
    assert (unknown["code"], unknown["element"]) == ("2500", "EntityRef")
    journal = fault_of(api.post("Purchase", {**body, "JournalCodeRef": {"value": "1"}}))
    assert journal["code"] == "2010"

    deleted = body_of(api.post("Purchase", {"Id": created["Id"], "SyncToken": "0"}, operation="delete"))
    assert deleted["Purchase"] == {"status": "Deleted", "Id": created["Id"], "domain": "QBO"}
    changes = body_of(api._send("GET", "cdc", params={"entities": "Purchase", "changedSince": since}))
    [page] = changes["CDCResponse"][0]["QueryResponse"]
    assert [(p["Id"], p.get("status")) for p in page["Purchase"]] == [(created["Id"], "Deleted")]


def test_deposit_goes_to_a_bank_account_each_line_from_its_account(api, sandbox, customer, services):
    since = body_of(api.get(f"customer/{customer['Id']}"))["time"]
    bank, income = api.account_id("Checking"), api.account_id("Services")
    entity = {"value": customer["Id"], "type": "Customer"}
    created = api.create("Deposit", _deposit(bank, income, "300.00", "0.45", entity=entity), requestid="dep-1")
    assert api.post("Deposit", _deposit(bank, income, "300.00", "0.45", entity=entity),
                    requestid="dep-1").status_code == 200
    assert sandbox.stats(api.realm_id)["objects"]["Deposit"] == 1
    assert created["TotalAmt"] == Decimal("300.45")
    assert created["Line"][0]["DepositLineDetail"]["Entity"]["name"] == "Brown, Nick"
    assert body_of(api.get(f"deposit/{created['Id']}"))["Deposit"] == created

    assert fault_of(api.post("Deposit", {"Line": created["Line"]}))["element"] == "DepositToAccountRef"
    not_a_bank = fault_of(api.post("Deposit", _deposit(income, income, "1.00")))
    assert (not_a_bank["code"], not_a_bank["element"]) == ("6000", "DepositToAccountRef")
    no_account = fault_of(api.post("Deposit", {"DepositToAccountRef": {"value": bank}, "Line": [
        {"DetailType": "DepositLineDetail", "Amount": Decimal("1.00"), "DepositLineDetail": {}}]}))
    assert (no_account["code"], no_account["element"]) == ("2020", "AccountRef")
    wrong_detail = fault_of(api.post("Deposit", bill("", income, "1.00") | {"DepositToAccountRef": {"value": bank}}))
    assert (wrong_detail["code"], wrong_detail["element"]) == ("6000", "Line.DetailType")

    changes = body_of(api._send("GET", "cdc", params={"entities": "Deposit", "changedSince": since}))
    assert [d["Id"] for d in changes["CDCResponse"][0]["QueryResponse"][0]["Deposit"]] == [created["Id"]]
