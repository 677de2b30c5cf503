"""One DAG `ledgerbridge__<entity_id>` per enabled legal entity of include/config/legal_entities.yaml.

Wiring only: reads the registry (one YAML file) and builds the DAGs. An entity that fails validation
gets a one-task DAG that fails with the registry's message, so the mistake is visible in the UI and
every other entity still parses.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    get_parsing_context,
)
from ledgerbridge.registry import LegalEntity, RegistryError, dag_id_for, load_registry
from ledgerbridge.steps import CONNECTED_STEPS, STEP_NAMES, connector_pool
from ledgerbridge_airflow.alerts import AlertsOperator, deadline_for
from ledgerbridge_airflow.operators import LedgerBridgeStepOperator
from ledgerbridge_airflow.operators.held import HeldRecordsOperator
from ledgerbridge_airflow.operators.registry_error import RegistryErrorOperator

START = datetime(2026, 1, 1)
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=[
                "ledgerbridge.connectors.errors.ReconnectRequired",
                "ledgerbridge.connectors.errors.CompanyMismatch",
                "ledgerbridge.sources.base.SourceMismatch",
                "ledgerbridge.sources.syspro.errors.SysproLogonFailed",
            ],
            action=RetryAction.FAIL,
            reason="needs a person: reconnect the company or fix the connection",
        ),
        RetryRule(
            exception=["ledgerbridge.flows.errors.SystemicQualityFailure"],
            action=RetryAction.FAIL,
            reason="a systemic data-quality failure: a retry sees the same data; fix the mapping or the pull",
        ),
        RetryRule(
            exception=["ledgerbridge.settings.SettingError"],
            action=RetryAction.FAIL,
            reason="the deployment's settings (e.g. LEDGERBRIDGE_TOKEN_KEY in production): a retry sees the same",
        ),
    ]
)
DEFAULT_ARGS = {
    # The demo and the tests set 0 so that a failure shows at once instead of waiting to retry.
    "retries": int(os.environ.get("LEDGERBRIDGE_TASK_RETRIES", "3")),
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    "retry_policy": RETRY_POLICY,
}
PARAMS = {
    "full_refresh": Param(False, type="boolean", description="Re-read every reference list from the beginning."),
    "sync_from": Param(None, type=["null", "string"], format="date",
                       description="Re-read reference data changed since this date (YYYY-MM-DD)."),
    "dry_run": Param(False, type="boolean", description="Check and prepare everything; send nothing."),
}


def build(entity: LegalEntity) -> DAG:
    with DAG(
        dag_id=entity.dag_id,
        description=f"Sync {entity.name} ({entity.base_currency}) with {entity.accounting.kind.value}",
        doc_md=f"""### {entity.name}
Syncs legal entity `{entity.id}` with its {entity.accounting.kind.value} company through connection
`{entity.accounting.conn_id}`. Flows: {", ".join(f.value for f in entity.flows)}.
Each task logs what it did; `reconcile` ends with the hub-vs-accounting report. See docs/operations.md.""",
        schedule=CronDataIntervalTimetable(entity.schedule, timezone="UTC") if entity.schedule else None,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=PARAMS,
        tags=["ledgerbridge", entity.accounting.kind.value, entity.base_currency],
        deadline=deadline_for(entity),
    ) as dag:
        # Skipped (pink in the grid) when the run left records held for a person; the run still succeeds.
        held = _chain(entity, STEP_NAMES) >> HeldRecordsOperator(task_id="held_records", entity_id=entity.id)
        # A teardown: runs after the last retry whatever happened, and leaves the run's state to the steps.
        held >> AlertsOperator(task_id="alerts", entity_id=entity.id).as_teardown()
    return dag


INBOUND_STEPS = ("pull_reference", "collect_confirmations", "write_back")


def _chain(entity: LegalEntity, steps: tuple[str, ...]) -> LedgerBridgeStepOperator:
    previous = None
    for step in steps:
        # Steps that talk to the accounting system share one pool per connector kind, so that
        # many entities never run more of them at once than the system's app-wide limits allow.
        pool = connector_pool(entity.accounting.kind.value) if step in CONNECTED_STEPS else "default_pool"
        task = LedgerBridgeStepOperator(task_id=step, step=step, entity_id=entity.id, pool=pool)
        if previous is not None:
            previous >> task
        previous = task
    return previous


def build_inbound(entity: LegalEntity) -> DAG:
    """Runs when files land in the entity's file drop (an asset watched in the triggerer)."""
    from airflow.sdk import Asset, AssetWatcher
    from ledgerbridge_airflow.triggers.filedrop import FileDropArrivalTrigger

    arrivals = Asset(
        f"ledgerbridge_file_drop_{entity.id}",
        watchers=[AssetWatcher(name=f"ledgerbridge_file_drop_{entity.id}_watcher",
                               trigger=FileDropArrivalTrigger(entity.id, entity.realtime_poll_seconds))],
    )
    with DAG(
        dag_id=dag_id_for(entity.id, "inbound"),
        description=f"Import what {entity.name}'s agent uploads, as soon as it lands",
        doc_md=f"""### {entity.name}: inbound files
Started by the files themselves: the triggerer looks at `{entity.id}/from_accounting/` and
`{entity.id}/confirmations/` every {entity.realtime_poll_seconds:g} s and starts a run only when new
files are there. Imports lists, purchase orders and payments, settles confirmations, writes back.""",
        schedule=[arrivals],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["ledgerbridge", entity.accounting.kind.value, "inbound"],
    ) as dag:
        _chain(entity, INBOUND_STEPS)
    return dag


def build_invalid(error: RegistryError, dag_id: str) -> DAG:
    with DAG(
        dag_id=dag_id,
        description="Invalid registry entry: fix include/config/legal_entities.yaml",
        doc_md=f"**This legal entity is not synced.** {error}",
        schedule=None,
        start_date=START,
        tags=["ledgerbridge", "invalid-registry"],
    ) as dag:
        RegistryErrorOperator(task_id="invalid_registry_entry", message=str(error))
    return dag


def _wanted(dag_id: str) -> bool:
    # A worker running one task only needs that task's DAG.
    requested = get_parsing_context().dag_id
    return requested is None or requested == dag_id


_registry = load_registry()
for _entity in _registry.enabled:
    if _wanted(_entity.dag_id):
        globals()[_entity.dag_id] = build(_entity)
    if _entity.realtime_poll_seconds and _wanted(dag_id_for(_entity.id, "inbound")):
        globals()[dag_id_for(_entity.id, "inbound")] = build_inbound(_entity)
for _error in _registry.errors:
    _dag_id = _error.dag_id(taken={e.id for e in _registry.entities})
    if _wanted(_dag_id):
        globals()[_dag_id] = build_invalid(_error, _dag_id)
