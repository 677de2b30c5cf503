"""held_records marks a run that left records held for a person (skipped, the run still green), and
succeeds when nothing is held; it reads reconcile's report from XCom."""
from __future__ import annotations

import pytest


class _TaskInstance:
    """What the operator uses of Airflow's runtime task instance: the upstream report in XCom."""

    def __init__(self, report):
        self.report = report

    def xcom_pull(self, task_ids):
        assert task_ids == "reconcile"
        return self.report


def _run(report):
    from ledgerbridge_airflow.operators.held import HeldRecordsOperator

    operator = HeldRecordsOperator(task_id="held_records", entity_id="acme")
    return operator.execute({"ti": _TaskInstance(report)})


def test_records_held_for_a_person_skip_the_task_with_the_count_per_dataset():
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException) as skipped:
        _run({"open_quarantine": 3, "open_quarantine_by_dataset": {"source.bills": 1, "bills": 2}})
    assert str(skipped.value).startswith("acme: 3 held for a person (bills 2, source.bills 1); LedgerBridge -> acme "
                                         "-> Quarantine in this UI, or `ledgerbridge quarantine list --entity acme`, "
                                         "says why")


@pytest.mark.parametrize("report", [{"open_quarantine": 0, "open_quarantine_by_dataset": {}}, None])
def test_nothing_held_succeeds(report):
    assert _run(report) == 0
