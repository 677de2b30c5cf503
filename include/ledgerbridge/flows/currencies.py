"""The exchange rate each foreign-currency document goes out with, and its total in home currency.

The rate is the source's (the feed's `exchange_rate`) or else the accounting system's for the document's
date, asked once per currency and day in a run and kept on the document, so the rate sent, stored and shown
is one. A connector whose system applies its own rate when none is sent (Xero, the desktop file drop) needs
none; one that has no rates at all (entry files) holds the document until the source gives one. A rate the
connector cannot carry (`Capabilities.rate_not_sent`: a desktop agent on an older file-drop protocol) holds
the document too: the system would book it at its own rate, and the home amount would differ from the
source's. A company that takes only its home currency (QuickBooks Online with multicurrency off) is the
`documents` suite's `currency_enabled` check, with that reason.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.context import RunContext
from ledgerbridge.ledger.models import Document
from ledgerbridge.money import CENTS


class ExchangeRates:
    def __init__(self, ctx: RunContext) -> None:
        self.home = ctx.entity.base_currency
        self.connector = ctx.connector
        self.log = ctx.log
        self.single_currency = ctx.connector.single_currency()
        self._asked: dict[tuple[str, date], Decimal | None] = {}
        self._why_none: dict[tuple[str, date], str] = {}

    def settle(self, document: Document) -> tuple[Decimal | None, str | None]:
        """The rate `document` goes with, and why it cannot go when it has none to go with."""
        return self.of(document), self.problem(document)

    def of(self, document: Document) -> Decimal | None:
        """The rate `document` goes with (None: home currency, or the system applies its own), its home total
        set beside it."""
        if document.currency == self.home or self.single_currency is not None:
            return None
        if document.exchange_rate is None and not self.connector.capabilities.own_exchange_rates:
            document.exchange_rate = self._system_rate(document.currency, document.doc_date)
        if document.exchange_rate is not None:
            home_total = (document.total * document.exchange_rate).quantize(CENTS, rounding=ROUND_HALF_UP)
            if document.home_total != home_total:
                document.home_total = home_total
        return document.exchange_rate

    def problem(self, document: Document) -> str | None:
        """Why `document` cannot go (no rate to send and the system will not apply its own; or a rate the
        connector cannot carry, so the system would book its own instead), or None."""
        if document.currency == self.home or self.single_currency is not None:
            return None
        if document.exchange_rate is not None:
            refused = self.connector.capabilities.rate_not_sent
            if refused is None:
                return None
            return (f"exchange_rate {document.exchange_rate.normalize():f} ({self.home} per 1 {document.currency}) "
                    f"cannot go with it: {refused}")
        if self.connector.capabilities.own_exchange_rates:
            return None
        why = self._why_none.get((document.currency, document.doc_date)) or \
            f"the source gives none and the accounting connector ({self.connector.kind}) has no exchange rates"
        return (f"no exchange rate for {document.currency} on {document.doc_date.isoformat()}: {why}; give "
                f"exchange_rate ({self.home} per 1 {document.currency}) in the feed")

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
