"""Alerts reach people through Airflow's notifiers: email (SMTP provider) to a real SMTP server on loopback
(aiosmtpd), webhook (HTTP provider) to a real HTTP receiver; once per problem, from the `alerts` teardown
of a real DAG run (dag.test) against the QBO sandbox, whose run state stays the steps'."""
from __future__ import annotations

import base64
import email
import json
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller

from ledgerbridge import alerts
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger import Ledger, migrate
from ledgerbridge.registry import LegalEntity
from support import bill, connect_company, hub_data, make_entity

ROOT = Path(__file__).resolve().parents[2]


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def bodies(self) -> list[str]:
        found = []
        for message in self.messages:
            for part in message.walk():
                if part.get_content_type() == "text/html":
                    found.append(base64.b64decode(part.get_payload()).decode())
        return found


@pytest.fixture
def mailbox(monkeypatch):
    import socket

    with socket.socket() as probe:  # aiosmtpd checks its port by connecting to it, so it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_OPS", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "ledgerbridge@example.com"}}))
    yield box
    controller.stop()


CHANNELS = [{"kind": "email", "conn_id": "smtp_ops", "to": ["ops@example.com", "cfo@example.com"]},
            {"kind": "webhook", "conn_id": "hook_ops", "endpoint": "/services/T0/B0/X"}]


def _entity(entity_id: str, **policy) -> LegalEntity:
    return LegalEntity.model_validate({**make_entity(entity_id).model_dump(mode="json"),
                                       "alerts": {"channels": CHANNELS, **policy}})


def test_an_alert_goes_out_by_email_and_webhook_and_a_channel_down_keeps_neither_the_other_nor_the_record(
        mailbox, webhook, ledger):
    from ledgerbridge_airflow.alerts import deliver

    entity = _entity("acme")
    problem = alerts.Problem(alerts.REFUSED, "refused", "2 records refused by QuickBooks Online",
                             ("QuickBooks Online refused: bill 2", "bill:B-1: {{ not a template }} <b>"),
                             "Fix each record, then Retry it", "/ledgerbridge/entities/acme/rejected", 7, {"refused": 2})
    alert = alerts.Alert("acme", "Acme Widgets Inc.", entity.dag_id, alerts.REFUSED, "new", problem, "scheduled__1")
    received, status = webhook
    status["code"] = 500  # the webhook is down: the email still goes, and the alert counts as said
    with ledger.session() as session:
        from ledgerbridge.context import ensure_entity

        ensure_entity(session, entity)
    result = deliver(ledger, entity, [problem], [alert], {})
    assert result == {"open": ["refused"], "said": ["refused"]}
    (message,) = mailbox.messages
    assert message["Subject"] == "[LedgerBridge] acme: 2 records refused by QuickBooks Online"
    assert message["To"] == "ops@example.com, cfo@example.com" and message["From"] == "ledgerbridge@example.com"
    (body,) = mailbox.bodies()
    assert "<li>bill:B-1: {{ not a template }} &lt;b&gt;</li>" in body  # data, escaped, never rendered
    assert "Fix each record, then Retry it" in body
    assert 'href="http://localhost:8080/ledgerbridge/entities/acme/rejected"' in body
    assert 'href="http://localhost:8080/dags/ledgerbridge__acme/runs/scheduled__1"' in body
    assert [path for path, _ in received] == ["/services/T0/B0/X"]  # tried (and refused with a 500)
    with ledger.session() as session:
        assert alerts.open_problems(session, "acme")[alerts.REFUSED].level == 7

    status["code"] = 200
    mailbox.messages.clear()
    controller_down = {**CHANNELS[0], "conn_id": "smtp_nowhere"}
    nowhere = LegalEntity.model_validate({**entity.model_dump(mode="json"),
                                          "alerts": {"channels": [controller_down]}})
    gone = alerts.Alert("acme", "Acme Widgets Inc.", entity.dag_id, alerts.REFUSED, "resolved", None, "scheduled__2")
    assert deliver(ledger, nowhere, [], [gone], {}) == {"open": [], "said": []}  # no channel took it
    with ledger.session() as session:
        assert alerts.REFUSED in alerts.open_problems(session, "acme")  # so it is tried again next time
    assert deliver(ledger, entity, [], [gone], {})["said"] == ["refused"]
    (path, payload), = received[1:]
    assert payload["text"].startswith("[LedgerBridge] acme: resolved: no refused record waits any more")
    assert (payload["kind"], payload["change"], payload["entity_id"]) == ("refused", "resolved", "acme")
    with ledger.session() as session:
        assert alerts.open_problems(session, "acme") == {}


@pytest.mark.slow
def test_a_dag_run_that_fails_for_a_revoked_token_says_so_once_and_its_reconnection_once(
        airflow_db, mailbox, webhook, qbo_server, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(ledger_url)
    ledger = Ledger(ledger_url)
    entity = _entity("alerted", quarantine_above=5)
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "12.00")]))
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(entity.model_dump_json())]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)

    def connection(refresh_token):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", json.dumps({
            "conn_type": "quickbooks_online", "host": conn.host, "login": conn.login, "password": conn.password,
            "schema": conn.schema, "extra": {**conn.extra, "refresh_token": refresh_token}}))

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dag = bag.dags["ledgerbridge__alerted"]
    received, _ = webhook

    connection("RT-revoked-by-the-customer")
    first = dag.test()
    assert first.state == "failed"  # the teardown leaves the run's state to the steps
    (message,) = mailbox.messages
    assert message["Subject"] == "[LedgerBridge] alerted: the QuickBooks Online company must be reconnected"
    assert "invalid_grant" in mailbox.bodies()[0] and "qbo_alerted" in mailbox.bodies()[0]
    assert [payload["kind"] for _, payload in received] == ["reconnect"]

    second = dag.test()  # the same problem: not said again
    assert second.state == "failed" and len(mailbox.messages) == 1 and len(received) == 1

    connection(conn.extra["refresh_token"])
    third = dag.test()
    assert third.state == "success"
    assert [m["Subject"] for m in mailbox.messages[1:]] == [
        "[LedgerBridge] alerted: resolved: the company answers again: reconnected"]
    assert [(p["kind"], p["change"]) for _, p in received[1:]] == [("reconnect", "resolved")]


def test_a_late_run_is_said_by_airflows_deadline_callback_and_not_again_when_it_ends_late(
        airflow_db, mailbox, webhook, ledger, tmp_path, monkeypatch):
    from datetime import timedelta

    from airflow.dag_processing.dagbag import DagBag

    from ledgerbridge.ledger.types import utcnow
    from ledgerbridge_airflow.alerts import run_is_late

    entity = _entity("slow", expected_minutes=60)
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(entity.model_dump_json())]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", str(ledger.engine.url.render_as_string(hide_password=False)))
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["ledgerbridge__slow"]
    (deadline,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert deadline.interval == timedelta(minutes=60)
    assert deadline.callback.path == "ledgerbridge_airflow.alerts.run_is_late"
    assert deadline.callback.kwargs == {"entity_id": "slow"}
    with ledger.session() as session:
        from ledgerbridge.context import ensure_entity

        ensure_entity(session, entity)

    # What Airflow's scheduler hands the callback when the deadline passes (models/deadline.py handle_miss).
    queued = (utcnow() - timedelta(minutes=75)).isoformat()
    run_is_late("slow", context={"dag_run": {"run_id": "scheduled__1", "queued_at": queued},
                                 "deadline": {"id": "d-1", "deadline_time": queued}})
    (message,) = mailbox.messages
    assert message["Subject"] == "[LedgerBridge] slow: a run has been going for 1 h 15 min (expected under 60 min)"
    assert "raise alerts.expected_minutes" in mailbox.bodies()[0]
    received, _ = webhook
    assert [(p["kind"], p["change"]) for _, p in received] == [("late_run", "new")]
    run_is_late("slow", context={"dag_run": {"run_id": "scheduled__1", "queued_at": queued}})
    assert len(mailbox.messages) == 1  # said once


@pytest.mark.parametrize("ledger_url_in_environment", [True, False])
def test_a_deadline_callback_refused_the_ledgers_connection_still_says_the_late_run(
        airflow_db, mailbox, webhook, ledger, tmp_path, monkeypatch, caplog, ledger_url_in_environment):
    """Airflow 3.3.2 runs a deadline callback with a workload token its Execution API refuses connections to
    (403: AirflowSecretsBackendAccessDenied); connections in AIRFLOW_CONN_ variables still resolve. The late
    run is said all the same, recorded where LEDGERBRIDGE_DB_URL names the ledger."""
    import logging
    from datetime import timedelta

    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

    from ledgerbridge.context import ensure_entity
    from ledgerbridge.ledger.types import utcnow
    from ledgerbridge_airflow.alerts import run_is_late
    from ledgerbridge_airflow.hooks.ledger import LedgerHook

    entity = _entity("refused_conn", expected_minutes=60)
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(entity.model_dump_json())]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    if ledger_url_in_environment:
        monkeypatch.setenv("LEDGERBRIDGE_DB_URL", str(ledger.engine.url.render_as_string(hide_password=False)))
    else:
        monkeypatch.delenv("LEDGERBRIDGE_DB_URL", raising=False)
    with ledger.session() as session:
        ensure_entity(session, entity)

    def refused(self, conn_id):  # what Airflow's Execution API secrets backend raises for a callback
        raise AirflowSecretsBackendAccessDenied(f"Access denied to connection '{conn_id}'")

    monkeypatch.setattr(LedgerHook, "get_connection", refused)
    queued = (utcnow() - timedelta(minutes=61)).isoformat()
    with caplog.at_level(logging.INFO, logger="ledgerbridge_airflow"):
        run_is_late("refused_conn", context={"dag_run": {"run_id": "scheduled__1", "queued_at": queued}})
    (message,) = mailbox.messages
    assert message["Subject"].startswith("[LedgerBridge] refused_conn: a run has been going for 1 h 01 min")
    with ledger.session() as session:
        recorded = alerts.LATE_RUN in alerts.open_problems(session, "refused_conn")
    assert recorded is ledger_url_in_environment
    if not ledger_url_in_environment:
        assert "not recorded as said" in caplog.text and "AIRFLOW_CONN_ environment variable" in caplog.text
