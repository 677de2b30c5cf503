"""Where each entity stands (ledgerbridge.status): the last run and its counts, open quarantine and
reviews, refused records, reconciliation (balanced, or the difference in money) and token health;
searched, filtered, sorted and paged. Real runs against the QBO sandbox."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge import status
from ledgerbridge.connectors.errors import ReconnectRequired
from ledgerbridge.flows.reconcile import ReconciliationError
from ledgerbridge.hub_import import import_hub_data
from support import bill, company, connect_company, hub_data, make_entity, sync


@pytest.fixture
def fleet(ledger, qbo_server):
    """Three entities: one clean, one with a held bill and a party in review, one whose token is gone."""
    clean, troubled, revoked = make_entity("clean"), make_entity("troubled"), make_entity("revoked")
    conns = {}
    for entity, bills, vendors in (
            (clean, [bill("B-1", "V-1", "10.00"), bill("B-2", "V-2", "20.50")], None),
            (troubled, [bill("B-1", "V-1", "10.00"), bill("B-2", "V-1", "5.00", account="9999"),
                        bill("B-3", "V-9", "7.00")],
             [{"hub_id": "V-1", "name": "Brown, Nick"}, {"hub_id": "V-9", "name": "Nick Brown"}]),
            (revoked, [bill("B-1", "V-1", "1.00")], None)):
        conns[entity.id] = connect_company(qbo_server, ledger, entity)
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data(bills, vendors=vendors))
        sync(entity, ledger, conns[entity.id], run_id=f"scheduled__{entity.id}_1")
    broken = type(conns["revoked"])(conns["revoked"].conn_id, qbo_server.url, conns["revoked"].login,
                                    conns["revoked"].password, conns["revoked"].schema,
                                    {**conns["revoked"].extra, "refresh_token": "RT-not-issued"})
    with pytest.raises(ReconnectRequired):
        sync(revoked, ledger, broken, run_id="scheduled__revoked_2")
    return {"entities": (clean, troubled, revoked), "conns": conns}


def _page(ledger, entities, **options):
    with ledger.session() as session:
        return status.entities_page(session, entities, **options)


def test_each_entity_shows_its_last_run_counts_and_what_needs_a_person(ledger, fleet):
    page = _page(ledger, fleet["entities"])
    rows = {row.id: row for row in page.items}
    assert page.total == 3 and [row.id for row in page.items] == ["clean", "revoked", "troubled"]

    clean = rows["clean"]
    assert (clean.last_run.run_id, clean.last_run.state) == ("scheduled__clean_1", "success")
    assert (clean.last_run.exported, clean.last_run.rejected, clean.last_run.waiting) == (2, 0, 0)
    assert (clean.reconciliation, clean.difference, clean.problems) == ("balanced", Decimal("0.00"), [])
    assert clean.dag_id == "ledgerbridge__clean" and clean.company_id

    troubled = rows["troubled"]
    assert troubled.last_run.exported == 1 and troubled.open_quarantine == 2 and troubled.open_reviews == 1
    assert troubled.problems == ["2 held", "1 to review"]  # B-3 waits on its vendor's review

    revoked = rows["revoked"]
    assert revoked.last_run.run_id == "scheduled__revoked_2" and revoked.last_run.state == "failed"
    assert revoked.last_run.failed_step == "pull_reference"
    assert "invalid_grant" in revoked.reconnect_needed
    assert revoked.problems[:2] == ["reconnect needed", "last run failed at pull_reference"]
    assert revoked.as_dict()["last_run"]["started_at"].startswith("20")


def test_search_filters_sorts_and_pages_on_the_server(ledger, fleet):
    entities = fleet["entities"]
    assert [row.id for row in _page(ledger, entities, search="TROUBLED ltd").items] == ["troubled"]
    assert [row.id for row in _page(ledger, entities, show="attention").items] == ["revoked", "troubled"]
    assert [row.id for row in _page(ledger, entities, show="reconnect").items] == ["revoked"]
    assert [row.id for row in _page(ledger, entities, sort="open_quarantine", descending=True).items][0] == "troubled"
    second = _page(ledger, entities, offset=1, limit=1)
    assert (second.total, [row.id for row in second.items]) == (3, ["revoked"])
    with pytest.raises(ValueError, match="sort must be one of"):
        _page(ledger, entities, sort="drop table")
    with pytest.raises(ValueError, match="limit must be between 1 and 500"):
        _page(ledger, entities, limit=100000)


def test_a_reconciliation_that_fails_keeps_its_report_and_shows_the_difference(ledger, qbo_server, fleet):
    clean = fleet["entities"][0]
    conn = fleet["conns"]["clean"]
    books = company(qbo_server, conn)
    stored = next(b for b in books.objects["Bill"].values() if b.get("DocNumber") == "B-2")
    stored["TotalAmt"] = Decimal("18.50")  # someone edits the bill in QuickBooks: 2.00 less than the hub's
    with pytest.raises(ReconciliationError):
        sync(clean, ledger, conn, run_id="scheduled__clean_2")

    row = {row.id: row for row in _page(ledger, fleet["entities"]).items}["clean"]
    assert (row.reconciliation, row.difference, row.mismatches) == ("unbalanced", Decimal("2.00"), 1)
    assert "not balanced" in row.problems
    with ledger.session() as session:
        report = status.reconciliation(session, "clean", "scheduled__clean_2")
        earlier = status.reconciliation(session, "clean", "scheduled__clean_1")
        assert status.reconciliation(session, "clean", "no_such_run") is None
    assert report["verdict"] == "unbalanced" and report["status"] == "failed" and report["difference"] == "2.00"
    assert "B-2" in report["mismatches"][0]
    bills = next(kind for kind in report["kinds"] if kind["kind"] == "bill")
    assert bills["approved"] == 2 and bills["hub_total_of_confirmed"] == "30.50"
    assert earlier["verdict"] == "balanced" and earlier["difference"] == "0.00"


def test_a_file_drop_inbound_run_leaves_the_entitys_last_sync_run_as_it_was(ledger, fleet):
    """The inbound DAG runs pull_reference, collect_confirmations and write_back under its own run id: the
    entity's standing stays that of its last sync run (which starts with pull_source)."""
    from ledgerbridge.pipeline import run_step
    from support import context

    clean = fleet["entities"][0]
    inbound = context(clean, ledger, fleet["conns"]["clean"], run_id="asset_triggered__2026-12-03T10:00:00")
    for step in ("pull_reference", "collect_confirmations", "write_back"):
        run_step(inbound, step)
    row = {row.id: row for row in _page(ledger, fleet["entities"]).items}["clean"]
    assert (row.last_run.run_id, row.last_run.state, row.reconciliation) == ("scheduled__clean_1", "success", "balanced")


def test_a_report_older_than_hub_totals_has_no_difference_rather_than_a_wrong_one():
    from ledgerbridge.flows.reconcile import difference

    old = {"mismatches": [], "accounting_total_of_confirmed_bills": Decimal("1234.50")}
    assert difference(old) is None
    assert difference({**old, "hub_total_of_confirmed_bills": Decimal("1234.50"), "compared": True}) == 0
