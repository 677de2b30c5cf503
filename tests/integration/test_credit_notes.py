"""Credit notes, the kind added by one module (docs/extending.md): to QuickBooks Online once each as a
CreditMemo, even when the answer is lost; an unknown item held naming the line; held with the reason for
a file-drop agent speaking a protocol version before 4, which has none (tests/integration/test_file_drop_credits.py
sends them to one speaking 4)."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from decimal import Decimal

from dropping_proxy import DroppingProxy
from ledgerbridge.connectors.factory import ConnectionSettings, build_connector
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import (
    Document,
    OutboxEntry,
    OutboxState,
    PaidStatus,
    QuarantineEntry,
    ReferenceRecord,
)
from ledgerbridge.pipeline import RunContext, run_all
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.desktop.agent import DesktopAgent
from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo
from sqlalchemy import select
from support import company, connect_company, context, make_entity, sync

FEED = {
    "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}],
    "credit_notes": [
        # 3 x 33.37 + 0.10: cents binary floating point cannot hold.
        {"hub_id": "CN-1", "customer": "C-1", "doc_number": "CN-1", "doc_date": "2026-11-04", "status": "approved",
         "memo": "returned compressor", "lines": [{"item": "Services", "quantity": "3", "unit_price": "33.37"},
                                                  {"item": "Materials", "amount": "0.10"}]},
        {"hub_id": "CN-2", "customer": "C-1", "doc_number": "CN-2", "doc_date": "2026-11-04", "status": "approved",
         "lines": [{"item": "Gizmos", "amount": "5.00"}]},
    ],
}


def _credit_memo_creates(request: bytes) -> bool:
    return (request.startswith(b"POST ") and b"/batch?" in request.split(b"\r\n", 1)[0]
            and b'"CreditMemo":' in request)


def test_a_credit_note_becomes_one_credit_memo_even_when_its_answer_is_lost(ledger, qbo_server):
    entity = make_entity("credit_notes", flows=("reference", "parties", "credit_notes"))
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, FEED)
    # Every answer to the create is lost (the memo exists; the client hears nothing): one attempt,
    # then collect_confirmations looks it up by our key.
    proxy = DroppingProxy(qbo_server.url, _credit_memo_creates)
    through = replace(conn, host=proxy.url, extra={**conn.extra, "token_url": f"{proxy.url}/oauth2/v1/tokens/bearer"})
    try:
        first = run_all(context(entity, ledger, through, client_options={"max_attempts": 1}))
    finally:
        proxy.close()

    assert proxy.dropped == 1
    assert first["export_documents"]["uncertain"] == 1 and first["collect_confirmations"]["settled_by_lookup"] == 1
    [memo] = company(qbo_server, conn).objects["CreditMemo"].values()
    vance = next(c["Id"] for c in company(qbo_server, conn).objects["Customer"].values()
                 if c["DisplayName"] == "Vance Refrigeration")
    assert (memo["DocNumber"], memo["CustomerRef"]["value"], memo["TotalAmt"]) == ("CN-1", vance, Decimal("100.21"))
    assert memo["Balance"] == memo["RemainingCredit"] == Decimal("100.21")
    assert [(line["Amount"], line["SalesItemLineDetail"].get("Qty")) for line in memo["Line"]] == [
        (Decimal("100.11"), Decimal("3")), (Decimal("0.10"), None)]
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "credit_note")).one()
        credit_note = session.scalars(select(Document).where(Document.hub_id == "CN-1")).one()
        held = session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open")).one()
        assert row.state == OutboxState.CONFIRMED and row.idempotency_key in memo["PrivateNote"]
        assert credit_note.external_id == row.external_id == memo["Id"]
        assert (credit_note.paid_status, credit_note.open_balance) == (PaidStatus.UNPAID, None)  # not tracked
    assert (held.dataset, held.record_key) == ("credit_notes", "CN-2")
    assert (held.reasons[0]["field"], held.reasons[0]["value"]) == ("lines[1].item_code", "Gizmos")
    assert first["reconcile"]["credit_notes"]["buckets"] == {"confirmed": 1, "quarantined": 1}
    assert first["reconcile"]["accounting_total_of_confirmed_credit_notes"] == Decimal("100.21")

    second = sync(entity, ledger, conn)

    assert second["export_documents"]["sent"] == 0
    assert len(company(qbo_server, conn).objects["CreditMemo"]) == 1
    assert second["reconcile"]["credit_notes"]["buckets"] == {"confirmed": 1, "quarantined": 1}
    with ledger.session() as session:  # mirrored, so a deletion there would be noticed
        mirrored = session.scalars(select(ReferenceRecord).where(ReferenceRecord.kind == "credit_note")).one()
    assert (mirrored.external_id, mirrored.number, mirrored.party_external_id) == (memo["Id"], "CN-1", vance)


def test_a_file_drop_agent_before_version_4_takes_no_credit_notes_they_are_held_with_the_reason(ledger, tmp_path,
                                                                                                caplog):
    """Protocol version 1 has no credit notes: the credit note is held in quarantine saying so and what to do,
    gets no outbox row, and the invoice of the same run goes out as a file."""
    entity = LegalEntity.model_validate({
        "id": "credit_desk", "name": "Credit Desktop", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_credit_desk"},
        "flows": ["reference", "parties", "invoices", "credit_notes"]})
    root = tmp_path / "drop"
    root.mkdir()
    fs = LocalFileSystem(root)
    agent = DesktopAgent(seed_demo(DesktopCompany(company_id="QBD-credit", entity_id=entity.id)),
                         state_file=tmp_path / "qbd.json")
    agent.publish_lists(fs, entity.id, full=True)
    conn = ConnectionSettings("drop_credit_desk", extra={"company_id": "QBD-credit", "local_root": str(root)})

    def run(name: str) -> dict:
        return run_all(RunContext(entity=entity, ledger=ledger, run_id=name,
                                  connect=lambda: build_connector(entity, conn, ledger)))

    lines = [{"item": "Consulting", "amount": "150.00"}]
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}],
            "invoices": [{"hub_id": "I-1", "customer": "C-1", "doc_number": "I-1", "doc_date": "2026-11-02",
                          "status": "approved", "lines": lines}],
            "credit_notes": [{"hub_id": "CN-1", "customer": "C-1", "doc_number": "CN-1", "doc_date": "2026-11-04",
                              "status": "approved", "lines": lines}]})

    with caplog.at_level(logging.WARNING):
        first = run("first")
    agent.process(fs, entity.id)
    second = run("second")

    assert ("1 credit notes held, not sent: the entity's desktop agent speaks file-drop protocol version 1, which has "
            "no credit_notes message (version 4 added it: QuickBooks Desktop's CreditMemo); once the agent is upgraded, "
            "set the connection's extra protocol_version to 4") in caplog.text
    assert first["prepare_exports"]["credit_notes"]["held"] == 1 and first["export_documents"]["awaiting"] == 1
    assert second["export_documents"]["confirmed"] == 1
    assert [i["invoice_number"] for i in agent.company.transactions["invoice"].values()] == ["I-1"]
    with ledger.session() as session:
        assert Counter(row.kind for row in session.scalars(select(OutboxEntry))) == {"invoice": 1}
        credit_note = session.scalars(select(Document).where(Document.hub_id == "CN-1")).one()
        assert (credit_note.status, credit_note.external_id) == ("approved", None)
        held = session.scalars(select(QuarantineEntry).where(QuarantineEntry.record_key == "CN-1")).one()
    assert (held.dataset, held.status, held.reasons[0]["field"]) == ("credit_notes", "open", "kind")
    assert "cannot take a credit note: the entity's desktop agent speaks file-drop protocol version 1" in \
        held.reasons[0]["problem"]
    assert second["reconcile"]["credit_notes"]["buckets"] == {"quarantined": 1}
