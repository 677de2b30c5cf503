"""JSON with exact money: amounts travel as JSON numbers and come back as Decimal, never float.

simplejson is used because the standard library cannot write a Decimal as a bare JSON number.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import simplejson


def dumps(value: Any) -> str:
    return simplejson.dumps(value, use_decimal=True, default=_default, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return simplejson.loads(text, use_decimal=True)


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = ["Decimal", "dumps", "loads"]
