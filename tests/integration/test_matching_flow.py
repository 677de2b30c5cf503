"""Party matching inside a sync against the QBO sandbox: review, a person's final say, adoption."""
from __future__ import annotations

import csv
from collections import Counter

import pytest
from sqlalchemy import select

from ledgerbridge.cli import main
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import LinkStatus, Party, PartyLink
from ledgerbridge.matching import review
from ledgerbridge.registry import LegalEntity
from support import bill, bills_in_company, connect_company, hub_data, make_entity, query, sync

LISTS = {
    "accounts": [{"Name": "Supplies", "AcctNum": "6010", "AccountType": "Expense"}],
    "vendors": [{"DisplayName": "V. Smith"}, {"DisplayName": "Initech LLC"}],
    "customers": [{"DisplayName": "Vance Refrigeration"}],
}


def _entity(entity_id: str, **matching) -> LegalEntity:
    base = make_entity(entity_id)
    return base.model_copy(update={"matching": base.matching.model_copy(update=matching)})


def _link(ledger, hub_id: str) -> PartyLink:
    with ledger.session() as session:
        return session.scalars(select(PartyLink).join(Party).where(Party.hub_id == hub_id)).one()


def test_an_unclear_match_waits_for_a_person_whose_decision_survives_later_runs(ledger, qbo_server):
    entity = _entity("reviewed", create_missing_vendors=True)
    conn = connect_company(qbo_server, ledger, entity, LISTS)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00")],
                                                  vendors=[{"hub_id": "V-1", "name": "Virginia Smith"}]))
    sync(entity, ledger, conn)
    link = _link(ledger, "V-1")
    assert link.status == LinkStatus.REVIEW  # "V. Smith" may be her: nobody creates a duplicate meanwhile
    assert bills_in_company(qbo_server, conn, ledger) == []
    assert Counter(v["DisplayName"] for v in query(qbo_server, conn, ledger, "SELECT * FROM Vendor"))["Virginia Smith"] == 0

    with ledger.session() as session:
        review.confirm(session, "reviewed", "V-1", link.candidates[0]["external_id"], actor="alice")
    sync(entity, ledger, conn)
    sync(entity, ledger, conn)

    after = _link(ledger, "V-1")
    assert (after.status, after.decided_by, after.external_id) == (LinkStatus.LINKED, "alice", link.candidates[0]["external_id"])
    (exported,) = bills_in_company(qbo_server, conn, ledger)
    assert exported["VendorRef"]["value"] == after.external_id


def test_create_new_creates_the_party_once_beside_its_rejected_candidate(ledger, qbo_server):
    entity = _entity("rejected", create_missing_vendors=True)
    conn = connect_company(qbo_server, ledger, entity, LISTS)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00")],
                                                  vendors=[{"hub_id": "V-1", "name": "Virginia Smith"}]))
    sync(entity, ledger, conn)
    with ledger.session() as session:
        review.create_new(session, "rejected", "V-1", actor="bob")
    sync(entity, ledger, conn)
    sync(entity, ledger, conn)

    names = Counter(v["DisplayName"] for v in query(qbo_server, conn, ledger, "SELECT * FROM Vendor"))
    assert names["Virginia Smith"] == 1 and names["V. Smith"] == 1
    assert _link(ledger, "V-1").status == LinkStatus.LINKED
    assert len(bills_in_company(qbo_server, conn, ledger)) == 1


def test_reject_keeps_the_party_out_of_the_accounting_system_and_is_final(ledger, qbo_server):
    entity = _entity("kept_out", create_missing_vendors=True)
    conn = connect_company(qbo_server, ledger, entity, LISTS)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00")],
                                                  vendors=[{"hub_id": "V-1", "name": "Virginia Smith"}]))
    sync(entity, ledger, conn)
    with ledger.session() as session:
        said = review.reject(session, "kept_out", "V-1", actor="airflow:bob")
    assert "not created" in said
    sync(entity, ledger, conn)
    sync(entity, ledger, conn)

    names = Counter(v["DisplayName"] for v in query(qbo_server, conn, ledger, "SELECT * FROM Vendor"))
    assert names["Virginia Smith"] == 0 and names["V. Smith"] == 1
    link = _link(ledger, "V-1")
    assert (link.status, link.method, link.decided_by) == (LinkStatus.UNMATCHED, review.REJECTED, "airflow:bob")
    assert bills_in_company(qbo_server, conn, ledger) == []
    with ledger.session() as session, pytest.raises(review.ReviewError, match="decisions are final"):
        review.create_new(session, "kept_out", "V-1", actor="airflow:eve")


def test_create_new_is_refused_where_the_connector_cannot_create_parties(ledger):
    with ledger.session() as session, pytest.raises(review.ReviewError, match="file drop"):
        review.create_new(session, "desk", "V-1", actor="airflow:bob", creates_parties=False)


def test_accounting_only_parties_are_adopted_into_the_hub_once(ledger, qbo_server):
    entity = _entity("adopter", adopt_accounting_parties=True)
    conn = connect_company(qbo_server, ledger, entity, LISTS)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([], vendors=[{"hub_id": "V-1", "name": "Initech"}]))
    sync(entity, ledger, conn)
    sync(entity, ledger, conn)
    with ledger.session() as session:
        parties = {(p.kind, p.name): p.link for p in session.scalars(select(Party).where(Party.entity_id == "adopter"))}
    assert parties[("vendor", "Initech")].method in ("name", "email+name")  # matched, not adopted twice
    assert parties[("vendor", "V. Smith")].method == "adopted"
    assert parties[("customer", "Vance Refrigeration")].status == LinkStatus.LINKED
    assert len(parties) == 3


def test_match_cli_writes_the_pairs_file(tmp_path, capsys):
    hub, accounting, out = tmp_path / "hub.csv", tmp_path / "acc.csv", tmp_path / "pairs.csv"
    hub.write_text("id,name,kind,email\nH1,\"Brown, Nick\",vendor,\nH2,Virginia Smith,vendor,\nH3,Nobody Known,vendor,\n")
    accounting.write_text("id,name,kind\nQ1,Nick Brown,vendor\nQ2,V. Smith,vendor\n")
    assert main(["match", str(hub), str(accounting), "--out", str(out)]) == 0
    rows = {r["hub_id"]: r for r in csv.DictReader(out.open())}
    assert list(rows["H1"].values())[1:] == ["Q1", "1.0000", "auto"]
    assert (rows["H2"]["accounting_id"], rows["H2"]["decision"]) == ("Q2", "review")
    assert (rows["H3"]["accounting_id"], rows["H3"]["score"], rows["H3"]["decision"]) == ("", "", "none")
    assert "1 auto, 1 review, 1 none" in capsys.readouterr().out


def test_the_match_preview_reports_a_row_without_a_name_and_matches_the_rest(tmp_path, capsys):
    hub, accounting, out = tmp_path / "hub.csv", tmp_path / "acc.csv", tmp_path / "pairs.csv"
    hub.write_text("id,name\nH1,\"Brown, Nick\"\nH2,\nH3,Virginia Smith\nH3,Virginia Smyth\n")
    accounting.write_text("id,name\nQ1,Nick Brown\nQ2,\n")
    assert main(["match", str(hub), str(accounting), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert f"skipped: {hub}, line 3: column 'name' is empty" in said.err
    assert f"skipped: {hub}, line 5: id 'H3' appears twice" in said.err
    assert f"skipped: {accounting}, line 3: column 'name' is empty" in said.err
    assert "2 hub parties against 1: 1 auto, 0 review, 1 none" in said.out and "3 row(s) left out" in said.out
    assert [row["hub_id"] for row in csv.DictReader(out.open())] == ["H1", "H3"]


def test_review_cli_lists_and_refuses_a_second_link_to_one_party(ledger, ledger_url, qbo_server, monkeypatch, capsys):
    entity = _entity("reviewcli")
    conn = connect_company(qbo_server, ledger, entity, LISTS)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([], vendors=[{"hub_id": "V-1", "name": "Virginia Smith"},
                                                               {"hub_id": "V-2", "name": "Valerie Smith"}]))
    sync(entity, ledger, conn)
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    assert main(["review", "list", "--entity", "reviewcli"]) == 0
    listing = capsys.readouterr().out
    assert "V-1 'Virginia Smith'" in listing and "V. Smith" in listing
    smith = _link(ledger, "V-1").candidates[0]["external_id"]
    assert main(["review", "confirm", "reviewcli", "V-1", smith]) == 0
    assert main(["review", "confirm", "reviewcli", "V-2", smith]) == 1
    assert "one to one" in capsys.readouterr().err


def test_a_creation_the_accounting_system_refuses_goes_to_review_and_is_not_retried(ledger, qbo_server):
    """An employee's name is not in the mirror, so only QuickBooks knows it is taken (6240)."""
    entity = _entity("refusal", create_missing_vendors=True)
    conn = connect_company(qbo_server, ledger, entity, {**LISTS, "employees": []})
    qbo_server.sandbox.realms[conn.schema].write("employee", {"DisplayName": "Pam Beesly", "GivenName": "Pam",
                                                              "FamilyName": "Beesly"})
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00")],
                                                  vendors=[{"hub_id": "V-1", "name": "Pam Beesly"}]))
    sync(entity, ledger, conn)
    second = sync(entity, ledger, conn)

    link = _link(ledger, "V-1")
    assert link.status == LinkStatus.REVIEW and "6240" in link.note
    assert second["match_parties"]["party_creation"]["sent"] == 0  # refused once, not hammered every run
    assert bills_in_company(qbo_server, conn, ledger) == []


def test_create_new_after_a_refused_creation_is_a_new_attempt_once_the_cause_is_fixed(ledger, qbo_server):
    entity = _entity("refused_then_fixed", create_missing_vendors=True)
    conn = connect_company(qbo_server, ledger, entity, {**LISTS, "employees": []})
    books = qbo_server.sandbox.realms[conn.schema]
    books.write("employee", {"DisplayName": "Pam Beesly", "GivenName": "Pam", "FamilyName": "Beesly"})
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00")],
                                                  vendors=[{"hub_id": "V-1", "name": "Pam Beesly"}]))
    sync(entity, ledger, conn)
    assert _link(ledger, "V-1").status == LinkStatus.REVIEW

    # The fix, in QuickBooks: the employee is renamed. Then a person asks for the vendor again.
    employee = next(iter(books.objects["Employee"].values()))
    employee["DisplayName"] = "Pam Halpert"
    with ledger.session() as session:
        review.create_new(session, "refused_then_fixed", "V-1", actor="airflow:pam")
    sync(entity, ledger, conn)
    sync(entity, ledger, conn)

    names = Counter(v["DisplayName"] for v in query(qbo_server, conn, ledger, "SELECT * FROM Vendor"))
    assert names["Pam Beesly"] == 1
    assert _link(ledger, "V-1").status == LinkStatus.LINKED
    assert len(bills_in_company(qbo_server, conn, ledger)) == 1


def test_a_duplicate_in_the_hub_is_never_created_beside_its_twin(ledger, qbo_server):
    entity = _entity("twins", create_missing_vendors=True)
    conn = connect_company(qbo_server, ledger, entity, LISTS)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data(
            [bill("B-1", "V-1", "10.00"), bill("B-2", "V-2", "11.00")],
            vendors=[{"hub_id": "V-1", "name": "Initech LLC"}, {"hub_id": "V-2", "name": "INITECH, L.L.C."}]))
    sync(entity, ledger, conn)
    sync(entity, ledger, conn)

    names = [v["DisplayName"] for v in query(qbo_server, conn, ledger, "SELECT * FROM Vendor")]
    assert sorted(names) == ["Initech LLC", "V. Smith"]
    links = {hub_id: _link(ledger, hub_id) for hub_id in ("V-1", "V-2")}
    assert sorted(link.status for link in links.values()) == [LinkStatus.LINKED, LinkStatus.REVIEW]
    twin = next(link for link in links.values() if link.status == LinkStatus.REVIEW)
    assert "already linked" in twin.note


def test_a_hub_party_without_a_name_is_held_alone_at_intake(ledger):
    from ledgerbridge.ledger import quarantine
    from ledgerbridge.sources.intake import records_of_mapping, take_in

    entity = _entity("nameless")
    with ledger.session() as session:
        take_in(session, entity, records_of_mapping({"vendors": [{"hub_id": "V-1", "name": "  "},
                                                                 {"hub_id": "V-2", "name": "Initech"}]}))
    with ledger.session() as session:
        assert [p.hub_id for p in session.scalars(select(Party).where(Party.entity_id == "nameless"))] == ["V-2"]
        [held] = quarantine.listing(session, "nameless", frozenset()).items
    assert (held.entry.dataset, held.entry.record_key) == ("source.vendors", "V-1")
    assert held.entry.reasons[0]["field"] == "name"
