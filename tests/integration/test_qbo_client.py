"""The QuickBooks Online client against the sandbox: tokens, paging, faults, incremental pulls."""
from __future__ import annotations

import hashlib
import threading
import time

import pytest
import requests
from sqlalchemy import select

from ledgerbridge.connectors.errors import ReconnectRequired
from ledgerbridge.connectors.factory import ConnectionSettings, ConnectionSettingsError, quickbooks_online
from ledgerbridge.connectors.qbo.faults import DuplicateName, InvalidReference, QueryError
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import LinkStatus, OAuthToken, Party, ReferenceRecord
from ledgerbridge.pipeline import run_step
from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread
from support import CLIENT_ID, CLIENT_SECRET, bill, connect_company, context, hub_data, make_entity, sync


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


@pytest.fixture
def clocked_server():
    clock = Clock()
    server = serve_in_thread(QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=clock))
    server.clock = clock
    yield server
    server.stop()


def test_rotated_refresh_tokens_are_stored_encrypted_and_used_after_expiry(ledger, clocked_server):
    entity = make_entity("tokens")
    conn = connect_company(clocked_server, ledger, entity, lists={})
    client = quickbooks_online(conn, ledger).client
    client.query("SELECT * FROM Account")
    with ledger.session() as session:
        row = session.scalars(select(OAuthToken)).one()
        first_version, stored = row.version, row.refresh_token
    newest = client.tokens.current().refresh_token
    assert newest != conn.extra["refresh_token"]  # rotated on the first refresh
    assert newest not in stored and stored.startswith("gAAAAA")  # kept as a Fernet token, not in clear

    # Two hours later the access token is dead on the server; the client refreshes on the 401,
    # with the rotated refresh token from the ledger (the connection's seed no longer works).
    clocked_server.clock.now += 7200
    fresh_client = quickbooks_online(conn, ledger).client
    fresh_client._access = client._access  # a token the client still believes valid
    fresh_client.query("SELECT * FROM Account")
    with ledger.session() as session:
        assert session.scalars(select(OAuthToken)).one().version == first_version + 1


def test_a_reconnected_company_uses_the_connections_new_token(ledger, qbo_server):
    entity = make_entity("reconnect")
    conn = connect_company(qbo_server, ledger, entity, lists={})
    quickbooks_online(conn, ledger).client.query("SELECT * FROM Account")
    # A person reconnects the company: a new refresh token goes into the connection.
    reply = requests.post(f"{qbo_server.url}/_sandbox/realms", json={
        "client_id": CLIENT_ID, "company_name": "x", "realm_id": conn.schema}, timeout=5).json()
    reconnected = ConnectionSettings(conn.conn_id, conn.host, conn.login, conn.password, conn.schema,
                                     {**conn.extra, "refresh_token": reply["refresh_token"]})
    client = quickbooks_online(reconnected, ledger).client
    assert client.tokens.current().refresh_token == reply["refresh_token"]  # the stored one is the old seed's
    client.query("SELECT * FROM Account")
    with ledger.session() as session:
        row = session.scalars(select(OAuthToken)).one()
        assert row.seed_fingerprint == hashlib.sha256(reply["refresh_token"].encode()).hexdigest()


def test_a_connection_missing_fields_says_which(ledger):
    with pytest.raises(ConnectionSettingsError, match="Realm ID.*refresh_token"):
        quickbooks_online(ConnectionSettings("qbo_x", "http://127.0.0.1:1", "id", "secret"), ledger)


def test_paging_reads_past_1000_objects(ledger, qbo_server):
    entity = make_entity("paging")
    conn = connect_company(qbo_server, ledger, entity, lists={})
    company = qbo_server.sandbox.realms[conn.schema]
    with qbo_server.sandbox.lock:
        for n in range(1203):
            company.write("vendor", {"DisplayName": f"Vendor {n:04d}"})
    client = quickbooks_online(conn, ledger).client
    names = [v["DisplayName"] for v in client.query_all("Vendor", order_by="DisplayName")]
    assert len(names) == 1203 and names == sorted(names)
    with pytest.raises(QueryError, match="4001|too large"):
        client.query("SELECT * FROM Vendor MAXRESULTS 1500")


def test_typed_faults(ledger, qbo_server):
    entity = make_entity("faults")
    conn = connect_company(qbo_server, ledger, entity)
    client = quickbooks_online(conn, ledger).client
    with pytest.raises(DuplicateName) as duplicate:
        client.create("Vendor", {"DisplayName": "Vance Refrigeration"}, request_id="dup-name-1")  # a customer's name
    assert duplicate.value.code == "6240"
    with pytest.raises(InvalidReference) as invalid:
        client.create("Bill", {"VendorRef": {"value": "999999"}, "Line": [
            {"Amount": 1, "DetailType": "AccountBasedExpenseLineDetail",
             "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "1"}}}]}, request_id="bad-ref-1")
    assert "VendorRef" in str(invalid.value) or invalid.value.element


def test_a_doc_number_taken_by_someone_else_is_rejected_not_adopted(ledger, qbo_server):
    """The number was free when the bill was prepared and taken by hand before it left: QuickBooks'
    6140 is reported, not adopted (the bill found carries no key of ours)."""
    entity = make_entity("clash")
    conn = connect_company(qbo_server, ledger, entity)
    client = quickbooks_online(conn, ledger).client
    vendor = client.query("SELECT * FROM Vendor WHERE DisplayName = 'Nick Brown'")["Vendor"][0]["Id"]
    account = client.query("SELECT * FROM Account WHERE AcctNum = '6010'")["Account"][0]["Id"]
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "5.00", doc_number="NB-1")]))
    ctx = context(entity, ledger, conn)
    for step in ("pull_reference", "check_reference", "match_parties", "prepare_exports"):
        run_step(ctx, step)
    client.create("Bill", {"VendorRef": {"value": vendor}, "DocNumber": "NB-1", "Line": [
        {"Amount": "5.00", "DetailType": "AccountBasedExpenseLineDetail",
         "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}}}]}, request_id="typed-by-hand")

    report = run_step(ctx, "export_documents")

    assert report["rejected"] == 1
    assert "6140" in report["errors"][0]
    assert len(client.query("SELECT * FROM Bill")["Bill"]) == 1


def test_a_vendor_whose_name_a_customer_holds_is_not_created_but_reviewed(ledger, qbo_server):
    entity = make_entity("refused")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        # No hub vendor matches "Vance Refrigeration" as a vendor, but QuickBooks has a customer of that name.
        import_hub_data(session, entity, hub_data([bill("B-1", "V-9", "5.00")],
                                                  vendors=[{"hub_id": "V-9", "name": "Vance Refrigeration"}]))
    sync(entity, ledger, conn)
    with ledger.session() as session:
        link = session.scalars(select(Party)).one().link
        assert link.status == LinkStatus.REVIEW and "unique across customers and vendors" in link.note
    vendors = quickbooks_online(conn, ledger).client.query("SELECT * FROM Vendor").get("Vendor", [])
    assert "Vance Refrigeration" not in {v["DisplayName"] for v in vendors}


def test_incremental_pull_reads_only_changes_and_sees_deactivations(ledger, clocked_server):
    entity = make_entity("incremental")
    conn = connect_company(clocked_server, ledger, entity)
    client = quickbooks_online(conn, ledger).client
    # QuickBooks timestamps have whole seconds and the pull re-reads the watermark's own second
    # (">="), so the clock steps a minute between changes.
    clocked_server.clock.now += 60
    client.create("Vendor", {"DisplayName": "Late Vendor"}, request_id="late-vendor")
    first = sync(entity, ledger, conn)
    assert first["pull_reference"]["vendor"]["received"] == 3
    clocked_server.clock.now += 60
    vendor = client.query("SELECT * FROM Vendor WHERE DisplayName = 'Dunder Mifflin Paper'")["Vendor"][0]
    client.create("Vendor", {"Id": vendor["Id"], "SyncToken": vendor["SyncToken"], "sparse": True, "Active": False},
                  request_id="deactivate-dm")

    second = sync(entity, ledger, conn)

    # The watermark's second (Late Vendor) and the change (Dunder Mifflin), not Nick Brown.
    assert second["pull_reference"]["vendor"] == {
        "source": "change data capture", "received": 2, "new": 0, "updated": 2, "inactive": 1, "deleted": 0}
    with ledger.session() as session:
        mirrored = session.scalars(select(ReferenceRecord).where(ReferenceRecord.external_id == vendor["Id"],
                                                                 ReferenceRecord.kind == "vendor")).one()
        assert mirrored.active is False
    full = sync(entity, ledger, conn, full_refresh=True)
    assert full["pull_reference"]["account"]["received"] == first["pull_reference"]["account"]["received"]


def test_a_revoked_connection_never_reaches_the_api(ledger, qbo_server):
    entity = make_entity("revoked2")
    conn = connect_company(qbo_server, ledger, entity, lists={})
    broken = ConnectionSettings(conn.conn_id + "_b", conn.host, conn.login, "wrong-secret", conn.schema, conn.extra)
    with pytest.raises(ReconnectRequired, match="reconnect"):
        quickbooks_online(broken, ledger).client.query("SELECT * FROM Account")
    ctx = context(entity, ledger, conn)
    assert ctx.connector.company_id == conn.schema


def test_parallel_tasks_never_race_a_refresh(ledger, qbo_server):
    """Refresh tokens rotate and the old one dies at once: only one of four clients may refresh."""
    entity = make_entity("parallel")
    conn = connect_company(qbo_server, ledger, entity, lists={})
    clients = [quickbooks_online(conn, ledger).client for _ in range(4)]
    with ledger.session() as session:
        session.query(OAuthToken).delete()  # as before the very first refresh
    errors = []

    def work(client):
        try:
            for _ in range(3):
                client.query("SELECT * FROM Account")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with ledger.session() as session:
        assert session.scalars(select(OAuthToken)).one().version == 1
