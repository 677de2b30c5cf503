"""SYSPRO's rows as the ledger's records: customers as customers, sales orders as invoices (or, for a
cash sale, sales receipts), every line in the unit its item is kept in.

Units of measure. A stock item has a stocking unit (EA) and up to two others, each with a conversion
factor and a multiply/divide flag: "M" means one of the other unit is `factor` stocking units (1 CS =
12 EA), "D" means it is 1/`factor` of one. An order line in another unit is converted:

- the line's value is what the ERP charges, computed in the order's unit: OrderQty x Price (a price
  per another unit, PriceUom, converted first) x (1 - DiscountPct / 100), rounded half-up to the cent
  once, at the end; it must equal the ERP's own LineValue, and the lines the order's OrderTotal, to the
  cent, or the order is held with both amounts;
- the quantity becomes stocking units, exactly (12 EA for 1 CS); a conversion that is not exact at
  the ledger's 4 decimal places (1 EA of a "D" factor 7 unit) holds the order;
- the unit price per stocking unit is the line's value / that quantity when that is exact at 4 places;
  otherwise it is left out and the accounting system derives it from amount and quantity (QuickBooks
  Online does), so that quantity x price never disagrees with the amount charged.

An order that cannot be translated (an unknown stock code, a unit its item has no conversion for, an
inactive stock item, a total that differs from its lines) becomes a record with `problems`, naming the
order, the line and the field: intake holds it, and the others go on.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from ledgerbridge.registry import SourceSystem
from ledgerbridge.sources.base import Origin, SourceRecord

CENT = Decimal("0.01")
PLACES = Decimal("0.0001")  # the ledger keeps quantities and prices to 4 places
HUNDRED = Decimal(100)
CASH = "C"  # SorMaster.CashCredit of a cash sale (sandbox choice, docs/erp-source.md)


class Untranslatable(Exception):
    def __init__(self, field: str, problem: str, value: Any = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem, self.value = field, problem, value


@dataclass(frozen=True)
class Unit:
    """One unit of a stock item: how many stocking units one of it is, as factor and direction."""

    factor: Decimal
    multiply: bool  # True: 1 unit = factor stocking units; False: 1 unit = 1/factor of one

    def to_stock(self, quantity: Decimal | Fraction) -> Fraction:
        """Exactly (a fraction: 1/7 stays 1/7 until the one rounding at the end)."""
        return Fraction(quantity) * Fraction(self.factor) if self.multiply else Fraction(quantity) / Fraction(self.factor)


@dataclass(frozen=True)
class StockItem:
    code: str
    description: str | None
    stock_uom: str
    units: Mapping[str, Unit]  # every unit it is sold in, the stocking unit (factor 1) included
    active: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StockItem:
        stock_uom = _text(row.get("StockUom")) or "EA"
        units = {stock_uom: Unit(Decimal(1), True)}
        for uom_field, factor_field, flag_field in (("AlternateUom", "ConvFactAltUom", "AltUomMulDiv"),
                                                    ("OtherUom", "ConvFactOthUom", "OthUomMulDiv")):
            uom = _text(row.get(uom_field))
            if not uom or uom == stock_uom:
                continue
            try:
                factor = Decimal(str(row.get(factor_field)))
            except InvalidOperation:
                continue  # no usable factor: the unit has no conversion, and a line in it is held
            if factor.is_finite() and factor > 0:
                units[uom] = Unit(factor, _text(row.get(flag_field)).upper() != "D")
        return cls(_text(row.get("StockCode")), _text(row.get("Description")) or None, stock_uom, units,
                   row.get("Active", True) is not False)

    def unit(self, uom: str, field: str) -> Unit:
        found = self.units.get(uom)
        if found is None:
            raise Untranslatable(field, f"stock item {self.code} has no conversion from {uom!r} to its stocking "
                                        f"unit {self.stock_uom} (its units: {', '.join(self.units)})", uom)
        return found


def customer_record(row: Mapping[str, Any], origin: Origin) -> SourceRecord:
    """A SYSPRO customer as the ledger's customer: its code is the hub id (the external key once linked)."""
    data = {"hub_id": _text(row.get("Customer")), "name": _text(row.get("Name"))}
    # ArCustomer's sold-to address: line 2 holds the city, SoldPostalCode the postcode (sandbox choice).
    for name, column in (("email", "Email"), ("tax_id", "TaxNumber"), ("city", "SoldToAddr2"),
                         ("postcode", "SoldPostalCode")):
        value = _text(row.get(column))
        if value:
            data[name] = value
    return SourceRecord("customers", data, origin)


@dataclass(frozen=True)
class OrderPolicy:
    """The entity's reading of its orders (registry `source:`)."""

    export_statuses: frozenset[str]
    void_statuses: frozenset[str]
    by_item: bool
    cash_terms: frozenset[str]
    tax_codes: Mapping[str, str]

    @classmethod
    def of(cls, source: SourceSystem) -> OrderPolicy:
        return cls(frozenset(source.export_statuses), frozenset(source.void_statuses),
                   source.invoice_lines == "by_item", frozenset(source.cash_terms), dict(source.tax_codes))

    def status(self, order_status: str) -> str:
        if order_status in self.void_statuses:
            return "void"
        return "approved" if order_status in self.export_statuses else "draft"

    def is_cash(self, order: Mapping[str, Any]) -> bool:
        return _text(order.get("CashCredit")).upper() == CASH or _text(order.get("TermsCode")) in self.cash_terms


def order_record(order: Mapping[str, Any], stock: Mapping[str, StockItem], policy: OrderPolicy,
                 origin: Origin) -> SourceRecord:
    """A sales order as an invoice or sales receipt record (feed schema), or held with its problems."""
    if not isinstance(order, Mapping):
        return SourceRecord("invoices", {"order": order}, origin,
                            problems=(("order", f"not a sales order record: {type(order).__name__}", None),))
    number = _text(order.get("SalesOrder"))
    kind = "sales_receipts" if policy.is_cash(order) else "invoices"
    try:
        return SourceRecord(kind, _document(order, number, stock, policy), origin)
    except Untranslatable as problem:
        return SourceRecord(kind, {"hub_id": number, "order": dict(order)}, origin,
                            problems=((problem.field, f"sales order {number}: {problem.problem}", problem.value),))
    except (TypeError, AttributeError, ValueError, ArithmeticError) as malformed:  # a line that is no mapping, ...
        return SourceRecord(kind, {"hub_id": number, "order": dict(order)}, origin, problems=((
            "order", f"sales order {number}: not readable as a sales order ({type(malformed).__name__}: "
                     f"{malformed})", None),))


def _document(order: Mapping[str, Any], number: str, stock: Mapping[str, StockItem],
              policy: OrderPolicy) -> dict[str, Any]:
    lines = [_line(line, position, stock, policy) for position, line in enumerate(order.get("Lines") or (), 1)]
    if policy.by_item:
        lines = _by_item(lines, stock)
    total = _amount(order.get("OrderTotal"), "OrderTotal")
    lines_total = sum((line["amount"] for line in lines), Decimal(0))
    if total != lines_total:
        raise Untranslatable("OrderTotal", f"the order total {total} differs from the sum of its lines "
                                           f"{lines_total}", str(total))
    _price(lines)
    status = policy.status(_text(order.get("OrderStatus")))
    memo = f"Customer PO {_text(order.get('CustomerPoNumber'))}" if _text(order.get("CustomerPoNumber")) else None
    data: dict[str, Any] = {"hub_id": number, "doc_number": number, "customer": _text(order.get("Customer")),
                            "doc_date": order.get("OrderDate"), "currency": _text(order.get("Currency")) or None,
                            "status": status, "total": format(total, "f"), "memo": memo,
                            "lines": [{**line, "amount": format(line["amount"], "f")} for line in lines]}
    return {name: value for name, value in data.items() if value is not None}


def _line(line: Mapping[str, Any], position: int, stock: Mapping[str, StockItem],
          policy: OrderPolicy) -> dict[str, Any]:
    field = f"lines[{line.get('Line', position)}]"
    code = _text(line.get("StockCode"))
    item = stock.get(code)
    if item is None:
        raise Untranslatable(f"{field}.StockCode", f"unknown stock code {code!r}", code)
    if not item.active:
        raise Untranslatable(f"{field}.StockCode", f"stock item {code} is inactive in SYSPRO", code)
    quantity = _amount(line.get("OrderQty"), f"{field}.OrderQty", places=None)
    if quantity <= 0:
        raise Untranslatable(f"{field}.OrderQty", "must be positive", str(quantity))
    order_uom = _text(line.get("OrderUom")) or item.stock_uom
    price_uom = _text(line.get("PriceUom")) or order_uom
    order_unit = item.unit(order_uom, f"{field}.OrderUom")
    price_unit = item.unit(price_uom, f"{field}.PriceUom")
    price = _amount(line.get("Price"), f"{field}.Price", places=None)
    discount = _amount(line.get("DiscountPct") or "0", f"{field}.DiscountPct", places=None)
    if not 0 <= discount <= HUNDRED:
        raise Untranslatable(f"{field}.DiscountPct", "must be between 0 and 100", str(discount))
    stock_quantity = order_unit.to_stock(quantity)
    # Price per order unit = price per price unit x (stocking units per order unit / per price unit); exact
    # fractions throughout, rounded once.
    gross = Fraction(quantity) * Fraction(price) * order_unit.to_stock(1) / price_unit.to_stock(1)
    amount = _half_up(gross * (100 - Fraction(discount)) / 100, CENT)
    if line.get("LineValue") is not None:
        erp_value = _amount(line.get("LineValue"), f"{field}.LineValue")
        if erp_value != amount:
            raise Untranslatable(f"{field}.LineValue", f"SYSPRO's line value {erp_value} differs from {quantity} "
                                 f"{order_uom} x {price}/{price_uom} less {discount}% = {amount}", str(erp_value))
    if not _exact(stock_quantity, PLACES):
        about = _half_up(stock_quantity, Decimal("0.000001")).normalize()
        raise Untranslatable(f"{field}.OrderQty", f"{quantity} {order_uom} is about {about:f} {item.stock_uom}, "
                             f"not exact at {len(str(PLACES)) - 2} decimal places", str(quantity))
    stock_quantity = _half_up(stock_quantity, PLACES)
    description = _text(line.get("Description")) or item.description or code
    if order_uom != item.stock_uom or price_uom != order_uom or discount:
        less = f" less {discount.normalize():f}%" if discount else ""
        description = f"{description} ({quantity.normalize():f} {order_uom} @ {price:f}/{price_uom}{less})"
    tax_code = _text(line.get("TaxCode"))
    return {"item": code, "quantity": stock_quantity, "amount": amount, "description": description,
            **({"tax_code": policy.tax_codes.get(tax_code, tax_code)} if tax_code else {})}


def _by_item(lines: list[dict[str, Any]], stock: Mapping[str, StockItem]) -> list[dict[str, Any]]:
    """One line per item and tax code, in the order each first appears: quantities and amounts added (the
    unit price then is their average, where exact)."""
    merged: dict[tuple, dict[str, Any]] = {}
    for line in lines:
        key = (line["item"], line.get("tax_code"))
        if key in merged:
            merged[key]["quantity"] += line["quantity"]
            merged[key]["amount"] += line["amount"]
        else:
            item = stock[line["item"]]
            merged[key] = {**line, "description": item.description or item.code}
    return list(merged.values())


def _price(lines: Iterable[dict[str, Any]]) -> None:
    """Each line's unit price per stocking unit, where amount / quantity is exact at 4 places."""
    for line in lines:
        price = Fraction(line["amount"]) / Fraction(line["quantity"])
        if _exact(price, PLACES):
            line["unit_price"] = format(_half_up(price, PLACES).normalize(), "f")
        line["quantity"] = format(line["quantity"].normalize(), "f")


def _exact(value: Fraction, places: Decimal) -> bool:
    return (value / Fraction(places)).denominator == 1


def _half_up(value: Fraction, places: Decimal) -> Decimal:
    """`value` rounded half-up (away from zero) to `places`, from the exact fraction: never from a
    decimal already cut short."""
    steps = value / Fraction(places)
    whole = (abs(steps.numerator) * 2 + steps.denominator) // (2 * steps.denominator)
    return (Decimal(whole if steps >= 0 else -whole) * places).quantize(places)


def _amount(value: Any, field: str, places: Decimal | None = CENT) -> Decimal:
    if isinstance(value, float) or value is None or isinstance(value, bool):
        raise Untranslatable(field, "missing, or not an exact decimal (a string)", value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Untranslatable(field, "not a number", value) from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e15"):
        raise Untranslatable(field, "not a usable amount", str(value))
    if places is not None and amount != amount.quantize(places):
        raise Untranslatable(field, f"more than {len(str(places)) - 2} decimal places", str(value))
    return amount


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)
