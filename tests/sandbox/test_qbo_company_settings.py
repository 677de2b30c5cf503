"""The QBO sandbox over real HTTP: a company's country and France's journal codes, closed books and
multicurrency."""
from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest
import requests
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.connectors.qbo.faults import fault_from_body
from ledgerbridge.sandbox.qbo import QBOSandbox
from test_qbo_sandbox import CLIENT, Api, bill, bill_payment, body_of, fault_of, invoice, payment

PARTY_NUMBERS = count(1)  # parties' names must be unique in a company
FRENCH_JOURNALS = {"ACH": "Expenses", "VTE": "Sales", "BQ": "Bank", "CAI": "Cash", "SAL": "Wages",
                   "AN": "Nouveaux", "OD": "Others"}


def connect(server, **settings) -> Api:
    """A new company through the seeding call, with an API client for it."""
    created = requests.post(f"{server.url}/_sandbox/realms",
                            json={"client_id": CLIENT[0], "company_name": "Test Co", **settings})
    assert created.status_code == 201, created.text
    return Api(server.url, created.json()["realm_id"], created.json()["refresh_token"])


@pytest.fixture
def fr(server) -> Api:
    return connect(server, country="FR")


@pytest.fixture
def us(server) -> Api:
    return connect(server)


def journal_codes(api: Api, where: str = "") -> dict[str, dict]:
    rows = body_of(api.query(f"select * from JournalCode {where}"))["QueryResponse"].get("JournalCode", [])
    return {row["Name"]: row for row in rows}


def journal_entry(debit_account: str, credit_account: str, amount: str, *, journal_code: str | None = None,
                  **fields) -> dict:
    lines = []
    for posting, account in (("Debit", debit_account), ("Credit", credit_account)):
        detail = {"PostingType": posting, "AccountRef": {"value": account}}
        if journal_code is not None:
            detail["JournalCodeRef"] = {"value": journal_code}
        lines.append({"DetailType": "JournalEntryLineDetail", "Amount": Decimal(amount),
                      "JournalEntryLineDetail": detail})
    return {"Line": lines, **fields}


def first_id(api: Api, entity: str, name: str) -> str:
    field = "DisplayName" if entity in ("Vendor", "Customer") else "Name"
    reply = body_of(api.query(f"select * from {entity} where {field} = '{name}'"))["QueryResponse"]
    return reply[entity][0]["Id"]


# -- country and journal codes ----------------------------------------------------------------
def test_a_company_has_the_country_and_home_currency_it_was_created_with(server, fr, us):
    for api, country, currency in ((fr, "FR", "EUR"), (us, "US", "USD")):
        info = body_of(api.get(f"companyinfo/{api.realm_id}"))["CompanyInfo"]
        assert info["Country"] == country
        prefs = body_of(api.get("preferences"))["Preferences"]["CurrencyPrefs"]
        assert prefs == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": currency}}
    gb = connect(server, country="gb", home_currency="EUR")
    assert body_of(gb.get(f"companyinfo/{gb.realm_id}"))["CompanyInfo"]["Country"] == "GB"
    assert body_of(gb.get("preferences"))["Preferences"]["CurrencyPrefs"]["HomeCurrency"] == {"value": "EUR"}
    for bad in ({"country": "France"}, {"country": "ZZ"}, {"home_currency": "EURO"}, {"multicurrency": "yes"},
                {"book_close_date": "31/03/2026"}):
        reply = requests.post(f"{server.url}/_sandbox/realms", json={"client_id": CLIENT[0], **bad})
        assert reply.status_code == 400, bad
        assert reply.json()["error"]


def test_a_french_company_starts_with_the_french_journals(fr):
    codes = journal_codes(fr)
    assert {name: row["Type"] for name, row in codes.items()} == FRENCH_JOURNALS
    achats = codes["ACH"]
    assert achats["Description"] == "Achats" and achats["Active"] is True
    assert achats["SyncToken"] == "0" and achats["domain"] == "QBO" and set(achats["MetaData"]) == {
        "CreateTime", "LastUpdatedTime"}
    assert body_of(fr.get(f"journalcode/{achats['Id']}"))["JournalCode"] == achats


def test_journal_codes_are_created_read_and_updated_like_other_lists(fr):
    created = fr.create("JournalCode", {"Name": "BQ2", "Type": "Bank", "Description": "Banque 2"})
    assert (created["Name"], created["Type"], created["Active"], created["SyncToken"]) == ("BQ2", "Bank", True, "0")
    assert fr.create("JournalCode", {"Name": "EXT"})["Type"] == "Others"  # Type left out
    updated = fr.create("JournalCode", {"Id": created["Id"], "SyncToken": "0", "sparse": True,
                                        "Description": "Banque secondaire"})
    assert (updated["Description"], updated["Type"], updated["SyncToken"]) == ("Banque secondaire", "Bank", "1")
    assert fault_of(fr.post("JournalCode", {"Id": created["Id"], "SyncToken": "0", "sparse": True,
                                            "Description": "x"}))["code"] == "5010"
    duplicate = fault_of(fr.post("JournalCode", {"Name": "ach", "Type": "Expenses"}))
    assert duplicate["code"] == "6240" and duplicate["Detail"].endswith(f"Id={journal_codes(fr)['ACH']['Id']}")
    missing = fault_of(fr.post("JournalCode", {"Type": "Sales"}))
    assert (missing["code"], missing["element"]) == ("2020", "Name")
    bad_type = fault_of(fr.post("JournalCode", {"Name": "XX", "Type": "Purchases"}))
    assert (bad_type["code"], bad_type["element"]) == ("6000", "Type") and "Expenses, Sales, Bank" in bad_type["Detail"]
    retyped = fault_of(fr.post("JournalCode", {"Id": created["Id"], "SyncToken": "1", "sparse": True, "Type": "Cash"}))
    assert (retyped["code"], retyped["element"]) == ("6000", "Type")
    too_long = fault_of(fr.post("JournalCode", {"Name": "J" * 21}))
    assert (too_long["code"], too_long["element"]) == ("6000", "Name")
    deleted = fault_of(fr.post("JournalCode", {"Id": created["Id"], "SyncToken": "1"}, operation="delete"))
    assert deleted["code"] == "500"
    # Made inactive: gone from a plain query, there when the query asks about Active.
    fr.create("JournalCode", {"Id": created["Id"], "SyncToken": "1", "sparse": True, "Active": False})
    assert "BQ2" not in journal_codes(fr)
    assert journal_codes(fr, "where Active = false")["BQ2"]["Active"] is False
    assert "BQ2" in journal_codes(fr, "where Active in (true, false)")


def test_journal_codes_are_pulled_incrementally_and_by_pages(fr, clock):
    clock.advance(60)
    first = fr.create("JournalCode", {"Name": "J1", "Type": "Others"})
    clock.advance(60)
    fr.create("JournalCode", {"Name": "J2", "Type": "Sales"})
    fr.create("JournalCode", {"Name": "J3", "Type": "Bank"})
    since = first["MetaData"]["LastUpdatedTime"]
    changed = f"where MetaData.LastUpdatedTime >= '{since}' orderby MetaData.LastUpdatedTime"
    page = body_of(fr.query(f"select * from JournalCode {changed} startposition 1 maxresults 2"))["QueryResponse"]
    assert [row["Name"] for row in page["JournalCode"]] == ["J1", "J2"]
    assert (page["startPosition"], page["maxResults"]) == (1, 2)
    rest = body_of(fr.query(f"select * from JournalCode {changed} startposition 3 maxresults 2"))["QueryResponse"]
    assert [row["Name"] for row in rest["JournalCode"]] == ["J3"]
    assert body_of(fr.query(f"SELECT COUNT(*) FROM JournalCode {changed}"))["QueryResponse"] == {"totalCount": 3}
    assert body_of(fr.query("select count(*) from JournalCode"))["QueryResponse"] == {"totalCount": 10}
    batch = body_of(fr._send("POST", "batch", data='{"BatchItemRequest": [{"bId": "1", "Query": '
                                                   '"select * from JournalCode where Name = \'VTE\'"}]}',
                             headers={"Content-Type": "application/json"}))
    assert batch["BatchItemResponse"][0]["QueryResponse"]["JournalCode"][0]["Type"] == "Sales"
    cdc = body_of(fr._send("GET", "cdc", params={"entities": "JournalCode", "changedSince": since}))
    assert [row["Name"] for row in cdc["CDCResponse"][0]["QueryResponse"][0]["JournalCode"]] == ["J1", "J2", "J3"]


def test_journal_codes_are_unsupported_outside_france(us):
    for reply in (us.post("JournalCode", {"Name": "ACH", "Type": "Expenses"}), us.get("journalcode/1")):
        error = fault_of(reply)
        assert error["code"] == "500" and "only for companies in FR" in error["Detail"]
    query = fault_of(us.query("select * from JournalCode"))
    assert query["code"] == "4001" and "this company's country is US" in query["Detail"]
    batch = body_of(us._send("POST", "batch", data='{"BatchItemRequest": [{"bId": "1", "operation": "create", '
                                                  '"JournalCode": {"Name": "ACH"}}]}',
                             headers={"Content-Type": "application/json"}))
    assert batch["BatchItemResponse"][0]["Fault"]["Error"][0]["code"] == "500"
    cdc = us._send("GET", "cdc", params={"entities": "JournalCode", "changedSince": "2026-05-27T00:00:00-07:00"})
    assert fault_of(cdc)["code"] == "6000"


def test_journal_entry_lines_carry_a_journal_code(fr, us):
    bank, expense = fr.account_id("Checking"), fr.account_id("Office Expenses")
    codes = journal_codes(fr)
    entry = fr.create("JournalEntry", journal_entry(expense, bank, "120.00", journal_code=codes["BQ"]["Id"]))
    refs = [line["JournalEntryLineDetail"]["JournalCodeRef"] for line in entry["Line"]]
    assert refs == [{"value": codes["BQ"]["Id"], "name": "BQ"}] * 2
    assert fr.create("JournalEntry", journal_entry(expense, bank, "5.00"))["TotalAmt"] == Decimal("5.00")
    unknown = fault_of(fr.post("JournalEntry", journal_entry(expense, bank, "1.00", journal_code="9999")))
    assert (unknown["code"], unknown["element"]) == ("2500", "JournalCodeRef")
    fr.create("JournalCode", {"Id": codes["CAI"]["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    inactive = fault_of(fr.post("JournalEntry", journal_entry(expense, bank, "1.00", journal_code=codes["CAI"]["Id"])))
    assert (inactive["code"], inactive["element"]) == ("610", "JournalCodeRef")
    # Only a journal entry line's detail has the field (Intuit's Finance.xsd): elsewhere QBO's parser refuses it.
    header = fault_of(fr.post("JournalEntry", {**journal_entry(expense, bank, "1.00"),
                                               "JournalCodeRef": {"value": codes["OD"]["Id"]}}))
    assert (header["code"], header["element"]) == ("2010", "JournalCodeRef")
    assert 'Unrecognized field "JournalCodeRef" (class com.intuit.schema.finance.v3.JournalEntry)' in header["Detail"]
    vendor = fr.create("Vendor", {"DisplayName": "Fournisseur SA"})
    purchase = bill(vendor["Id"], expense, "10.00")
    purchase["Line"][0]["AccountBasedExpenseLineDetail"]["JournalCodeRef"] = {"value": codes["ACH"]["Id"]}
    assert fault_of(fr.post("Bill", purchase))["code"] == "2010"
    assert fault_of(fr.post("Bill", {**bill(vendor["Id"], expense, "10.00"),
                                     "JournalCodeRef": {"value": codes["ACH"]["Id"]}}))["code"] == "2010"
    elsewhere = fault_of(us.post("JournalEntry", journal_entry(us.account_id("Office Expenses"),
                                                               us.account_id("Checking"), "1.00", journal_code="1")))
    assert (elsewhere["code"], elsewhere["element"]) == ("6000", "Line.JournalEntryLineDetail.JournalCodeRef")


def test_country_preferences_and_journal_codes_survive_a_restart(sandbox, fr, tmp_path, clock):
    requests.post(f"{fr.url}/_sandbox/realms/{fr.realm_id}/preferences",
                  json={"multicurrency": True, "book_close_date": "2026-03-31"}).raise_for_status()
    sandbox.save(tmp_path / "qbo.json")
    company = QBOSandbox.load(tmp_path / "qbo.json", clock=clock, rate_limits=False).realms[fr.realm_id]
    assert (company.country, company.home_currency, company.multicurrency, company.book_close_date) == (
        "FR", "EUR", True, "2026-03-31")
    assert {row["Name"] for row in company.objects["JournalCode"].values()} == set(FRENCH_JOURNALS)


# -- closed books -----------------------------------------------------------------------------
def test_the_closing_date_is_a_preference_updated_with_its_sync_token(us):
    prefs = body_of(us.get("preferences"))["Preferences"]
    assert "BookCloseDate" not in prefs["AccountingInfoPrefs"] and prefs["SyncToken"] == "0"
    closed = body_of(us.post("Preferences", {"SyncToken": "0", "sparse": True,
                                             "AccountingInfoPrefs": {"BookCloseDate": "2026-03-31"}}))["Preferences"]
    assert closed["AccountingInfoPrefs"]["BookCloseDate"] == "2026-03-31" and closed["SyncToken"] == "1"
    assert closed["MetaData"]["LastUpdatedTime"] > prefs["MetaData"]["LastUpdatedTime"]
    assert body_of(us.get("preferences"))["Preferences"] == closed
    stale = fault_of(us.post("Preferences", {"SyncToken": "0", "sparse": True,
                                             "AccountingInfoPrefs": {"BookCloseDate": "2026-04-30"}}))
    assert stale["code"] == "5010"
    bad = fault_of(us.post("Preferences", {"SyncToken": "1", "sparse": True,
                                           "AccountingInfoPrefs": {"BookCloseDate": "March"}}))
    assert (bad["code"], bad["element"]) == ("6000", "AccountingInfoPrefs.BookCloseDate")
    # A sparse update without it keeps the date; a full one (what python-quickbooks sends back) without it reopens.
    kept = body_of(us.post("Preferences", {"SyncToken": "1", "sparse": True, "SalesFormsPrefs": {}}))["Preferences"]
    assert kept["AccountingInfoPrefs"]["BookCloseDate"] == "2026-03-31"
    reopened = body_of(us.post("Preferences", {**kept, "AccountingInfoPrefs": {"BookCloseDate": ""}}))["Preferences"]
    assert "BookCloseDate" not in reopened["AccountingInfoPrefs"] and reopened["SyncToken"] == "3"


def test_transactions_dated_on_or_before_the_closing_date_are_refused(server):
    api = connect(server, book_close_date="2026-03-31")
    vendor = api.create("Vendor", {"DisplayName": "Acme Widgets"})
    customer = api.create("Customer", {"DisplayName": "Brown, Nick"})
    expense, services = api.account_id("Office Expenses"), first_id(api, "Item", "Services")
    refused = api.post("Bill", bill(vendor["Id"], expense, "10.00", TxnDate="2026-03-31"))
    error = fault_of(refused)
    assert (error["code"], error["Message"], error["element"]) == (
        "6210", "Account Period Closed, Cannot Update Through Services API", "TxnDate")
    assert error["Detail"].startswith("The account period has closed and the account books cannot be updated")
    assert "closed up to 2026-03-31" in error["Detail"] and "dated 2026-03-31" in error["Detail"]
    assert body_of(refused)["Fault"]["type"] == "ValidationFault"
    # The QBO connector takes it as a verdict on the record, not a passing error.
    assert isinstance(fault_from_body(body_of(refused), refused.status_code), RecordRejected)
    checking = api.account_id("Checking")
    spent = api.post("Purchase", {"PaymentType": "Cash", "AccountRef": {"value": checking}, "TxnDate": "2026-03-02",
                                  "Line": bill(vendor["Id"], expense, "5.00")["Line"]})
    deposited = api.post("Deposit", {"DepositToAccountRef": {"value": checking}, "TxnDate": "2026-03-31", "Line": [
        {"DetailType": "DepositLineDetail", "Amount": Decimal("5.00"),
         "DepositLineDetail": {"AccountRef": {"value": api.account_id("Services")}}}]})
    for reply, entity in ((spent, "Purchase"), (deposited, "Deposit")):  # bank entries: the same verdict
        assert (fault_of(reply)["code"], fault_of(reply)["element"]) == ("6210", "TxnDate")
        assert f"this {entity} is dated" in fault_of(reply)["Detail"]
    open_bill = api.create("Bill", bill(vendor["Id"], expense, "10.00", TxnDate="2026-04-01"))
    moved = api.post("Bill", {"Id": open_bill["Id"], "SyncToken": "0", "sparse": True, "TxnDate": "2026-03-15"})
    assert fault_of(moved)["code"] == "6210"
    sale = api.create("Invoice", invoice(customer["Id"], services, "50.00", TxnDate="2026-04-02"))
    paid = api.create("Payment", {**payment(customer["Id"], {sale["Id"]: "50.00"}), "TxnDate": "2026-04-03"})
    entry = api.create("JournalEntry", journal_entry(expense, api.account_id("Checking"), "7.00", TxnDate="2026-04-04"))
    # Then the books close over all of them: no change, void or delete any more.
    requests.post(f"{server.url}/_sandbox/realms/{api.realm_id}/preferences",
                  json={"book_close_date": "2026-04-30"}).raise_for_status()
    attempts = [
        api.post("Bill", {"Id": open_bill["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "late"}),
        api.post("Bill", {"Id": open_bill["Id"], "SyncToken": "0"}, operation="delete"),
        api.post("Payment", {"Id": paid["Id"], "SyncToken": "0", "sparse": True}, operation="update", include="void"),
        api.post("JournalEntry", {"Id": entry["Id"], "SyncToken": "0", "sparse": True, "TxnDate": "2026-05-02"}),
    ]
    for reply in attempts:
        assert fault_of(reply)["code"] == "6210"
    batch = body_of(api._send("POST", "batch", headers={"Content-Type": "application/json"},
                              data='{"BatchItemRequest": [{"bId": "1", "operation": "create", "Bill": '
                                   f'{{"VendorRef": {{"value": "{vendor["Id"]}"}}, "TxnDate": "2026-04-15", "Line": '
                                   '[{"DetailType": "AccountBasedExpenseLineDetail", "Amount": 3, '
                                   f'"AccountBasedExpenseLineDetail": {{"AccountRef": {{"value": "{expense}"}}}}}}]}}}}]}}'))
    fault = batch["BatchItemResponse"][0]["Fault"]
    assert fault["Error"][0]["code"] == "6210"
    assert isinstance(fault_from_body({"Fault": fault}, 200), RecordRejected)
    assert api.create("Bill", bill(vendor["Id"], expense, "3.00", TxnDate="2026-05-01"))["TotalAmt"] == Decimal("3.00")
    # Reopened (null), the old bill changes again.
    requests.post(f"{server.url}/_sandbox/realms/{api.realm_id}/preferences",
                  json={"book_close_date": None}).raise_for_status()
    assert api.create("Bill", {"Id": open_bill["Id"], "SyncToken": "0", "sparse": True,
                               "PrivateNote": "late"})["SyncToken"] == "1"


# -- multicurrency ----------------------------------------------------------------------------
def documents(api: Api, currency: str | None, rate: str | None = None) -> dict[str, dict]:
    """One body per document kind, in `currency` (None: no CurrencyRef) at `rate` (None: no ExchangeRate);
    the payments pay a bill and an invoice created here in the same currency."""
    number = next(PARTY_NUMBERS)
    vendor = api.create("Vendor", {"DisplayName": f"Vendor {number}"})
    customer = api.create("Customer", {"DisplayName": f"Customer {number}"})
    expense, bank, services = api.account_id("Office Expenses"), api.account_id("Checking"), first_id(
        api, "Item", "Services")
    money = {**({"CurrencyRef": {"value": currency}} if currency else {}),
             **({"ExchangeRate": Decimal(rate)} if rate else {})}
    payable = api.create("Bill", {**bill(vendor["Id"], expense, "40.00"), **money})
    receivable = api.create("Invoice", {**invoice(customer["Id"], services, "40.00"), **money})
    return {
        "Bill": {**bill(vendor["Id"], expense, "100.05"), **money},
        "Invoice": {**invoice(customer["Id"], services, "100.05"), **money},
        "CreditMemo": {**invoice(customer["Id"], services, "100.05"), **money},
        "SalesReceipt": {**invoice(customer["Id"], services, "100.05"), **money},
        "JournalEntry": {**journal_entry(expense, bank, "100.05"), **money},
        "Payment": {**payment(customer["Id"], {receivable["Id"]: "40.00"}), **money},
        "BillPayment": {**bill_payment(vendor["Id"], bank, {payable["Id"]: "40.00"}), **money},
    }


def test_with_multicurrency_off_only_the_home_currency_is_taken(us):
    for entity, body in documents(us, None).items():
        created = us.create(entity, body)
        assert created["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}, entity
        assert "ExchangeRate" not in created and "HomeTotalAmt" not in created, entity
    home = documents(us, "usd")
    for entity, body in home.items():
        assert us.create(entity, body)["CurrencyRef"]["value"] == "USD"
    for entity, body in documents(us, None).items():  # unpaid documents again for the payments
        error = fault_of(us.post(entity, {**body, "CurrencyRef": {"value": "EUR"}}))
        assert (error["code"], error["element"]) == ("6000", "CurrencyRef"), entity
        assert "multicurrency is off" in error["Detail"]
    assert fault_of(us.post("Bill", {**home["Bill"], "CurrencyRef": {"value": "Euro"}}))["element"] == "CurrencyRef"


def test_with_multicurrency_on_a_foreign_document_carries_its_rate_and_home_total(server):
    api = connect(server, multicurrency=True)
    for entity, body in documents(api, "EUR", "1.0835").items():
        created = api.create(entity, body)
        assert created["CurrencyRef"] == {"value": "EUR", "name": "Euro"}, entity
        assert created["ExchangeRate"] == Decimal("1.0835"), entity
        # TotalAmt x ExchangeRate, half up to the cent: 100.05 x 1.0835 = 108.404175; 40.00 x 1.0835 = 43.34.
        expected = Decimal("43.34") if entity in ("Payment", "BillPayment") else Decimal("108.40")
        assert created["HomeTotalAmt"] == expected and isinstance(created["HomeTotalAmt"], Decimal), entity
    for entity, body in documents(api, None).items():  # the home currency: rate 1, home total = total
        created = api.create(entity, {**body, "ExchangeRate": Decimal("2"), "HomeTotalAmt": Decimal("1")})
        assert (created["CurrencyRef"]["value"], created["ExchangeRate"]) == ("USD", Decimal(1)), entity
        assert created["HomeTotalAmt"] == created["TotalAmt"], entity


def test_a_foreign_document_without_a_rate_takes_the_company_rate_for_its_date(server):
    api = connect(server, multicurrency=True)  # a US company: GBP at the market's 1.27 USD
    bodies = documents(api, "GBP", "1.25")
    for entity, body in bodies.items():
        created = api.create(entity, {key: value for key, value in body.items() if key != "ExchangeRate"})
        assert created["ExchangeRate"] == Decimal("1.27"), entity
    set_rate = api.post("exchangerate", {"SourceCurrencyCode": "GBP", "AsOfDate": "2026-02-03", "Rate": "1.3"})
    assert set_rate.status_code == 200, set_rate.text
    dated = {key: value for key, value in bodies["Bill"].items() if key != "ExchangeRate"}
    assert api.create("Bill", {**dated, "TxnDate": "2026-02-03"})["ExchangeRate"] == Decimal("1.3")
    assert api.create("Bill", {**dated, "TxnDate": "2026-02-04"})["ExchangeRate"] == Decimal("1.27")


def test_a_foreign_document_needs_a_positive_exchange_rate(server):
    api = connect(server, multicurrency=True)
    bodies = documents(api, "GBP", "1.25")
    for rate in (Decimal(0), Decimal("-1.2"), "abc", True):
        error = fault_of(api.post("Bill", {**bodies["Bill"], "ExchangeRate": rate}))
        assert (error["code"], error["element"]) == ("6000", "ExchangeRate"), rate
    # Half up, not to even: 1.00 x 1.125 = 1.125 -> 1.13.
    half = api.create("Bill", {**bodies["Bill"], "Line": [{**bodies["Bill"]["Line"][0], "Amount": Decimal("1.00")}],
                               "ExchangeRate": Decimal("1.125")})
    assert half["HomeTotalAmt"] == Decimal("1.13")
    # A payment is in the currency of what it pays.
    wrong = fault_of(api.post("BillPayment", {**bodies["BillPayment"], "CurrencyRef": {"value": "USD"}}))
    assert (wrong["code"], wrong["element"]) == ("6000", "CurrencyRef")


def test_a_foreign_document_keeps_its_rate_through_updates_and_void(server):
    api = connect(server, multicurrency=True)
    sale = api.create("Invoice", documents(api, "EUR", "1.10")["Invoice"])
    assert sale["HomeTotalAmt"] == Decimal("110.06")  # 100.05 x 1.10 = 110.055
    noted = api.create("Invoice", {"Id": sale["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "n"})
    assert (noted["ExchangeRate"], noted["HomeTotalAmt"]) == (Decimal("1.10"), Decimal("110.06"))
    repriced = api.create("Invoice", {"Id": sale["Id"], "SyncToken": "1", "sparse": True, "ExchangeRate": "1.2"})
    assert repriced["HomeTotalAmt"] == Decimal("120.06")
    voided = api.create("Invoice", {"Id": sale["Id"], "SyncToken": "2"}, operation="void")
    assert (voided["TotalAmt"], voided["HomeTotalAmt"]) == (0, 0)


def test_multicurrency_is_turned_on_in_the_settings_and_never_off(server, us):
    prefs_url = f"{server.url}/_sandbox/realms/{us.realm_id}/preferences"
    sent = {"SyncToken": "0", "sparse": True, "CurrencyPrefs": {"MultiCurrencyEnabled": True}}
    by_api = fault_of(us.post("Preferences", sent))
    assert (by_api["code"], by_api["element"]) == ("6000", "CurrencyPrefs.MultiCurrencyEnabled")
    assert requests.post(prefs_url, json={"multicurrency": True}).json() == {"ok": True}
    prefs = body_of(us.get("preferences"))["Preferences"]
    assert prefs["CurrencyPrefs"]["MultiCurrencyEnabled"] is True and prefs["SyncToken"] == "1"
    assert body_of(us.post("Preferences", {**sent, "SyncToken": "1"}))["Preferences"]["SyncToken"] == "2"
    off = requests.post(prefs_url, json={"multicurrency": False})
    assert off.status_code == 400 and "cannot be turned off" in off.json()["error"]
    assert requests.post(prefs_url, json={"colour": "red"}).status_code == 400
    assert requests.post(f"{server.url}/_sandbox/realms/999/preferences", json={}).status_code == 404


def test_a_company_saved_before_currencies_existed_keeps_taking_every_currency(clock):
    from ledgerbridge.sandbox.qbo.company import Company

    fresh = Company("9130000000001", "Globex (sandbox)", clock)
    legacy_state = {key: value for key, value in fresh.to_state().items()
                    if key not in ("country", "home_currency", "multicurrency", "book_close_date",
                                   "preferences_version", "preferences_updated")}

    legacy = Company.from_state(legacy_state, clock)
    again = Company.from_state(fresh.to_state(), clock)

    assert (legacy.home_currency, legacy.multicurrency) == ("USD", True)  # as it behaved when saved
    assert again.multicurrency is False  # a company saved now keeps its own setting


def test_exchange_rates_are_read_and_set_per_currency_and_day(server, us):
    api = connect(server, country="FR", multicurrency=True)  # home EUR: USD at 1 / 1.08 = 0.925926
    read = body_of(api.get("exchangerate?sourcecurrencycode=usd&asofdate=2026-03-02"))["ExchangeRate"]
    assert (read["SourceCurrencyCode"], read["TargetCurrencyCode"], read["Rate"], read["AsOfDate"]) == (
        "USD", "EUR", Decimal("0.925926"), "2026-03-02")
    own = {"SourceCurrencyCode": "USD", "TargetCurrencyCode": "EUR", "Rate": "0.91", "AsOfDate": "2026-03-02"}
    assert body_of(api.post("exchangerate", own))["ExchangeRate"]["Rate"] == Decimal("0.91")
    assert body_of(api.get("exchangerate?sourcecurrencycode=USD&asofdate=2026-03-02"))["ExchangeRate"]["Rate"] \
        == Decimal("0.91")
    assert body_of(api.get("exchangerate?sourcecurrencycode=USD&asofdate=2026-03-03"))["ExchangeRate"]["Rate"] \
        == Decimal("0.925926")
    for body, element in (({**own, "Rate": "0"}, "Rate"), ({**own, "Rate": "-1"}, "Rate"),
                          ({**own, "TargetCurrencyCode": "GBP"}, "TargetCurrencyCode"),
                          ({**own, "AsOfDate": "March 2"}, "AsOfDate"), ({**own, "SourceCurrencyCode": "EUR"},
                                                                         "SourceCurrencyCode"),
                          ({**own, "SourceCurrencyCode": "XYZ"}, "ExchangeRate")):
        if element == "ExchangeRate":  # a currency the market does not quote has no rate until the company sets one
            reply = api.get("exchangerate?sourcecurrencycode=XYZ&asofdate=2026-03-02")
        else:
            reply = api.post("exchangerate", body)
        assert (fault_of(reply)["code"], fault_of(reply)["element"]) == ("6000", element), body
    assert fault_of(api.post("exchangerate", {"SourceCurrencyCode": "USD"}))["element"] == "Rate"
    # Multicurrency off: a company has no exchange rates.
    refused = fault_of(us.get("exchangerate?sourcecurrencycode=EUR"))
    assert refused["code"] == "6000" and "multicurrency" in refused["Detail"]
