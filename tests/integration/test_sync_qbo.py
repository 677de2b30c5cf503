"""A legal entity's whole sync against the QBO sandbox over HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ledgerbridge.connectors.errors import CompanyMismatch, ReconnectRequired
from ledgerbridge.context import repin
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import (
    Document,
    LegalEntityRow,
    OutboxEntry,
    OutboxState,
    PaidStatus,
    PartyLink,
    QuarantineEntry,
    QuarantineStatus,
)
from ledgerbridge.pipeline import run_all, run_step
from support import bill, bills_in_company, connect_company, context, hub_data, make_entity, query, sync


def _load(ledger, entity, data):
    with ledger.session() as session:
        return import_hub_data(session, entity, data)


def _outbox(ledger, entity_id):
    with ledger.session() as session:
        return session.scalars(select(OutboxEntry).where(OutboxEntry.entity_id == entity_id)
                               .order_by(OutboxEntry.id)).all()


def _quarantine(ledger, entity_id):
    with ledger.session() as session:
        return {q.record_key: q for q in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.entity_id == entity_id, QuarantineEntry.status == QuarantineStatus.OPEN))}


def test_approved_bills_land_exactly_once_with_ids_written_back(ledger, qbo_server):
    entity = make_entity("acme")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([
        bill("B-1", "V-1", lines=[{"amount": "1200.00", "account": "6030"},
                                  {"amount": "150.50", "account": "Consulting", "class": "Operations"}]),
        bill("B-2", "V-2", "342.19"),
        bill("B-3", "V-3", "75.25"),  # vendor created in QuickBooks: policy allows it
        bill("B-4", "V-1", "99.00", status="draft"),  # not approved: never exported
    ]))

    first = sync(entity, ledger, conn)

    remote = {b["DocNumber"]: b for b in bills_in_company(qbo_server, conn, ledger)}
    assert sorted(remote) == ["B-1", "B-2", "B-3"]
    assert remote["B-1"]["TotalAmt"] == Decimal("1350.50")
    assert remote["B-2"]["TotalAmt"] == Decimal("342.19")
    vendors = {v["Id"]: v["DisplayName"] for v in query(qbo_server, conn, ledger, "SELECT * FROM Vendor")}
    assert vendors[remote["B-1"]["VendorRef"]["value"]] == "Nick Brown"  # "Brown, Nick" matched by name
    assert vendors[remote["B-2"]["VendorRef"]["value"]] == "Dunder Mifflin Paper"
    assert vendors[remote["B-3"]["VendorRef"]["value"]] == "Globochem Supplies"
    with ledger.session() as session:
        documents = {d.hub_id: d for d in session.scalars(select(Document))}
    for hub_id in ("B-1", "B-2", "B-3"):
        assert documents[hub_id].external_id == remote[hub_id]["Id"]
        assert documents[hub_id].synced_at is not None
    assert documents["B-4"].external_id is None
    assert first["export_documents"]["created"] == 3
    assert first["reconcile"]["bills"]["buckets"] == {"confirmed": 3}
    assert first["reconcile"]["mismatches"] == []

    # A second run changes nothing, here or there.
    before = Counter(company_objects(qbo_server, conn))
    outbox_before = [(r.id, r.state, r.external_id, r.attempts) for r in _outbox(ledger, "acme")]
    second = sync(entity, ledger, conn)
    assert Counter(company_objects(qbo_server, conn)) == before
    assert [(r.id, r.state, r.external_id, r.attempts) for r in _outbox(ledger, "acme")] == outbox_before
    assert second["export_documents"]["sent"] == 0
    assert second["match_parties"]["created"] == 0


def company_objects(server, conn):
    return {entity: len(objects) for entity, objects in server.sandbox.realms[conn.schema].objects.items()}


def test_bad_bills_are_quarantined_with_reasons_and_the_good_ones_still_go(ledger, qbo_server):
    entity = make_entity("badbatch", create_missing_vendors=False)
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([
        bill("GOOD-1", "V-1", "10.00"),
        bill("TOTAL", "V-1", total="500.00", lines=[{"amount": "300.00", "account": "6010"},
                                                     {"amount": "150.00", "account": "6010"}]),
        bill("NOLINES", "V-1", lines=[], total="10.00"),
        bill("NEGATIVE", "V-1", "-5.00"),
        bill("ACCOUNT", "V-1", "10.00", account="9999"),
        bill("VENDOR", "V-3", "10.00"),  # Globochem matches nothing and may not be created
        bill("CURRENCY", "V-1", "10.00", currency="EUR"),
        bill("DOCNUMBER", "V-1", "10.00", doc_number="X" * 22),
        bill("GOOD-2", "V-2", "20.00"),
    ]))

    sync(entity, ledger, conn)

    assert sorted(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == ["GOOD-1", "GOOD-2"]
    held = _quarantine(ledger, "badbatch")
    assert set(held) == {"TOTAL", "NOLINES", "NEGATIVE", "ACCOUNT", "VENDOR", "CURRENCY", "DOCNUMBER"}
    fields = {key: {r["field"] for r in entry.reasons} for key, entry in held.items()}
    assert "total" in fields["TOTAL"]
    assert "lines" in fields["NOLINES"]
    assert "lines[1].amount" in fields["NEGATIVE"]
    assert fields["ACCOUNT"] == {"lines[1].account_code"}
    assert fields["VENDOR"] == {"vendor"}
    assert fields["CURRENCY"] == {"currency"}
    assert fields["DOCNUMBER"] == {"doc_number"}
    vendor_reason = held["VENDOR"].reasons[0]["problem"]
    assert "Globochem Supplies" in vendor_reason and "create_missing_vendors" in vendor_reason


def test_a_quarantined_bill_fixed_upstream_is_exported_on_the_next_run(ledger, qbo_server):
    entity = make_entity("fixed")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([bill("B-9", "V-1", "10.00", account="9999")]))
    sync(entity, ledger, conn)
    assert "B-9" in _quarantine(ledger, "fixed")

    with ledger.session() as session:
        document = session.scalars(select(Document).where(Document.hub_id == "B-9")).one()
        document.lines[0].account_code = "6010"
    sync(entity, ledger, conn)

    assert [b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)] == ["B-9"]
    assert _quarantine(ledger, "fixed") == {}


def test_partial_bill_payment_is_applied_and_the_paid_status_flows_back(ledger, qbo_server):
    entity = make_entity("payer")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data(
        [bill("B-1", "V-1", "1000.00"), bill("B-2", "V-2", "40.00")],
        payments=[
            {"hub_id": "P-1", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "600.00",
             "bank_account": "1000", "applied": {"B-1": "600.00"}},
            {"hub_id": "P-2", "vendor": "V-2", "payment_date": "2026-11-20", "amount": "40.00",
             "bank_account": "Operating Bank", "applied": {"B-2": "40.00"}},
            {"hub_id": "P-OVER", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "500.00",
             "bank_account": "1000", "applied": {"B-1": "500.00"}},  # 600 + 500 > 1000
        ]))

    sync(entity, ledger, conn)

    remote = {b["DocNumber"]: b for b in bills_in_company(qbo_server, conn, ledger)}
    assert remote["B-1"]["Balance"] == Decimal("400.00")
    assert remote["B-2"]["Balance"] == Decimal("0")
    payments = query(qbo_server, conn, ledger, "SELECT * FROM BillPayment")
    assert sorted(p["TotalAmt"] for p in payments) == [Decimal("40.00"), Decimal("600.00")]
    assert "P-OVER" in _quarantine(ledger, "payer")
    with ledger.session() as session:
        documents = {d.hub_id: d for d in session.scalars(select(Document))}
    assert (documents["B-1"].paid_status, documents["B-1"].open_balance) == (PaidStatus.PARTIALLY_PAID, Decimal("400"))
    assert documents["B-2"].paid_status == PaidStatus.PAID


def test_a_worker_killed_mid_send_never_duplicates(ledger, qbo_server):
    """A row left `sending` is looked up first: adopted when it landed, sent when it did not."""
    entity = make_entity("crash")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([bill("LANDED", "V-1", "10.00")]))
    sync(entity, ledger, conn)
    # The worker died after LANDED reached QuickBooks but before its answer was recorded ...
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill")).one()
        row.state, row.external_id = OutboxState.SENDING, None
    # ... and after LOST was marked `sending` but before its request left.
    _load(ledger, entity, hub_data([bill("LOST", "V-2", "20.00")]))
    run_step(context(entity, ledger, conn), "prepare_exports")
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry).where(OutboxEntry.state == OutboxState.PENDING)).one()
        row.state = OutboxState.SENDING

    report = sync(entity, ledger, conn)

    docs = Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger))
    assert docs == {"LANDED": 1, "LOST": 1}
    assert (report["export_documents"]["adopted"], report["export_documents"]["created"]) == (1, 1)
    assert {r.state for r in _outbox(ledger, "crash")} == {OutboxState.CONFIRMED}


def test_entities_only_ever_reach_their_own_company(ledger, qbo_server):
    us, uk = make_entity("tenant_us"), make_entity("tenant_uk", currency="GBP")
    conn_us, conn_uk = connect_company(qbo_server, ledger, us), connect_company(qbo_server, ledger, uk)
    _load(ledger, us, hub_data([bill("US-1", "V-1", "10.00"), bill("US-2", "V-2", "11.00")]))
    _load(ledger, uk, hub_data([bill("UK-1", "V-1", "12.00")]))

    sync(us, ledger, conn_us)
    sync(uk, ledger, conn_uk)

    assert sorted(b["DocNumber"] for b in bills_in_company(qbo_server, conn_us, ledger)) == ["US-1", "US-2"]
    assert [b["DocNumber"] for b in bills_in_company(qbo_server, conn_uk, ledger)] == ["UK-1"]
    # Pointing the US entity's connection at the UK company is refused before anything is sent.
    _load(ledger, us, hub_data([bill("US-3", "V-1", "13.00")]))
    with pytest.raises(CompanyMismatch, match="tenant_us"):
        sync(us, ledger, conn_uk)
    assert [b["DocNumber"] for b in bills_in_company(qbo_server, conn_uk, ledger)] == ["UK-1"]
    with ledger.session() as session:
        assert session.get(LegalEntityRow, "tenant_us").company_id == conn_us.schema


def test_vendors_are_created_once_across_runs(ledger, qbo_server):
    entity = make_entity("creator")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([bill("B-1", "V-3", "10.00")]))
    sync(entity, ledger, conn)
    _load(ledger, entity, hub_data([bill("B-2", "V-3", "11.00")]))
    sync(entity, ledger, conn)

    names = Counter(v["DisplayName"] for v in query(qbo_server, conn, ledger, "SELECT * FROM Vendor"))
    assert names["Globochem Supplies"] == 1
    with ledger.session() as session:
        assert session.scalar(select(func.count(PartyLink.id)).where(PartyLink.method == "created")) == 1


def test_dry_run_sends_nothing(ledger, qbo_server):
    entity = make_entity("dry")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([bill("B-1", "V-1", "10.00"), bill("B-2", "V-3", "10.00")]))
    report = sync(entity, ledger, conn, dry_run=True)
    assert bills_in_company(qbo_server, conn, ledger) == []
    assert "Globochem Supplies" not in {v["DisplayName"] for v in query(qbo_server, conn, ledger,
                                                                         "SELECT * FROM Vendor")}
    assert report["export_documents"]["would_send"] == 1  # B-2 waits for its vendor


def test_a_revoked_refresh_token_fails_fast_asking_to_reconnect(ledger, qbo_server):
    entity = make_entity("revoked")
    conn = connect_company(qbo_server, ledger, entity)
    broken = type(conn)(conn.conn_id + "_other", conn.host, conn.login, conn.password, conn.schema,
                        {**conn.extra, "refresh_token": "RT-not-issued"})
    with pytest.raises(ReconnectRequired, match="reconnect the company"):
        sync(entity, ledger, broken)


def test_a_backfill_rereads_its_window_and_exports_nothing_twice(ledger, qbo_server):
    entity = make_entity("backfill")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([bill("B-1", "V-1", "10.00")]))
    sync(entity, ledger, conn)
    before = company_objects(qbo_server, conn)

    # A backfill run for a window that starts before the watermark re-reads that window ...
    ctx = context(entity, ledger, conn, run_id="backfill__2026-01-01")
    ctx.data_interval_start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    report = run_all(ctx)

    assert report["pull_reference"]["vendor"]["received"] == 3  # all vendors again (one was created)
    # ... and exports nothing twice: exports follow the outbox, not the run's dates.
    assert report["export_documents"]["sent"] == 0
    assert company_objects(qbo_server, conn) == before


def test_a_payment_of_a_bill_that_will_never_be_exported_is_quarantined_not_left_waiting(ledger, qbo_server):
    entity = make_entity("orphans")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data(
        [bill("DRAFT", "V-1", "10.00", status="draft"), bill("BAD", "V-1", "10.00", account="9999"),
         bill("LATER", "V-3", "10.00")],
        payments=[
            {"hub_id": "P-DRAFT", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "10.00",
             "bank_account": "1000", "applied": {"DRAFT": "10.00"}},
            {"hub_id": "P-BAD", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "10.00",
             "bank_account": "1000", "applied": {"BAD": "10.00"}},
        ]))

    report = sync(entity, ledger, conn, dry_run=True)  # LATER's vendor is not created: its bill waits

    held = _quarantine(ledger, "orphans")
    assert "draft, not approved" in held["P-DRAFT"].reasons[0]["problem"]
    assert "quarantined" in held["P-BAD"].reasons[0]["problem"]
    assert report["reconcile"]["bill_payments"]["buckets"] == {"quarantined": 2}
    assert report["reconcile"]["bills"]["buckets"] == {"quarantined": 1, "waiting": 1}


def test_two_entities_never_share_a_company_and_a_repin_moves_one(ledger, qbo_server):
    first, second = make_entity("share_a"), make_entity("share_b")
    conn_a = connect_company(qbo_server, ledger, first)
    _load(ledger, first, hub_data([bill("A-1", "V-1", "10.00")]))
    sync(first, ledger, conn_a)
    _load(ledger, second, hub_data([bill("B-1", "V-1", "10.00")]))
    with pytest.raises(CompanyMismatch, match="'share_a' already syncs"):
        sync(second, ledger, replace(conn_a, conn_id=second.accounting.conn_id))
    assert [b["DocNumber"] for b in bills_in_company(qbo_server, conn_a, ledger)] == ["A-1"]

    # The first entity really moves: a person re-pins it, its next run pins the new company.
    new_company = connect_company(qbo_server, ledger, first)
    with ledger.session() as session:
        assert repin(session, "share_a", actor="test") == conn_a.schema
    _load(ledger, first, hub_data([bill("A-2", "V-1", "11.00")]))
    sync(first, ledger, new_company)
    with ledger.session() as session:
        assert session.get(LegalEntityRow, "share_a").company_id == new_company.schema
    assert [b["DocNumber"] for b in bills_in_company(qbo_server, new_company, ledger)] == ["A-2"]


def test_two_entities_pinning_one_company_at_the_same_moment_one_wins_and_the_other_sends_nothing(ledger):
    """The race of a registry pointing two entities at one company, started at once: the check in _pin and
    its write are two statements, so only the database's unique index keeps both from passing."""
    import threading

    from ledgerbridge.context import pin_company

    tries = 12
    for n in range(tries):
        contexts = [context(make_entity(f"race{n}_{side}"), ledger, None) for side in "ab"]
        barrier, outcomes = threading.Barrier(2), {}

        def pin(ctx):
            barrier.wait()
            try:
                pin_company(ctx, f"RACE-{n}")
                outcomes[ctx.entity.id] = "pinned"
            except CompanyMismatch as exc:
                outcomes[ctx.entity.id] = str(exc)

        threads = [threading.Thread(target=pin, args=(ctx,)) for ctx in contexts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [entity for entity, outcome in outcomes.items() if outcome == "pinned"]
        assert len(winners) == 1, outcomes
        (loser,) = set(outcomes) - set(winners)
        assert f"which legal entity {winners[0]!r} already syncs with" in outcomes[loser]
        with ledger.session() as session:
            assert session.get(LegalEntityRow, winners[0]).company_id == f"RACE-{n}"
            assert getattr(session.get(LegalEntityRow, loser), "company_id", None) is None


def test_the_database_itself_refuses_a_second_entity_on_a_company(ledger):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with ledger.session() as session:
            for entity_id in ("held_a", "held_b"):
                session.add(LegalEntityRow(id=entity_id, name=entity_id, base_currency="USD",
                                           accounting_kind="quickbooks_online", conn_id=entity_id,
                                           company_id="ONE-COMPANY"))
                session.flush()


def test_an_amount_quickbooks_would_round_is_quarantined(ledger, qbo_server):
    entity = make_entity("cents")
    conn = connect_company(qbo_server, ledger, entity)
    _load(ledger, entity, hub_data([bill("B-1", "V-1", "10.005"), bill("B-2", "V-1", "100")]))
    sync(entity, ledger, conn)
    held = _quarantine(ledger, "cents")
    assert set(held) == {"B-1"}
    assert {(r["field"], r["expectation"]) for r in held["B-1"].reasons} == {
        ("total", "total_precision"), ("lines[1].amount", "line_amount_precision")}
    # A whole-number amount is fine, also when QuickBooks answers it without a decimal point.
    assert [(b["DocNumber"], b["TotalAmt"]) for b in bills_in_company(qbo_server, conn, ledger)] == [
        ("B-2", Decimal("100"))]
