"""Alerts through Airflow's notifiers (docs/alerts.md): the core (ledgerbridge.alerts) says what is due, this
sends it through each of the entity's channels (registry `alerts.channels`, Airflow connections):

- email: the SMTP provider's SmtpNotifier, through an `smtp` connection;
- webhook: the HTTP provider's HttpNotifier, posting JSON through an `http` connection (a Slack or Teams
  incoming webhook, or any receiver).

Two ways in: the `alerts` task at the end of every run (a teardown: it runs whatever the run did, after the
last retry, and leaves the run's state to the steps), and the deadline callback when a run is late.
Messages are built in the core and handed to the notifiers whole (never rendered as Jinja: a vendor's name
is data, not a template).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "http://localhost:8080"


class AlertsOperator(BaseOperator):
    """The last task of an entity's run: says what needs a person, once per problem."""

    ui_color = "#fee2e2"

    def __init__(self, *, entity_id: str, run_prefix: str = "", **kwargs: Any):
        # The DAG's retries: a worker lost under this task must not fail a run that did its job (it says each problem once, as recorded in the ledger).
        super().__init__(**kwargs)
        self.entity_id = entity_id
        self.run_prefix = run_prefix  # the realtime DAG's (ledgerbridge.steps.REALTIME_RUN_PREFIX), as its steps'

    def execute(self, context) -> dict[str, Any]:
        from ledgerbridge import alerts
        from ledgerbridge.context import ensure_entity
        from ledgerbridge.registry import load_registry
        from ledgerbridge.steps import STEP_NAMES

        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        entity = load_registry().get(self.entity_id)
        run_id = context["run_id"]
        states = context["ti"].get_task_states(dag_id=self.dag_id, run_ids=[run_id]).get(run_id, {})
        run_id = self.run_prefix + run_id  # the run's id in the ledger
        failed_tasks = [task for task, state in states.items() if task in STEP_NAMES and state == "failed"]
        dag_run = context.get("dag_run")
        ledger = LedgerHook().get_conn()
        try:
            with ledger.session() as session:
                ensure_entity(session, entity)  # a run that failed before its first step left none
                problems, looked_at = alerts.problems_of_run(
                    session, entity, run_id, failed_tasks=failed_tasks,
                    run_started=getattr(dag_run, "start_date", None) if dag_run is not None else None)
                to_say = alerts.due(session, entity, problems, looked_at, run_id)
            return deliver(ledger, entity, problems, to_say, context)
        finally:
            ledger.dispose()


def run_is_late(entity_id: str, context: dict[str, Any]) -> None:
    """Airflow's deadline callback (a SyncCallback, run by the executor): the run is still going past
    alerts.expected_minutes after it was queued."""
    from ledgerbridge import alerts
    from ledgerbridge.context import ensure_entity
    from ledgerbridge.ledger.types import utcnow
    from ledgerbridge.registry import load_registry

    from ledgerbridge_airflow.hooks.ledger import ConnectionRefusedToCallback, LedgerHook

    entity = load_registry().get(entity_id)
    dag_run = context.get("dag_run") or {}
    run_id = dag_run.get("run_id") or dag_run.get("dag_run_id") or "?"
    queued = dag_run.get("queued_at") or dag_run.get("start_date")
    took = utcnow() - datetime.fromisoformat(str(queued).replace("Z", "+00:00")) if queued else None
    problem = alerts.late_run(entity, run_id, took or _minutes(entity.alerts.expected_minutes), finished=False)
    try:
        ledger = LedgerHook().get_conn()
    except ConnectionRefusedToCallback as exc:  # say it anyway; unrecorded, the run's end may say it once more
        log.error("%s: the ledger cannot be read from this callback, so this alert is not recorded as said: %s",
                  entity.id, exc)
        late = alerts.Alert(entity.id, entity.name, entity.dag_id, problem.kind, "new", problem, run_id)
        deliver(None, entity, [problem], [late], context)
        return
    try:
        with ledger.session() as session:
            ensure_entity(session, entity)  # a first run stuck in the queue: the entity has no row yet
            to_say = alerts.due(session, entity, [problem], [], run_id)
        deliver(ledger, entity, [problem], to_say, context)
    finally:
        ledger.dispose()


def deliver(ledger, entity, problems, to_say, context) -> dict[str, Any]:
    """Send each alert through every channel; record it as said when at least one channel took it (one that
    failed is logged; an alert no channel took is tried again at the next run). Without a ledger, nothing
    is recorded."""
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

    from ledgerbridge import alerts

    from ledgerbridge_airflow.hooks.ledger import CALLBACK_ACCESS

    open_kinds = sorted(problem.kind for problem in problems)
    if not to_say:
        log.info("%s: %s; nothing new to say", entity.id,
                 f"open problems ({', '.join(open_kinds)}) already said, unchanged" if open_kinds else "no problem")
        return {"open": open_kinds, "said": []}
    if not entity.alerts.channels:
        log.warning("%s: %d alert(s) due (%s) but the entity has no alert channel (registry alerts.channels): "
                    "nobody hears of them", entity.id, len(to_say), "; ".join(a.subject for a in to_say))
        return {"open": open_kinds, "said": []}
    base_url = _base_url()
    said = []
    for alert in to_say:
        took = []
        for channel in entity.alerts.channels:
            try:
                notifier_for(channel, alert, base_url).notify(context)
                took.append(channel.conn_id)
            except Exception as exc:  # one channel down must not keep the others from hearing
                log.error("%s: alert %r could not go through %s channel %r: %s%s", entity.id, alert.subject,
                          channel.kind, channel.conn_id, exc,
                          f" ({CALLBACK_ACCESS})" if isinstance(exc, AirflowSecretsBackendAccessDenied) else "")
        if took and ledger is None:
            said.append(alert.kind)
            log.info("%s: said (%s, not recorded) %s -> %s", entity.id, alert.change, alert.subject, ", ".join(took))
        elif took:
            with ledger.session() as session:
                alerts.said(session, alert)
            said.append(alert.kind)
            log.info("%s: said (%s) %s -> %s", entity.id, alert.change, alert.subject, ", ".join(took))
        else:
            log.error("%s: alert %r reached no channel; it is tried again at the next run", entity.id, alert.subject)
    return {"open": open_kinds, "said": said}


def notifier_for(channel, alert, base_url: str):
    if channel.kind == "email":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(to=list(channel.to), smtp_conn_id=channel.conn_id, subject=alert.subject,
                            html_content=alert.html(base_url), mime_subtype="alternative")
    from airflow.providers.http.notifications.http import HttpNotifier

    return HttpNotifier(http_conn_id=channel.conn_id, endpoint=channel.endpoint, json=alert.payload(base_url))


def deadline_for(entity):
    """Airflow's deadline alert for the entity's runs, when alerts.expected_minutes is set."""
    if entity.alerts.expected_minutes is None:
        return None
    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT,
                         interval=_minutes(entity.alerts.expected_minutes),
                         callback=SyncCallback(run_is_late, kwargs={"entity_id": entity.id}))


def _minutes(minutes: int):
    from datetime import timedelta

    return timedelta(minutes=minutes)


def _base_url() -> str:
    from airflow.sdk import conf

    return conf.get("api", "base_url", fallback=None) or DEFAULT_BASE_URL
