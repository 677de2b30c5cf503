"""One step of a legal entity's sync as an Airflow task: read the connections, call the core, return
its small summary (XCom carries only that; the data itself stays in the ledger)."""
from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator


class LedgerBridgeStepOperator(BaseOperator):
    ui_color = "#dbeafe"

    def __init__(self, *, step: str, entity_id: str, run_prefix: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.step = step
        self.entity_id = entity_id
        self.run_prefix = run_prefix  # the realtime DAG's (ledgerbridge.steps.REALTIME_RUN_PREFIX)

    def execute(self, context) -> dict[str, Any]:
        import logging

        from airflow.sdk.exceptions import AirflowFailException
        from ledgerbridge.pipeline import RunContext, RunParams, run_step
        from ledgerbridge.registry import load_registry
        from ledgerbridge.steps import SOURCE_STEPS, connects

        from ledgerbridge_airflow.hooks.ledger import LedgerHook
        from ledgerbridge_airflow.metrics import AirflowStatsEmitter

        # Airflow takes any key in a run's conf (it validates only the params it knows), so a typo is
        # caught here; a retry would see the same conf, so it fails at once, and the next run need not wait.
        try:
            params = RunParams.from_mapping(dict(context.get("params") or {}))
        except ValueError as exc:
            raise AirflowFailException(f"{self.entity_id}: {exc}; nothing was done. Trigger a new run with "
                                       "corrected params") from None
        entity = load_registry().get(self.entity_id)
        ledger = LedgerHook().get_conn()
        connect = None
        if connects(self.step, entity.accounting.kind.value):
            def connect():
                from ledgerbridge_airflow.hooks.connections import accounting_hook

                return accounting_hook(entity).connector(entity, ledger)
        connect_source = None
        if self.step in SOURCE_STEPS and entity.source is not None:
            def connect_source():
                from ledgerbridge_airflow.hooks.connections import source_for

                return source_for(entity)
        dag_run = context.get("dag_run")
        ctx = RunContext(
            entity=entity,
            ledger=ledger,
            run_id=self.run_prefix + context["run_id"],
            params=params,
            connect=connect,
            connect_source=connect_source,
            data_interval_start=getattr(dag_run, "data_interval_start", None) if dag_run else None,
            log=logging.getLogger(f"ledgerbridge.{entity.id}.{self.step}"),
            metrics=AirflowStatsEmitter(),
        )
        try:
            return _jsonable(run_step(ctx, self.step))
        finally:
            ledger.dispose()


def _jsonable(value: Any) -> Any:
    """XCom-safe copy of a summary (Decimal -> str)."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
