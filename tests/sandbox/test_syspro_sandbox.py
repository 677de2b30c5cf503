"""The SYSPRO sandbox over real HTTP: logon and sessions, OData reads ($filter grammar, paging at the cap),
SORTBO write-back posts, admin routes, faults, seeding, persistence, the command line."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from decimal import Decimal

import pytest
import requests
from ledgerbridge.sandbox.syspro import (BAD_ORDERS, DEFAULT_PASSWORD, NICK_BROWN, NICK_BROWN_ORDER, SysproCompany,
                                        SysproSandbox, seed_company, serve_in_thread)
from ledgerbridge.sandbox.syspro.company import line_value, round_half_up, uom_factor
from ledgerbridge.sandbox.syspro.odata import parse_filter
from support import FakeClock, syspro_served

REST = "/SYSPROWCFService/Rest"
START = 1_790_000_000.0  # 2026-09-21


@pytest.fixture(scope="module")
def seeded():
    """A seeded sandbox shared by the read-only tests of this module."""
    with syspro_served(seed=1, customers=120, stock_items=150, orders=600) as server:
        yield server


@pytest.fixture
def fresh():
    with syspro_served(seed=7, customers=30, stock_items=40, orders=80, clock=FakeClock(START),
                       session_idle_seconds=1) as server:
        yield server


def logon(url: str, password: str = DEFAULT_PASSWORD, operator: str = "ADMIN", company: str = "STARK"):
    return requests.get(f"{url}{REST}/Logon", params={"Operator": operator, "OperatorPassword": password,
                                                      "CompanyId": company, "CompanyPassword": ""}, timeout=10)


def session(url: str) -> dict:
    reply = logon(url)
    assert reply.status_code == 200, reply.text
    return {"UserId": reply.text.strip()}


def odata(url: str, entity_set: str, headers: dict, **params) -> requests.Response:
    return requests.get(f"{url}/odata/{entity_set}", headers=headers,
                        params={f"${k}": v for k, v in params.items()}, timeout=30)


def post(url: str, headers: dict, orders: list, business_object: str = "SORTBO", **parameters) -> requests.Response:
    return requests.post(f"{url}{REST}/Transaction/Post", headers=headers, timeout=10,
                         json={"BusinessObject": business_object, "XmlParameters": parameters,
                               "XmlIn": {"Orders": orders}})


# -- logon and sessions ---------------------------------------------------------------------------
def test_logon_gives_a_padded_guid_and_wrong_credentials_a_401(seeded):
    reply = logon(seeded.url)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    assert reply.text != reply.text.strip() and reply.text.endswith(" ")
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", reply.text.strip())
    for wrong, named in (({"password": "nope"}, "Invalid password for operator 'ADMIN'"),
                         ({"operator": "BOB"}, "Operator 'BOB' is not defined"),
                         ({"company": "OTHER"}, "Company 'OTHER' is not defined")):
        refused = logon(seeded.url, **wrong)
        assert refused.status_code == 401
        assert refused.json()["ExceptionType"] == "LogonFailed" and "nope" not in refused.text
        assert named in refused.json()["Message"]


def test_calls_need_a_live_session_and_logoff_ends_it(fresh):
    url = fresh.url
    missing = odata(url, "Customers", {})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "SessionExpired"
    assert post(url, {"UserId": "not-a-session"}, []).json()["ExceptionType"] == "SessionExpired"
    headers = session(url)
    assert odata(url, "Customers", headers, top="1").status_code == 200
    fresh.clock.advance(0.5)
    assert odata(url, "Customers", headers, top="1").status_code == 200  # used: idle time starts again
    fresh.clock.advance(0.9)
    assert odata(url, "Customers", headers, top="1").status_code == 200
    fresh.clock.advance(1.0)  # idle for session_idle_seconds
    expired = odata(url, "Customers", headers, top="1")
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "SessionExpired"
    headers = session(url)
    assert requests.get(f"{url}{REST}/Logoff", params=headers, timeout=5).status_code == 200
    assert post(url, headers, []).status_code == 401


# -- OData reads ----------------------------------------------------------------------------------
def test_the_three_entity_sets_and_their_fields(seeded):
    headers = session(seeded.url)
    customer = odata(seeded.url, "Customers", headers, filter=f"Customer eq '{NICK_BROWN}'").json()["value"][0]
    assert customer["Name"] == "Nick Brown" and customer["CustomerOnHold"] is False
    assert set(customer) == {"Customer", "Name", "ShortName", "Email", "TaxNumber", "SoldToAddr1", "SoldToAddr2",
                             "SoldToAddr3", "SoldPostalCode", "Currency", "TermsCode", "CustomerOnHold", "ChangedAt"}
    items = odata(seeded.url, "StockItems", headers, filter="AlternateUom eq 'CS'").json()["value"]
    assert items and all(item["AltUomMulDiv"] == "M" and item["ConvFactAltUom"] in ("6", "12", "24") for item in items)
    reply = odata(seeded.url, "SalesOrders", headers, filter=f"SalesOrder eq '{NICK_BROWN_ORDER}'").json()
    assert reply["@odata.context"].endswith("#SalesOrders")
    order = reply["value"][0]
    assert order["Customer"] == NICK_BROWN and order["OrderStatus"] == "8"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", order["ChangedAt"])
    assert set(order["CustomFields"]) == {"QBOInvoice", "QBOInvoiceNo", "QBOPaymentStatus", "QBOPaidAmount",
                                          "QBOPaidDate"}
    assert isinstance(order["OrderTotal"], str) and isinstance(order["Lines"][0]["OrderQty"], str)


def test_filters_comparisons_in_not_parentheses_escaping_and_datetimes(seeded):
    url, headers = seeded.url, session(seeded.url)
    company = seeded.sandbox.company
    orders = list(company.orders.values())

    def numbers(flt: str, **extra) -> list[str]:
        reply = odata(url, "SalesOrders", headers, filter=flt, select="SalesOrder", **extra)
        assert reply.status_code == 200, reply.text
        return [row["SalesOrder"] for row in reply.json()["value"]]

    pivot = orders[300]["ChangedAt"]
    assert numbers(f"ChangedAt gt {pivot}") == [o["SalesOrder"] for o in orders if o["ChangedAt"] > pivot]
    assert numbers(f"ChangedAt ge {pivot}")[0] == orders[300]["SalesOrder"]
    assert numbers("OrderStatus in ('8', '\\')") == [o["SalesOrder"] for o in orders if o["OrderStatus"] in "8\\"]
    expected = [o["SalesOrder"] for o in orders if not (o["OrderStatus"] == "9" or o["CashCredit"] == "C")
                and Decimal(o["OrderTotal"]) > 100]
    assert numbers("not (OrderStatus eq '9' or CashCredit eq 'C') and OrderTotal gt 100") == expected
    assert numbers("OrderDate ge 2026-06-01 and OrderDate lt 2026-07-01") == [
        o["SalesOrder"] for o in orders if "2026-06-01" <= o["OrderDate"] < "2026-07-01"]
    assert numbers("CustomFields/QBOInvoice eq null") == [o["SalesOrder"] for o in orders]
    seeded.sandbox.change_customer(NICK_BROWN, Name="Nick O'Brown")
    try:
        found = odata(url, "Customers", headers, filter="Name eq 'Nick O''Brown'").json()["value"]
        assert [c["Customer"] for c in found] == [NICK_BROWN]
    finally:
        seeded.sandbox.change_customer(NICK_BROWN, Name="Nick Brown")
    held = odata(url, "Customers", headers, filter="CustomerOnHold", select="Customer").json()["value"]
    assert [c["Customer"] for c in held] == [c["Customer"] for c in company.customers.values() if c["CustomerOnHold"]]


@pytest.mark.parametrize("flt, problem", [
    ("Foo eq 1", "no property 'Foo'"),
    ("OrderTotal eq 'abc'", "OrderTotal is a decimal property"),
    ("OrderStatus eq '8' and", "expected a property or a value"),
    ("(OrderStatus eq '8'", "expected ')'"),
    ("Customer eq 'unterminated", "unterminated string"),
    ("OrderStatus eq '8' OrderTotal", "unexpected 'OrderTotal'"),
    ("ChangedAt gt 2026-13-45T00:00:00Z", "not a valid datetime"),
    ("Lines eq 1", "cannot be compared"),
    ("OrderTotal gt null", "null cannot be compared"),
    ("OrderStatus eq '8' & 1", "unexpected character '&'"),
])
def test_a_bad_filter_is_a_400_naming_the_problem(seeded, flt, problem):
    reply = odata(seeded.url, "SalesOrders", session(seeded.url), filter=flt)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "BadRequest" and problem in reply.json()["error"]["message"]


def test_orderby_select_count_top_skip(seeded):
    url, headers = seeded.url, session(seeded.url)
    reply = odata(url, "SalesOrders", headers, orderby="OrderTotal desc, SalesOrder", top="5", skip="2",
                  select="SalesOrder,OrderTotal", count="true").json()
    totals = sorted(seeded.sandbox.company.orders.values(), key=lambda o: -Decimal(o["OrderTotal"]))
    assert [row["SalesOrder"] for row in reply["value"]] == [o["SalesOrder"] for o in totals[2:7]]
    assert set(reply["value"][0]) == {"SalesOrder", "OrderTotal"} and reply["@odata.count"] == 600
    assert "@odata.nextLink" not in reply
    assert odata(url, "SalesOrders", headers, top="5001").status_code == 400
    assert "5000" in odata(url, "SalesOrders", headers, top="5001").json()["error"]["message"]
    assert odata(url, "SalesOrders", headers, orderby="Lines").status_code == 400
    assert odata(url, "SalesOrders", headers, select="Nope").status_code == 400
    assert odata(url, "Invoices", headers).status_code == 404


def test_paging_exactly_at_the_5000_row_cap():
    sandbox = SysproSandbox()
    seed_company(sandbox, seed=3, customers=50, stock_items=60, orders=10_000)
    server = serve_in_thread(sandbox)
    try:
        headers = session(server.url)
        first = odata(server.url, "SalesOrders", headers, select="SalesOrder").json()
        assert len(first["value"]) == 5000 and first["value"][-1]["SalesOrder"] == "005000"
        link = first["@odata.nextLink"]
        assert link.startswith("SalesOrders?") and "$skip=5000" in link and "$select=SalesOrder" in link
        second = requests.get(f"{server.url}/odata/{link}", headers=headers, timeout=30).json()
        assert len(second["value"]) == 5000 and "@odata.nextLink" not in second  # exactly at the cap: no more
        sandbox.add_order(Customer=NICK_BROWN, Lines=[{"StockCode": "NOSUCH", "OrderQty": "1", "OrderUom": "EA",
                                                        "Price": "1.00"}])
        second = requests.get(f"{server.url}/odata/{link}", headers=headers, timeout=30).json()
        third = requests.get(f"{server.url}/odata/{second['@odata.nextLink']}", headers=headers, timeout=30).json()
        assert [row["SalesOrder"] for row in third["value"]] == ["010001"] and "@odata.nextLink" not in third
    finally:
        server.stop()


# -- posts ----------------------------------------------------------------------------------------
def test_write_back_applies_per_order_and_does_not_move_changed_at(fresh):
    url, headers, sandbox = fresh.url, session(fresh.url), fresh.sandbox
    before = sandbox.order("000005")
    sandbox.lock_order("000006", operator="JANE")
    reply = post(url, headers, [
        {"SalesOrder": "000005", "CustomFields": {"QBOInvoice": "1042", "QBOInvoiceNo": "INV-1042"},
         "AddNote": "QuickBooks invoice INV-1042 (Id 1042)"},
        {"SalesOrder": "000999", "CustomFields": {"QBOInvoice": "1"}},
        {"SalesOrder": "000006", "CustomFields": {"QBOInvoice": "1043"}},
        {"SalesOrder": "000007", "CustomFields": {"QBOInvoice": "x" * 21}},
        {"SalesOrder": "000008", "CustomFields": {"Colour": "red"}},
        {"SalesOrder": "000009", "AddNote": "n" * 101},
        {"SalesOrder": "000010", "CustomFields": {"QBOPaidAmount": "12.345"}},
        {"SalesOrder": "000005", "CustomFields": {"QBOPaymentStatus": "Paid", "QBOPaidAmount": "100.00",
                                                  "QBOPaidDate": "2026-10-01"}, "AddNote": "paid in full"},
    ])
    assert reply.status_code == 200
    results = reply.json()["XmlOut"]["Orders"]
    assert [r["Status"] for r in results] == ["ok", "error", "error", "error", "error", "error", "error", "ok"]
    assert results[1]["Message"] == "Sales order 000999 not on file"
    assert results[2]["Message"] == "Sales order 000006 is in use by operator JANE"
    assert [r["ExceptionType"] for r in results[1:7]] == ["OrderNotFound", "OrderLocked", "ValueTooLong",
                                                        "UnknownCustomField", "ValueTooLong", "InvalidValue"]
    after = sandbox.order("000005")
    assert after["CustomFields"] == {"QBOInvoice": "1042", "QBOInvoiceNo": "INV-1042", "QBOPaymentStatus": "Paid",
                                     "QBOPaidAmount": "100.00", "QBOPaidDate": "2026-10-01"}
    assert after["Notes"] == [{"Line": 1, "Text": "QuickBooks invoice INV-1042 (Id 1042)"},
                              {"Line": 2, "Text": "paid in full"}]
    assert after["ChangedAt"] == before["ChangedAt"]
    assert sandbox.order("000007")["CustomFields"]["QBOInvoice"] is None
    stats = sandbox.stats()
    assert stats["orders_written"] == 2 and stats["orders_rejected"] == 6 and stats["requests"]["post"] == 1
    sandbox.unlock_order("000006")
    assert post(url, headers, [{"SalesOrder": "000006", "CustomFields": {"QBOInvoice": "1043"}}]).json()[
        "XmlOut"]["Orders"][0]["Status"] == "ok"
    # ValidateOnly checks without applying
    checked = post(url, headers, [{"SalesOrder": "000011", "AddNote": "dry"}], ValidateOnly="Y")
    assert checked.json()["XmlOut"]["Orders"][0]["Status"] == "ok" and sandbox.order("000011")["Notes"] == []


def test_a_post_refused_as_a_whole(fresh):
    url, headers = fresh.url, session(fresh.url)
    too_many = post(url, headers, [{"SalesOrder": "000001", "AddNote": "x"}] * 101)
    assert too_many.status_code == 400 and too_many.json()["ExceptionType"] == "TooManyOrders"
    assert "too many" in too_many.json()["Message"]
    assert fresh.sandbox.order("000001")["Notes"] == []
    unknown = post(url, headers, [], business_object="SORTOI")
    assert unknown.status_code == 400 and unknown.json()["ExceptionType"] == "UnknownBusinessObject"
    garbage = requests.post(f"{url}{REST}/Transaction/Post", headers=headers, data="{", timeout=5)
    assert garbage.status_code == 400 and garbage.json()["ExceptionType"] == "InvalidRequest"
    fresh.clock.advance(5)
    expired = post(url, headers, [{"SalesOrder": "000001", "AddNote": "late"}])
    assert expired.status_code == 401 and expired.json()["ExceptionType"] == "SessionExpired"
    assert fresh.sandbox.order("000001")["Notes"] == []


# -- admin ----------------------------------------------------------------------------------------
def test_admin_routes_change_cancel_lock_stats_faults(fresh):
    url, sandbox = fresh.url, fresh.sandbox
    before = sandbox.order("000003")
    fresh.clock.advance(60)
    changed = requests.patch(f"{url}/sandbox/orders/000003", timeout=5, json={
        "CustomerPoNumber": "PO-NEW", "Lines": [{"StockCode": before["Lines"][0]["StockCode"], "OrderQty": "3",
                                                "OrderUom": "EA", "Price": "10.005", "DiscountPct": "10"}]}).json()
    assert changed["ChangedAt"] > before["ChangedAt"] and changed["CustomerPoNumber"] == "PO-NEW"
    assert changed["Lines"][0]["LineValue"] == "27.01" and changed["OrderTotal"] == "27.01"  # 3 x 10.005 x 0.9
    assert changed["TaxTotal"] == "2.03"  # TaxCode A: 7.5 %
    assert requests.patch(f"{url}/sandbox/orders/000003", json={"Colour": "red"}, timeout=5).status_code == 400
    assert requests.patch(f"{url}/sandbox/orders/999999", json={}, timeout=5).status_code == 404
    cancelled = requests.post(f"{url}/sandbox/orders/000004/cancel", timeout=5).json()
    assert cancelled["OrderStatus"] == "\\"
    assert requests.post(f"{url}/sandbox/orders/000004/lock", json={"operator": "JANE"}, timeout=5).ok
    assert sandbox.company.locks == {"000004": "JANE"}
    assert requests.post(f"{url}/sandbox/orders/000004/unlock", timeout=5).ok and sandbox.company.locks == {}
    added = requests.post(f"{url}/sandbox/orders", timeout=5, json={"Customer": NICK_BROWN, "Lines": [
        {"StockCode": before["Lines"][0]["StockCode"], "OrderQty": "1", "OrderUom": "EA", "Price": "5"}]})
    assert added.status_code == 201 and added.json()["SalesOrder"] == "000081"
    assert requests.get(f"{url}/sandbox/orders/000081", timeout=5).json()["OrderTotal"] == "5.00"
    faults = requests.post(f"{url}/sandbox/faults", json={"error_rate": 1.0}, timeout=5)
    assert faults.status_code == 200 and sandbox.faults.error_rate == 1.0
    busy = logon(url)
    assert busy.status_code == 503 and busy.json()["ExceptionType"] == "SystemBusy"
    assert requests.post(f"{url}/sandbox/faults", json={"error_rate": 2}, timeout=5).status_code == 400
    assert requests.post(f"{url}/sandbox/faults", json={"nonsense": 1}, timeout=5).status_code == 400
    requests.post(f"{url}/sandbox/faults", json={}, timeout=5)
    stats = requests.get(f"{url}/sandbox/stats", timeout=5).json()
    assert stats["requests"]["logon"] == 1 and stats["busy"] == 1 and stats["objects"]["SalesOrders"] == 81
    assert requests.post(f"{url}/sandbox/stats/reset", timeout=5).json()["requests"]["logon"] == 0
    assert requests.post(f"{url}/sandbox/sessions/expire", timeout=5).ok


def test_faults_busy_applies_nothing_and_a_drop_applies_then_cuts(fresh):
    url, headers, sandbox = fresh.url, session(fresh.url), fresh.sandbox
    sandbox.set_faults({"error_rate": 1.0})
    assert post(url, headers, [{"SalesOrder": "000001", "AddNote": "busy"}]).status_code == 503
    assert sandbox.order("000001")["Notes"] == []
    sandbox.set_faults({"drop_rate": 1.0})
    with pytest.raises(requests.exceptions.RequestException):
        post(url, headers, [{"SalesOrder": "000001", "AddNote": "dropped"}])
    assert sandbox.order("000001")["Notes"] == [{"Line": 1, "Text": "dropped"}]
    assert sandbox.stats()["answers_dropped"] == 1


# -- seeding, money, persistence, command line ----------------------------------------------------
def test_seeding_is_deterministic_consistent_and_holds_the_bad_orders():
    first, second = SysproCompany(clock=lambda: START), SysproCompany(clock=lambda: START)
    seed_company(first, seed=5, customers=80, stock_items=120, orders=400)
    seed_company(second, seed=5, customers=80, stock_items=120, orders=400)
    assert first.to_state() == second.to_state()
    other = seed_company(SysproCompany(clock=lambda: START), seed=6, customers=80, stock_items=120, orders=400)
    assert other.to_state() != first.to_state()
    assert first.customers[NICK_BROWN]["Name"] == "Nick Brown"
    items, customers = first.stock_items, first.customers
    statuses = {o["OrderStatus"] for o in first.orders.values()}
    assert {"1", "4", "8", "9", "S", "\\"} <= statuses
    assert any(o["CashCredit"] == "C" for o in first.orders.values())
    lines = [line for o in first.orders.values() for line in o["Lines"]]
    assert any(line["OrderUom"] == "CS" for line in lines) and any(line["DiscountPct"] != "0" for line in lines)
    assert any(line["OrderUom"] != line["PriceUom"] for line in lines)
    assert any(item["AltUomMulDiv"] == "D" for item in items.values()) and not all(
        item["Active"] for item in items.values())
    for number, order in first.orders.items():
        total = sum(Decimal(line["LineValue"]) for line in order["Lines"])
        consistent = (order["Customer"] in customers and Decimal(order["OrderTotal"]) == total
                      and all(line["StockCode"] in items and items[line["StockCode"]]["Active"]
                              and uom_factor(items[line["StockCode"]], line["OrderUom"]) is not None
                              and Decimal(line["LineValue"]) == line_value(line, items[line["StockCode"]])
                              for line in order["Lines"]))
        assert consistent == (number not in BAD_ORDERS), (number, BAD_ORDERS.get(number))
    assert Decimal(first.orders["000046"]["OrderTotal"]) - sum(
        Decimal(line["LineValue"]) for line in first.orders["000046"]["Lines"]) == Decimal("0.03")


def test_units_of_measure_and_rounding():
    item = {"StockUom": "EA", "AlternateUom": "CS", "ConvFactAltUom": "12", "AltUomMulDiv": "M",
            "OtherUom": "G", "ConvFactOthUom": "1000", "OthUomMulDiv": "D"}
    assert uom_factor(item, "CS") == 12 and uom_factor(item, "G") * 1000 == 1 and uom_factor(item, "PL") is None
    assert str(line_value({"OrderQty": "2", "OrderUom": "CS", "Price": "1.25", "PriceUom": "EA"}, item)) == "30.00"
    assert str(line_value({"OrderQty": "5", "OrderUom": "EA", "Price": "12.00", "PriceUom": "CS"}, item)) == "5.00"
    assert str(line_value({"OrderQty": "1", "OrderUom": "EA", "Price": "0.125", "DiscountPct": "0"}, None)) == "0.13"
    assert str(round_half_up(Decimal("-0.125"))) == "-0.13"
    with pytest.raises(ValueError, match="no conversion"):
        line_value({"OrderQty": "1", "OrderUom": "PL", "Price": "1", "PriceUom": "EA"}, item)
    assert parse_filter("not CustomerOnHold", {"CustomerOnHold": "bool"}, "Customers")({"CustomerOnHold": False})


def test_state_round_trips_through_a_file(tmp_path, fresh):
    sandbox = fresh.sandbox
    sandbox.lock_order("000002")
    headers = session(fresh.url)
    post(fresh.url, headers, [{"SalesOrder": "000001", "CustomFields": {"QBOInvoice": "77"}, "AddNote": "hi"}])
    sandbox.save(tmp_path / "syspro.json")
    loaded = SysproSandbox.load(tmp_path / "syspro.json", clock=fresh.clock, session_idle_seconds=1)
    assert loaded.company.to_state() == sandbox.company.to_state()
    assert loaded.order("000001")["CustomFields"]["QBOInvoice"] == "77"
    assert loaded.company.locks == {"000002": "ADMIN"} and headers["UserId"] in loaded.sessions
    json.loads((tmp_path / "syspro.json").read_text())  # plain JSON: money as strings


def test_command_line_serves_seeds_and_saves_on_shutdown(tmp_path):
    state = tmp_path / "sandbox" / "syspro.json"
    process = subprocess.Popen([sys.executable, "-m", "ledgerbridge.cli", "sandbox", "syspro", "--port", "0",
                                "--state", str(state), "--seed", "2", "--orders", "70", "--customers", "20",
                                "--stock-items", "30", "--password", "cli-secret"],
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        url = re.search(r"listening on (http://\S+)", line).group(1)
        assert "70 sales orders" in line
        assert logon(url).status_code == 401
        headers = session_with(url, "cli-secret")
        assert post(url, headers, [{"SalesOrder": "000001", "AddNote": "from the CLI test"}]).ok
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    saved = SysproSandbox.load(state)
    assert saved.order("000001")["Notes"] == [{"Line": 1, "Text": "from the CLI test"}]
    assert len(saved.company.orders) == 70


def session_with(url: str, password: str) -> dict:
    reply = logon(url, password=password)
    assert reply.status_code == 200, reply.text
    return {"UserId": reply.text.strip()}
