"""Suite `payments`: each expectation fails and passes; the open balance is shared within a batch."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D

import pytest
from ledgerbridge.quality import PaymentParams, check, payments
from quality_samples import DOC_DATE, application, payment

PARAMS = PaymentParams(currency="USD", allowed_currencies={"CAD"})


@dataclass(frozen=True)
class Case:
    id: str
    expectation: str
    bad: object
    fails: frozenset
    field: str
    problem: str
    value: object
    good: object


def case(expectation, bad, fails, field, problem, value, good, id=None):
    return Case(id or expectation, expectation, bad, frozenset(fails), field, problem, value, good)


def applied(key, *amounts, **changes):
    """A payment of the sum of `amounts`, one application per amount."""
    apps = [application(f"B-{key}-{n}", amount=D(a), **changes) for n, a in enumerate(amounts, 1)]
    return payment(key, amount=sum((D(a) for a in amounts), D(0)), applications=apps)


CASES = [
    case("payment_date_present", lambda k: payment(k, payment_date=None), {"payment_date_present"},
         "payment_date", "missing", None, payment),
    case("party_linked", lambda k: payment(k, party_linked=False), {"party_linked"}, "vendor",
         "vendor V-party_linked-bad is not linked to a vendor of the accounting system", "V-party_linked-bad",
         payment),
    case("bank_account_resolves", lambda k: payment(k, bank_account_code="9999", bank_account_resolved=False),
         {"bank_account_resolves"}, "bank_account_code", "no active bank account with this number or name", "9999",
         # a customer payment without a deposit account: none needed (Undeposited Funds)
         lambda k: payment(k, kind="customer_payment", bank_account_code=None, bank_account_resolved=None)),
    case("amount_present", lambda k: payment(k, amount=None), {"amount_present"}, "amount", "missing", None, payment),
    case("amount_positive", lambda k: applied(k, "-80.00"), {"amount_positive", "applied_amount_positive"},
         "amount", "must be positive", D("-80.00"), lambda k: applied(k, "0.01")),
    case("amount_precision", lambda k: applied(k, "80.005"), {"amount_precision", "applied_amount_precision"},
         "amount", "more than 2 decimal places", D("80.005"), lambda k: applied(k, "80.5000")),
    case("has_applications", lambda k: payment(k, applications=[]), {"has_applications"}, "applications",
         "the payment is not applied to any bill", None, payment),
    case("amount_equals_applied", lambda k: payment(k, amount=D("90.00")), {"amount_equals_applied"}, "amount",
         "90.00 differs from the sum applied 80.00", D("90.00"), lambda k: applied(k, "0.10", "0.20")),
    case("currency_present", lambda k: payment(k, currency=None), {"currency_present"}, "currency", "missing", None,
         payment),
    case("currency_allowed", lambda k: payment(k, currency="GBP"), {"currency_allowed"}, "currency",
         "GBP is not the entity's currency USD nor one allowed (CAD, USD)", "GBP",
         lambda k: payment(k, currency="CAD")),
    case("exchange_rate_known",
         lambda k: payment(k, currency="CAD", rate_problem="exchange_rate 1.36 (USD per 1 CAD) cannot go with it: the "
                                                           "file-drop protocol carries no exchange rate on a payment"),
         {"exchange_rate_known"}, "exchange_rate", "exchange_rate 1.36 (USD per 1 CAD) cannot go with it: the "
         "file-drop protocol carries no exchange rate on a payment", None, lambda k: payment(k, currency="CAD")),
    case("applied_amount_positive", lambda k: applied(k, "100.00", "-20.00"), {"applied_amount_positive"},
         "applications[B-applied_amount_positive-bad-2].amount", "must be positive", D("-20.00"), lambda k: applied(k, "100.00", "20.00")),
    case("applied_amount_precision", lambda k: applied(k, "40.005", "39.995"), {"applied_amount_precision"},
         "applications[B-applied_amount_precision-bad-1].amount", "more than 2 decimal places", D("40.005"),
         lambda k: applied(k, "40.5000", "39.50")),
    case("open_balance_known", lambda k: payment(k, applications=[application(f"B-{k}", open_balance=None)]),
         {"open_balance_known"}, "applications[B-open_balance_known-bad]",
         "the open balance of bill B-open_balance_known-bad is not known", "B-open_balance_known-bad", payment),
    case("applied_within_open_balance",
         lambda k: payment(k, applications=[application(f"B-{k}", open_balance=D("50.00"))]),
         {"applied_within_open_balance"}, "applications[B-applied_within_open_balance-bad].amount",
         "more than the bill's open balance 50.00", D("80.00"),
         lambda k: payment(k, applications=[application(f"B-{k}", open_balance=D("80.00"))])),
    case("target_confirmed",
         lambda k: payment(k, applications=[application(f"B-{k}", document_state="rejected")]),
         {"target_confirmed"}, "applications[B-target_confirmed-bad]",
         "the bill it pays (B-target_confirmed-bad) is rejected: it will not be confirmed in the accounting system as it is",
         "B-target_confirmed-bad", payment),
    case("target_same_party", lambda k: payment(k, applications=[application(f"B-{k}", same_party=False)]),
         {"target_same_party"}, "applications[B-target_same_party-bad]", "the bill belongs to another party",
         "B-target_same_party-bad", payment),
    case("payment_date_not_before_document", lambda k: payment(k, payment_date=date(2025, 2, 1)),
         {"payment_date_not_before_document"}, "payment_date",
         "before the date 2025-03-01 of bill B-payment_date_not_before_document-bad", date(2025, 2, 1),
         lambda k: payment(k, payment_date=DOC_DATE)),
]


@pytest.fixture(scope="module")
def outcome():
    records = []
    for c in CASES:
        records += [c.bad(f"{c.id}-bad"), c.good(f"{c.id}-good")]
    return check("payments", records, PARAMS)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_failing_case(outcome, c):
    failures = outcome.failures[f"{c.id}-bad"]
    assert {f.expectation for f in failures} == c.fails
    focus = next(f for f in failures if f.expectation == c.expectation)
    assert (focus.field, focus.problem, focus.value) == (c.field, c.problem, c.value)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_passing_case(outcome, c):
    assert f"{c.id}-good" in outcome.passed, outcome.failures.get(f"{c.id}-good")


def test_every_expectation_has_cases(outcome):
    assert {c.expectation for c in CASES} == {e.name for e in payments.EXPECTATIONS}
    assert all(stat.failed >= 1 for stat in outcome.expectations)


def test_a_batch_never_pays_more_than_is_open():
    """Two payments of 60.00 on a bill with 100.00 open: the later one (by payment date) is held."""
    first = payment("P-2", payment_date=date(2025, 4, 2),
                    applications=[application("B-1", amount=D("60.00"), open_balance=D("100.00"))], amount=D("60.00"))
    second = payment("P-1", payment_date=date(2025, 4, 3),
                     applications=[application("B-1", amount=D("60.00"), open_balance=D("100.00"))],
                     amount=D("60.00"))
    result = check("payments", [second, first], PARAMS)
    assert result.passed == ["P-2"]
    [failure] = result.failures["P-1"]
    assert failure.expectation == "applied_within_open_balance"
    assert failure.problem == "more than the bill's open balance 40.00 after P-2 in this batch"
    assert failure.values == {"open_balance": D("40.00"), "amount": D("60.00")}
    # Paying exactly what is left passes.
    exact = payment("P-1", payment_date=date(2025, 4, 3),
                    applications=[application("B-1", amount=D("40.00"), open_balance=D("100.00"))], amount=D("40.00"))
    assert check("payments", [exact, first], PARAMS).passed == ["P-1", "P-2"]


def test_a_pending_target_names_its_state_so_the_caller_can_wait():
    record = payment("P-W", applications=[application("B-W", document_state="pending")])
    [failure] = check("payments", [record], PARAMS).failures["P-W"]
    assert failure.expectation == "target_confirmed"
    assert failure.values == {"document_state": "pending"}
