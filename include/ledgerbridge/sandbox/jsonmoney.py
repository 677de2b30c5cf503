"""JSON with exact Decimal money for the HTTP sandboxes: every non-integer number read is a Decimal,
and Decimals are written as exact JSON numbers (json.dumps would need floats)."""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation


def loads(text: str | bytes) -> object:
    """Parse JSON keeping every non-integer number a Decimal."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: object) -> str:
    """Serialize JSON, writing Decimals as exact JSON numbers."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: object, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("," if i else "") + json.dumps(str(key)) + ":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot serialize {value} as JSON")
        out.append(format(value, "f"))
    else:
        out.append(json.dumps(value))


def to_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a JSON number or numeric string; None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
