"""A seeded SYSPRO company: deterministic for a seed, realistic enough for the demo and the bench.

Everything is consistent (LineValue, OrderTotal, TaxTotal, known customers and active items, units
with conversions) except the deliberately bad orders of BAD_ORDERS.
"""
from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .company import SysproCompany, format_stamp, uom_factor

# Sandbox choice: seeded rows carry fixed change stamps, so a seed gives the same data whenever it runs.
CUSTOMERS_STAMPED_AT = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
ORDERS_FROM = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ORDERS_SPAN = timedelta(days=300)

NICK_BROWN = "BROWN01"  # "Nick Brown"; QuickBooks holds him as "Brown, Nick"
NICK_BROWN_ORDER = "000002"  # one of his orders, status 8 (to invoice)
UNKNOWN_STOCK_CODE = "NOSUCH-999"
UNKNOWN_CUSTOMER = "NOSUCH01"
UNCONVERTIBLE_UOM = "PL"

BAD_ORDERS = {
    "000011": f"line 2 sells stock code {UNKNOWN_STOCK_CODE}, which is not on file",
    "000023": f"line 1 is ordered and priced in {UNCONVERTIBLE_UOM} (pallet), a unit its stock item has "
              "no conversion for",
    "000037": "line 1 sells an inactive stock item (Active false)",
    "000046": "OrderTotal is 0.03 more than the sum of its LineValues",
    "000058": f"customer {UNKNOWN_CUSTOMER} is not on file",
}

_COMPANY_WORDS = ["Acme", "Blue Ridge", "Cascade", "Summit", "Harbor", "Pioneer", "Redwood", "Granite", "Lakeside",
                  "Northwind", "Evergreen", "Silverline", "Ironclad", "Keystone", "Maple Leaf", "Oakmont", "Riverbend",
                  "Sunrise", "Tidewater", "Westfield", "Copperfield", "Highland", "Prairie", "Bayview", "Falcon"]
_TRADES = ["Hardware", "Supply", "Builders", "Foods", "Electric", "Industries", "Distributors", "Outfitters",
           "Mechanical", "Plumbing", "Contractors", "Fabrication", "Marine", "Farm & Ranch", "Facilities"]
_SUFFIXES = ["Inc.", "LLC", "Co.", "Ltd", "", "Corp."]
_FIRST = ["Maria", "James", "Aisha", "Wei", "Carlos", "Olivia", "Liam", "Priya", "Noah", "Fatima", "Ethan", "Sofia",
          "Lucas", "Hannah", "Mateo", "Chloe", "Daniel", "Amara", "Henry", "Yuki"]
_LAST = ["Garcia", "Smith", "Okafor", "Chen", "Rossi", "Johnson", "Novak", "Patel", "Kim", "Haddad", "Muller",
         "Silva", "Dubois", "Nguyen", "Kowalski", "Murphy", "Larsen", "Tanaka", "Adeyemi", "Walsh"]
_CITIES = [("Denver", "CO", "802"), ("Austin", "TX", "787"), ("Columbus", "OH", "432"), ("Portland", "OR", "972"),
           ("Raleigh", "NC", "276"), ("Tampa", "FL", "336"), ("Boise", "ID", "837"), ("Madison", "WI", "537"),
           ("Reno", "NV", "895"), ("Omaha", "NE", "681"), ("Tucson", "AZ", "857"), ("Albany", "NY", "122")]
_STREETS = ["Main St", "Oak Ave", "Industrial Pkwy", "Commerce Dr", "Elm St", "Harbor Rd", "Mill Rd", "Union Blvd"]
_TERMS = ["30"] * 7 + ["60"] * 2 + ["00"]  # 30 = Net 30, 60 = Net 60, 00 = due on receipt

# (prefix, description templates, price range)
_PRODUCTS = [
    ("FAS", ["Hex Bolt {m} x {l}mm", "Wood Screw {g} x {l}mm", "Flat Washer {m}", "Nyloc Nut {m}"], (0.05, 2)),
    ("ELE", ["LED Panel 600x600 {w}W", "Cable 3-Core {a}mm2 50m", "Circuit Breaker {a}A", "Wall Socket Double"],
     (4, 180)),
    ("PLB", ["Copper Pipe {d}mm 3m", "Ball Valve {d}mm", "Elbow 90deg {d}mm", "PVC Pipe {d}mm 6m"], (1.5, 95)),
    ("SAF", ["Safety Gloves {s}", "Hard Hat {c}", "Hi-Vis Vest {s}", "Safety Glasses Clear"], (2, 45)),
    ("TOL", ["Claw Hammer {o}oz", "Screwdriver Set {n}pc", "Tape Measure {l}m", "Utility Knife"], (6, 220)),
    ("CHM", ["Wood Glue {v}ml", "Silicone Sealant {c}", "Degreaser {v}ml", "Primer {v}ml"], (3, 60)),
    ("PKG", ["Stretch Film {w}mm", "Packing Tape {c}", "Carton {l}x{l}x{l}", "Bubble Wrap Roll {l}m"], (0.4, 35)),
]
_FILL = {"m": ["M6", "M8", "M10", "M12"], "l": ["20", "30", "40", "50", "60", "100"], "g": ["#8", "#10", "#12"],
         "w": ["25", "40", "50", "100"], "a": ["1.5", "2.5", "16", "20", "32"], "d": ["15", "22", "28", "50"],
         "s": ["Small", "Medium", "Large", "XL"], "c": ["White", "Yellow", "Clear", "Grey", "Brown"],
         "o": ["16", "20"], "n": ["6", "12", "24"], "v": ["250", "500", "1000"]}

_STATUSES = ["8"] * 36 + ["9"] * 40 + ["1"] * 8 + ["4"] * 5 + ["S"] * 3 + ["\\"] * 4 + ["0", "2", "3", "F"]


def seed_company(target, seed: int = 1, customers: int = 200, stock_items: int = 300, orders: int = 1000,
                 bad_orders: bool = True) -> SysproCompany:
    """Fill a SysproSandbox (or a bare SysproCompany) with a deterministic company, replacing its data.

    The bad orders of BAD_ORDERS are among the first 58 numbers (those up to `orders` exist when
    bad_orders is true); order NICK_BROWN_ORDER belongs to customer NICK_BROWN ("Nick Brown")."""
    if customers < 1 or stock_items < 2:
        raise ValueError("a seeded company needs at least 1 customer and 2 stock items")
    company = getattr(target, "company", target)
    lock = getattr(target, "lock", None)
    if lock is not None:
        with lock:
            _seed(company, random.Random(seed), customers, stock_items, orders, bad_orders)
            target.revision += 1
    else:
        _seed(company, random.Random(seed), customers, stock_items, orders, bad_orders)
    return company


def _seed(company: SysproCompany, rng: random.Random, n_customers: int, n_items: int, n_orders: int,
          bad_orders: bool) -> None:
    company.customers, company.stock_items, company.orders, company.locks = {}, {}, {}, {}
    company.last_stamp_ms = 0
    stamp_ms = int(CUSTOMERS_STAMPED_AT.timestamp() * 1000)
    for fields in _customers(rng, n_customers):
        stamp_ms += 1000
        company.add_customer(**fields, ChangedAt=format_stamp(stamp_ms))
    for fields in _stock_items(rng, n_items):
        stamp_ms += 1000
        company.add_stock_item(**fields, ChangedAt=format_stamp(stamp_ms))
    codes = list(company.customers)
    active = [item for item in company.stock_items.values() if item["Active"]]
    start_ms = int(ORDERS_FROM.timestamp() * 1000)
    step_ms = int(ORDERS_SPAN.total_seconds() * 1000) // max(n_orders, 1)
    for index in range(n_orders):
        number = f"{index + 1:06d}"
        changed_ms = start_ms + index * step_ms + rng.randrange(0, max(step_ms // 2, 1))
        customer = company.customers[NICK_BROWN if number == NICK_BROWN_ORDER else rng.choice(codes)]
        order_day = datetime.fromtimestamp(changed_ms / 1000, UTC).date()
        fields = {
            "SalesOrder": number, "Customer": customer["Customer"],
            "CustomerPoNumber": f"PO-{rng.randrange(10000, 99999)}" if rng.random() < 0.7 else "",
            "OrderDate": order_day.isoformat(),
            "ReqShipDate": (order_day + timedelta(days=rng.randrange(0, 15))).isoformat(),
            "Currency": customer["Currency"], "TermsCode": customer["TermsCode"],
            "OrderStatus": "8" if number == NICK_BROWN_ORDER else rng.choice(_STATUSES),
            "CashCredit": "C" if rng.random() < 0.08 else "",
            "Warehouse": rng.choice(["FG", "FG", "FG", "E", "N"]),
            "Lines": [_line(rng, rng.choice(active)) for _ in range(rng.choice([1, 1, 2, 2, 3, 3, 4, 5]))],
        }
        if bad_orders and number in BAD_ORDERS:
            _spoil(company, number, fields, rng)
        company.add_order(**fields, ChangedAt=format_stamp(changed_ms))


def _customers(rng: random.Random, count: int) -> list[dict]:
    rows = [_customer(rng, NICK_BROWN, "Nick Brown", person=True)]
    names, codes = {"Nick Brown"}, {NICK_BROWN}
    while len(rows) < count:
        person = rng.random() < 0.15
        if person:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        else:
            name = " ".join(p for p in (rng.choice(_COMPANY_WORDS), rng.choice(_TRADES), rng.choice(_SUFFIXES)) if p)
        if name in names:
            name = f"{name} ({rng.choice(_CITIES)[0]})"
            if name in names:
                name = f"{name} #{len(rows)}"
        names.add(name)
        base = re.sub(r"[^A-Z]", "", (name.split()[-1] if person else name).upper())[:8] or "CUST"
        number = 1
        while f"{base}{number:02d}" in codes:
            number += 1
        code = f"{base}{number:02d}"
        codes.add(code)
        rows.append(_customer(rng, code, name, person))
    return rows


def _customer(rng: random.Random, code: str, name: str, person: bool) -> dict:
    city, state, zip3 = rng.choice(_CITIES)
    slug = re.sub(r"[^a-z0-9]+", "", name.lower().split("(")[0])
    if person:
        email = ".".join(name.lower().split()[:2]) + "@example.com"
    else:
        email = f"ap@{slug[:24]}.example" if rng.random() < 0.85 else ""
    return {"Customer": code, "Name": name, "ShortName": name.upper()[:20],
            "Email": email, "TaxNumber": "" if person else f"{rng.randrange(10, 99)}-{rng.randrange(10**6, 10**7)}",
            "SoldToAddr1": f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)}", "SoldToAddr2": city,
            "SoldToAddr3": state, "SoldPostalCode": f"{zip3}{rng.randrange(0, 100):02d}",
            "Currency": "USD", "TermsCode": rng.choice(_TERMS), "CustomerOnHold": rng.random() < 0.05}


def _stock_items(rng: random.Random, count: int) -> list[dict]:
    rows, counters = [], {}
    for index in range(count):
        prefix, templates, (low, high) = rng.choice(_PRODUCTS)
        counters[prefix] = counters.get(prefix, 0) + 1
        description = re.sub(r"\{(\w)\}", lambda m: rng.choice(_FILL[m.group(1)]), rng.choice(templates))
        places = 3 if rng.random() < 0.05 else 2
        price = Decimal(str(round(rng.uniform(low, high), places))).quantize(Decimal(1).scaleb(-places))
        row = {"StockCode": f"{prefix}-{counters[prefix]:04d}", "Description": description, "StockUom": "EA",
               "AlternateUom": "", "ConvFactAltUom": "0", "AltUomMulDiv": "M", "OtherUom": "",
               "ConvFactOthUom": "0", "OthUomMulDiv": "M", "SellingPrice": str(price), "PriceUom": "EA",
               "Active": rng.random() >= 0.05 or index == 0}
        roll = rng.random()
        if roll < 0.20:  # sold in cases: 1 CS = 6/12/24 EA
            factor = rng.choice([6, 12, 24])
            row.update(AlternateUom="CS", ConvFactAltUom=str(factor), AltUomMulDiv="M")
            if rng.random() < 0.3:
                row["PriceUom"] = "CS"
                row["SellingPrice"] = str((price * factor).quantize(Decimal("0.01")))
            if rng.random() < 0.2:  # and on pallets of 40 cases
                row.update(OtherUom="PL", ConvFactOthUom=str(factor * 40), OthUomMulDiv="M")
        elif roll < 0.24:  # stocked by the box, sold by the each: 1 EA = 1/100 BX
            factor = rng.choice([50, 100])
            row.update(StockUom="BX", AlternateUom="EA", ConvFactAltUom=str(factor), AltUomMulDiv="D",
                       SellingPrice=str(max(price / 10, Decimal("0.01")).quantize(Decimal("0.001"))))
        rows.append(row)
    if all(row["Active"] for row in rows):
        rows[-1]["Active"] = False  # the bad order of an inactive item needs one
    return rows


def _line(rng: random.Random, item: dict) -> dict:
    units = [u for u in (item["StockUom"], item["AlternateUom"], item["OtherUom"]) if u and u != "PL"]
    order_uom = rng.choice(units)
    if order_uom == "EA" and item["StockUom"] == "BX":
        quantity = rng.randrange(1, 250)
    else:
        quantity = rng.randrange(1, 11 if order_uom in ("CS", "BX") else 49)
    line = {"StockCode": item["StockCode"], "OrderQty": str(quantity), "OrderUom": order_uom,
            "Price": item["SellingPrice"], "PriceUom": item["PriceUom"],
            "TaxCode": rng.choice(["A"] * 16 + ["E"] * 3 + ["B"])}
    if order_uom != item["PriceUom"] and rng.random() < 0.25:  # priced in the unit it is ordered in
        ratio = uom_factor(item, order_uom) / uom_factor(item, item["PriceUom"])
        price = Decimal(item["SellingPrice"]) * ratio.numerator / ratio.denominator
        line.update(Price=str(price.quantize(Decimal("0.01"))), PriceUom=order_uom)
    if rng.random() < 0.15:
        line["DiscountPct"] = rng.choice(["2.5", "5", "10", "12.5", "15"])
    return line


def _spoil(company: SysproCompany, number: str, fields: dict, rng: random.Random) -> None:
    fields["OrderStatus"] = "8"
    lines = fields["Lines"]
    if number == "000011":
        while len(lines) < 2:
            lines.append(dict(lines[0]))
        lines[1] = {**lines[1], "StockCode": UNKNOWN_STOCK_CODE, "Description": "Mystery part", "OrderUom": "EA",
                    "PriceUom": "EA"}
    elif number == "000023":
        item = next(i for i in company.stock_items.values() if i["Active"] and UNCONVERTIBLE_UOM not in
                    (i["StockUom"], i["AlternateUom"], i["OtherUom"]))
        lines[0] = {"StockCode": item["StockCode"], "OrderQty": "2", "OrderUom": UNCONVERTIBLE_UOM,
                    "Price": "250.00", "PriceUom": UNCONVERTIBLE_UOM, "TaxCode": "A"}
    elif number == "000037":
        item = next(i for i in company.stock_items.values() if not i["Active"])
        lines[0] = {"StockCode": item["StockCode"], "OrderQty": "3", "OrderUom": item["StockUom"],
                    "Price": item["SellingPrice"], "PriceUom": item["PriceUom"], "TaxCode": "A"}
    elif number == "000046":
        preview = SysproCompany(company.company_id, company.clock)
        preview.stock_items = company.stock_items
        total = Decimal(preview.add_order(**{**fields, "SalesOrder": "X"})["OrderTotal"])
        fields["OrderTotal"] = str(total + Decimal("0.03"))
    elif number == "000058":
        fields["Customer"] = UNKNOWN_CUSTOMER
