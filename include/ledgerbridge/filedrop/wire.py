"""JSON on the wire: money as decimal strings both ways, and a parser that refuses what JSON forbids.

Amounts travel as strings ("123.45"), never JSON numbers: many JSON parsers (JavaScript, .NET's
double, Python's default) turn a number into a binary float, and 0.1 + 0.2 != 0.3 in binary. A
string reaches the other side digit for digit, whatever language the agent is written in.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .protocol import message_version, utc_timestamp

# Every field of every schema whose value is a decimal string; readers turn these into Decimal.
DECIMAL_FIELDS = frozenset({
    "amount", "total", "quantity", "unit_price", "debit", "credit", "balance", "open_balance",
    "received_quantity", "discount_percent", "exchange_rate", "home_total",
})


DECIMAL_TEXT = re.compile(r"-?[0-9]{1,13}(\.[0-9]{1,4})?")
RATE_TEXT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,10})?")  # an exchange rate: ten decimal places, as the ledger keeps
MAX_RATE_PLACES = 10


class WireError(ValueError):
    """A value that cannot be written exactly, named by its JSON pointer."""


def wire_decimal(value: Decimal) -> str:
    """Fixed-point, never exponent notation, at least 2 decimals, no other trailing zeros: exact."""
    if not value.is_finite():
        raise WireError(f"{value} is not a finite amount")
    if value.is_zero():
        value = Decimal(0)  # no "-0.00" on the wire
    if value.as_tuple().exponent < -2:
        value = value.normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return format(value, "f")


def wire_rate(rate: Decimal) -> str:
    """An exchange rate as its exact decimal string: fixed point, no trailing zeros ("1.0856", "2"), at most
    ten decimal places. Unlike money it is not padded to cents: "1.10" would read as a price, not a rate."""
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise WireError(f"exchange rate {rate!r} is not a positive Decimal")
    normal = rate.normalize()
    if normal.as_tuple().exponent < -MAX_RATE_PLACES:
        raise WireError(f"exchange rate {rate} has more than {MAX_RATE_PLACES} decimal places")
    text = format(normal, "f")
    if not RATE_TEXT.fullmatch(text):
        raise WireError(f"exchange rate {rate} cannot be written as a rate of at most 9 integer digits")
    return text


def to_wire(value: Any, pointer: str = "") -> Any:
    """Plain JSON values from Python ones: Decimal -> string, date -> ISO, datetime -> UTC with Z."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        raise WireError(f"{pointer or '/'}: {value!r} is a float; give amounts as Decimal or str")
    if isinstance(value, Decimal):
        return wire_decimal(value)
    if isinstance(value, datetime):
        return utc_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): wire_rate(item) if key == "exchange_rate" and isinstance(item, Decimal)
                else to_wire(item, f"{pointer}/{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item, f"{pointer}/{index}") for index, item in enumerate(value)]
    raise WireError(f"{pointer or '/'}: {type(value).__name__} cannot be written as JSON")


def from_wire(value: Any) -> Any:
    """Decimal for every decimal field; a value that is no decimal (a refused record's) stays as it is."""
    if isinstance(value, dict):
        return {key: _decimal(item, RATE_TEXT if key == "exchange_rate" else DECIMAL_TEXT) if key in DECIMAL_FIELDS
                else from_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    return value


def _decimal(value: Any, shape: re.Pattern = DECIMAL_TEXT) -> Any:
    if not isinstance(value, str) or not shape.fullmatch(value):
        return value
    return Decimal(value)


def dumps(message: dict) -> bytes:
    """UTF-8 JSON, indented so a person reading a rejected file finds the line the error names."""
    return (json.dumps(to_wire(message), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


class DuplicateMember(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    # Python keeps the last of two equal members silently; another parser might keep the first.
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateMember(f"member {key!r} appears twice in one object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """Strict JSON: no NaN/Infinity, no duplicate members. Numbers stay numbers (the schema refuses them)."""
    return json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)


def build_message(kind: str, *, entity_id: str, company_id: str, batch_key: str, records: list[dict],
                  created_at: datetime, protocol_version: int | None = None, **extra: Any) -> dict:
    """The envelope around records; `extra` carries kind-specific members (in_reply_to, file_error).

    The version is the oldest that has the kind and its records' fields (message_version) unless given: a
    confirmation answers in its input's."""
    return {"protocol_version": protocol_version or message_version(kind, records), "kind": kind,
            "entity_id": entity_id, "company_id": company_id, "batch_key": batch_key, "created_at": created_at,
            **extra, "records": list(records)}
