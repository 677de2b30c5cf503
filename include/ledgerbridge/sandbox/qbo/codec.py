"""JSON with exact Decimal money, and QBO-style timestamps."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

# Real QBO stamps times in the company's Pacific time; a fixed offset keeps the sandbox deterministic.
COMPANY_TZ = timezone(timedelta(hours=-7))

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def loads(text: str | bytes) -> object:
    """Parse JSON keeping every non-integer number a Decimal."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: object) -> str:
    """Serialize JSON, writing Decimals as exact JSON numbers (json.dumps would need floats)."""
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


def format_ms(epoch_ms: int) -> str:
    """ISO 8601 with milliseconds and the company offset, e.g. 2026-01-01T09:30:00.125-07:00."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, COMPANY_TZ)
    return moment.isoformat(timespec="milliseconds")


def company_today(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, COMPANY_TZ).date().isoformat()


def looks_like_timestamp(value: object) -> bool:
    return isinstance(value, str) and bool(_TIMESTAMP.match(value))


def parse_instant(value: str) -> datetime | None:
    """A timestamp (any offset, 'Z', or none = company time) or a date (midnight company time)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        moment = datetime(day.year, day.month, day.day)
    return moment if moment.tzinfo else moment.replace(tzinfo=COMPANY_TZ)
