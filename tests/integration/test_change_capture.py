"""Incremental pulls by Change Data Capture: deletions reach the ledger; too old or too many falls back."""
from __future__ import annotations

import logging

import pytest
from ledgerbridge.connectors.factory import quickbooks_online
from ledgerbridge.flows.reconcile import ReconciliationError
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import ReferenceRecord
from sqlalchemy import select
from support import bill, company, connect_company, hub_data, make_entity, query, sync


def _expense_account(server, conn, ledger) -> str:
    return query(server, conn, ledger, "SELECT * FROM Account WHERE AcctNum = '6010'")[0]["Id"]


def _vendor(server, conn, ledger, name: str) -> str:
    return query(server, conn, ledger, f"SELECT * FROM Vendor WHERE DisplayName = '{name}'")[0]["Id"]


def _their_bill(client, vendor: str, account: str, number: str) -> dict:
    """A bill somebody entered in QuickBooks directly."""
    return client.create("Bill", {"VendorRef": {"value": vendor}, "DocNumber": number, "Line": [
        {"Amount": "40.00", "DetailType": "AccountBasedExpenseLineDetail",
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]}, request_id=f"theirs-{number}")


def _mirrored(ledger, kind: str, external_id: str) -> ReferenceRecord:
    with ledger.session() as session:
        return session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.kind == kind, ReferenceRecord.external_id == external_id)).one()


def test_a_bill_deleted_in_quickbooks_is_marked_deleted_by_change_data_capture(ledger, qbo_server):
    entity = make_entity("cdc_delete", flows=("reference",))
    conn = connect_company(qbo_server, ledger, entity)
    client = quickbooks_online(conn, ledger).client
    theirs = _their_bill(client, _vendor(qbo_server, conn, ledger, "Dunder Mifflin Paper"),
                         _expense_account(qbo_server, conn, ledger), "DM-77")
    first = sync(entity, ledger, conn)
    assert first["pull_reference"]["bill"]["source"] == "query"  # no watermark yet: full pull
    mirrored = _mirrored(ledger, "bill", theirs["Id"])
    assert (mirrored.number, mirrored.party_external_id, mirrored.deleted_at) == ("DM-77", theirs["VendorRef"]["value"],
                                                                                  None)

    client.delete("Bill", theirs["Id"], theirs["SyncToken"], request_id="delete-dm-77")
    second = sync(entity, ledger, conn)

    assert second["pull_reference"]["bill"]["source"] == "change data capture"
    assert second["pull_reference"]["bill"]["deleted"] == 1
    mirrored = _mirrored(ledger, "bill", theirs["Id"])
    assert mirrored.deleted_at is not None and mirrored.active is False
    assert mirrored.number == "DM-77"  # what it was stays readable
    third = sync(entity, ledger, conn)
    assert third["pull_reference"]["bill"]["deleted"] == 0  # applied once


def test_a_thousand_changes_fall_back_to_querying_by_last_updated_time(ledger, qbo_server):
    entity = make_entity("cdc_many", flows=("reference",))
    conn = connect_company(qbo_server, ledger, entity, lists={})
    client = quickbooks_online(conn, ledger).client
    sync(entity, ledger, conn)
    for start in range(0, 1000, 30):
        client.batch([{"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"Customer {n:04d}"}}
                      for n in range(start, min(start + 30, 1000))], request_id=f"customers-{start}")

    second = sync(entity, ledger, conn)

    # Change Data Capture stops at 1000 objects: a query by LastUpdatedTime reads them all; the
    # other kinds are still asked by CDC, each alone.
    assert second["pull_reference"]["customer"]["source"] == "query"
    assert second["pull_reference"]["customer"]["new"] == 1000
    assert second["pull_reference"]["vendor"]["source"] == "change data capture"


def test_a_full_refresh_marks_what_quickbooks_no_longer_has_but_never_most_of_a_list(ledger, qbo_server, caplog):
    entity = make_entity("cdc_full", flows=("reference",))
    conn = connect_company(qbo_server, ledger, entity)
    client = quickbooks_online(conn, ledger).client
    vendor = _vendor(qbo_server, conn, ledger, "Dunder Mifflin Paper")
    account = _expense_account(qbo_server, conn, ledger)
    bills = [_their_bill(client, vendor, account, f"DM-{n}") for n in range(1, 5)]
    sync(entity, ledger, conn)
    # Deleted behind our back (the deletion record is gone, as it is after 30 days).
    del company(qbo_server, conn).objects["Bill"][bills[0]["Id"]]

    refreshed = sync(entity, ledger, conn, full_refresh=True)

    assert refreshed["pull_reference"]["bill"]["deleted"] == 1
    assert _mirrored(ledger, "bill", bills[0]["Id"]).deleted_at is not None
    assert _mirrored(ledger, "bill", bills[1]["Id"]).deleted_at is None

    # A half-empty answer: three of the four bills missing at once is not believed.
    for gone in bills[1:]:
        del company(qbo_server, conn).objects["Bill"][gone["Id"]]
    with caplog.at_level(logging.WARNING):
        suspicious = sync(entity, ledger, conn, full_refresh=True)
    assert suspicious["pull_reference"]["bill"]["deleted"] == 0
    assert "looks like an incomplete answer" in caplog.text


def test_an_exported_bill_deleted_in_quickbooks_is_reported_and_not_sent_again(ledger, qbo_server, caplog):
    entity = make_entity("cdc_exported")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "12.00")]))
    first = sync(entity, ledger, conn)
    assert first["export_documents"]["confirmed"] == 1
    client = quickbooks_online(conn, ledger).client
    exported = client.query("SELECT * FROM Bill WHERE DocNumber = 'B-1'")["Bill"][0]
    client.delete("Bill", exported["Id"], exported["SyncToken"], request_id="delete-b-1")

    # reconcile refuses to call the books in agreement
    with caplog.at_level(logging.WARNING), pytest.raises(ReconciliationError, match="not found"):
        sync(entity, ledger, conn)

    assert "has been deleted in the accounting system" in caplog.text
    assert client.query("SELECT count(*) FROM Bill")["totalCount"] == 0  # not re-created behind anyone's back


def test_an_object_changed_while_a_long_list_is_read_is_not_skipped(ledger, qbo_server):
    """Paging by position would shift the rest of the list behind the changed object and skip one;
    paging by LastUpdatedTime reads the changed object again at the end, and skips none."""
    entity = make_entity("keyset", flows=("reference",))
    conn = connect_company(qbo_server, ledger, entity, lists={})
    client = quickbooks_online(conn, ledger).client
    for start in range(0, 1010, 30):
        client.batch([{"bId": str(n), "operation": "create", "Vendor": {"DisplayName": f"Vendor {n:04d}"}}
                      for n in range(start, min(start + 30, 1010))], request_id=f"vendors-{start}")
    every_id = {v["Id"] for v in client.query_all("Vendor")}
    connector = quickbooks_online(conn, ledger)

    read = []
    for ref in connector.fetch_reference("vendor", None):
        read.append(ref.external_id)
        if len(read) == 10:  # somebody edits the first vendor while we read
            first = client.read("Vendor", read[0])
            client.create("Vendor", {"Id": first["Id"], "SyncToken": first["SyncToken"], "sparse": True,
                                     "CompanyName": "Renamed Inc."}, request_id="edit-first")

    assert set(read) == every_id
    assert read.count(read[0]) == 2  # read again after its change
