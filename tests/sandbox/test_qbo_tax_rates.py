"""The QBO sandbox over real HTTP: TaxService creates a tax code and its rates, as a non-US company has
them; TaxRate is queried and read like any list (RateValue in percent), TaxCode names its rates on each
side; both stay read-only; a bill line takes the new code, and its tax: worked out per line and rate into
TxnTaxDetail, or a supplied TxnTaxDetail kept as given (its TaxRateRefs checked)."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from test_qbo_company_settings import connect
from test_qbo_sandbox import Api, bill, body_of, fault_of, invoice


@pytest.fixture
def uk(server) -> Api:  # the clock, sandbox and server fixtures: tests/sandbox/conftest.py
    return connect(server, company_name="Wayne UK", country="GB")


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
    created_bill = uk.create("Bill", taxed)
    assert (created_bill["TxnTaxDetail"]["TotalTax"], created_bill["TotalAmt"]) == (Decimal(20), Decimal("120.00"))


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


REDUCED = {"TaxCode": "5.0% R", "TaxRateDetails": [
    {"TaxRateName": "5.0% R (purchases)", "RateValue": "5", "TaxAgencyId": "1", "TaxApplicableOn": "Purchase"}]}


def taxed_bill(api: Api, code_ids: list[str], *amounts: str, **fields) -> dict:
    """A bill to a new vendor, its lines' tax codes in order."""
    vendor = api.create("Vendor", {"DisplayName": f"Vendor {len(code_ids)}-{'-'.join(amounts)}"})
    body = bill(vendor["Id"], api.account_id("Office Expenses"), *amounts, **fields)
    for line, code_id in zip(body["Line"], code_ids, strict=True):
        line["AccountBasedExpenseLineDetail"]["TaxCodeRef"] = {"value": code_id}
    return body


def tax_line(rate_id: str, amount: str, net: str, percent: str = "20") -> dict:
    return {"Amount": Decimal(amount), "DetailType": "TaxLineDetail",
            "TaxLineDetail": {"TaxRateRef": {"value": rate_id}, "PercentBased": True, "TaxPercent": Decimal(percent),
                              "NetAmountTaxable": Decimal(net)}}


def summary(doc: dict) -> list[tuple]:
    """(rate Id, tax, net amount taxable, percent, override delta) of each TaxLine."""
    return [(t["TaxLineDetail"]["TaxRateRef"]["value"], t["Amount"], t["TaxLineDetail"]["NetAmountTaxable"],
             t["TaxLineDetail"]["TaxPercent"], t["TaxLineDetail"].get("OverrideDeltaAmount"))
            for t in doc["TxnTaxDetail"]["TaxLine"]]


def test_without_a_txn_tax_detail_the_tax_is_worked_out_per_line_and_rate(uk, server):
    standard, reduced = body_of(tax_service(uk, STANDARD)), body_of(tax_service(uk, REDUCED))
    sales_20, purchase_20 = (d["TaxRateId"] for d in standard["TaxRateDetails"])
    [purchase_5] = (d["TaxRateId"] for d in reduced["TaxRateDetails"])

    # 33.37 at 20% is 6.674: 6.67 a line, so 13.34 for two (a source rounding the sum would say 13.35).
    created = uk.create("Bill", taxed_bill(uk, [standard["TaxCodeId"]] * 2 + [reduced["TaxCodeId"]],
                                           "33.37", "33.37", "40.00"))
    assert summary(created) == [(purchase_20, Decimal("13.34"), Decimal("66.74"), Decimal(20), None),
                                (purchase_5, Decimal("2.00"), Decimal("40.00"), Decimal(5), None)]
    assert (created["TxnTaxDetail"]["TotalTax"], created["TotalAmt"], created["Balance"]) == (
        Decimal("15.34"), Decimal("122.08"), Decimal("122.08"))
    assert body_of(uk.get(f"bill/{created['Id']}"))["Bill"]["TxnTaxDetail"] == created["TxnTaxDetail"]

    # Amounts that include the tax: it is taken out of them, the total stays the lines'.
    customer = uk.create("Customer", {"DisplayName": "Vance Refrigeration"})
    services = body_of(uk.query("select * from Item where Name = 'Services'"))["QueryResponse"]["Item"][0]["Id"]
    sale = invoice(customer["Id"], services, "120.00", GlobalTaxCalculation="TaxInclusive")
    sale["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] = {"value": standard["TaxCodeId"]}
    sold = uk.create("Invoice", sale)
    assert summary(sold) == [(sales_20, Decimal("20.00"), Decimal("100.00"), Decimal(20), None)]
    assert (sold["TxnTaxDetail"]["TotalTax"], sold["TotalAmt"]) == (Decimal("20.00"), Decimal("120.00"))

    # A US company's pseudo codes name no rate: no tax worked out, as before.
    us = connect(server, company_name="Acme US")
    nontax = body_of(us.query("select * from TaxCode where Name = 'TAX'"))["QueryResponse"]["TaxCode"][0]["Id"]
    plain = us.create("Bill", taxed_bill(us, [nontax], "100.00"))
    assert "TxnTaxDetail" not in plain and plain["TotalAmt"] == Decimal("100.00")


def test_a_supplied_txn_tax_detail_is_booked_as_given_and_kept_until_the_lines_change(uk):
    standard = body_of(tax_service(uk, STANDARD))
    purchase_20 = standard["TaxRateDetails"][1]["TaxRateId"]
    body = taxed_bill(uk, [standard["TaxCodeId"]], "33.37")  # QuickBooks' own tax: 6.674 -> 6.67
    body["TxnTaxDetail"] = {"TotalTax": Decimal("6.68"), "TaxLine": [tax_line(purchase_20, "6.68", "33.37")]}

    created = uk.create("Bill", body)
    assert summary(created) == [(purchase_20, Decimal("6.68"), Decimal("33.37"), Decimal(20), Decimal("0.01"))]
    assert (created["TxnTaxDetail"]["TotalTax"], created["TotalAmt"], created["Balance"]) == (
        Decimal("6.68"), Decimal("40.05"), Decimal("40.05"))

    # A sparse update of something else keeps it; new lines without a TxnTaxDetail have their tax worked out.
    noted = uk.create("Bill", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "checked"})
    assert (noted["TxnTaxDetail"]["TotalTax"], noted["TotalAmt"]) == (Decimal("6.68"), Decimal("40.05"))
    relined = uk.create("Bill", {"Id": created["Id"], "SyncToken": "1", "sparse": True, "Line": body["Line"]})
    assert (relined["TxnTaxDetail"]["TotalTax"], relined["TotalAmt"]) == (Decimal("6.67"), Decimal("40.04"))


@pytest.mark.parametrize("tax_lines, code, element", [
    ([tax_line("999", "6.68", "33.37")], "2500", "TxnTaxDetail.TaxLine.TaxLineDetail.TaxRateRef"),
    ([tax_line("{sales}", "6.68", "33.37")], "6000", "TxnTaxDetail.TaxLine.TaxLineDetail.TaxRateRef"),
    ([{"Amount": Decimal("6.68"), "DetailType": "TaxLineDetail", "TaxLineDetail": {"PercentBased": True}}],
     "2020", "TxnTaxDetail.TaxLine.TaxLineDetail.TaxRateRef"),
    ([{"Amount": Decimal("6.68"), "DetailType": "SalesItemLineDetail", "TaxLineDetail": {}}],
     "6000", "TxnTaxDetail.TaxLine.DetailType"),
])
def test_a_supplied_tax_line_naming_no_rate_of_the_bill_is_refused_and_nothing_is_created(uk, sandbox, tax_lines,
                                                                                          code, element):
    standard = body_of(tax_service(uk, STANDARD))
    sales_20 = standard["TaxRateDetails"][0]["TaxRateId"]  # a sales rate: not one a bill's code applies
    for line in tax_lines:
        ref = line["TaxLineDetail"].get("TaxRateRef")
        if ref and ref["value"] == "{sales}":
            ref["value"] = sales_20
    body = taxed_bill(uk, [standard["TaxCodeId"]], "33.37")
    body["TxnTaxDetail"] = {"TotalTax": Decimal("6.68"), "TaxLine": tax_lines}

    error = fault_of(uk.post("Bill", body))
    assert (error["code"], error["element"]) == (code, element)
    if code == "2500":
        assert error["Detail"] == "Invalid Reference Id : TaxRate with Id=999 does not exist"
    assert sandbox.realms[uk.realm_id].objects["Bill"] == {}
