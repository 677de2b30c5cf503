"""Exactly once when answers are lost: the bill is committed in QuickBooks, the connection drops."""
from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import replace

from sqlalchemy import select

from dropping_proxy import DroppingProxy
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxEntry, OutboxState
from ledgerbridge.pipeline import run_all
from support import bill, bills_in_company, connect_company, context, hub_data, make_entity


def _through(proxy, conn):
    return replace(conn, host=proxy.url, extra={**conn.extra, "token_url": f"{proxy.url}/oauth2/v1/tokens/bearer"})


def _bill_creates(request: bytes) -> bool:
    return request.startswith(b"POST ") and b"/bill?" in request.split(b"\r\n", 1)[0]


def test_a_dropped_answer_is_retried_with_the_same_requestid_and_creates_nothing_twice(ledger, qbo_server):
    entity = make_entity("dropped")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill(f"B-{n}", "V-1", f"{n}.00") for n in range(1, 7)]))
    first_attempts = itertools.count()
    # Every other bill create loses its first answer (the bill exists; the client hears nothing).
    proxy = DroppingProxy(qbo_server.url, lambda r: _bill_creates(r) and next(first_attempts) % 3 == 0)
    try:
        report = run_all(context(entity, ledger, _through(proxy, conn)))
    finally:
        proxy.close()

    assert proxy.dropped >= 2
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {
        f"B-{n}": 1 for n in range(1, 7)}
    assert report["export_documents"]["confirmed"] == 6
    assert qbo_server.sandbox.realms[conn.schema].requestid_replays >= proxy.dropped


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

    # The send step could not know; the look-up in collect_confirmations found the bill.
    assert report["export_documents"]["uncertain"] == 1
    assert report["collect_confirmations"]["settled_by_lookup"] == 1
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"OK-1": 1, "DARK": 1}
    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.target == "Bill")).all()
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


def test_under_injected_faults_every_bill_lands_exactly_once(ledger):
    """10% 429, 5% 500 and 3% slow commits (answer after the client's read timeout), 150 bills."""
    from ledgerbridge.sandbox.qbo import Faults, QBOSandbox, serve_in_thread
    from support import CLIENT_ID, CLIENT_SECRET

    server = serve_in_thread(QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, rate_limits=False))
    try:
        entity = make_entity("faulty")
        conn = connect_company(server, ledger, entity)
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data([bill(f"F-{n:04d}", "V-1", f"{n}.25") for n in range(1, 151)]))
        server.sandbox.faults = Faults(throttle_rate=0.10, error_rate=0.05, slow_commit_rate=0.03,
                                       slow_commit_seconds=1.5, seed=7)
        options = {"timeout": (2, 0.5), "max_attempts": 8}
        reports = [run_all(context(entity, ledger, conn, client_options=options)) for _ in range(2)]
        server.sandbox.faults = Faults()
        run_all(context(entity, ledger, conn))  # settles whatever the faults left uncertain
    finally:
        server.stop()

    numbers = Counter(b["DocNumber"] for b in server.sandbox.realms[conn.schema].objects["Bill"].values())
    assert len(numbers) == 150 and set(numbers.values()) == {1}  # all there, none twice
    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.target == "Bill")).all()
    assert len(rows) == 150 and {r.state for r in rows} == {OutboxState.CONFIRMED}
    assert reports[0]["export_documents"]["sent"] > 0
    # The faults did bite: slow commits were answered again from the requestid memory.
    assert server.sandbox.realms[conn.schema].requestid_replays > 0
    assert max(r.attempts for r in rows) >= 1
