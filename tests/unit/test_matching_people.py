"""People's records in the matching engine: swapped names, typos, a missing given name, swapped postcode
digits, and never two people of one family in one town linked without a person."""
from __future__ import annotations

import pytest

from ledgerbridge.matching.engine import PartyRecord, Thresholds, match
from ledgerbridge.matching.people import given_name_typo, postcode_digits_swapped


def _person(record_id: str, name: str, city: str | None = "Bittern", postcode: str | None = "4814", **fields):
    return PartyRecord(record_id, name, "person", city=city, postcode=postcode, **fields)


def _link(hub: PartyRecord, accounting: list[PartyRecord], thresholds: Thresholds = Thresholds()):
    (result,) = match([hub], accounting, thresholds)
    return result


@pytest.mark.parametrize("hub, other", [
    ("John Smith", "Joan Smith"),  # a letter changed: another given name
    ("Marian Hope", "Marion Hope"),  # another vowel
    ("Carl Jensen", "Carla Jensen"),  # another ending
    ("Sara Coffey", "Sarah Coffey"),
    ("Ellen Baker", "Allen Baker"),  # another first letter
    ("Chloe Jayaraman", "Luke Jayaraman"),  # another given name altogether
    ("Smith, John", "Joan Smith"),  # the comma form, reordered
])
def test_two_people_sharing_a_family_name_and_a_town_are_never_auto_linked(hub, other):
    result = _link(_person("H1", hub), [_person("A1", other)])
    assert result.decision != "auto"
    # Not even where the thresholds would let the score through.
    assert _link(_person("H1", hub), [_person("A1", other)], Thresholds(auto=0.80, review=0.70)).decision != "auto"


def test_with_both_of_a_family_in_the_town_a_person_decides_and_the_exact_name_comes_first():
    result = _link(_person("H1", "John Smith"), [_person("A1", "Joan Smith"), _person("A2", "John Smith")])
    assert (result.decision, result.accounting_id) == ("review", "A2")
    assert [candidate for candidate, _ in result.candidates] == ["A2", "A1"]


@pytest.mark.parametrize("hub, other", [
    ("Kydan Mccarthy", "Mccarthy Kydan"),
    ("David Sydorenko", "Sydoernko David"),  # swapped, and a typo in the family name
])
def test_swapped_given_and_family_names_auto_link(hub, other):
    result = _link(_person("H1", hub), [_person("A1", other), _person("A2", "Lachlan Berry")])
    assert (result.decision, result.accounting_id, result.method) == ("auto", "A1", "person")


@pytest.mark.parametrize("hub, other", [
    ("Sarah Mccarthy", "Sarah Mccarhty"),  # family name: letters swapped
    ("Kyle Ryan", "Kyle Ryany"),  # family name: a letter added
    ("Charles Trevorrow", "Chalres Trevorrow"),  # given name: letters swapped
    ("Benjamin Fitzpatrick", "Benjsmin Fitzpatrick"),  # given name: the key next to it
    ("Jennifer Richards", "Jennifr Richards"),  # given name: a letter left out inside
])
def test_a_typo_in_either_name_links_in_the_same_town(hub, other):
    result = _link(_person("H1", hub), [_person("A1", other)])
    assert (result.decision, result.accounting_id) == ("auto", "A1")


def test_a_doubtful_given_name_is_settled_by_the_same_email():
    hub = _person("H1", "David Ross", email="d.ross@example.com")
    accounting = _person("A1", "Dovid Ross", email="D.Ross@example.com")
    assert _link(hub, [accounting]).decision == "auto"
    assert _link(_person("H1", "David Ross"), [_person("A1", "Dovid Ross")]).decision == "review"


def test_swapped_postcode_digits_in_the_same_town_still_auto_link():
    hub = _person("H1", "Lachlan Berry", postcode="4814")
    assert _link(hub, [_person("A1", "Lachlan Berry", postcode="4184")]).decision == "auto"
    # The town one typo away is still the same town.
    assert _link(hub, [_person("A1", "Lachlan Berry", city="Bitern", postcode="4184")]).decision == "auto"


@pytest.mark.parametrize("city, postcode", [
    ("Bittern", "4815"),  # one digit changed: maybe the next suburb
    ("Bittern", "2776"),
    ("Canterbury", "4184"),  # swapped digits, but another town
    (None, "4184"),  # swapped digits, town unknown
])
def test_any_other_postcode_difference_never_auto_links_a_person(city, postcode):
    hub = _person("H1", "Lachlan Berry", postcode="4814")
    result = _link(hub, [_person("A1", "Lachlan Berry", city=city, postcode=postcode)], Thresholds(auto=0.80, review=0.70))
    assert (result.decision, result.accounting_id) == ("review", "A1")


def test_a_missing_given_name_is_reviewed_where_the_place_agrees_and_never_auto_linked():
    result = _link(_person("H1", "Emma Green"), [_person("A1", "Green")], Thresholds(auto=0.80, review=0.80))
    assert (result.decision, result.accounting_id) == ("review", "A1")
    elsewhere = _link(_person("H1", "Emma Green"), [_person("A1", "Green", city="Sandy Bay", postcode="7005")])
    assert elsewhere.decision == "none"
    # A household's shared address links no one by itself: "Green" may be any of the family.
    shared = _link(_person("H1", "Emma Green", email="greens@example.com"),
                   [_person("A1", "Green", email="greens@example.com")], Thresholds(auto=0.80, review=0.80))
    assert (shared.decision, shared.accounting_id) == ("review", "A1")


def test_companies_keep_the_general_rules():
    # A swapped-digit postcode is a person's typo rule only: a company there may be a branch.
    hub = PartyRecord("H1", "Merinford Manufacturing", "vendor", city="Bittern", postcode="4814")
    accounting = PartyRecord("A1", "Merinford Manufacturing", "vendor", city="Bittern", postcode="4184")
    assert _link(hub, [accounting]).decision == "review"


@pytest.mark.parametrize("a, b, typo", [
    ("charles", "chalres", True), ("benjamin", "benjsmin", True), ("jennifer", "jennifr", True),
    ("holly", "hollly", True), ("erin", "erinv", True),
    ("john", "joan", False), ("luna", "lina", False), ("carl", "carla", False), ("sara", "sarah", False),
    ("ellen", "allen", False), ("nicola", "nicolas", False), ("jon", "john", False), ("david", "dovid", False),
])
def test_which_given_name_differences_are_typos(a, b, typo):
    assert given_name_typo(a, b) is typo and given_name_typo(b, a) is typo


def test_postcode_digits_swapped():
    assert postcode_digits_swapped("4814", "4184")
    assert not postcode_digits_swapped("4814", "4815")
    assert not postcode_digits_swapped("4814", "1844")
    assert not postcode_digits_swapped("4814", "4814")


def test_a_reviewer_is_told_when_two_records_may_be_two_people_of_one_family():
    from ledgerbridge.matching.engine import explain

    _, why = explain(_person("H1", "John Smith"), _person("A1", "Joan Smith"))
    assert "maybe two people of one family (a given name differs, or only the family name is given)" in why
    _, why = explain(_person("H1", "Charles Smith"), _person("A1", "Chalres Smith"))
    assert not any("two people" in reason for reason in why)
