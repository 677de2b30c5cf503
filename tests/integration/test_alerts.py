"""Alerts (ledgerbridge.alerts): what needs a person after a run, said once per problem until it changes and
once when it is gone. Real runs against the QBO sandbox; what was said is kept in the ledger."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ledgerbridge import alerts
from ledgerbridge.connectors.errors import ReconnectRequired
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import SyncRun
from ledgerbridge.pipeline import run_all, run_step
from ledgerbridge.registry import LegalEntity
from support import bill, connect_company, context, hub_data, make_entity, sync


def _entity(entity_id: str, **policy) -> LegalEntity:
    raw = make_entity(entity_id).model_dump(mode="json")
    return LegalEntity.model_validate({**raw, "alerts": {"channels": [
        {"kind": "email", "conn_id": "smtp_ops", "to": ["ops@example.com"]}], **policy}})


def _after(ledger, entity, run_id, failed_tasks=()):
    """What the alerts task does after a run: what is due now, recorded as said."""
    with ledger.session() as session:
        problems, looked_at = alerts.problems_of_run(session, entity, run_id, failed_tasks=failed_tasks)
        due = alerts.due(session, entity, problems, looked_at, run_id)
    with ledger.session() as session:
        for alert in due:
            alerts.said(session, alert)
    return {alert.kind: alert for alert in due}


def _broken(conn, **extra):
    return type(conn)(conn.conn_id, conn.host, conn.login, conn.password, conn.schema, {**conn.extra, **extra})


def _run(entity, ledger, conn, run_id):
    try:
        sync(entity, ledger, conn, run_id=run_id)
    except Exception:  # noqa: BLE001 - the run failed: the alert is what is looked at
        pass


def test_a_failed_run_is_said_once_however_often_it_fails_the_same_way_and_once_when_it_succeeds(ledger, qbo_server):
    entity = _entity("failing")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00")]))
    unreachable = type(conn)(conn.conn_id, "http://127.0.0.1:9", conn.login, conn.password, conn.schema,
                             {**conn.extra, "token_url": "http://127.0.0.1:9/oauth2/v1/tokens/bearer"})

    _run(entity, ledger, unreachable, "scheduled__1")
    said = _after(ledger, entity, "scheduled__1")
    assert list(said) == [alerts.FAILED_RUN] and said[alerts.FAILED_RUN].change == "new"
    failed = said[alerts.FAILED_RUN]
    assert failed.subject == "[LedgerBridge] failing: the run failed at pull_reference"
    text = failed.text("https://airflow.example.com")
    assert "- step pull_reference failed: TransientError: POST query" in text, text
    assert "clear the failed task" in text
    assert "https://airflow.example.com/dags/ledgerbridge__failing/runs/scheduled__1" in text

    _run(entity, ledger, unreachable, "scheduled__2")  # the same failure again: nothing new to say
    assert _after(ledger, entity, "scheduled__2") == {}

    sync(entity, ledger, conn, run_id="scheduled__3")
    said = _after(ledger, entity, "scheduled__3")
    assert list(said) == [alerts.FAILED_RUN] and said[alerts.FAILED_RUN].change == "resolved"
    assert said[alerts.FAILED_RUN].subject == "[LedgerBridge] failing: resolved: runs succeed again"
    assert _after(ledger, entity, "scheduled__3") == {}  # said once


def test_a_company_to_reconnect_is_said_as_such_not_as_a_failed_run_and_its_reconnection_too(ledger, qbo_server):
    entity = _entity("revoked")
    conn = connect_company(qbo_server, ledger, entity)
    sync(entity, ledger, conn, run_id="scheduled__1")
    assert _after(ledger, entity, "scheduled__1") == {}

    with pytest.raises(ReconnectRequired):
        sync(entity, ledger, _broken(conn, refresh_token="RT-not-issued"), run_id="scheduled__2")
    said = _after(ledger, entity, "scheduled__2")
    assert list(said) == [alerts.RECONNECT]
    alert = said[alerts.RECONNECT]
    assert alert.subject == "[LedgerBridge] revoked: the QuickBooks Online company must be reconnected"
    assert "invalid_grant" in alert.text("http://af") and "connection 'qbo_revoked'" in alert.problem.action
    assert "RT-not-issued" not in alert.text("http://af")

    with pytest.raises(ReconnectRequired):
        sync(entity, ledger, _broken(conn, refresh_token="RT-not-issued"), run_id="scheduled__3")
    assert _after(ledger, entity, "scheduled__3") == {}

    sync(entity, ledger, conn, run_id="scheduled__4")
    said = _after(ledger, entity, "scheduled__4")
    assert {kind: alert.change for kind, alert in said.items()} == {alerts.RECONNECT: "resolved"}


def test_a_task_airflow_saw_fail_without_a_recorded_failure_is_a_failed_run(ledger, qbo_server):
    entity = _entity("lost_worker")
    conn = connect_company(qbo_server, ledger, entity)
    ctx = context(entity, ledger, conn, run_id="scheduled__1")
    for step in ("pull_source", "pull_reference"):
        run_step(ctx, step)
    said = _after(ledger, entity, "scheduled__1", failed_tasks=["check_reference"])
    assert list(said) == [alerts.FAILED_RUN]
    assert "task check_reference failed without LedgerBridge recording why (its step was not started)" in \
        said[alerts.FAILED_RUN].problem.facts[0]


def test_a_growing_quarantine_is_said_past_its_threshold_again_at_each_more_threshold_and_when_gone(
        ledger, qbo_server):
    entity = _entity("held", quarantine_above=2)
    conn = connect_company(qbo_server, ledger, entity)

    def held_bills(numbers):
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data([bill(f"B-{n}", "V-1", "1.00", account="9999") for n in numbers]))

    held_bills([1, 2])
    sync(entity, ledger, conn, run_id="scheduled__1")
    assert _after(ledger, entity, "scheduled__1") == {}  # 2 held: not past 2
    held_bills([1, 2, 3])
    sync(entity, ledger, conn, run_id="scheduled__2")
    said = _after(ledger, entity, "scheduled__2")
    assert list(said) == [alerts.QUARANTINE] and said[alerts.QUARANTINE].change == "new"
    assert said[alerts.QUARANTINE].problem.title == "3 records held in quarantine (threshold 2)"
    assert said[alerts.QUARANTINE].problem.facts == (
        "3 records failed a data-quality check and wait for a person: bills 3",)
    assert said[alerts.QUARANTINE].links("http://af")[0] == ("Act on it", "http://af/ledgerbridge/entities/held/quarantine")
    sync(entity, ledger, conn, run_id="scheduled__3")
    assert _after(ledger, entity, "scheduled__3") == {}  # still 3 held: said already
    held_bills([1, 2, 3, 4, 5])
    sync(entity, ledger, conn, run_id="scheduled__4")
    said = _after(ledger, entity, "scheduled__4")  # 5 held: past twice the threshold
    assert said[alerts.QUARANTINE].change == "grew" and said[alerts.QUARANTINE].problem.counts == {"open_quarantine": 5}
    with ledger.session() as session:  # a person dismisses them
        from ledgerbridge.ledger import quarantine

        for held in quarantine.listing(session, "held", frozenset()).items:
            quarantine.dismiss(session, "held", held.entry.dataset, held.entry.record_key, "ada", "a test bill")
    sync(entity, ledger, conn, run_id="scheduled__5")
    said = _after(ledger, entity, "scheduled__5")
    assert {k: a.change for k, a in said.items()} == {alerts.QUARANTINE: "resolved"}
    assert said[alerts.QUARANTINE].subject == "[LedgerBridge] held: resolved: the quarantine is back under its threshold"


def test_refused_records_are_said_with_the_systems_error_and_new_refusals_again(ledger, qbo_server):
    from ledgerbridge.connectors.factory import quickbooks_online

    entity = _entity("refusing")
    conn = connect_company(qbo_server, ledger, entity)
    client = quickbooks_online(conn, ledger).client
    vendor = client.query("SELECT * FROM Vendor WHERE DisplayName = 'Nick Brown'")["Vendor"][0]["Id"]
    account = client.query("SELECT * FROM Account WHERE AcctNum = '6010'")["Account"][0]["Id"]

    def run_while_someone_types(run_id, numbers):
        """The bills go out under numbers someone typed by hand meanwhile, after the gate looked: QBO 6140."""
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data([bill(f"B-{n}", "V-1", "5.00", doc_number=f"NB-{n}")
                                                       for n in numbers]))
        ctx = context(entity, ledger, conn, run_id=run_id)
        for step in ("pull_source", "pull_reference", "check_reference", "match_parties", "prepare_exports"):
            run_step(ctx, step)
        for n in numbers:
            client.create("Bill", {"VendorRef": {"value": vendor}, "DocNumber": f"NB-{n}", "Line": [
                {"Amount": "5.00", "DetailType": "AccountBasedExpenseLineDetail",
                 "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]}, request_id=f"typed-{n}")
        for step in ("export_documents", "export_payments", "collect_confirmations", "write_back", "reconcile"):
            run_step(ctx, step)

    run_while_someone_types("scheduled__1", [1])
    said = _after(ledger, entity, "scheduled__1")
    assert list(said) == [alerts.REFUSED]
    problem = said[alerts.REFUSED].problem
    assert problem.title == "1 record refused by QuickBooks Online"
    assert problem.facts[0] == "QuickBooks Online refused: bill 1"
    assert problem.facts[1].startswith("bill:B-1: ") and "6140" in problem.facts[1]
    assert "Retry" in problem.action

    sync(entity, ledger, conn, run_id="scheduled__2")
    assert _after(ledger, entity, "scheduled__2") == {}
    run_while_someone_types("scheduled__3", [2])
    said = _after(ledger, entity, "scheduled__3")
    assert said[alerts.REFUSED].change == "grew" and said[alerts.REFUSED].problem.counts == {"refused": 2}


def test_a_run_over_its_expected_time_is_late(ledger, qbo_server):
    entity = _entity("slow", expected_minutes=30)
    conn = connect_company(qbo_server, ledger, entity)
    sync(entity, ledger, conn, run_id="scheduled__1")
    assert _after(ledger, entity, "scheduled__1") == {}
    sync(entity, ledger, conn, run_id="scheduled__2")
    with ledger.session() as session:  # as if its first step had started 50 minutes before the last ended
        first = session.scalars(select(SyncRun).where(SyncRun.run_id == "scheduled__2", SyncRun.step == "pull_source")
                                ).one()
        first.started_at -= timedelta(minutes=50)
    said = _after(ledger, entity, "scheduled__2")
    assert list(said) == [alerts.LATE_RUN]
    assert said[alerts.LATE_RUN].problem.title == "a run took 50 min (expected under 30 min)"
    sync(entity, ledger, conn, run_id="scheduled__3")
    assert {k: a.change for k, a in _after(ledger, entity, "scheduled__3").items()} == {alerts.LATE_RUN: "resolved"}


def test_a_failed_run_neither_says_nor_resolves_late_and_seconds_past_the_limit_read_as_late(ledger, qbo_server):
    entity = _entity("late_then_failing", expected_minutes=1)
    conn = connect_company(qbo_server, ledger, entity)
    sync(entity, ledger, conn, run_id="scheduled__1")
    with ledger.session() as session:  # 61 s: a whole minute past would read "1 min (expected under 1 min)"
        first = session.scalars(select(SyncRun).where(SyncRun.run_id == "scheduled__1", SyncRun.step == "pull_source")
                                ).one()
        last = session.scalars(select(SyncRun).where(SyncRun.run_id == "scheduled__1", SyncRun.step == "reconcile")
                               ).one()
        first.started_at = last.finished_at - timedelta(seconds=61)
    said = _after(ledger, entity, "scheduled__1")
    assert said[alerts.LATE_RUN].problem.title == "a run took 1 min 1 s (expected under 1 min)"
    assert said[alerts.LATE_RUN].problem.facts[0].endswith("expected to finish within 1 minute")

    unreachable = type(conn)(conn.conn_id, "http://127.0.0.1:9", conn.login, conn.password, conn.schema, conn.extra)
    _run(entity, ledger, unreachable, "scheduled__2")
    said = _after(ledger, entity, "scheduled__2")
    assert list(said) == [alerts.FAILED_RUN] and alerts.LATE_RUN not in said, "a run that failed fast says nothing of the late one before it"
    with ledger.session() as session:
        assert alerts.LATE_RUN in alerts.open_problems(session, entity.id)
    sync(entity, ledger, conn, run_id="scheduled__3")
    assert _after(ledger, entity, "scheduled__3")[alerts.LATE_RUN].change == "resolved"
    assert alerts.late_run(entity, "r", timedelta(seconds=30.2), finished=False).title == (
        "a run has been going for 30 s (expected under 1 min)")


def test_a_run_said_late_by_its_deadline_while_queued_is_neither_said_again_nor_resolved_by_its_own_end(
        ledger, qbo_server):
    from ledgerbridge.context import ensure_entity

    entity = _entity("queued", expected_minutes=30)
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:  # Airflow's deadline callback, the run still waiting for a slot
        ensure_entity(session, entity)
        (late,) = alerts.due(session, entity, [alerts.late_run(entity, "scheduled__1", timedelta(minutes=31),
                                                               finished=False)], [], "scheduled__1")
    with ledger.session() as session:
        alerts.said(session, late)
    sync(entity, ledger, conn, run_id="scheduled__1")  # then it ran in seconds
    assert _after(ledger, entity, "scheduled__1") == {}
    sync(entity, ledger, conn, run_id="scheduled__2")  # the next one in time: that is news
    assert {k: a.change for k, a in _after(ledger, entity, "scheduled__2").items()} == {alerts.LATE_RUN: "resolved"}


def test_time_waited_for_a_pool_before_the_first_step_counts_in_a_runs_time(ledger, qbo_server):
    entity = _entity("pooled", expected_minutes=30)
    conn = connect_company(qbo_server, ledger, entity)
    sync(entity, ledger, conn, run_id="scheduled__1")
    with ledger.session() as session:
        first = session.scalars(select(SyncRun).where(SyncRun.run_id == "scheduled__1", SyncRun.step == "pull_source")
                                ).one()
        airflow_started_it = first.started_at - timedelta(minutes=45)
        problems, _ = alerts.problems_of_run(session, entity, "scheduled__1", run_started=airflow_started_it)
    assert [p.title for p in problems] == ["a run took 45 min (expected under 30 min)"]


def test_one_entitys_problems_are_never_said_as_anothers(ledger, qbo_server):
    noisy, quiet = _entity("noisy", quarantine_above=1), _entity("quiet", quarantine_above=1)
    for entity, bills in ((noisy, [bill("B-1", "V-1", "1.00", account="9999"), bill("B-2", "V-1", "1.00",
                                                                                     account="9999")]),
                          (quiet, [bill("B-1", "V-1", "1.00")])):
        conn = connect_company(qbo_server, ledger, entity)
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data(bills))
        run_all(context(entity, ledger, conn, run_id="scheduled__1"))
    assert list(_after(ledger, noisy, "scheduled__1")) == [alerts.QUARANTINE]
    assert _after(ledger, quiet, "scheduled__1") == {}
    with ledger.session() as session:
        assert set(alerts.open_problems(session, "quiet")) == set()
        assert set(alerts.open_problems(session, "noisy")) == {alerts.QUARANTINE}


def test_the_daily_api_budget_running_short_is_said_from_xeros_own_count(ledger):
    """Xero says in every answer how many calls are left today (X-DayLimit-Remaining): below the threshold's
    share of the day's 5,000 it is said, once."""
    from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread
    from support import CLIENT_ID, CLIENT_SECRET
    from test_xero_flows import context as xero_context
    from test_xero_flows import open_books

    server = serve_in_thread(XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}, per_day=400))  # most used elsewhere
    try:
        entity = LegalEntity.model_validate({
            "id": "xero_budget", "name": "Budget Ltd", "base_currency": "USD",
            "accounting": {"kind": "xero", "conn_id": "xero_budget"}, "flows": ["reference", "parties", "bills"],
            "alerts": {"api_calls_left_below": 0.10}})
        books = open_books(server, entity)
        summaries = run_all(xero_context(entity, ledger, books, "scheduled__1"))
        assert alerts.API_CALLS_LEFT not in summaries["reconcile"]  # a step's own summary stays its own
        with ledger.session() as session:
            left, of = session.scalars(select(SyncRun.summary).where(
                SyncRun.entity_id == entity.id, SyncRun.run_id == "scheduled__1", SyncRun.step == "reconcile")).one()[
                alerts.API_CALLS_LEFT]
        assert of == 5000 and 300 < left < 400
        said = _after(ledger, entity, "scheduled__1")
        assert list(said) == [alerts.API_BUDGET]
        assert said[alerts.API_BUDGET].problem.title == f"only {left} of 5000 API calls left today"
        run_all(xero_context(entity, ledger, books, "scheduled__2"))
        assert _after(ledger, entity, "scheduled__2") == {}  # still short: said already
    finally:
        server.stop()


def test_the_daily_api_budget_used_up_during_an_export_is_said_as_used_up_after_short(ledger):
    """An export stopped by the day's limit leaves the rest for the next run without failing: its summary
    says no call is left, which is said even when "short" was said earlier that day."""
    from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread
    from support import CLIENT_ID, CLIENT_SECRET
    from test_xero_flows import context as xero_context
    from test_xero_flows import open_books

    server = serve_in_thread(XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}, per_day=60))
    try:
        entity = LegalEntity.model_validate({
            "id": "xero_used_up", "name": "Used Up Ltd", "base_currency": "USD",
            "accounting": {"kind": "xero", "conn_id": "xero_used_up"}, "flows": ["reference", "parties", "bills"],
            "matching": {"create_missing_vendors": True}})
        books = open_books(server, entity)
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data([bill(f"B-{n}", "V-1", "1.00", account="429")
                                                       for n in range(1, 4)]))
        ctx = xero_context(entity, ledger, books, "scheduled__1")
        for step in ("pull_source", "pull_reference"):
            run_step(ctx, step)
        said = _after(ledger, entity, "scheduled__1")
        assert said[alerts.API_BUDGET].problem.title.startswith("only ")
        client = ctx.connector.client
        while client.day_remaining > 0:  # the day's calls go elsewhere
            client.get("Currencies")
        for step in ("check_reference", "match_parties", "prepare_exports", "export_documents"):
            run_step(ctx, step)
        said = _after(ledger, entity, "scheduled__1")
        assert said[alerts.API_BUDGET].change == "grew"
        assert said[alerts.API_BUDGET].problem.title == "the daily API budget is used up"
    finally:
        server.stop()


def test_a_threshold_of_zero_says_the_first_held_record(ledger, qbo_server):
    entity = _entity("strict", quarantine_above=0, review_above=0)
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "1.00", account="9999")]))
    run_all(context(entity, ledger, conn, run_id="scheduled__1"))
    said = _after(ledger, entity, "scheduled__1")
    assert list(said) == [alerts.QUARANTINE]
    assert said[alerts.QUARANTINE].problem.title == "1 record held in quarantine (threshold 0)"


def test_a_realtime_run_ends_only_its_own_failures_and_links_to_the_realtime_dag(ledger, qbo_server):
    entity = _entity("minutes")
    conn = connect_company(qbo_server, ledger, entity)
    unreachable = type(conn)(conn.conn_id, "http://127.0.0.1:9", conn.login, conn.password, conn.schema,
                             {**conn.extra, "token_url": "http://127.0.0.1:9/oauth2/v1/tokens/bearer"})
    _run(entity, ledger, unreachable, "scheduled__night")
    assert list(_after(ledger, entity, "scheduled__night")) == [alerts.FAILED_RUN]

    def realtime(run_id, connection, steps=("pull_source", "match_parties", "prepare_exports", "export_documents")):
        ctx = context(entity, ledger, connection, run_id=run_id)
        try:
            for step in steps:
                run_step(ctx, step)
        except Exception:  # noqa: BLE001 - the run failed: the alert is what is looked at
            pass
        return _after(ledger, entity, run_id)

    # A minute's run that succeeds says nothing of the night's failure: only the next full run ends it.
    assert realtime("realtime__scheduled__m1", conn) == {}
    with ledger.session() as session:
        assert alerts.FAILED_RUN in alerts.open_problems(session, "minutes")

    sync(entity, ledger, conn, run_id="scheduled__night2")
    assert _after(ledger, entity, "scheduled__night2")[alerts.FAILED_RUN].change == "resolved"

    # A minute's own failure is said with a link to the realtime DAG's run, and ended by a minute that succeeds.
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-RT", "V-1", "10.00")]))
    said = realtime("realtime__scheduled__m2", unreachable)
    assert said[alerts.FAILED_RUN].change == "new"
    assert "https://airflow.example.com/dags/ledgerbridge__minutes__realtime/runs/scheduled__m2" in \
        said[alerts.FAILED_RUN].text("https://airflow.example.com")
    assert said[alerts.FAILED_RUN].problem.link == "/dags/ledgerbridge__minutes__realtime/runs/scheduled__m2"
    assert realtime("realtime__scheduled__m3", conn)[alerts.FAILED_RUN].change == "resolved"
