"""The exchange rate each foreign-currency document or payment goes out with, and its amount in home currency.

The rate is the source's (the feed's `exchange_rate`) or else the accounting system's for the record's date,
asked once per currency and day in a run and kept on the record, so the rate sent, stored and shown is one. A
connector whose system applies its own rate when none is sent (Xero, the desktop file drop) needs none; one that
has no rates at all (entry files) holds the record until the source gives one. A rate the connector cannot carry
for that kind (`Capabilities.rates_not_sent`: a desktop agent on an older file-drop protocol; a payment to any
desktop agent) holds the record too: the system would book it at its own rate, and the home amount would differ
from the source's. A company that takes only its home currency (QuickBooks Online with multicurrency off) is the
`documents` suite's `currency_enabled` check (its payments wait for it), with that reason.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.context import RunContext
from ledgerbridge.ledger.models import Document, Payment
from ledgerbridge.money import CENTS

Rated = Document | Payment


def _dated_amount(record: Rated) -> tuple[date, Decimal]:
    if isinstance(record, Payment):
        return record.payment_date, record.amount
    return record.doc_date, record.total


def _set_home_amount(record: Rated, home: Decimal) -> None:
    if isinstance(record, Payment):
        if record.home_amount != home:
            record.home_amount = home
    elif record.home_total != home:
        record.home_total = home


class ExchangeRates:
    def __init__(self, ctx: RunContext) -> None:
        self.home = ctx.entity.base_currency
        self.connector = ctx.connector
        self.log = ctx.log
        self.single_currency = ctx.connector.single_currency()
        self._asked: dict[tuple[str, date], Decimal | None] = {}
        self._why_none: dict[tuple[str, date], str] = {}

    def settle(self, record: Rated, kind: str) -> tuple[Decimal | None, str | None]:
        """The rate `record` (of record kind `kind`) goes with, and why it cannot go when it has none to go with."""
        return self.of(record), self.problem(record, kind)

    def of(self, record: Rated) -> Decimal | None:
        """The rate `record` goes with (None: home currency, or the system applies its own), its home amount set
        beside it."""
        if record.currency == self.home or self.single_currency is not None:
            return None
        day, amount = _dated_amount(record)
        if record.exchange_rate is None and not self.connector.capabilities.own_exchange_rates:
            record.exchange_rate = self._system_rate(record.currency, day)
        if record.exchange_rate is not None:
            _set_home_amount(record, (amount * record.exchange_rate).quantize(CENTS, rounding=ROUND_HALF_UP))
        return record.exchange_rate

    def problem(self, record: Rated, kind: str) -> str | None:
        """Why `record` cannot go (no rate to send and the system will not apply its own; or a rate the connector
        cannot carry for its kind, so the system would book its own instead), or None."""
        if record.currency == self.home or self.single_currency is not None:
            return None
        if record.exchange_rate is not None:
            refused = self.connector.capabilities.rates_not_sent.get(kind)
            if refused is None:
                return None
            return (f"exchange_rate {record.exchange_rate.normalize():f} ({self.home} per 1 {record.currency}) "
                    f"cannot go with it: {refused}")
        if self.connector.capabilities.own_exchange_rates:
            return None
        day, _ = _dated_amount(record)
        why = self._why_none.get((record.currency, day)) or \
            f"the source gives none and the accounting connector ({self.connector.kind}) has no exchange rates"
        return (f"no exchange rate for {record.currency} on {day.isoformat()}: {why}; give "
                f"exchange_rate ({self.home} per 1 {record.currency}) in the feed")

    def _system_rate(self, currency: str, day: date) -> Decimal | None:
        key = (currency, day)
        if key not in self._asked:
            try:
                self._asked[key] = self.connector.exchange_rate(currency, day)
            except RecordRejected as refused:  # no rate for that currency (the system says why)
                self._asked[key], self._why_none[key] = None, str(refused)
            if self._asked[key] is not None:
                self.log.info("exchange rate %s -> %s on %s: %s (the accounting system's)", currency, self.home,
                              day.isoformat(), self._asked[key])
        return self._asked[key]
