"""JSON with exact Decimal money (the shared sandbox/jsonmoney.py), and QBO-style timestamps."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from ..jsonmoney import dumps, loads, to_decimal

__all__ = ["dumps", "loads", "to_decimal", "format_ms", "company_today", "looks_like_timestamp", "parse_instant"]

# Real QBO stamps times in the company's Pacific time; a fixed offset keeps the sandbox deterministic.
COMPANY_TZ = timezone(timedelta(hours=-7))

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T")


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
