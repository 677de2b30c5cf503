"""SYSPRO rows as ledger records: units of measure, prices, discounts, totals, cash sales, statuses."""
from decimal import Decimal as D

import pytest

from ledgerbridge.registry import SourceSystem
from ledgerbridge.sources.base import Origin
from ledgerbridge.sources.records import HubInvoice, HubSalesReceipt
from ledgerbridge.sources.syspro.translate import OrderPolicy, StockItem, customer_record, order_record

ORIGIN = Origin("SYSPRO SalesOrders", 1)
STOCK = {item.code: item for item in map(StockItem.from_row, [
    {"StockCode": "BOLT-10", "Description": "Bolt M10", "StockUom": "EA", "AlternateUom": "CS", "ConvFactAltUom": "12",
     "AltUomMulDiv": "M", "Active": True},
    {"StockCode": "WIRE", "Description": "Copper wire", "StockUom": "M", "AlternateUom": "CM", "ConvFactAltUom": "100",
     "AltUomMulDiv": "D", "OtherUom": "SP", "ConvFactOthUom": "50", "OthUomMulDiv": "M", "Active": True},
    {"StockCode": "ODD", "Description": "Odd unit", "StockUom": "EA", "AlternateUom": "PK", "ConvFactAltUom": "7",
     "AltUomMulDiv": "D", "Active": True},
    {"StockCode": "OLD", "Description": "Discontinued", "StockUom": "EA", "Active": False},
    {"StockCode": "SIXTH", "Description": "Sold by the sixth", "StockUom": "EA", "AlternateUom": "SX",
     "ConvFactAltUom": "6", "AltUomMulDiv": "D", "Active": True},
])}


def policy(**source) -> OrderPolicy:
    return OrderPolicy.of(SourceSystem(kind="syspro", conn_id="erp", **source))


def order(*lines, total=None, **header):
    lines = [{"Line": n, "OrderUom": "EA", "PriceUom": None, "DiscountPct": "0", **line} for n, line in
             enumerate(lines, 1)]
    base = {"SalesOrder": "000123", "Customer": "BROWN01", "CustomerPoNumber": "PO-9", "OrderDate": "2026-11-30",
            "Currency": "USD", "TermsCode": "30", "OrderStatus": "9", "CashCredit": "", "OrderTotal": total,
            "Lines": lines}
    return {**base, **header}


def translate(row, **source):
    return order_record(row, STOCK, policy(**source), ORIGIN)


def test_a_case_of_twelve_becomes_twelve_each_at_a_twelfth_of_the_price():
    record = translate(order({"StockCode": "BOLT-10", "OrderQty": "2", "OrderUom": "CS", "Price": "30.00",
                              "LineValue": "60.00"}, total="60.00"))
    assert record.kind == "invoices" and not record.problems
    (line,) = record.data["lines"]
    assert (line["item"], line["quantity"], line["unit_price"], line["amount"]) == ("BOLT-10", "24", "2.5", "60.00")
    assert line["description"] == "Bolt M10 (2 CS @ 30.00/CS)"
    invoice = HubInvoice.model_validate(record.data)  # what intake then reads
    assert invoice.total == D("60.00") and invoice.lines[0].quantity * invoice.lines[0].unit_price == D("60.00")
    assert invoice.memo == "Customer PO PO-9" and invoice.status == "approved"


def test_a_price_that_does_not_divide_exactly_is_left_to_the_accounting_system():
    record = translate(order({"StockCode": "BOLT-10", "OrderQty": "1", "OrderUom": "CS", "Price": "10.00",
                              "LineValue": "10.00"}, total="10.00"))
    (line,) = record.data["lines"]
    assert line["quantity"] == "12" and line["amount"] == "10.00" and "unit_price" not in line  # 0.8333...


def test_divide_units_and_a_price_per_another_unit():
    # 250 CM = 2.5 M; the price is per spool of 50 M: 2.5 M x 40.00 / 50 = 2.00
    record = translate(order({"StockCode": "WIRE", "OrderQty": "250", "OrderUom": "CM", "Price": "40.00",
                              "PriceUom": "SP", "LineValue": "2.00"}, total="2.00"))
    (line,) = record.data["lines"]
    assert (line["quantity"], line["unit_price"], line["amount"]) == ("2.5", "0.8", "2.00")


def test_discounts_round_half_up_once_per_line():
    # 3 x 3.35 = 10.05, less 5% = 9.5475 -> 9.55 (half-up at the cent, once)
    record = translate(order({"StockCode": "BOLT-10", "OrderQty": "3", "Price": "3.35", "DiscountPct": "5",
                              "LineValue": "9.55"}, total="9.55"))
    (line,) = record.data["lines"]
    assert line["amount"] == "9.55" and line["description"] == "Bolt M10 (3 EA @ 3.35/EA less 5%)"


@pytest.mark.parametrize("line, field, problem", [
    ({"StockCode": "NOPE", "OrderQty": "1", "Price": "1.00"}, "lines[1].StockCode", "unknown stock code 'NOPE'"),
    ({"StockCode": "BOLT-10", "OrderQty": "1", "OrderUom": "PAL", "Price": "1.00"}, "lines[1].OrderUom",
     "stock item BOLT-10 has no conversion from 'PAL' to its stocking unit EA (its units: EA, CS)"),
    ({"StockCode": "OLD", "OrderQty": "1", "Price": "1.00"}, "lines[1].StockCode", "stock item OLD is inactive in SYSPRO"),
    ({"StockCode": "ODD", "OrderQty": "1", "OrderUom": "PK", "Price": "7.00"}, "lines[1].OrderQty",
     "1 PK is about 0.142857 EA, not exact at 4 decimal places"),
    ({"StockCode": "BOLT-10", "OrderQty": "1", "Price": "1.00", "LineValue": "1.01"}, "lines[1].LineValue",
     "SYSPRO's line value 1.01 differs from 1 EA x 1.00/EA less 0% = 1.00"),
    ({"StockCode": "BOLT-10", "OrderQty": 1.5, "Price": "1.00"}, "lines[1].OrderQty",
     "missing, or not an exact decimal (a string)"),
])
def test_an_untranslatable_line_holds_the_order_naming_the_line_and_field(line, field, problem):
    record = translate(order({"Line": 1, **line}, total="1.00"))
    ((named, said, _),) = record.problems
    assert (named, said) == (field, f"sales order 000123: {problem}")
    assert record.data["hub_id"] == "000123" and record.data["order"]["SalesOrder"] == "000123"


def test_a_total_that_differs_from_the_lines_holds_the_order_with_both_amounts():
    record = translate(order({"StockCode": "BOLT-10", "OrderQty": "2", "Price": "5.00"}, total="10.03"))
    assert record.problems == (("OrderTotal", "sales order 000123: the order total 10.03 differs from the sum of "
                                              "its lines 10.00", "10.03"),)


def test_lines_consolidated_by_item_when_the_registry_says_so():
    row = order({"StockCode": "BOLT-10", "OrderQty": "1", "OrderUom": "CS", "Price": "30.00"},
                {"StockCode": "WIRE", "OrderQty": "3", "OrderUom": "M", "Price": "1.10", "TaxCode": "A"},
                {"StockCode": "BOLT-10", "OrderQty": "6", "Price": "2.50"}, total="48.30")
    per_line = translate(row)
    assert [line["item"] for line in per_line.data["lines"]] == ["BOLT-10", "WIRE", "BOLT-10"]
    by_item = translate(row, invoice_lines="by_item", tax_codes={"A": "TAX"})
    assert [(line["item"], line["quantity"], line.get("unit_price"), line["amount"], line.get("tax_code"))
            for line in by_item.data["lines"]] == [("BOLT-10", "18", "2.5", "45.00", None),
                                                   ("WIRE", "3", "1.1", "3.30", "TAX")]


def test_cash_sales_become_sales_receipts_and_statuses_map_per_entity():
    line = {"StockCode": "BOLT-10", "OrderQty": "1", "Price": "2.50"}
    cash = translate(order(line, total="2.50", CashCredit="C"))
    assert cash.kind == "sales_receipts" and HubSalesReceipt.model_validate(cash.data).status == "approved"
    assert translate(order(line, total="2.50", TermsCode="CA"), cash_terms=("CA",)).kind == "sales_receipts"
    statuses = {status: translate(order(line, total="2.50", OrderStatus=status)).data["status"]
                for status in ("1", "4", "8", "9", "S", "\\")}
    assert statuses == {"1": "draft", "4": "draft", "8": "approved", "9": "approved", "S": "draft", "\\": "void"}
    only_complete = translate(order(line, total="2.50", OrderStatus="8"), export_statuses=("9",))
    assert only_complete.data["status"] == "draft"


def test_a_customer_code_is_the_hub_id():
    record = customer_record({"Customer": "BROWN01", "Name": "Nick Brown", "Email": "nick@brown.example",
                              "SoldToAddr2": "Leeds", "TaxNumber": ""}, Origin("SYSPRO Customers", 1))
    assert record.kind == "customers"
    assert record.data == {"hub_id": "BROWN01", "name": "Nick Brown", "email": "nick@brown.example", "city": "Leeds"}


def test_a_half_cent_through_a_divide_unit_rounds_up_from_the_exact_value():
    # A price of 0.0075 per sixth of an EA is 0.045 per EA: half-up is 0.05, not 0.04 (a reciprocal cut at
    # 50 digits would make it 0.04499...).
    record = translate(order({"StockCode": "SIXTH", "OrderQty": "1", "Price": "0.0075", "PriceUom": "SX",
                              "LineValue": "0.05"}, total="0.05"))
    assert not record.problems and record.data["lines"][0]["amount"] == "0.05"


@pytest.mark.parametrize("lines", [[None], ["a line"], [{"StockCode": "BOLT-10", "OrderQty": {"x": 1}, "Price": "1"}]])
def test_a_malformed_order_is_held_not_a_failed_pull(lines):
    record = translate(order(total="1.00") | {"Lines": lines})
    ((field, problem, _),) = record.problems
    assert field in ("order", "lines[1].OrderQty") and "sales order 000123" in problem
    assert order_record(["not", "a", "mapping"], STOCK, policy(), ORIGIN).problems[0][0] == "order"
