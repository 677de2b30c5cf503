"""check_reference runs the reference suite: a bad list object is quarantined with its reason and the
others go on; many at once is a systemic problem that fails the task, saying so."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from ledgerbridge.flows.checks import SystemicQualityFailure
from ledgerbridge.context import ensure_entity
from ledgerbridge.ledger.models import QuarantineEntry, ReferenceRecord
from ledgerbridge.pipeline import RunContext, RunParams, run_step
from support import make_entity


def _mirror(ledger, entity, accounts: list[tuple[str, str]]) -> None:
    with ledger.session() as session:
        ensure_entity(session, entity)
        session.flush()
        for external_id, account_type in accounts:
            session.add(ReferenceRecord(entity_id=entity.id, kind="account", external_id=external_id,
                                        name=f"Account {external_id}", account_type=account_type, active=True))


def _check(ledger, entity) -> dict:
    ctx = RunContext(entity=entity, ledger=ledger, run_id="quality", params=RunParams.from_mapping({}),
                     connect=None, log=logging.getLogger("ledgerbridge.test.quality"))
    return run_step(ctx, "check_reference")


def test_one_bad_account_is_quarantined_with_its_reason_and_the_rest_go_on(ledger):
    entity = make_entity("refq")
    _mirror(ledger, entity, [(str(n), "Expense") for n in range(1, 40)] + [("40", "Expenses?")])

    summary = _check(ledger, entity)

    assert summary["account"] == {"checked": 40, "failed": 1}
    with ledger.session() as session:
        [held] = session.scalars(select(QuarantineEntry)).all()
    assert (held.dataset, held.record_key) == ("reference.account", "40")
    assert held.reasons[0]["field"] == "account_type" and held.reasons[0]["value"] == "Expenses?"


def test_a_list_where_many_fail_at_once_fails_the_task_as_a_systemic_problem(ledger):
    entity = make_entity("refsys")
    _mirror(ledger, entity, [(str(n), "Expense") for n in range(1, 31)] + [(str(n), "Spesen") for n in range(31, 41)])

    with pytest.raises(SystemicQualityFailure, match="reference data"):
        _check(ledger, entity)
