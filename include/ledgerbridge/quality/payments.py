"""Suite `payments`: bill payments and customer payments about to go to the accounting system.

Records are dicts, one per payment, with what the caller knows about each document it pays::

    {"hub_id": "P-1", "kind": "bill_payment",      # bill_payment | customer_payment
     "payment_date": date, "currency": "USD", "amount": Decimal("80.00"),
     "party": "V-7", "party_linked": True, "party_problem": None,
     "bank_account_code": "1000",
     "bank_account_resolved": True,                # None: no account given and none needed
     "rate_problem": None,                         # optional: why a foreign payment cannot go with a rate
     "applications": [{"document": "B-1",          # hub id of the bill/invoice it pays
                       "document_kind": "bill",
                       "amount": Decimal("80.00"),
                       "open_balance": Decimal("120.00"),   # the document's open balance before this batch
                       "document_date": date,
                       "document_state": "confirmed",       # confirmed | on its way | rejected | quarantined | ...
                       "same_party": True}]}                # the document belongs to the payment's party

The open balance each application is checked against is the caller's `open_balance` less what the
earlier payments of this batch (by payment date, then input order) apply to the same document, so
a batch never pays more than is open. The key is `hub_id`.

A document "on its way" (queued, being sent, or waiting for its party to be created) does not fail
the payment: it is not a defect of the payment, and the caller holds the payment back until the
document is confirmed. Any other state (draft, rejected, quarantined, ...) fails `target_confirmed`.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ledgerbridge.quality.currencies import CurrencyParams, currency_problem
from ledgerbridge.quality.spec import (
    BOOL,
    DATE,
    INT,
    KEY,
    MONEY,
    MONEY_PLACES,
    RECORD,
    STR,
    Expectation,
    Suite,
    decimal_places,
    money_sum,
    text,
)

NAME = "payments"
SUITE_VERSION = "1.3.0"
MAX_FAILURE_RATE = 0.10
CONFIRMED = "confirmed"
ON_ITS_WAY = "on its way"  # the payment waits for the document; not a failure
DOCUMENT_OF = {"bill_payment": "bill", "customer_payment": "invoice"}
PARTY_OF = {"bill_payment": "vendor", "customer_payment": "customer"}


@dataclass(frozen=True)
class PaymentParams(CurrencyParams):
    max_failure_rate: float = MAX_FAILURE_RATE


def key(record: dict, position: int) -> str:
    return text(record.get("hub_id")) or f"#{position}"


def build(records: list[dict], params: PaymentParams) -> dict[str, list[dict]]:
    payments, applications = [], []
    for position, record in enumerate(records):
        kind = str(record.get("kind") or "")
        applied = [a.get("amount") for a in record.get("applications") or ()]
        payments.append({
            KEY: key(record, position), RECORD: position, "kind": kind,
            "what": kind.replace("_", " ") or "payment", "party_kind": PARTY_OF.get(kind, "party"),
            "payment_date": record.get("payment_date"), "currency": text(record.get("currency")),
            "amount": record.get("amount"), "amount_places": decimal_places(record.get("amount")),
            "applied_total": money_sum(applied) if applied else None, "application_count": len(applied),
            "party": text(record.get("party")), "party_linked": bool(record.get("party_linked")),
            "party_problem": text(record.get("party_problem")),
            "bank_account_code": text(record.get("bank_account_code")),
            "bank_account_resolved": (None if record.get("bank_account_resolved") is None
                                      else bool(record["bank_account_resolved"])),
            "rate_problem": text(record.get("rate_problem")),
        })
    # What is still open on each document when each application comes, in payment-date order.
    def order(position: int):
        date = records[position].get("payment_date")
        return (date is None, date.toordinal() if date is not None else 0, position)

    remaining: dict[str, Decimal | None] = {}
    paid_by: dict[str, list[str]] = {}
    for position in sorted(range(len(records)), key=order):
        record, payment = records[position], payments[position]
        for application in record.get("applications") or ():
            document = text(application.get("document")) or "?"
            if document not in remaining:
                remaining[document] = application.get("open_balance")
            open_balance, amount = remaining[document], application.get("amount")
            earlier = list(paid_by.get(document, ()))
            applications.append({
                KEY: payment[KEY], RECORD: position, "document": document,
                "document_kind": text(application.get("document_kind")) or DOCUMENT_OF.get(payment["kind"], "document"),
                "amount": amount, "amount_places": decimal_places(amount), "open_balance": open_balance,
                "earlier_payments": ", ".join(earlier), "payment_date": payment["payment_date"],
                "document_date": application.get("document_date"),
                "document_state": text(application.get("document_state")) or "unknown",
                "same_party": application.get("same_party", True) is not False,
            })
            if open_balance is not None and amount is not None:
                try:
                    remaining[document] = Decimal(str(open_balance)) - Decimal(str(amount))
                except ArithmeticError:
                    remaining[document] = None
                paid_by.setdefault(document, []).append(payment[KEY])
    return {"payments": payments, "applications": applications}


def _party(row: dict, params) -> str:
    if row.get("party_problem"):
        return row["party_problem"]
    kind = row["party_kind"]
    if not row.get("party"):
        return f"the {row['what']} has no {kind}"
    return f"{kind} {row['party']} is not linked to a {kind} of the accounting system"


def _open_balance(row: dict, params) -> str:
    after = f" after {row['earlier_payments']} in this batch" if row["earlier_payments"] else ""
    return f"more than the {row['document_kind']}'s open balance {row['open_balance']}{after}"


def _confirmed(row: dict, params) -> str:
    state = row["document_state"]
    return (f"the {row['document_kind']} it pays ({row['document']}) is {state}: it will not be confirmed in the "
            "accounting system as it is")


_POSITIVE = {"min_value": 0, "strict_min": True}
_PAIR = {"ignore_row_if": "either_value_is_missing"}

EXPECTATIONS = (
    Expectation("payment_date_present", "payments", "ExpectColumnValuesToNotBeNull", {"column": "payment_date"},
                "payment_date", "missing", why="The accounting system posts the payment on its date."),
    Expectation("party_linked", "payments", "ExpectColumnValuesToBeInSet",
                {"column": "party_linked", "value_set": [True]}, "{party_kind}", _party, "party",
                in_failure_rate=False,  # a party awaiting review has its own queue: not a systemic signal
                why="A payment goes to (or comes from) a vendor or customer of the accounting system."),
    Expectation("bank_account_resolves", "payments", "ExpectColumnValuesToBeInSet",
                {"column": "bank_account_resolved", "value_set": [True]}, "bank_account_code",
                lambda row, params: "missing" if not row.get("bank_account_code") else
                "no active bank account with this number or name", "bank_account_code",
                why="The money leaves (or reaches) an account that exists and is active."),
    Expectation("amount_present", "payments", "ExpectColumnValuesToNotBeNull", {"column": "amount"},
                "amount", lambda row, params: "missing" if row["amount"] is None else
                "not an exact amount (at most 4 decimal places)", "amount",
                why="A payment has an amount."),
    Expectation("amount_positive", "payments", "ExpectColumnValuesToBeBetween", {"column": "amount", **_POSITIVE},
                "amount", "must be positive", "amount", why="A refund is not a payment."),
    Expectation("amount_precision", "payments", "ExpectColumnValuesToBeBetween",
                {"column": "amount_places", "max_value": MONEY_PLACES},
                "amount", f"more than {MONEY_PLACES} decimal places", "amount",
                why="QuickBooks keeps cents."),
    Expectation("has_applications", "payments", "ExpectColumnValuesToBeBetween",
                {"column": "application_count", "min_value": 1}, "applications",
                lambda row, params: f"the payment is not applied to any {DOCUMENT_OF.get(row['kind'], 'document')}",
                why="An unapplied payment would sit as a credit in the accounting system."),
    Expectation("amount_equals_applied", "payments", "ExpectColumnPairValuesToBeEqual",
                {"column_A": "amount", "column_B": "applied_total", **_PAIR}, "amount",
                "{amount} differs from the sum applied {applied_total}", "amount",
                why="What is paid is what is applied, to the cent."),
    Expectation("currency_present", "payments", "ExpectColumnValuesToNotBeNull", {"column": "currency"},
                "currency", "missing", why="Money is never without its currency."),
    Expectation("currency_allowed", "payments", "ExpectColumnValuesToBeInSet",
                lambda params: {"column": "currency", "value_set": params.currencies()},
                "currency", currency_problem, "currency", why="A payment in another currency pays the wrong amount."),
    Expectation("exchange_rate_known", "payments", "ExpectColumnValuesToBeNull", {"column": "rate_problem"},
                "exchange_rate", lambda row, params: row["rate_problem"],
                why="A foreign payment goes with its rate (the source's, else the accounting system's for its date), "
                    "so the home amount booked, and the exchange difference against the documents it pays, are known."),
    # -- applications
    Expectation("applied_amount_positive", "applications", "ExpectColumnValuesToBeBetween",
                {"column": "amount", **_POSITIVE}, "applications[{document}].amount", "must be positive", "amount",
                why="Each application pays something."),
    Expectation("applied_amount_precision", "applications", "ExpectColumnValuesToBeBetween",
                {"column": "amount_places", "max_value": MONEY_PLACES},
                "applications[{document}].amount", f"more than {MONEY_PLACES} decimal places", "amount",
                why="QuickBooks keeps cents."),
    Expectation("open_balance_known", "applications", "ExpectColumnValuesToNotBeNull", {"column": "open_balance"},
                "applications[{document}]", "the open balance of {document_kind} {document} is not known",
                "document", why="Without it, an over-payment cannot be ruled out."),
    Expectation("applied_within_open_balance", "applications", "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "open_balance", "column_B": "amount", "or_equal": True, **_PAIR},
                "applications[{document}].amount", _open_balance, "amount",
                why="Paying more than is open would over-pay the document."),
    Expectation("target_confirmed", "applications", "ExpectColumnValuesToBeInSet",
                {"column": "document_state", "value_set": [CONFIRMED, ON_ITS_WAY]},
                "applications[{document}]", _confirmed, "document",
                why="A payment can only be applied to a document the accounting system has."),
    Expectation("target_same_party", "applications", "ExpectColumnValuesToBeInSet",
                {"column": "same_party", "value_set": [True]}, "applications[{document}]",
                "the {document_kind} belongs to another party", "document",
                why="A vendor's payment pays that vendor's bills only."),
    Expectation("payment_date_not_before_document", "applications", "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "payment_date", "column_B": "document_date", "or_equal": True, **_PAIR},
                "payment_date", "before the date {document_date} of {document_kind} {document}", "payment_date",
                overridable=True, why="A document cannot be paid before it exists."),
)

COLUMNS = {
    "payments": {"payment_date": DATE, "party_linked": BOOL, "bank_account_resolved": BOOL, "amount": MONEY,
                 "amount_places": INT, "application_count": INT, "applied_total": MONEY, "currency": STR,
                 "rate_problem": STR},
    "applications": {"amount": MONEY, "amount_places": INT, "open_balance": MONEY, "document_state": STR,
                     "same_party": BOOL, "payment_date": DATE, "document_date": DATE},
}

SUITE = Suite(NAME, SUITE_VERSION, MAX_FAILURE_RATE, PaymentParams, build, EXPECTATIONS, COLUMNS, key,
              group=lambda record: str(record.get("kind") or ""))
