"""Money stays exact; party names normalise so the same party written two ways matches."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge import jsonutil
from ledgerbridge.matching.names import name_key
from ledgerbridge.money import MoneyError, to_money


@pytest.mark.parametrize("value, expected", [("1350.50", "1350.50"), (Decimal("0.1"), "0.1"), (42, "42"),
                                             (" 7.25 ", "7.25")])
def test_amounts_parse_exactly(value, expected):
    assert to_money(value) == Decimal(expected)


@pytest.mark.parametrize("value, problem", [(0.1, "float"), ("abc", "not a number"), ("NaN", "finite"),
                                            ("1e20", "larger"), ("1.23456", "decimal places"), (True, "bool")])
def test_bad_amounts_are_refused_with_the_reason(value, problem):
    with pytest.raises(MoneyError, match=problem):
        to_money(value, "lines[1].amount")


def test_json_keeps_decimals_as_exact_numbers():
    text = jsonutil.dumps({"Amount": Decimal("1234567890.12")})
    assert text == '{"Amount":1234567890.12}'
    assert jsonutil.loads(text)["Amount"] == Decimal("1234567890.12")


@pytest.mark.parametrize("hub, accounting", [
    ("Brown, Nick", "Nick Brown"),
    ("Acme Widgets, Inc.", "ACME WIDGETS INC"),
    ("Müller GmbH", "Mueller G.m.b.H."),
    ("The Home Depot", "Home Depot"),
    ("Smith & Sons", "Smith and Sons Ltd"),
    ("José Café", "Jose Cafe"),
])
def test_the_same_party_written_two_ways_matches(hub, accounting):
    assert name_key(hub).matches(name_key(accounting))


@pytest.mark.parametrize("hub, accounting", [
    ("Acme Inc", "Acme LLC"),  # different legal forms: maybe different companies
    ("Acme Holdings", "Acme Widgets"),
    ("Brown, Nick", "Nick Browne"),
])
def test_different_parties_do_not_match(hub, accounting):
    assert not name_key(hub).matches(name_key(accounting))
