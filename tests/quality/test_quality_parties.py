"""Suite `parties`: each expectation fails and passes on the vendors and customers about to be created."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from ledgerbridge.quality import PartyParams, check, parties

PARAMS = PartyParams(currency="USD", allowed_currencies={"CAD"})


def party(key: str, **changes) -> dict:
    return {"hub_id": key, "kind": "vendor", "name": f"Vendor {key}", "email": "ap@vendor.example",
            "currency": "USD", **changes}


@dataclass(frozen=True)
class Case:
    expectation: str
    bad: dict
    fails: frozenset
    field: str
    problem: str
    value: object
    good: dict


CASES = [
    Case("kind_known", dict(kind="employee"), frozenset({"kind_known"}), "kind", "not a vendor or a customer",
         "employee", dict(kind="customer")),
    Case("name_present", dict(name="  "), frozenset({"name_present"}), "name", "missing", None,
         dict(name="  Padded Name  ")),
    Case("name_characters", dict(name="Acme: West"), frozenset({"name_characters"}), "name",
         "contains a colon, a tab or a newline, which QuickBooks refuses in a name", "Acme: West",
         dict(name="Acme - West; (Nord) & Söhne/GmbH")),
    Case("name_length", dict(name="N" * 501), frozenset({"name_length"}), "name", "longer than 500 characters",
         "N" * 501, dict(name="M" * 500)),
    Case("email_format", dict(email="accounts at acme"), frozenset({"email_format"}), "email",
         "not an email address", "accounts at acme", dict(email=None)),
    Case("currency_allowed", dict(currency="GBP"), frozenset({"currency_allowed"}), "currency",
         "GBP is not the entity's currency USD nor one allowed (CAD, USD)", "GBP", dict(currency="CAD")),
]


@pytest.fixture(scope="module")
def outcome():
    records = []
    for c in CASES:
        records += [party(f"{c.expectation}-bad", **c.bad), party(f"{c.expectation}-good", **c.good)]
    return check("parties", records, PARAMS)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.expectation)
def test_failing_case(outcome, c):
    failures = outcome.failures[f"{c.expectation}-bad"]
    assert {f.expectation for f in failures} == c.fails
    [focus] = failures
    assert (focus.field, focus.problem, focus.value) == (c.field, c.problem, c.value)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.expectation)
def test_passing_case(outcome, c):
    assert f"{c.expectation}-good" in outcome.passed, outcome.failures.get(f"{c.expectation}-good")


def test_every_expectation_has_cases(outcome):
    assert {c.expectation for c in CASES} == {e.name for e in parties.EXPECTATIONS}
    assert all(stat.failed >= 1 for stat in outcome.expectations)


@pytest.mark.parametrize("email", ["ap@vendor.example", "first.last+ap@sub.vendor.co.uk"])
def test_ordinary_addresses_pass(email):
    assert check("parties", [party("V-1", email=email)], PARAMS).ok


@pytest.mark.parametrize("email", ["ap@vendor", "ap vendor@example.com", "@vendor.example", "ap@vendor.example."])
def test_malformed_addresses_fail(email):
    [failure] = check("parties", [party("V-1", email=email)], PARAMS).failures["V-1"]
    assert failure.expectation == "email_format"
