"""One SYSPRO company: customers, stock items, sales orders; OData reads; SORTBO write-back; admin changes.

Not thread-safe on its own: SysproSandbox holds its lock around every call. Money and quantities are
kept as strings (exact decimals) and computed with Decimal / Fraction, never floats.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from urllib.parse import quote, urlencode

from .errors import ODataError, OrderError
from .odata import (BOOL, COMPLEX, DATE, DATETIME, DECIMAL, INT, STRING, bad_request, coerce, lookup,
                    parse_filter, parse_orderby, parse_select)

MAX_PAGE_ROWS = 5000

CUSTOMER_FIELDS = {
    "Customer": STRING, "Name": STRING, "ShortName": STRING, "Email": STRING, "TaxNumber": STRING,
    "SoldToAddr1": STRING, "SoldToAddr2": STRING, "SoldToAddr3": STRING, "SoldPostalCode": STRING,
    "Currency": STRING, "TermsCode": STRING, "CustomerOnHold": BOOL, "ChangedAt": DATETIME,
}
STOCK_ITEM_FIELDS = {
    "StockCode": STRING, "Description": STRING, "StockUom": STRING,
    "AlternateUom": STRING, "ConvFactAltUom": DECIMAL, "AltUomMulDiv": STRING,
    "OtherUom": STRING, "ConvFactOthUom": DECIMAL, "OthUomMulDiv": STRING,
    "SellingPrice": DECIMAL, "PriceUom": STRING, "Active": BOOL, "ChangedAt": DATETIME,
}
ORDER_HEADER_FIELDS = {
    "SalesOrder": STRING, "Customer": STRING, "CustomerPoNumber": STRING, "OrderDate": DATE,
    "ReqShipDate": DATE, "Currency": STRING, "TermsCode": STRING, "OrderStatus": STRING, "CashCredit": STRING,
    "Warehouse": STRING, "OrderTotal": DECIMAL, "TaxTotal": DECIMAL, "ChangedAt": DATETIME,
}
LINE_FIELDS = ("Line", "StockCode", "Description", "OrderQty", "OrderUom", "Price", "PriceUom", "DiscountPct",
               "TaxCode", "LineValue")
ORDER_STATUSES = {"0": "in process", "1": "open order", "2": "open back order", "3": "released back order",
                  "4": "in warehouse", "8": "to invoice", "9": "complete", "F": "forward order", "S": "suspended",
                  "\\": "cancelled"}
CANCELLED = "\\"
# Sandbox choice: tax per line = round_half_up(LineValue x rate, 2); TaxTotal = the sum of those.
TAX_RATES = {"A": Decimal("0.0750"), "B": Decimal("0.0500"), "E": Decimal("0")}

# Write-back: custom form fields (name -> rule) and note lines.
CUSTOM_FIELDS = ("QBOInvoice", "QBOInvoiceNo", "QBOPaymentStatus", "QBOPaidAmount", "QBOPaidDate")
CUSTOM_FIELD_MAX_LENGTH = {"QBOInvoice": 20, "QBOInvoiceNo": 21, "QBOPaymentStatus": 20, "QBOPaidAmount": 16,
                           "QBOPaidDate": 10}
NOTE_MAX_LENGTH = 100

SALES_ORDER_FIELDS = {**ORDER_HEADER_FIELDS, "Lines": COMPLEX, "CustomFields": COMPLEX, "Notes": COMPLEX,
                      **{f"CustomFields/{name}": STRING for name in CUSTOM_FIELDS}}
SCHEMAS = {"Customers": CUSTOMER_FIELDS, "StockItems": STOCK_ITEM_FIELDS, "SalesOrders": SALES_ORDER_FIELDS}
KEYS = {"Customers": "Customer", "StockItems": "StockCode", "SalesOrders": "SalesOrder"}
QUERY_OPTIONS = {"$filter", "$orderby", "$top", "$skip", "$select", "$count", "$format"}

TWO_PLACES = Decimal("0.01")


def format_stamp(epoch_ms: int) -> str:
    """UTC with milliseconds, always the same width, e.g. 2026-11-01T10:00:00.000Z (sorts as text too)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_stamp(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)


def round_half_up(value: Fraction | Decimal, places: int = 2) -> Decimal:
    """Round exactly (a Fraction never loses a digit) half away from zero, as money rounds."""
    value = Fraction(value)
    scale = 10 ** places
    magnitude = (abs(value) * scale + Fraction(1, 2)).__floor__()
    sign = -1 if value < 0 else 1
    return (Decimal(sign * magnitude) / scale).quantize(Decimal(1).scaleb(-places))


def decimal_text(value: object, field: str) -> str:
    """An exact decimal given as a string, Decimal or int (never a float), as a string."""
    if isinstance(value, (bool, float)) or value is None:
        raise ValueError(f"{field}: {value!r} is not an exact decimal; give it as a string")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{field}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return str(value).strip() if isinstance(value, str) else str(number)


def uom_factor(item: dict | None, uom: str) -> Fraction | None:
    """How many stocking units one `uom` is, from the item's conversion factors; None if it has none.
    "M": 1 AlternateUom = ConvFactAltUom StockUom; "D": 1 AlternateUom = 1/ConvFactAltUom StockUom."""
    if item is None or not uom:
        return None
    if uom == item["StockUom"]:
        return Fraction(1)
    for unit, factor, how in (("AlternateUom", "ConvFactAltUom", "AltUomMulDiv"),
                              ("OtherUom", "ConvFactOthUom", "OthUomMulDiv")):
        if item.get(unit) and uom == item[unit] and item.get(factor) and Decimal(item[factor]) != 0:
            ratio = Fraction(Decimal(item[factor]))
            return ratio if item.get(how, "M") == "M" else 1 / ratio
    return None


def line_value(line: dict, item: dict | None) -> Decimal:
    """round_half_up(OrderQty x Price per OrderUom x (1 - DiscountPct/100), 2). Raises ValueError when the
    price is in another unit than the order and the item has no conversion between the two."""
    price = Fraction(Decimal(line["Price"]))
    order_uom, price_uom = line["OrderUom"], line.get("PriceUom") or line["OrderUom"]
    if price_uom != order_uom:
        per_order, per_price = uom_factor(item, order_uom), uom_factor(item, price_uom)
        if per_order is None or per_price is None:
            raise ValueError(f"line {line.get('Line')}: no conversion between {order_uom} and {price_uom} "
                             f"on stock item {line.get('StockCode')}")
        price = price * per_order / per_price
    discount = Fraction(Decimal(line.get("DiscountPct") or "0"))
    return round_half_up(Fraction(Decimal(line["OrderQty"])) * price * (1 - discount / 100))


class SysproCompany:
    def __init__(self, company_id: str = "STARK", clock: Callable[[], float] | None = None) -> None:
        import time

        self.company_id = company_id
        self.clock = clock or time.time
        self.customers: dict[str, dict] = {}
        self.stock_items: dict[str, dict] = {}
        self.orders: dict[str, dict] = {}
        self.locks: dict[str, str] = {}  # sales order -> operator holding it
        self.last_stamp_ms = 0

    # -- time ----------------------------------------------------------------------------------
    def stamp(self) -> str:
        """A change timestamp, strictly increasing in this company (a later change never sorts earlier)."""
        self.last_stamp_ms = max(int(self.clock() * 1000), self.last_stamp_ms + 1)
        return format_stamp(self.last_stamp_ms)

    def note_stamp(self, stamp: str) -> None:
        """Seeded rows carry their own stamps; later changes must come after them."""
        self.last_stamp_ms = max(self.last_stamp_ms, parse_stamp(stamp))

    # -- OData reads ---------------------------------------------------------------------------
    def rows(self, entity_set: str) -> dict[str, dict]:
        return {"Customers": self.customers, "StockItems": self.stock_items, "SalesOrders": self.orders}[entity_set]

    def query(self, entity_set: str, params: dict[str, str], max_rows: int = MAX_PAGE_ROWS) -> tuple[str, int]:
        """GET /odata/{Set}: the reply as JSON text, and the number of rows in it."""
        if entity_set not in SCHEMAS:
            raise ODataError(404, "NotFound", f"unknown entity set {entity_set!r}; the sandbox serves "
                             f"{', '.join(SCHEMAS)}")
        schema = SCHEMAS[entity_set]
        unknown = sorted(name for name in params if name.startswith("$") and name not in QUERY_OPTIONS)
        if unknown:
            raise bad_request(f"unsupported query option(s) {', '.join(unknown)}")
        if params.get("$format", "json").lower() not in ("json", "application/json"):
            raise bad_request("$format: the sandbox answers JSON only")
        top = _count_option(params, "$top")
        skip = _count_option(params, "$skip") or 0
        if top is not None and top > max_rows:
            raise bad_request(f"$top={top} is more than the {max_rows} rows a request may return")
        count = params.get("$count", "false").lower()
        if count not in ("true", "false"):
            raise bad_request(f"$count must be true or false, not {params['$count']!r}")
        predicate = parse_filter(params["$filter"], schema, entity_set) if params.get("$filter", "").strip() else None
        orderby = parse_orderby(params["$orderby"], schema, entity_set) if params.get("$orderby", "").strip() else []
        select = parse_select(params["$select"], schema, entity_set) if params.get("$select", "").strip() else None

        table = self.rows(entity_set)
        matches = [table[k] for k in sorted(table)]  # stable: by key first
        if predicate is not None:
            matches = [row for row in matches if predicate(row)]
        for name, descending in reversed(orderby):
            kind = schema[name]
            matches.sort(key=lambda row: _sort_key(coerce(lookup(row, name), kind)), reverse=descending)
        limit = max_rows if top is None else top
        page = matches[skip:skip + limit]
        if select and "*" not in select:
            page = [{name: row.get(name) for name in select} for row in page]
        reply: dict = {"@odata.context": f"$metadata#{entity_set}"}
        if count == "true":
            reply["@odata.count"] = len(matches)
        reply["value"] = page
        if top is None and skip + limit < len(matches):
            following = {k: v for k, v in params.items() if k != "$skip"}
            following["$skip"] = str(skip + limit)
            reply["@odata.nextLink"] = f"{entity_set}?" + urlencode(following, quote_via=quote, safe="$,'()")
        return json.dumps(reply), len(page)

    # -- SORTBO: write-back --------------------------------------------------------------------
    def post_order(self, item: object, validate_only: bool = False) -> dict:
        """Apply one order of a SORTBO post (all of it or nothing of it); raise OrderError."""
        if not isinstance(item, dict):
            raise OrderError("InvalidRequest", "each entry of XmlIn.Orders must be an object")
        number = item.get("SalesOrder")
        if not isinstance(number, str) or not number:
            raise OrderError("InvalidRequest", "SalesOrder is required")
        unknown = sorted(set(item) - {"SalesOrder", "CustomFields", "AddNote"})
        if unknown:
            raise OrderError("UnsupportedElement", f"Sales order {number}: the sandbox's SORTBO takes "
                             f"CustomFields and AddNote only, not {', '.join(unknown)}")
        order = self.orders.get(number)
        if order is None:
            raise OrderError("OrderNotFound", f"Sales order {number} not on file")
        if number in self.locks:
            raise OrderError("OrderLocked", f"Sales order {number} is in use by operator {self.locks[number]}")
        fields = item.get("CustomFields") or {}
        if not isinstance(fields, dict):
            raise OrderError("InvalidRequest", f"Sales order {number}: CustomFields must be an object")
        changes = {name: _custom_value(number, name, value) for name, value in fields.items()}
        note = item.get("AddNote")
        if note is not None:
            if not isinstance(note, str) or not note.strip():
                raise OrderError("InvalidValue", f"Sales order {number}: AddNote must be non-empty text")
            if len(note) > NOTE_MAX_LENGTH:
                raise OrderError("ValueTooLong", f"Sales order {number}: a note line holds at most "
                                 f"{NOTE_MAX_LENGTH} characters; AddNote has {len(note)}")
        if not validate_only:
            # Custom form fields and notes live beside the order: ChangedAt does not move.
            order["CustomFields"].update(changes)
            if note is not None:
                order["Notes"].append({"Line": len(order["Notes"]) + 1, "Text": note})
        return {"SalesOrder": number, "Status": "ok"}

    # -- admin: building and changing data -----------------------------------------------------
    def add_customer(self, **fields) -> dict:
        code = fields.get("Customer")
        if not isinstance(code, str) or not code or len(code) > 15:
            raise ValueError(f"Customer code {code!r} must be 1 to 15 characters")
        row = {name: None for name in CUSTOMER_FIELDS}
        row.update({"CustomerOnHold": False, "Currency": "USD", "TermsCode": "30"})
        row.update(_known(fields, CUSTOMER_FIELDS, "customer"))
        row["ChangedAt"] = fields.get("ChangedAt") or self.stamp()
        self.note_stamp(row["ChangedAt"])
        self.customers[code] = row
        return row

    def add_stock_item(self, **fields) -> dict:
        code = fields.get("StockCode")
        if not isinstance(code, str) or not code or len(code) > 30:
            raise ValueError(f"StockCode {code!r} must be 1 to 30 characters")
        row = {name: None for name in STOCK_ITEM_FIELDS}
        row.update({"StockUom": "EA", "AlternateUom": "", "ConvFactAltUom": "0", "AltUomMulDiv": "M",
                    "OtherUom": "", "ConvFactOthUom": "0", "OthUomMulDiv": "M", "Active": True})
        row.update(_known(fields, STOCK_ITEM_FIELDS, "stock item"))
        for name in ("ConvFactAltUom", "ConvFactOthUom", "SellingPrice"):
            if row[name] is not None:
                row[name] = decimal_text(row[name], name)
        for name in ("AltUomMulDiv", "OthUomMulDiv"):
            if row[name] not in ("M", "D"):
                raise ValueError(f"{name} must be 'M' (multiply) or 'D' (divide), not {row[name]!r}")
        row["ChangedAt"] = fields.get("ChangedAt") or self.stamp()
        self.note_stamp(row["ChangedAt"])
        self.stock_items[code] = row
        return row

    def change_customer(self, code: str, **fields) -> dict:
        return self._change(self.customers, "customer", code, fields, CUSTOMER_FIELDS, "Customer")

    def change_stock_item(self, code: str, **fields) -> dict:
        return self._change(self.stock_items, "stock item", code, fields, STOCK_ITEM_FIELDS, "StockCode")

    def _change(self, table: dict, what: str, code: str, fields: dict, schema: dict, key: str) -> dict:
        row = table.get(code)
        if row is None:
            raise KeyError(f"no {what} {code}")
        changes = _known(fields, schema, what)
        if key in changes or "ChangedAt" in changes:
            raise ValueError(f"{key} and ChangedAt cannot be changed")
        for name, value in changes.items():
            row[name] = decimal_text(value, name) if schema[name] == DECIMAL and value is not None else value
        row["ChangedAt"] = self.stamp()
        return row

    def next_order_number(self) -> str:
        numbers = [int(n) for n in self.orders if n.isdigit()]
        return f"{max(numbers, default=0) + 1:06d}"

    def add_order(self, **fields) -> dict:
        """A new sales order: Lines are computed (LineValue, Description) unless given; OrderTotal and
        TaxTotal are the sums of the lines unless given (to make a deliberately wrong order)."""
        number = fields.pop("SalesOrder", None) or self.next_order_number()
        if number in self.orders:
            raise ValueError(f"sales order {number} already exists")
        order = {name: None for name in ORDER_HEADER_FIELDS}
        order.update({"SalesOrder": number, "CustomerPoNumber": "", "Currency": "USD", "TermsCode": "30",
                      "OrderStatus": "1", "CashCredit": "", "Warehouse": "FG", "Lines": [],
                      "CustomFields": {name: None for name in CUSTOM_FIELDS}, "Notes": []})
        stamp = fields.pop("ChangedAt", None)
        self._apply_order_fields(order, fields)
        order["ChangedAt"] = stamp or self.stamp()
        self.note_stamp(order["ChangedAt"])
        self.orders[number] = order
        return order

    def change_order(self, number: str, **fields) -> dict:
        order = self.orders.get(number)
        if order is None:
            raise KeyError(f"Sales order {number} not on file")
        if "SalesOrder" in fields or "ChangedAt" in fields:
            raise ValueError("SalesOrder and ChangedAt cannot be changed")
        self._apply_order_fields(order, fields)
        order["ChangedAt"] = self.stamp()
        return order

    def _apply_order_fields(self, order: dict, fields: dict) -> None:
        allowed = set(ORDER_HEADER_FIELDS) - {"SalesOrder", "ChangedAt"} | {"Lines"}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise ValueError(f"unknown sales order field(s): {', '.join(unknown)}")
        status = fields.get("OrderStatus", order["OrderStatus"])
        if status not in ORDER_STATUSES:
            raise ValueError(f"OrderStatus {status!r} is not a SYSPRO order status ({', '.join(ORDER_STATUSES)})")
        for name in ("OrderDate", "ReqShipDate"):
            if fields.get(name) is not None:
                date.fromisoformat(fields[name])
        new = {**order, **{k: v for k, v in fields.items() if k != "Lines"}}
        if "Lines" in fields:
            new["Lines"] = [self._line(i, line) for i, line in enumerate(fields["Lines"], start=1)]
        for name in ("OrderTotal", "TaxTotal"):
            if fields.get(name) is not None:
                new[name] = str(Decimal(decimal_text(fields[name], name)).quantize(TWO_PLACES))
            elif "Lines" in fields or order[name] is None:
                new[name] = str(self._total(new["Lines"], name))
        order.update(new)

    def _line(self, position: int, given: dict) -> dict:
        if not isinstance(given, dict):
            raise ValueError(f"line {position} must be an object")
        unknown = sorted(set(given) - set(LINE_FIELDS))
        if unknown:
            raise ValueError(f"line {position}: unknown field(s) {', '.join(unknown)}")
        for name in ("StockCode", "OrderQty", "OrderUom", "Price"):
            if given.get(name) in (None, ""):
                raise ValueError(f"line {position}: {name} is required")
        item = self.stock_items.get(given["StockCode"])
        line = {"Line": given.get("Line", position), "StockCode": given["StockCode"],
                "Description": given.get("Description") or (item["Description"] if item else ""),
                "OrderQty": decimal_text(given["OrderQty"], "OrderQty"), "OrderUom": given["OrderUom"],
                "Price": decimal_text(given["Price"], "Price"), "PriceUom": given.get("PriceUom") or given["OrderUom"],
                "DiscountPct": decimal_text(given.get("DiscountPct", "0"), "DiscountPct"),
                "TaxCode": given.get("TaxCode", "A"), "LineValue": None}
        if not Decimal(0) <= Decimal(line["DiscountPct"]) <= 100:
            raise ValueError(f"line {position}: DiscountPct must be between 0 and 100")
        if given.get("LineValue") is not None:
            line["LineValue"] = str(Decimal(decimal_text(given["LineValue"], "LineValue")).quantize(TWO_PLACES))
        else:
            line["LineValue"] = str(line_value(line, item))
        return line

    def _total(self, lines: Iterable[dict], name: str) -> Decimal:
        total = Decimal("0.00")
        for line in lines:
            if name == "OrderTotal":
                total += Decimal(line["LineValue"])
            else:
                rate = TAX_RATES.get(line["TaxCode"])
                if rate is None:
                    raise ValueError(f"line {line['Line']}: unknown TaxCode {line['TaxCode']!r} "
                                     f"({', '.join(TAX_RATES)}); give TaxTotal explicitly")
                total += round_half_up(Decimal(line["LineValue"]) * rate)
        return total.quantize(TWO_PLACES)

    # -- persistence ---------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"company_id": self.company_id, "last_stamp_ms": self.last_stamp_ms, "locks": self.locks,
                "customers": list(self.customers.values()), "stock_items": list(self.stock_items.values()),
                "orders": list(self.orders.values())}

    @classmethod
    def from_state(cls, state: dict, clock: Callable[[], float] | None = None) -> SysproCompany:
        company = cls(state["company_id"], clock)
        company.last_stamp_ms = int(state["last_stamp_ms"])
        company.locks = dict(state["locks"])
        company.customers = {row["Customer"]: row for row in state["customers"]}
        company.stock_items = {row["StockCode"]: row for row in state["stock_items"]}
        company.orders = {row["SalesOrder"]: row for row in state["orders"]}
        return company

    def snapshot(self, table: str, key: str) -> dict | None:
        row = getattr(self, table).get(key)
        return copy.deepcopy(row) if row is not None else None


def _known(fields: dict, schema: dict, what: str) -> dict:
    unknown = sorted(set(fields) - set(schema))
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)}")
    for name, value in fields.items():
        kind = schema[name]
        if value is None:
            continue
        if kind == BOOL and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        if kind in (STRING, DATE, DATETIME) and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        if kind in (DECIMAL, INT):
            decimal_text(value, name)
    return dict(fields)


def _custom_value(number: str, name: str, value: object) -> str | None:
    if name not in CUSTOM_FIELDS:
        raise OrderError("UnknownCustomField", f"Sales order {number}: custom form field {name!r} does not "
                         f"exist (the sandbox defines {', '.join(CUSTOM_FIELDS)})")
    if value is None:
        return None
    if not isinstance(value, str):
        raise OrderError("InvalidValue", f"Sales order {number}: custom form field {name} takes text; "
                         f"send amounts and dates as strings")
    limit = CUSTOM_FIELD_MAX_LENGTH[name]
    if len(value) > limit:
        raise OrderError("ValueTooLong", f"Sales order {number}: custom form field {name} holds at most "
                         f"{limit} characters; the value has {len(value)}")
    if name == "QBOPaidAmount":
        try:
            amount = Decimal(value)
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise OrderError("InvalidValue", f"Sales order {number}: QBOPaidAmount {value!r} is not an amount "
                             "with at most 2 decimal places")
    if name == "QBOPaidDate":
        try:
            date.fromisoformat(value)
            valid = len(value) == 10
        except ValueError:
            valid = False
        if not valid:
            raise OrderError("InvalidValue", f"Sales order {number}: QBOPaidDate {value!r} is not a date "
                             "(YYYY-MM-DD)")
    return value


def _count_option(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise bad_request(f"{name} must be a whole number of 0 or more, not {raw!r}")
    return int(raw)


def _sort_key(value: object) -> tuple:
    return (0, 0) if value is None else (1, value)
