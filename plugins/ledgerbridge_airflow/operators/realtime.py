"""The gate of a realtime entity's every-minute DAG: its export steps run only when something waits
(ledgerbridge.flows.waiting), else the rest of the run is skipped with the reason in this task's log."""
from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseOperator

log = logging.getLogger(__name__)


class ExportsWaitingOperator(BaseOperator):
    ui_color = "#e0e7ff"

    def __init__(self, *, entity_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.entity_id = entity_id

    def execute(self, context) -> str:
        from airflow.sdk.exceptions import AirflowSkipException
        from ledgerbridge.flows.waiting import exports_waiting
        from ledgerbridge.registry import load_registry
        from ledgerbridge.steps import REALTIME_RUN_PREFIX

        from ledgerbridge_airflow.hooks.connections import accounting_hook
        from ledgerbridge_airflow.hooks.ledger import LedgerHook

        entity = load_registry().get(self.entity_id)
        ledger = LedgerHook().get_conn()
        try:
            # Built, not connected: its declared capabilities only (a file drop's depend on its connection).
            carried = accounting_hook(entity).connector(entity, ledger).capabilities.kinds
            waiting = exports_waiting(ledger, entity, REALTIME_RUN_PREFIX + context["run_id"], carried)
        finally:
            ledger.dispose()
        reason = waiting.skip_reason(self.entity_id)
        if reason:
            raise AirflowSkipException(reason)  # the export steps after it are skipped too
        log.info("%s: to send: %s", self.entity_id, waiting.describe())
        return waiting.describe()
