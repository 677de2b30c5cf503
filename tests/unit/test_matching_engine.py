"""The matching engine on the tricky cases, one test each, and on the labeled set."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from ledgerbridge.matching.engine import PartyFileError, PartyRecord, Thresholds, match, read_parties

# The team's labeled set lives in shared/, beside the repository (CI has it there too).
SHARED = Path(os.environ.get("LEDGERBRIDGE_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
LABELED = SHARED / "data" / "party_matching"


def _one(hub_name: str, accounting: list[str | PartyRecord], **hub_fields):
    hub = [PartyRecord("H1", hub_name, "vendor", **hub_fields)]
    records = [a if isinstance(a, PartyRecord) else PartyRecord(f"A{n}", a, "vendor") for n, a in enumerate(accounting)]
    (result,) = match(hub, records)
    return result


@pytest.mark.parametrize("hub, accounting", [
    ("Brown, Nick", "Nick Brown"),
    ("Acme Widgets, Inc.", "ACME WIDGETS INC"),
    ("Müller GmbH", "Mueller G.m.b.H."),
    ("The Home Depot", "Home Depot"),
    ("Jennifer Richards", "Jennifr Richards"),
    ("Bright International Ltd", "bright intl Limited"),
    ("Weber Foods LLC", "Weber  Foods Limited Liability Company"),
    ("Rosemann,, Mohammad", "Mohammad Rosemann"),
])
def test_the_same_party_written_differently_is_linked(hub, accounting):
    result = _one(hub, [accounting, "Someone Else Entirely"])
    assert (result.decision, result.accounting_id) == ("auto", "A0")


def test_acme_holdings_is_not_acme_widgets():
    assert _one("Acme Holdings", ["Acme Widgets"]).decision == "none"


def test_acme_inc_and_acme_llc_are_not_linked_automatically():
    assert _one("Acme Inc", ["Acme LLC"]).decision != "auto"


def test_a_tax_id_is_decisive_both_ways():
    same = _one("Initech", [PartyRecord("A0", "Initrode Holdings", "vendor", tax_id="12-3456789")],
                tax_id="123456789")
    assert (same.decision, same.method) == ("auto", "tax_id")
    different = _one("Initech LLC", [PartyRecord("A0", "Initech LLC", "vendor", tax_id="98-7654321")],
                     tax_id="12-3456789")
    assert different.decision == "none"


def test_an_initial_alone_asks_a_person_and_an_agreeing_email_settles_it():
    assert _one("Virginia Smith", ["V. Smith"]).decision == "review"
    with_email = _one("Virginia Smith", [PartyRecord("A0", "V. Smith", "vendor", email="v.smith@example.com")],
                      email="V.Smith@example.com")
    assert with_email.decision == "auto"


def test_two_equally_good_candidates_go_to_review():
    result = _one("Nick Brown", ["Nick Brown", "Brown, Nick"])
    assert result.decision == "review" and len(result.candidates) == 2


def test_links_are_one_to_one():
    hub = [PartyRecord("H1", "Acme Widgets Inc", "vendor", postcode="10001"),
           PartyRecord("H2", "Acme Widgets Inc", "vendor")]
    results = {r.hub_id: r for r in match(hub, [PartyRecord("A1", "ACME WIDGETS INC", "vendor", postcode="10001")])}
    assert results["H1"].accounting_id == "A1" and results["H1"].decision == "auto"
    assert results["H2"].decision == "none" and results["H2"].method == "taken"


def test_a_customer_never_matches_a_vendor():
    hub = [PartyRecord("H1", "Acme Widgets Inc", "customer", email="ap@acme.example", tax_id="12-3456789")]
    accounting = [PartyRecord("A1", "Acme Widgets Inc", "vendor", email="ap@acme.example", tax_id="12-3456789")]
    assert match(hub, accounting)[0].decision == "none"


def test_a_different_postcode_never_auto_links_whatever_the_thresholds():
    hub = [PartyRecord("H1", "Merinford Manufacturing", "vendor", postcode="32053")]
    accounting = [PartyRecord("A1", "Merinford Manufacturing", "vendor", postcode="99926")]
    assert match(hub, accounting, Thresholds(auto=0.80, review=0.70))[0].decision == "review"


def test_two_accounting_parties_sharing_a_tax_id_go_to_review():
    accounting = [PartyRecord("A1", "Initech", "vendor", tax_id="12-3456789"),
                  PartyRecord("A2", "Initech Holdings", "vendor", tax_id="12-3456789")]
    assert _one("Initech LLC", accounting, tax_id="123456789").decision == "review"


def test_a_file_without_kinds_matches_across_kinds():
    hub = [PartyRecord("H1", "Brown,Nick")]
    assert match(hub, [PartyRecord("A1", "Nick Brown", "Vendor")])[0].accounting_id == "A1"


@pytest.mark.skipif(not LABELED.is_dir(), reason=f"labeled set not found at {LABELED} (set LEDGERBRIDGE_SHARED_DIR)")
def test_on_the_labeled_set_auto_links_are_precise_and_complete():
    hub = read_parties(LABELED / "hub_parties.csv")
    accounting = read_parties(LABELED / "accounting_parties.csv")
    with open(LABELED / "truth.csv", newline="") as handle:
        truth = {row["hub_id"]: row["accounting_id"] for row in csv.DictReader(handle)}
    results = match(hub, accounting)
    auto = [r for r in results if r.decision == "auto"]
    correct = sum(1 for r in auto if truth.get(r.hub_id) == r.accounting_id)
    review = sum(1 for r in results if r.decision == "review")
    assert correct / len(auto) >= 0.995  # precision
    assert correct / len(truth) >= 0.95  # recall
    assert review / len(hub) <= 0.05


@pytest.mark.parametrize("content, message", [
    ("name,kind\nAcme,vendor\n", "missing column(s) id"),
    ("id,name\nH1,\n", "line 2: column 'name' is empty"),
    ("id,name\nH1,Acme\nH1,Other\n", "line 3: id 'H1' appears twice"),
])
def test_bad_party_files_say_where(tmp_path, content, message):
    path = tmp_path / "parties.csv"
    path.write_text(content)
    with pytest.raises(PartyFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_parties(path)


def test_a_file_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "parties.csv"
    path.write_bytes("id,name\nH1,M\xfcller\n".encode("latin-1"))
    with pytest.raises(PartyFileError, match="not UTF-8"):
        read_parties(path)
