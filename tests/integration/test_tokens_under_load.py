"""Access tokens that die every few seconds and refresh tokens that rotate on every refresh, while
four tasks export at once: nobody uses a dead refresh token, nothing is lost or sent twice."""
from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import select

from ledgerbridge.connectors.factory import quickbooks_online
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OAuthToken, OutboxEntry, OutboxState
from ledgerbridge.pipeline import run_step
from ledgerbridge.sandbox.qbo import Faults, QBOSandbox, serve_in_thread
from support import CLIENT_ID, CLIENT_SECRET, bill, connect_company, context, hub_data, make_entity

BILLS = 600
TASKS = 4
TOKEN_SECONDS = 2


def test_four_tasks_export_while_tokens_expire_and_rotate(ledger):
    server = serve_in_thread(QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, access_token_ttl=TOKEN_SECONDS,
                                        rotate_refresh_tokens=True, rate_limits=False))
    try:
        entity = make_entity("rotating")
        conn = connect_company(server, ledger, entity)
        vendors = [{"hub_id": f"V-{n}", "name": f"Vendor {n}"} for n in range(1, 11)]
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data(
                [bill(f"R-{n:04d}", f"V-{n % 10 + 1}", f"{n}.10") for n in range(1, BILLS + 1)], vendors=vendors))
        setup = context(entity, ledger, conn)
        for step in ("pull_reference", "check_reference", "match_parties", "prepare_exports"):
            run_step(setup, step)
        with ledger.session() as session:
            version_before = session.scalars(select(OAuthToken)).one().version
        server.sandbox.faults = Faults(latency_seconds=1.0)  # the export lasts longer than several tokens
        reports, errors = [], []

        def task() -> None:
            try:
                reports.append(run_step(context(entity, ledger, conn), "export_documents"))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=task) for _ in range(TASKS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        elapsed = time.monotonic() - started
        server.sandbox.faults = Faults()

        assert errors == []  # no invalid_grant, which would have raised ReconnectRequired
        with ledger.session() as session:
            rotations = session.scalars(select(OAuthToken)).one().version - version_before
            rows = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill")).all()
        assert elapsed > 2 * TOKEN_SECONDS and rotations >= 2  # tokens really did die and rotate during the export
        assert Counter(r.state for r in rows) == {OutboxState.CONFIRMED: BILLS}
        assert sum(r["sent"] for r in reports) == BILLS  # each row claimed by exactly one task
        numbers = Counter(b["DocNumber"] for b in server.sandbox.realms[conn.schema].objects["Bill"].values())
        assert len(numbers) == BILLS and set(numbers.values()) == {1}
        # No token lost: a new task, starting from what the ledger holds, still gets in after expiry.
        time.sleep(TOKEN_SECONDS)
        assert quickbooks_online(conn, ledger).client.query("SELECT count(*) FROM Bill")["totalCount"] == BILLS
    finally:
        server.stop()
