"""The QBO sandbox over real HTTP: TaxService creates a tax code and its rates, as a non-US company has
them; TaxRate is queried and read like any list (RateValue in percent), TaxCode names its rates on each
side; both stay read-only; a bill line takes the new code."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread
from support import FakeClock
from test_qbo_sandbox import CLIENT, START, Api, bill, body_of, fault_of


@pytest.fixture
def sandbox() -> QBOSandbox:
    return QBOSandbox(clock=FakeClock(START), rate_limits=False)


@pytest.fixture
def server(sandbox):
    running = serve_in_thread(sandbox)
    yield running
    running.stop()


@pytest.fixture
def uk(server) -> Api:
    created = requests.post(f"{server.url}/_sandbox/realms",
                            json={"client_id": CLIENT[0], "company_name": "Wayne UK", "country": "GB"})
    assert created.status_code == 201, created.text
    return Api(server.url, created.json()["realm_id"], created.json()["refresh_token"])


def tax_service(api: Api, body: dict, **params) -> requests.Response:
    return api.post("taxservice/taxcode", body, **params)


STANDARD = {"TaxCode": "20.0% S", "TaxRateDetails": [
    {"TaxRateName": "20.0% S (sales)", "RateValue": "20", "TaxAgencyId": "1", "TaxApplicableOn": "Sales"},
    {"TaxRateName": "20.0% S (purchases)", "RateValue": "20", "TaxAgencyId": "1", "TaxApplicableOn": "Purchase"}]}


def test_tax_service_creates_a_code_and_its_rates_which_queries_and_reads_return(uk):
    reply = tax_service(uk, STANDARD)
    assert reply.status_code == 200, reply.text
    created = body_of(reply)
    assert created["TaxCode"] == "20.0% S"
    assert [(d["TaxRateName"], d["RateValue"], d["TaxApplicableOn"]) for d in created["TaxRateDetails"]] == [
        ("20.0% S (sales)", Decimal(20), "Sales"), ("20.0% S (purchases)", Decimal(20), "Purchase")]
    sales_id, purchase_id = (d["TaxRateId"] for d in created["TaxRateDetails"])

    rates = body_of(uk.query("select * from TaxRate"))["QueryResponse"]["TaxRate"]
    assert {r["Id"]: (r["Name"], r["RateValue"], r["Active"], r["AgencyRef"]["value"]) for r in rates} == {
        sales_id: ("20.0% S (sales)", Decimal(20), True, "1"),
        purchase_id: ("20.0% S (purchases)", Decimal(20), True, "1")}
    code = body_of(uk.get(f"taxcode/{created['TaxCodeId']}"))["TaxCode"]
    assert code["SalesTaxRateList"]["TaxRateDetail"] == [
        {"TaxRateRef": {"value": sales_id, "name": "20.0% S (sales)"}, "TaxTypeApplicable": "TaxOnAmount",
         "TaxOrder": 0}]
    assert [d["TaxRateRef"]["value"] for d in code["PurchaseTaxRateList"]["TaxRateDetail"]] == [purchase_id]
    assert body_of(uk.get(f"taxrate/{sales_id}"))["TaxRate"]["RateValue"] == Decimal(20)

    # A second code may reuse a rate by its Id; a bill line takes the new code.
    reused = body_of(tax_service(uk, {"TaxCode": "20.0% ECG", "TaxRateDetails": [
        {"TaxRateId": purchase_id, "TaxApplicableOn": "Purchase"}]}))
    assert reused["TaxRateDetails"][0]["RateValue"] == Decimal(20)
    vendor = uk.create("Vendor", {"DisplayName": "Acme Widgets"})
    taxed = bill(vendor["Id"], uk.account_id("Office Expenses"), "100.00")
    taxed["Line"][0]["AccountBasedExpenseLineDetail"]["TaxCodeRef"] = {"value": created["TaxCodeId"]}
    assert uk.create("Bill", taxed)["TotalAmt"] == Decimal("100.00")


@pytest.mark.parametrize("body, code, element", [
    (STANDARD, "6000", "TaxCode"),  # the name is taken (after the first call below)
    ({"TaxRateDetails": STANDARD["TaxRateDetails"]}, "2020", "TaxCode"),
    ({"TaxCode": "Zero"}, "2020", "TaxRateDetails"),
    ({"TaxCode": "Zero", "TaxRateDetails": [{"TaxRateName": "Zero", "TaxAgencyId": "1"}]}, "2020",
     "TaxRateDetails[0].RateValue"),
    ({"TaxCode": "Odd", "TaxRateDetails": [{"TaxRateName": "Odd", "RateValue": "120", "TaxAgencyId": "1"}]},
     "6000", "TaxRateDetails[0].RateValue"),
    ({"TaxCode": "Lost", "TaxRateDetails": [{"TaxRateId": "999"}]}, "2500", "TaxRateDetails[0].TaxRateId"),
])
def test_a_bad_tax_service_request_is_refused_and_creates_nothing(uk, sandbox, body, code, element):
    assert tax_service(uk, STANDARD).status_code == 200
    before = {entity: len(sandbox.realms[uk.realm_id].objects[entity]) for entity in ("TaxCode", "TaxRate")}
    error = fault_of(tax_service(uk, body))
    assert (error["code"], error["element"]) == (code, element)
    assert {entity: len(sandbox.realms[uk.realm_id].objects[entity]) for entity in ("TaxCode", "TaxRate")} == before


def test_tax_rates_and_codes_are_read_only_outside_tax_service(uk):
    for entity in ("TaxRate", "TaxCode"):
        error = fault_of(uk.post(entity, {"Name": "Mine", "RateValue": 5}))  # QBO answers 400 with code 500
        assert error["code"] == "500" and f"Create is not supported for {entity}" in error["Detail"]
