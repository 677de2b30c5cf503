"""Builds the DAGs of the registry's legal entities: one `ledgerbridge__<entity_id>` per enabled entity
(and `ledgerbridge__<entity_id>__inbound` for a real-time file drop, `ledgerbridge__<entity_id>__realtime` for
an entity with `sync: realtime`), one failing one-task DAG per invalid
registry entry. Each DAG file in dags/ (`ledgerbridge_sync_<i>_of_<N>.py`, see ledgerbridge.dag_files)
calls `build_shard`, which builds only the DAGs of its shard.

What a DAG costs to parse and serialise is paid once per entity, so everything here that can be shared
between entities is built once per process: the default args, the retry policy, the params. Airflow
copies the params into every task anyway.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    get_parsing_context,
)
from ledgerbridge.dag_files import Shard, layout_problem, shard_of_file
from ledgerbridge.registry import LegalEntity, Registry, RegistryError, dag_id_for, load_registry_part
from ledgerbridge.steps import REALTIME_RUN_PREFIX, STEP_NAMES, connector_pool, connects

from ledgerbridge_airflow.alerts import AlertsOperator, deadline_for
from ledgerbridge_airflow.operators.held import HeldRecordsOperator
from ledgerbridge_airflow.operators.realtime import ExportsWaitingOperator
from ledgerbridge_airflow.operators.registry_error import RegistryErrorOperator
from ledgerbridge_airflow.operators.sync import LedgerBridgeStepOperator

log = logging.getLogger(__name__)

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
            exception=["ledgerbridge.flows.errors.FiscalYearFecRefused"],
            action=RetryAction.FAIL,
            reason="a closed fiscal year's FEC cannot be written as it is: a person moves a file or fixes the cause",
        ),
        RetryRule(
            exception=["ledgerbridge.settings.SettingError"],
            action=RetryAction.FAIL,
            reason="the deployment's settings (e.g. LEDGERBRIDGE_TOKEN_KEY in production): a retry sees the same",
        ),
    ]
)


def default_args() -> dict[str, Any]:
    return {
        # The demo and the tests set 0 so that a failure shows at once instead of waiting to retry.
        "retries": int(os.environ.get("LEDGERBRIDGE_TASK_RETRIES", "3")),
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        "retry_policy": RETRY_POLICY,
    }


def params() -> dict[str, Param]:
    return {
        "full_refresh": Param(False, type="boolean", description="Re-read every reference list from the beginning."),
        "sync_from": Param(None, type=["null", "string"], format="date",
                           description="Re-read reference data changed since this date (YYYY-MM-DD)."),
        "dry_run": Param(False, type="boolean", description="Check and prepare everything; send nothing."),
    }


INBOUND_STEPS = ("pull_reference", "collect_confirmations", "write_back")


def build(entity: LegalEntity, args: dict[str, Any] | None = None) -> DAG:
    """The entity's sync DAG: its steps in order, then held_records, then the alerts teardown."""
    kind = entity.accounting.kind.value
    with DAG(
        dag_id=entity.dag_id,
        description=f"Sync {entity.name} ({entity.base_currency}) with {kind}",
        doc_md=f"""### {entity.name}
Syncs legal entity `{entity.id}` with its {kind} company through connection
`{entity.accounting.conn_id}`. Flows: {", ".join(f.value for f in entity.flows)}.
Each task logs what it did; `reconcile` ends with the hub-vs-accounting report. See docs/operations.md.""",
        schedule=CronDataIntervalTimetable(entity.schedule, timezone="UTC") if entity.schedule else None,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=args if args is not None else default_args(),
        params=params(),
        tags=["ledgerbridge", kind, entity.base_currency],
        deadline=deadline_for(entity),
    ) as dag:
        # Skipped (pink in the grid) when the run left records held for a person; the run still succeeds.
        held = _chain(entity, STEP_NAMES) >> HeldRecordsOperator(task_id="held_records", entity_id=entity.id)
        # A teardown: runs after the last retry whatever happened, and leaves the run's state to the steps.
        held >> AlertsOperator(task_id="alerts", entity_id=entity.id).as_teardown()
    return dag


def _chain(entity: LegalEntity, steps: tuple[str, ...], after: Any = None,
           run_prefix: str = "") -> LedgerBridgeStepOperator:
    # Steps that talk to the accounting system share one pool per connector kind, so that many entities
    # never run more of them at once than the system's app-wide limits allow.
    # A step for other kinds only (ledgerbridge.steps.KIND_STEPS) never connects: it waits for no slot.
    kind = entity.accounting.kind.value
    pool = connector_pool(kind)
    previous = after
    for step in steps:
        task = LedgerBridgeStepOperator(task_id=step, step=step, entity_id=entity.id, run_prefix=run_prefix,
                                        pool=pool if connects(step, kind) else "default_pool")
        if previous is not None:
            previous >> task
        previous = task
    return previous


def build_inbound(entity: LegalEntity, args: dict[str, Any] | None = None) -> DAG:
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
        default_args=args if args is not None else default_args(),
        tags=["ledgerbridge", entity.accounting.kind.value, "inbound"],
    ) as dag:
        _chain(entity, INBOUND_STEPS)
    return dag


# What the realtime DAG runs every minute: the source's news, then (when something waits) the exports and
# the write-back. The reference data and the reconciliation stay in the entity's full run (its schedule).
REALTIME_EXPORT_STEPS = ("match_parties", "prepare_exports", "export_documents", "export_payments",
                         "collect_confirmations", "write_back")


def build_realtime(entity: LegalEntity, args: dict[str, Any] | None = None) -> DAG:
    """Every minute: pull the source, and send what is approved only when something waits."""
    with DAG(
        dag_id=dag_id_for(entity.id, "realtime"),
        description=f"Send what {entity.name} approves within a minute",
        doc_md=f"""### {entity.name}: real-time exports
Every minute: `pull_source` takes in what the hub approved, `exports_waiting` looks in the ledger
for anything to send and, when nothing waits, skips the rest (its log says why). The reference data
and the reconciliation run in `{entity.dag_id}` (schedule `{entity.schedule}` UTC). See docs/operations.md.""",
        schedule="* * * * *",  # a CronTriggerTimetable: one run per minute, no data interval
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=args if args is not None else default_args(),
        params=params(),
        tags=["ledgerbridge", entity.accounting.kind.value, "realtime"],
    ) as dag:
        pull = _chain(entity, ("pull_source",), run_prefix=REALTIME_RUN_PREFIX)
        gate = pull >> ExportsWaitingOperator(task_id="exports_waiting", entity_id=entity.id)
        last = _chain(entity, REALTIME_EXPORT_STEPS, after=gate, run_prefix=REALTIME_RUN_PREFIX)
        # A teardown of the gate: after the export steps whatever they did (a refusal, a held record is said
        # within the minute); skipped by the scheduler with the gate, so an idle minute costs no task more.
        last >> AlertsOperator(task_id="alerts", entity_id=entity.id, run_prefix=REALTIME_RUN_PREFIX).as_teardown(
            setups=gate)
    return dag


def build_invalid(error: RegistryError | str, dag_id: str, *,
                  description: str = "Invalid registry entry: fix include/config/legal_entities.yaml",
                  tags: tuple[str, ...] = ("ledgerbridge", "invalid-registry")) -> DAG:
    """A one-task DAG that fails with `error`'s message: the mistake shows in the UI, nothing else is lost."""
    with DAG(
        dag_id=dag_id,
        description=description,
        doc_md=f"**This legal entity is not synced.** {error}" if isinstance(error, RegistryError) else str(error),
        schedule=None,
        start_date=START,
        tags=list(tags),
    ) as dag:
        RegistryErrorOperator(task_id="invalid_registry_entry", message=str(error))
    return dag


# The DAG a split of the DAG files into N shows when that split is broken (a file missing, or files of
# another split beside it), built by the file whose shard holds its id; every file of the split logs it.
def layout_dag_id(shards: int) -> str:
    return dag_id_for(f"dag_files_of_{shards}")


def dags_of(registry: Registry, shard: Shard | None = None, wanted: str | None = None) -> dict[str, DAG]:
    """Every DAG of `registry` (or of one shard of it), by id; with `wanted` (a DAG id), that one only."""

    def mine(dag_id: str) -> bool:
        return (wanted is None or wanted == dag_id) and (shard is None or shard.holds(dag_id))

    dags: dict[str, DAG] = {}
    args = default_args()
    for entity in registry.enabled:
        if mine(entity.dag_id):
            dags[entity.dag_id] = build(entity, args)
        inbound = dag_id_for(entity.id, "inbound")
        if entity.realtime_poll_seconds and mine(inbound):
            dags[inbound] = build_inbound(entity, args)
        realtime = dag_id_for(entity.id, "realtime")
        if entity.exports_in_realtime and mine(realtime):
            dags[realtime] = build_realtime(entity, args)
    taken = {e.id for e in registry.entities}
    for error in registry.errors:
        dag_id = error.dag_id(taken=taken)
        if mine(dag_id):
            dags[dag_id] = build_invalid(error, dag_id)
    return dags


def build_shard(namespace: dict[str, Any], dag_file: str) -> None:
    """What a DAG file `ledgerbridge_sync_<i>_of_<N>.py` does: put its shard's DAGs into its module namespace.

    A worker running one task (Airflow's parsing context names its DAG) builds that DAG only, and a file
    whose shard does not hold that DAG returns before reading the registry."""
    shard = shard_of_file(dag_file)
    wanted = get_parsing_context().dag_id
    if wanted is not None and not shard.holds(wanted):
        return
    layout_id = layout_dag_id(shard.shards)
    problem = None
    if wanted in (None, layout_id):
        problem = layout_problem(os.path.dirname(os.path.abspath(dag_file)), shard.shards, setting=True)
    if problem:
        log.error("%s", problem)
        if shard.holds(layout_id):
            namespace[layout_id] = build_invalid(problem, layout_id, description="LedgerBridge DAG files: not one split as set",
                                                 tags=("ledgerbridge", "invalid-dag-files"))

    def mine(dag_id: str) -> bool:
        return (wanted is None or wanted == dag_id) and shard.holds(dag_id)

    # Only the registry entries this file builds are validated (and those they depend on).
    registry = load_registry_part(mine, part=f"{shard.file_name}:{wanted or ''}")
    namespace.update(dags_of(registry, shard, wanted))
