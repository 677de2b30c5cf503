"""A vendor's bill number QuickBooks already holds is refused before sending, not by a 6140."""
from __future__ import annotations

from collections import Counter

from ledgerbridge.connectors.factory import quickbooks_online
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import QuarantineEntry
from sqlalchemy import select
from support import (
    bill,
    bills_in_company,
    connect_company,
    hub_data,
    make_entity,
    query,
    sync,
)


def test_a_bill_number_the_vendor_already_has_is_quarantined_before_sending(ledger, qbo_server):
    entity = make_entity("dupnum")
    conn = connect_company(qbo_server, ledger, entity)
    vendor = query(qbo_server, conn, ledger, "SELECT * FROM Vendor WHERE DisplayName = 'Dunder Mifflin Paper'")[0]
    account = query(qbo_server, conn, ledger, "SELECT * FROM Account WHERE AcctNum = '6010'")[0]["Id"]
    # Somebody keyed the paper invoice into QuickBooks by hand already.
    theirs = quickbooks_online(conn, ledger).client.create("Bill", {
        "VendorRef": {"value": vendor["Id"]}, "DocNumber": "INV-500", "Line": [
            {"Amount": "80.00", "DetailType": "AccountBasedExpenseLineDetail",
             "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]}, request_id="by-hand-500")
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([
            bill("B-1", "V-2", "80.00", doc_number="INV-500"),   # the one keyed by hand
            bill("B-2", "V-2", "10.00", doc_number="INV-501"),
            bill("B-3", "V-2", "11.00", doc_number="INV-501"),   # the hub holds the number twice
            bill("B-4", "V-1", "12.00", doc_number="INV-501"),   # another vendor may use it
        ]))

    report = sync(entity, ledger, conn)

    assert report["prepare_exports"]["queued"] == 2 and report["prepare_exports"]["quarantined"] == 2
    assert report["export_documents"]["rejected"] == 0  # nothing left for QuickBooks to refuse
    assert Counter(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == {"INV-500": 1, "INV-501": 2}
    with ledger.session() as session:
        held = {q.record_key: q.reasons for q in session.scalars(select(QuarantineEntry))}
    assert set(held) == {"B-1", "B-3"}
    assert held["B-1"][0]["field"] == "doc_number"
    assert f"bill {theirs['Id']} in the accounting system" in held["B-1"][0]["problem"]
    assert "B-2, in this batch" in held["B-3"][0]["problem"]


def test_a_desktop_bill_number_already_on_its_way_is_held_before_a_second_file_carries_it(ledger, tmp_path):
    """QuickBooks Desktop refuses a vendor's bill number twice. A bill handed to the agent and not
    answered yet holds its number: a second bill of that vendor with that number, arriving in a later
    run, is held before it is written into a file (the check reads the outbox's own columns, never a
    connector's payload, whose fields differ from QuickBooks Online's)."""
    from ledgerbridge.connectors.factory import ConnectionSettings, build_connector
    from ledgerbridge.filedrop.fs import LocalFileSystem
    from ledgerbridge.pipeline import RunContext, run_all
    from ledgerbridge.registry import LegalEntity
    from ledgerbridge.sandbox.desktop.agent import DesktopAgent
    from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo

    entity = LegalEntity.model_validate({
        "id": "dup_desk", "name": "Dup Desktop", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_dup_desk"},
        "flows": ["reference", "parties", "bills"]})
    root = tmp_path / "drop"
    root.mkdir()
    fs = LocalFileSystem(root)
    agent = DesktopAgent(seed_demo(DesktopCompany(company_id="QBD-dup", entity_id=entity.id)),
                         state_file=tmp_path / "qbd.json")
    agent.publish_lists(fs, entity.id, full=True)
    conn = ConnectionSettings("drop_dup_desk", extra={"company_id": "QBD-dup", "local_root": str(root)})

    def run(name: str) -> dict:
        return run_all(RunContext(entity=entity, ledger=ledger, run_id=name,
                                  connect=lambda: build_connector(entity, conn, ledger)))

    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": [{"hub_id": "V-1", "name": "Nick Brown"}],
                                          "bills": [bill("B-1", "V-1", "10.00", account="6030", doc_number="NB-7")]})
    assert run("first")["export_documents"]["awaiting"] == 1  # in a file; the agent has not answered yet
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": [{"hub_id": "V-1", "name": "Nick Brown"}],
                                          "bills": [bill("B-2", "V-1", "11.00", account="6030", doc_number="NB-7")]})

    second = run("second")

    assert second["prepare_exports"].get("queued", 0) == 0 and second["prepare_exports"]["quarantined"] == 1
    with ledger.session() as session:
        held = session.scalars(select(QuarantineEntry)).one()
    assert held.record_key == "B-2" and held.reasons[0]["field"] == "doc_number"
    assert "bill:B-1, on its way" in held.reasons[0]["problem"]
    agent.process(fs, entity.id)
    assert Counter(b["bill_number"] for b in agent.company.transactions["bill"].values()) == {"NB-7": 1}
