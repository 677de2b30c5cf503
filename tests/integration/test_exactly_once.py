"""Exactly once when answers are lost: the bill is committed in QuickBooks, the connection drops."""
from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import replace

from dropping_proxy import DroppingProxy
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxEntry, OutboxState
from ledgerbridge.pipeline import run_all
from sqlalchemy import select
from support import (
    bill,
    bills_in_company,
    connect_company,
    context,
    hub_data,
    make_entity,
)


def _through(proxy, conn):
    return replace(conn, host=proxy.url, extra={**conn.extra, "token_url": f"{proxy.url}/oauth2/v1/tokens/bearer"})


def _bill_creates(request: bytes) -> bool:
    """A batch request creating bills (bills leave in batches of up to 30)."""
    return (request.startswith(b"POST ") and b"/batch?" in request.split(b"\r\n", 1)[0]
            and b'"Bill":' in request)


def test_a_dropped_answer_is_retried_with_the_same_requestid_and_creates_nothing_twice(ledger, qbo_server):
    entity = make_entity("dropped")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill(f"B-{n}", "V-1", f"{n}.00") for n in range(1, 41)]))
    attempts = itertools.count()
    # Each of the two batches loses its first answer (its bills exist; the client hears nothing).
    proxy = DroppingProxy(qbo_server.url, lambda r: _bill_creates(r) and next(attempts) % 2 == 0)
    replays_before = qbo_server.sandbox.realms[conn.schema].requestid_replays
    try:
        report = run_all(context(entity, ledger, _through(proxy, conn)))
    finally:
        proxy.close()

    assert proxy.dropped == 2
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {
        f"B-{n}": 1 for n in range(1, 41)}
    assert report["export_documents"]["confirmed"] == 40
    # The repeats were answered from the batch requestid + bId memory, item by item.
    assert qbo_server.sandbox.realms[conn.schema].requestid_replays - replays_before == 40


def test_an_answer_lost_on_every_attempt_ends_uncertain_and_is_settled_by_lookup(ledger, qbo_server):
    entity = make_entity("lost")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("OK-1", "V-1", "1.00"), bill("DARK", "V-2", "2.00")]))
    proxy = DroppingProxy(qbo_server.url, lambda r: _bill_creates(r) and b'"DocNumber":"DARK"' in r)
    try:
        ctx = context(entity, ledger, _through(proxy, conn), client_options={"max_attempts": 2})
        report = run_all(ctx)
    finally:
        proxy.close()

    # The whole batch's answer was lost: the send step could not know; the look-up in
    # collect_confirmations found both bills.
    assert report["export_documents"]["uncertain"] == 2
    assert report["collect_confirmations"]["settled_by_lookup"] == 2
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"OK-1": 1, "DARK": 1}
    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill")).all()
        assert {r.state for r in rows} == {OutboxState.CONFIRMED}
        dark = next(r for r in rows if json.dumps(r.payload, default=str).count("DARK"))
        assert dark.attempts == 1 and dark.external_id


def test_a_create_that_may_have_landed_stays_uncertain_whatever_fails_after_it(ledger, qbo_server):
    """Lost answer, then the company's authorisation breaks: the bill is not put back to `pending`
    (which would re-send it blindly later) but marked uncertain and found by the look-up."""
    entity = make_entity("authloss")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "5.00")]))
    creates = itertools.count()

    def spoil_after_first_create(request: bytes) -> bytes:
        if _bill_creates(request) and next(creates) > 0:
            request = re.sub(rb"Authorization: Bearer \S+", b"Authorization: Bearer revoked", request)
        if request.startswith(b"POST /oauth2/"):
            # Same length: the body's Content-Length must stay true.
            request = re.sub(rb"refresh_token=([^&\s]+)", lambda m: b"refresh_token=" + b"x" * len(m.group(1)),
                             request)
        return request

    proxy = DroppingProxy(qbo_server.url, lambda r: _bill_creates(r) and b"revoked" not in r,
                          rewrite=spoil_after_first_create)
    try:
        report = run_all(context(entity, ledger, _through(proxy, conn)))
    finally:
        proxy.close()

    assert report["export_documents"]["uncertain"] == 1
    assert report["collect_confirmations"]["settled_by_lookup"] == 1
    assert [b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)] == ["B-1"]


def test_2000_bills_under_throttling_errors_timeouts_and_dropped_answers_land_exactly_once(ledger):
    """The sandbox injects 10% 429, 5% 500, 2% commits answered after the client's read timeout and
    2% commits whose connection is cut mid-answer: afterwards every bill exists exactly once, every
    outbox row is confirmed, none lost."""
    from ledgerbridge.connectors.limits import RealmLimits
    from ledgerbridge.sandbox.qbo import Faults, QBOSandbox, serve_in_thread
    from support import CLIENT_ID, CLIENT_SECRET

    bills = 2000
    limits = {"requests_per_minute": 6000, "concurrent_requests": 10, "batch_requests_per_minute": 1200}
    server = serve_in_thread(QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, **limits))
    try:
        entity = make_entity("faulty")
        conn = connect_company(server, ledger, entity)
        vendors = [{"hub_id": f"V-{n}", "name": f"Vendor {n}"} for n in range(1, 21)]
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data(
                [bill(f"F-{n:04d}", f"V-{n % 20 + 1}", f"{n}.25") for n in range(1, bills + 1)], vendors=vendors))
        server.sandbox.faults = Faults(throttle_rate=0.10, error_rate=0.05, slow_commit_rate=0.02,
                                       slow_commit_seconds=3.5, drop_rate=0.02, seed=7)
        options = {"timeout": (2, 3), "max_attempts": 8, "limits": RealmLimits(**limits)}
        reports = [run_all(context(entity, ledger, conn, client_options=options)) for _ in range(2)]
    finally:
        server.stop()

    company = server.sandbox.realms[conn.schema]
    numbers = Counter(b["DocNumber"] for b in company.objects["Bill"].values())
    assert len(numbers) == bills and set(numbers.values()) == {1}  # all there, none twice
    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill")).all()
        assert len(rows) == bills and Counter(r.state for r in rows) == {OutboxState.CONFIRMED: bills}
        assert {r.external_id for r in rows} == set(company.objects["Bill"])
    assert reports[1]["export_documents"]["sent"] == 0
    # The faults did bite: answers were cut off after the commit, and recovered by replay or look-up.
    assert company.answers_dropped > 0 and company.requestid_replays > 0


def _held(ledger, entity, ctx, sender: str, lease_seconds: float) -> None:
    """Bills prepared, then claimed `sending` by `sender` as if its request were in flight."""
    from datetime import timedelta

    from ledgerbridge.ledger.types import utcnow
    from ledgerbridge.pipeline import run_step

    for step in ("pull_reference", "check_reference", "match_parties", "prepare_exports"):
        run_step(ctx, step)
    with ledger.session() as session:
        for row in session.scalars(select(OutboxEntry).where(OutboxEntry.entity_id == entity.id,
                                                             OutboxEntry.kind == "bill")):
            row.state, row.claimed_by = OutboxState.SENDING, sender
            row.claim_expires_at = utcnow() + timedelta(seconds=lease_seconds)


def test_rows_another_run_holds_are_waited_for_and_taken_over_when_its_lease_ends(ledger, qbo_server):
    """Another run was sending these bills (its worker died, its lease runs on): this run does not end
    with them stuck; it waits for the lease to end, looks them up, then sends each once."""
    from ledgerbridge.pipeline import run_step

    entity = make_entity("leased")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill(f"L-{n}", "V-1", f"{n}.00") for n in range(1, 4)]))
    ctx = context(entity, ledger, conn)
    _held(ledger, entity, ctx, "another-run", lease_seconds=1.5)

    report = run_step(ctx, "export_documents")

    assert (report["waited_for"], report["taken_over"]) == (3, 0)
    assert report["sent"] == 3 and report["confirmed"] == 3
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"L-1": 1, "L-2": 1, "L-3": 1}


def test_rows_another_run_settles_while_this_one_waits_are_not_sent_again(ledger, qbo_server):
    import threading

    from ledgerbridge.pipeline import run_step

    entity = make_entity("settled_meanwhile")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("S-1", "V-1", "1.00")]))
    ctx = context(entity, ledger, conn)
    _held(ledger, entity, ctx, "another-run", lease_seconds=30)  # bounded, should the confirmation never come

    def the_other_run_confirms():
        with ledger.session() as session:
            row = session.scalars(select(OutboxEntry).where(OutboxEntry.entity_id == entity.id,
                                                            OutboxEntry.kind == "bill")).one()
            row.state, row.external_id, row.claimed_by, row.claim_expires_at = OutboxState.CONFIRMED, "777", None, None

    timer = threading.Timer(0.5, the_other_run_confirms)
    timer.start()
    report = run_step(ctx, "export_documents")
    timer.join()

    assert (report["waited_for"], report["sent"]) == (1, 0)
    assert bills_in_company(qbo_server, conn, ledger) == []  # the other run's (test-made) confirmation stands


def test_a_retry_takes_over_at_once_what_its_earlier_try_held_when_its_worker_died(ledger, qbo_server):
    """The try that claimed these bills was killed before it recorded anything (one landed in QuickBooks,
    two never left): its retry in the same run does not wait out the lease; it looks them up, adopts the
    one that landed and sends the two others, each once."""
    from ledgerbridge.flows.outbox import batch_key, outgoing, sender_for
    from ledgerbridge.pipeline import run_step

    entity = make_entity("killed_try")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill(f"K-{n}", "V-1", f"{n}.00") for n in range(1, 4)]))
    ctx = context(entity, ledger, conn, run_id="scheduled__killed")
    _held(ledger, entity, ctx, sender_for(ctx, ("bill",)), lease_seconds=3600)
    with ledger.session() as session:  # K-1 reached QuickBooks before the worker died, its answer lost
        first = session.scalars(select(OutboxEntry).where(OutboxEntry.entity_id == entity.id,
                                                          OutboxEntry.kind == "bill").order_by(OutboxEntry.id)).first()
    landed = ctx.connector.create_many([outgoing(first)], batch_key([first.idempotency_key]))
    assert len(landed) == 1

    retry = run_step(context(entity, ledger, conn, run_id="scheduled__killed"), "export_documents")

    assert (retry["taken_over"], retry["waited_for"]) == (3, 0)
    assert (retry["adopted"], retry["created"]) == (1, 2)
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"K-1": 1, "K-2": 1, "K-3": 1}
    with ledger.session() as session:
        assert {row.state for row in session.scalars(select(OutboxEntry).where(
            OutboxEntry.entity_id == entity.id, OutboxEntry.kind == "bill"))} == {OutboxState.CONFIRMED}


def test_a_batch_refused_as_a_whole_is_halved_and_every_record_still_lands_once(ledger, qbo_server, monkeypatch):
    """QuickBooks refuses a batch above its item limit (1040) without applying anything: the sender
    halves it instead of failing on it every run."""
    from ledgerbridge.connectors.qbo.connector import QuickBooksOnlineConnector

    monkeypatch.setattr(QuickBooksOnlineConnector, "capabilities",  # more than QuickBooks takes
                        replace(QuickBooksOnlineConnector.capabilities, batch_size=45))
    entity = make_entity("halved")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill(f"H-{n:02d}", "V-1", f"{n}.00") for n in range(1, 46)]))

    report = run_all(context(entity, ledger, conn))

    assert report["export_documents"]["confirmed"] == 45 and report["export_documents"]["rejected"] == 0
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {
        f"H-{n:02d}": 1 for n in range(1, 46)}
