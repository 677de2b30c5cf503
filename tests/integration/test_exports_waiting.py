"""What a realtime entity's every-minute run looks at before its export steps (ledgerbridge.flows.waiting):
an approved record new since the last export pass, an unsettled outbox row, or another run exporting.
Real runs against the QBO sandbox."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.connectors.qbo.connector import QuickBooksOnlineConnector
from ledgerbridge.connectors.xero.connector import XeroConnector
from ledgerbridge.flows.waiting import exports_waiting
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxEntry, OutboxState, QuarantineEntry, QuarantineStatus, SyncRun
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.registry import LegalEntity
from support import bill, connect_company, hub_data, make_entity, sync

MINE = "realtime__scheduled__2026-12-05T06:00:00+00:00"
QBO_KINDS = QuickBooksOnlineConnector.capabilities.kinds  # what the gate's connector says it carries


def test_only_what_the_last_pass_has_not_seen_or_left_unsettled_is_waiting(ledger, qbo_server):
    entity = make_entity("quick")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00"), bill("B-BAD", "V-1", "5.00",
                                                                                    account="9999")]))
    waiting = exports_waiting(ledger, entity, MINE, QBO_KINDS)
    assert (waiting.new_approved, waiting.unsettled, waiting.skip_reason("quick")) == ({"bills": 2}, 0, None)

    sync(entity, ledger, conn, run_id="scheduled__quick_1")  # B-1 sent; B-BAD held in quarantine
    waiting = exports_waiting(ledger, entity, MINE, QBO_KINDS)
    assert (waiting.new_approved, waiting.unsettled) == ({}, 0)
    assert waiting.skip_reason("quick").startswith("quick: nothing to send: no approved document or payment new "
                                                   "or changed since the last export pass (")

    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-2", "V-2", "20.00"), bill("B-DRAFT", status="draft")]))
    assert exports_waiting(ledger, entity, MINE, QBO_KINDS).new_approved == {"bills": 1}  # B-2; not the draft
    sync(entity, ledger, conn, run_id="scheduled__quick_2")
    assert exports_waiting(ledger, entity, MINE, QBO_KINDS).new_approved == {}

    with ledger.session() as session:  # a person lets B-BAD go as it is (what `quarantine release` records)
        session.execute(update(QuarantineEntry).where(QuarantineEntry.record_key == "B-BAD").values(
            status=QuarantineStatus.RELEASED, resolved_at=utcnow(), decided_by="alice"))
    waiting = exports_waiting(ledger, entity, MINE, QBO_KINDS)
    assert (waiting.new_approved, waiting.decided, waiting.skip_reason("quick")) == ({}, 1, None)
    sync(entity, ledger, conn, run_id="scheduled__quick_3")
    assert exports_waiting(ledger, entity, MINE, QBO_KINDS).decided == 0

    with ledger.session() as session:  # an answer that never came: to look up
        session.execute(update(OutboxEntry).where(OutboxEntry.record_key == "bill:B-2")
                        .values(state=OutboxState.UNCERTAIN))
    waiting = exports_waiting(ledger, entity, MINE, QBO_KINDS)
    assert (waiting.unsettled, waiting.skip_reason("quick"), waiting.describe()) == (
        1, None, "1 outbox row(s) to send or look up")


def test_nothing_is_looked_at_while_another_run_of_the_entity_exports(ledger, qbo_server):
    entity = make_entity("busy")
    connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1")]))
        session.add_all([
            SyncRun(entity_id="busy", run_id="scheduled__busy_1", step="export_documents", status="running",
                    started_at=utcnow() - timedelta(minutes=3)),
            # a step a dead worker left `running` yesterday is no run exporting now
            SyncRun(entity_id="busy", run_id="scheduled__busy_0", step="prepare_exports", status="running",
                    started_at=utcnow() - timedelta(days=1)),
            SyncRun(entity_id="busy", run_id=MINE, step="prepare_exports", status="running", started_at=utcnow())])
    waiting = exports_waiting(ledger, entity, MINE, QBO_KINDS)
    assert waiting.busy_run == "scheduled__busy_1"
    assert waiting.skip_reason("busy") == ("busy: run scheduled__busy_1 is in its export steps right now and sends "
                                           "what is waiting; export steps skipped")
    with ledger.session() as session:
        session.execute(update(SyncRun).where(SyncRun.run_id == "scheduled__busy_1").values(status="success"))
        assert session.scalars(select(SyncRun.run_id).where(SyncRun.status == "running")).all()
    waiting = exports_waiting(ledger, entity, MINE, QBO_KINDS)
    assert (waiting.busy_run, waiting.new_approved) == (None, {"bills": 1})


def test_approved_records_of_a_kind_the_connector_cannot_carry_start_no_run(ledger):
    """A desktop agent speaking file-drop protocol version 3 takes no sales receipt (version 4 added them): an
    approved one stays in the ledger, and must not make every minute's run go on to export steps that send
    nothing."""
    raw = make_entity("drop_receipts", create_missing_vendors=False,
                      flows=("reference", "parties", "bills", "sales_receipts")).model_dump(
        mode="json")
    entity = LegalEntity.model_validate({**raw, "accounting": {"kind": "quickbooks_desktop",
                                                               "conn_id": "drop_receipts"}})
    agent_v3 = FileDropConnector(lambda: None, entity.id, "company", protocol_version=3).capabilities.kinds
    assert "sales_receipt" not in agent_v3 and "bill" in agent_v3
    receipt = {"hub_id": "SR-1", "customer": "C-1", "doc_number": "SR-1", "doc_date": "2026-11-06",
               "status": "approved", "lines": [{"item": "Consulting", "quantity": "2", "unit_price": "150.00",
                                                "amount": "300.00"}]}
    with ledger.session() as session:
        import_hub_data(session, entity, {**hub_data([]), "customers": [{"hub_id": "C-1", "name": "Vance"}],
                                          "sales_receipts": [receipt]})
    waiting = exports_waiting(ledger, entity, MINE, agent_v3)
    assert (waiting.new_approved, waiting.skip_reason("drop_receipts")[:32]) == (
        {}, "drop_receipts: nothing to send: ")
    # The same receipt is waiting for a connector that carries it (QBO; Xero, as a RECEIVE bank transaction);
    # a bill waits for the version-3 agent too.
    assert exports_waiting(ledger, entity, MINE, QBO_KINDS).new_approved == {"sales receipts": 1}
    assert exports_waiting(ledger, entity, MINE, XeroConnector.capabilities.kinds).new_approved == {
        "sales receipts": 1}
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1")]))
    assert exports_waiting(ledger, entity, MINE, agent_v3).new_approved == {"bills": 1}