"""Exactly once into Xero under chaos: 2,000 bills through the real export flow (the outbox, over HTTP
to the Xero sandbox on loopback) while the sandbox injects 429s, 500s and commits whose answer is
lost, and in the first round a proxy loses every answer of two whole batches; the export is re-run
until everything settles. Afterwards every bill is in the organisation once, with its exact total, and every outbox row
is confirmed with the InvoiceID Xero gave it.

Time: the sandbox's limits are raised to 6,000 calls a minute (5 at once, as Xero) so the client's
limiter never waits; the client's waits (Retry-After, backoff) move the sandbox's clock on instead of
sleeping, as if the client had waited. Between rounds the sandbox's clock moves two days on: Xero's
Idempotency-Keys of the first round have expired by then (the sandbox keeps them 24 hours), so a
bill sent again without the look-up would be created twice.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from decimal import Decimal

import requests
from dropping_proxy import DroppingProxy
from ledgerbridge.connectors.errors import TransientError
from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.connectors.limits import RealmLimits
from ledgerbridge.connectors.xero.factory import xero
from ledgerbridge.context import RunContext
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxEntry, OutboxState
from ledgerbridge.pipeline import run_step
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.xero import Faults, XeroSandbox, serve_in_thread
from sqlalchemy import func, select

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-test", "test-secret"
BILLS, VENDORS = 2000, 20
LIMITS = {"per_minute": 6000, "concurrent": 5}
TWO_DAYS = 2 * 86400
LOST_BATCHES = (b'"InvoiceNumber":"X-0101"', b'"InvoiceNumber":"X-1234"')  # every answer of their batch is lost


def amount(n: int) -> Decimal:
    return Decimal(f"{n % 997 + 1}.{n * 37 % 100:02d}")


class ShiftedClock:
    """Real time plus an offset that only grows: the sandbox's clock."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def test_2000_bills_under_429s_500s_and_lost_answers_land_in_xero_exactly_once(ledger):
    clock = ShiftedClock()
    server = serve_in_thread(XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=clock, **LIMITS))
    first_round = [True]
    proxy = DroppingProxy(server.url, lambda request: first_round[0] and request.startswith(
        b"PUT /api.xro/2.0/Invoices") and any(number in request for number in LOST_BATCHES))
    try:
        tenant = requests.post(f"{server.url}/_sandbox/tenants", json={"client_id": CLIENT_ID, "name": "Chaos Ltd"},
                               timeout=10).json()
        org = server.sandbox.tenants[tenant["tenant_id"]]
        conn = ConnectionSettings("xero_chaos", proxy.url, CLIENT_ID, CLIENT_SECRET, tenant["tenant_id"],
                                  {"refresh_token": tenant["refresh_token"], "token_url": f"{server.url}/connect/token"})
        entity = LegalEntity.model_validate({
            "id": "chaos", "name": "Chaos Ltd", "base_currency": "USD",
            "accounting": {"kind": "xero", "conn_id": conn.conn_id},
            "flows": ["reference", "parties", "bills"], "matching": {"create_missing_vendors": True}})
        with ledger.session() as session:
            import_hub_data(session, entity, {
                "vendors": [{"hub_id": f"V-{v}", "name": f"Chaos Vendor {v}"} for v in range(1, VENDORS + 1)],
                "bills": [{"hub_id": f"X-{n:04d}", "vendor": f"V-{n % VENDORS + 1}", "doc_number": f"X-{n:04d}",
                           "doc_date": "2026-11-02", "status": "approved",
                           "lines": [{"amount": str(amount(n)), "account": "429", "description": f"line {n}"}]}
                          for n in range(1, BILLS + 1)],
                "bill_payments": []})
        statuses: Counter = Counter()

        def connect():
            def wait(seconds: float) -> None:
                clock.advance(seconds)  # the sandbox's time moves on as if the client had waited

            connector = xero(conn, ledger, backoff_seconds=0.05, sleep=wait,
                             limits=RealmLimits(LIMITS["per_minute"], LIMITS["concurrent"], 10**6))
            connector.client.http.hooks["response"].append(lambda r, *a, **k: statuses.update([r.status_code]))
            return connector

        def context(name: str) -> RunContext:
            return RunContext(entity=entity, ledger=ledger, run_id=f"chaos-{name}-{uuid.uuid4().hex[:6]}",
                              connect=connect, log=logging.getLogger("ledgerbridge.test.xero_chaos"))

        setup = context("setup")
        for step in ("pull_reference", "check_reference", "match_parties", "prepare_exports"):
            summary = run_step(setup, step)
        assert summary["queued"] == BILLS

        server.sandbox.faults = Faults(throttle_rate=0.10, error_rate=0.05, drop_rate=0.05, seed=11)
        rounds, stopped, adopted = 0, [], 0
        while unsettled(ledger) and rounds < 6:
            rounds += 1
            ctx = context(f"round{rounds}")
            for step in ("export_documents", "collect_confirmations"):
                try:
                    summary = run_step(ctx, step)
                except TransientError as exc:  # as a task retried by Airflow: the next round goes on
                    stopped.append(f"round {rounds} {step}: {exc}")
                    continue
                adopted += summary.get("adopted", 0) + summary.get("settled_by_lookup", 0)
            first_round[0] = False
            clock.advance(TWO_DAYS)  # the next round comes two days later: the keys sent so far have expired
        server.sandbox.faults = Faults()
        report = run_step(context("reconcile"), "reconcile")
    finally:
        proxy.close()
        server.stop()

    replays = server.sandbox.stats(org.tenant_id)["idempotency_replays"]
    print(f"{rounds} round(s), {org.api_requests} calls: {dict(statuses)}; {proxy.dropped} answers lost, "
          f"{replays} replayed by Idempotency-Key, {adopted} bills adopted by look-up; steps stopped: {stopped}")
    assert not unsettled(ledger), f"still unsettled after {rounds} rounds ({stopped})"
    invoices = [i for i in org.records["Invoices"].values() if i["Type"] == "ACCPAY"]
    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "bill")).all()
        keys = {row.idempotency_key: (row.doc_number, row.state, row.external_id) for row in rows}
    # Every bill once, by count and by the supplier's number (Xero keeps no Reference on a bill: its
    # number, supplier and date are how the look-up finds it).
    assert len(invoices) == BILLS
    assert Counter(i["InvoiceNumber"] for i in invoices) == Counter(f"X-{n:04d}" for n in range(1, BILLS + 1))
    # Exact money, bill by bill and in total.
    assert {i["InvoiceNumber"]: i["Total"] for i in invoices} == {f"X-{n:04d}": amount(n) for n in range(1, BILLS + 1)}
    expected_total = sum((amount(n) for n in range(1, BILLS + 1)), Decimal(0))
    assert sum((i["Total"] for i in invoices), Decimal(0)) == expected_total
    assert report["accounting_total_of_confirmed_bills"] == expected_total and report["mismatches"] == []
    # The ledger: each row confirmed with the InvoiceID of the invoice of its number.
    assert {state for _, state, _ in keys.values()} == {OutboxState.CONFIRMED}
    assert {doc_number: external_id for doc_number, _, external_id in keys.values()} == {
        i["InvoiceNumber"]: i["InvoiceID"] for i in invoices}
    # The chaos did bite: throttled, failed and lost answers, recovered by replay and by look-up.
    assert statuses[429] > 0 and statuses[500] > 0
    assert proxy.dropped > 10 and replays > 0
    assert adopted >= 2 * 50  # the two batches whose every answer was lost, at least


def unsettled(ledger) -> int:
    with ledger.session() as session:
        return session.scalar(select(func.count(OutboxEntry.id)).where(
            OutboxEntry.kind == "bill", OutboxEntry.state != OutboxState.CONFIRMED))

