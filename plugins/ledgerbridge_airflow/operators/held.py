"""The last task of an entity's run: marks, in the Airflow grid, a run that left records held for a person.

Airflow 3.3 gives a task no way to write its run's note, and a run has no "succeeded with warnings"
state; so this task ends *skipped* (pink in the grid, its log saying what is held) when `reconcile`
counted open quarantine entries, and succeeds when nothing is held. The run succeeds either way: the
records that could go, went; the held ones wait for a person (docs/operations.md, "When something is
held back")."""
from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseOperator

log = logging.getLogger(__name__)


class HeldRecordsOperator(BaseOperator):
    ui_color = "#fef3c7"

    def __init__(self, *, entity_id: str, report_task_id: str = "reconcile", **kwargs: Any):
        # The DAG's retries: a worker lost under this task must not fail a run that did its job (it reads reconcile's report).
        super().__init__(**kwargs)
        self.entity_id = entity_id
        self.report_task_id = report_task_id

    def execute(self, context) -> int:
        from airflow.sdk.exceptions import AirflowSkipException

        report = context["ti"].xcom_pull(task_ids=self.report_task_id) or {}
        held = int(report.get("open_quarantine") or 0)
        if not held:
            log.info("%s: nothing held: every approved record went through or is on its way", self.entity_id)
            return 0
        by_dataset = ", ".join(f"{dataset} {count}"
                               for dataset, count in sorted((report.get("open_quarantine_by_dataset") or {}).items()))
        # Airflow writes the reason into the task log ("Skipping task." reason=...).
        raise AirflowSkipException(f"{self.entity_id}: {held} held for a person ({by_dataset}); LedgerBridge -> "
                                   f"{self.entity_id} -> Quarantine in this UI, or `ledgerbridge quarantine list "
                                   f"--entity {self.entity_id}`, says why and lets a person release or dismiss each. "
                                   "The run did its job: this task is skipped only to mark it")
