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
