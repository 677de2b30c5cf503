"""Exchange rates as a multicurrency QuickBooks Online company has them: the market rate it downloads for every
day, unless someone set the company's own rate for that currency and day (the ExchangeRate object).

The market here is a fixed table (value of one unit in US dollars), the same every day, so tests can work out
what the sandbox answers. A rate is home currency units per one unit of the source currency, six places.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

USD_PER_UNIT = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "CAD": Decimal("0.73"),
                "AUD": Decimal("0.66"), "INR": Decimal("0.012"), "CHF": Decimal("1.13"), "JPY": Decimal("0.0067")}
RATE_PLACES = Decimal("0.000001")


def market_rate(source: str, home: str) -> Decimal | None:
    """The downloaded rate of `source` in `home` currency, or None for a currency the market table lacks."""
    if source not in USD_PER_UNIT or home not in USD_PER_UNIT:
        return None
    return (USD_PER_UNIT[source] / USD_PER_UNIT[home]).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
