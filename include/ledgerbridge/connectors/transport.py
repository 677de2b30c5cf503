"""HTTP helpers every REST accounting client shares (QuickBooks Online, Xero): what a failed request
says about whether it may have reached the server, and JSON answers with exact Decimal money."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests


def never_sent(exc: requests.ConnectionError) -> bool:
    """A refused connection never reached the server; a reset may have."""
    text = str(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "Name or service not known" in text


def json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json(parse_float=Decimal)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"_list": body}
