"""ISO 4217 alphabetic currency codes (table A.1: currencies, funds and precious metals).

Shipped as a list so the check needs no download and no extra package. It catches what actually
goes wrong in a pull or an import ("US$", "usd", "EURO", "UDS"), not fine points of the standard.
Kept: the current codes, plus a few withdrawn since 2023 that older records still carry (ANG, CUC,
HRK, SLL, ZWL). Left out: XTS (reserved for testing) and XXX ("no currency"), which no accounting
record should carry. Update by adding a code here and noting it in docs/data-quality.md.
"""
from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

ISO_4217 = frozenset((
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
    "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF",
    "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
    "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST",
    "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA",
    "YER", "ZAR", "ZMW", "ZWG", "ZWL",
))


@dataclass(frozen=True)
class CurrencyParams:
    """What the suites checking money share: the entity's currency and the others it allows."""

    currency: str = "USD"  # the entity's base currency
    allowed_currencies: AbstractSet[str] = frozenset()  # explicitly allowed besides the base currency

    def __post_init__(self):
        for code in (self.currency, *self.allowed_currencies):
            if code not in ISO_4217:
                raise ValueError(f"{type(self).__name__}: currency {code!r} is not an ISO 4217 code")

    def currencies(self) -> list[str]:
        return sorted({self.currency, *self.allowed_currencies})


def currency_problem(row: dict, params: CurrencyParams) -> str:
    """'GBP is not the entity's currency USD[ nor one allowed (CAD, USD)]'."""
    return f"{row['currency']} is not the entity's currency {params.currency}" + (
        f" nor one allowed ({', '.join(params.currencies())})" if len(params.currencies()) > 1 else "")
