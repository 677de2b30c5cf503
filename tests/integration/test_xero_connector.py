"""The Xero connector over HTTP against the Xero sandbox on loopback: exactly once under a dropped
answer, a mixed batch with one bad record, a 429 waited out, the day's budget used up, and rotated
refresh tokens kept in the ledger."""
from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from ledgerbridge import jsonutil
from ledgerbridge.connectors.base import BillExport, Created, LineExport, Outgoing
from ledgerbridge.connectors.errors import OutcomeUnknown, RecordRejected, TransientError
from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.connectors.xero.factory import xero
from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread
from support import FakeClock

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-test", "test-secret"


@pytest.fixture
def served():
    """A sandbox of its own per test (faults and limits are the sandbox's, not the tenant's)."""
    servers = []

    def start(**options):
        server = serve_in_thread(XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}, **options))
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.stop()


def connect(server, ledger, **options):
    reply = requests.post(f"{server.url}/_sandbox/tenants", json={"client_id": CLIENT_ID, "name": "Test Org"},
                          timeout=10)
    reply.raise_for_status()
    tenant = reply.json()
    conn = ConnectionSettings(f"xero_{uuid.uuid4().hex[:8]}", server.url, CLIENT_ID, CLIENT_SECRET,
                              tenant["tenant_id"], {"refresh_token": tenant["refresh_token"],
                                                    "token_url": f"{server.url}/connect/token"})
    org = server.sandbox.tenants[tenant["tenant_id"]]
    with server.sandbox.lock:
        vendor = org.write("Contacts", {"Name": "Nick Brown"})["ContactID"]
    return xero(conn, ledger, **{"backoff_seconds": 0.01, **options}), org, vendor, conn


def bill_item(connector, vendor: str, ref: str, account: str = "429", amount: str = "1234.57") -> Outgoing:
    tag = uuid.uuid4().hex[:8]
    export = BillExport(f"HB-{tag}", vendor, f"B-{tag}", date.today(), date.today() + timedelta(days=30), "USD",
                        Decimal(amount), (LineExport(Decimal(amount), account, "supplies"),))
    key = str(uuid.uuid4())
    payload = jsonutil.loads(jsonutil.dumps(connector.payload("bill", export, key)))
    return Outgoing(ref=ref, kind="bill", payload=payload, key=key, queued_at=datetime.now(UTC))


def bills(server, org) -> dict[str, Decimal]:
    with server.sandbox.lock:
        return {i["InvoiceID"]: i["Total"] for i in org.records["Invoices"].values() if i["Type"] == "ACCPAY"}


def set_faults(server, **knobs) -> None:
    requests.post(f"{server.url}/_sandbox/faults", json=knobs, timeout=10).raise_for_status()


def test_a_bill_whose_answer_is_dropped_is_created_once(served, ledger):
    server = served()
    connector, org, vendor, _ = connect(server, ledger)
    item = bill_item(connector, vendor, "1")
    set_faults(server, drop_rate=1.0)

    # The answer is cut after the commit; the retry carries the same Idempotency-Key: Xero replays it.
    outcome = connector.create_many([item], "batch-1")["1"]

    assert isinstance(outcome, Created) and not outcome.adopted
    assert bills(server, org) == {outcome.external_id: Decimal("1234.57")}
    assert server.sandbox.stats(org.tenant_id)["idempotency_replays"] >= 1  # the answer came from the replay


def test_an_uncertain_bill_is_found_and_not_sent_again(served, ledger):
    server = served()
    connector, org, vendor, _ = connect(server, ledger, max_attempts=1)
    item = bill_item(connector, vendor, "1")
    set_faults(server, drop_rate=1.0)

    with pytest.raises(OutcomeUnknown):
        connector.create_many([item], "batch-1")  # one attempt, its answer lost: may have been applied
    set_faults(server)
    [(created_id, total)] = bills(server, org).items()

    found = connector.find_existing_many([item])  # what the flows do before sending it again
    again = connector.create_many([item], "batch-2")  # re-sent in another batch: looked up, not created

    assert found == {"1": Created(created_id, adopted=True)}
    assert again == {"1": Created(created_id, adopted=True)}
    assert bills(server, org) == {created_id: Decimal("1234.57")}


def test_fifty_bills_never_sent_are_one_request_and_are_read_back_forty_a_request(served, ledger):
    server = served()
    connector, org, vendor, _ = connect(server, ledger)
    items = [replace(bill_item(connector, vendor, str(n), amount=f"{n}.01"), attempts=0) for n in range(1, 51)]
    before = org.api_requests

    outcomes = connector.create_many(items, "batch-50")
    created = org.api_requests - before

    assert created == 1  # one PUT: rows never sent before are not looked up
    ids = {ref: outcome.external_id for ref, outcome in outcomes.items() if isinstance(outcome, Created)}
    assert len(ids) == 50 and bills(server, org) == {ids[str(n)]: Decimal(f"{n}.01") for n in range(1, 51)}

    unknown = "00000000-0000-0000-0000-000000000000"
    remote = connector.fetch_documents("bill", [*ids.values(), unknown])

    assert org.api_requests - before - created == 2  # 51 ids: GET Invoices?IDs= of 40, then of 11
    assert set(remote) == set(ids.values())  # the unknown one is not there
    assert {remote[ids[str(n)]].total for n in (1, 50)} == {Decimal("1.01"), Decimal("50.01")}
    assert all(remote[i].balance == remote[i].total for i in ids.values())  # nothing paid yet


def test_a_mixed_batch_rejects_the_bad_record_naming_its_field_and_creates_the_others(served, ledger):
    server = served()
    connector, org, vendor, _ = connect(server, ledger)
    items = [bill_item(connector, vendor, "1", amount="10.00"), bill_item(connector, vendor, "2", account="987654"),
             bill_item(connector, vendor, "3", amount="30.30")]

    outcomes = connector.create_many(items, "batch-mixed")

    rejected = outcomes["2"]
    assert isinstance(rejected, RecordRejected)
    assert rejected.element == "LineItems.AccountCode" and "987654" in str(rejected)
    created = {ref: outcome.external_id for ref, outcome in outcomes.items() if isinstance(outcome, Created)}
    assert set(created) == {"1", "3"}
    assert bills(server, org) == {created["1"]: Decimal("10.00"), created["3"]: Decimal("30.30")}


def test_a_429_is_waited_out_for_as_long_as_retry_after_says(served, ledger):
    clock = FakeClock(time.time())
    server = served(clock=clock, per_minute=3)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)  # the sandbox's minute moves on while the client waits

    connector, _, _, _ = connect(server, ledger, sleep=sleep)
    for _ in range(3):
        list(connector.fetch_reference("account", None))  # three calls: the minute's budget

    accounts = list(connector.fetch_reference("account", None))  # 429 (minute), waited out, then answered

    assert {a.external_id for a in accounts} >= {"090", "429"}
    assert waits and max(waits) >= 1.0
    assert connector.client.minute_remaining is not None


def test_the_days_budget_used_up_is_a_transient_error_saying_so(served, ledger):
    server = served(per_day=2)
    connector, _, _, _ = connect(server, ledger)
    list(connector.fetch_reference("account", None))
    list(connector.fetch_reference("tax_code", None))

    with pytest.raises(TransientError, match="daily limit.*X-DayLimit-Remaining: 0"):
        list(connector.fetch_reference("vendor", None))


def test_attachments_past_the_days_budget_wait_as_not_sent(served, ledger):
    """The budget ends after the first of three uploads: the other two were refused before anything was
    applied, so they are pending again (TransientError), not of unknown outcome."""
    server = served(per_day=1)
    connector, org, vendor, _ = connect(server, ledger)
    with server.sandbox.lock:
        invoice_id = org.write("Invoices", {"Type": "ACCPAY", "Contact": {"ContactID": vendor}, "InvoiceNumber": "A-1",
                                            "LineItems": [{"Description": "x", "UnitAmount": 5, "AccountCode": "429"}]}
                               )["InvoiceID"]
    files = [Outgoing(ref=f"att-{n}", kind="attachment", key=str(uuid.uuid4()), content=b"scan", attempts=0,
                      payload={"Endpoint": "Invoices", "DocumentID": invoice_id, "FileName": f"scan-{n}.pdf",
                               "MimeType": "application/pdf"}) for n in range(3)]
    outcomes = connector.create_many(files, "batch-attachments")  # the token refresh is no API call

    assert isinstance(outcomes["att-0"], Created)
    assert all(type(outcomes[f"att-{n}"]).__name__ == "DayLimitExhausted" for n in (1, 2))
    assert [a["FileName"] for a in org.attachments.values()] == ["scan-0.pdf"]


def test_rotated_refresh_tokens_are_kept_so_a_new_connector_goes_on(served, ledger):
    server = served(access_token_ttl=1)
    connector, _, _, conn = connect(server, ledger)
    list(connector.fetch_reference("account", None))
    time.sleep(1.1)  # the access token expired: the next call refreshes (and Xero rotates the refresh token)
    list(connector.fetch_reference("account", None))

    # A connector built afresh from the same connection (the seed token is spent) uses the stored one.
    fresh = xero(conn, ledger, backoff_seconds=0.01)
    assert {a.external_id for a in fresh.fetch_reference("account", None)} >= {"090"}


# -- what the review found: each fails without its fix ---------------------------------------------

def _payment_item(connector, vendor_bills: list[tuple[str, str]], ref: str) -> Outgoing:
    from ledgerbridge.connectors.base import AppliedTo, BillPaymentExport

    export = BillPaymentExport(f"HP-{ref}", "vendor", date.today(), sum(Decimal(a) for _, a in vendor_bills), "USD",
                               "090", tuple(AppliedTo(bill_id, Decimal(a)) for bill_id, a in vendor_bills))
    key = str(uuid.uuid4())
    return Outgoing(ref=ref, kind="bill_payment", key=key, queued_at=datetime.now(UTC),
                    payload=jsonutil.loads(jsonutil.dumps(connector.payload("bill_payment", export, key))))


def test_a_payment_xero_takes_only_in_part_is_held_naming_both_parts_never_adopted(served, ledger):
    server = served()
    connector, org, vendor, _ = connect(server, ledger)
    first, second = (connector.create_many([bill_item(connector, vendor, n, amount=a)], f"b{n}")[n].external_id
                     for n, a in (("1", "100.00"), ("2", "60.00")))
    item = _payment_item(connector, [(first, "100.00"), (second, "60.01")], "P")  # 0.01 more than the second is due

    outcome = connector.create_many([item], "pay-1")["P"]

    assert isinstance(outcome, RecordRejected) and outcome.element == "Payments"
    assert f"100.00 to invoice {first}" in str(outcome) and f"60.01 to invoice {second}" in str(outcome)
    assert "only in part" in str(outcome)
    # Looked up again (as before any re-send), the one Payment there is not taken for the whole.
    again = connector.find_existing_many([item])["P"]
    assert isinstance(again, RecordRejected) and "60.01 to invoice" in str(again)
    with server.sandbox.lock:
        assert [p["Amount"] for p in org.records["Payments"].values()] == [Decimal("100.00")]


def test_a_bill_a_person_keyed_with_our_number_is_not_taken_for_ours(served, ledger):
    server = served()
    connector, org, vendor, _ = connect(server, ledger)
    ours = replace(bill_item(connector, vendor, "1", amount="100.00"), attempts=1)  # may have been sent before
    with server.sandbox.lock:  # ... it was not; a clerk keyed the supplier's bill of that number meanwhile
        theirs = org.write("Invoices", {**ours.payload, "LineItems": [
            {**ours.payload["LineItems"][0], "UnitAmount": "1148.85", "LineAmount": "1148.85"}]})["InvoiceID"]

    outcome = connector.create_many([ours], "batch-1")["1"]

    assert isinstance(outcome, Created) and not outcome.adopted and outcome.external_id != theirs
    assert sorted(bills(server, org).values()) == [Decimal("100.00"), Decimal("1148.85")]


def test_a_pull_resumes_from_xeros_clock_before_its_first_read(served, ledger):
    clock = FakeClock(time.time())
    server = served(clock=clock, per_minute=100_000)
    connector, _, _, _ = connect(server, ledger)
    connector.client.get("Organisation")
    before = connector.client.server_time
    real_get = connector.client.get

    def slow_get(*args, **kwargs):  # each read takes Xero 90 seconds
        clock.advance(90)
        return real_get(*args, **kwargs)
    connector.client.get = slow_get
    since = datetime.now(UTC) - timedelta(days=1)

    changes = connector.fetch_changes({"account": since, "vendor": since, "tax_code": since}, datetime.now(UTC))

    # A change made while the later kinds were read is read again next time, never skipped.
    assert changes.as_of - before <= timedelta(seconds=91)
    assert connector.client.server_time - changes.as_of >= timedelta(seconds=3 * 90)


def test_a_batch_whose_second_group_meets_the_days_limit_leaves_that_group_pending(served, ledger):
    from ledgerbridge.connectors.base import CreditNoteExport, InvoiceExport, SalesLineExport

    server = served(per_day=1)
    connector, org, _, _ = connect(server, ledger)
    with server.sandbox.lock:
        customer = org.write("Contacts", {"Name": "Vance Refrigeration"})["ContactID"]
        org.write("Items", {"Code": "SVC", "Name": "Service", "SalesDetails": {"AccountCode": "200"}})
    line = (SalesLineExport(Decimal("10.00"), "SVC"),)
    sale = InvoiceExport("I-1", customer, "S-1", date.today(), None, "USD", Decimal("10.00"), line)
    credit = CreditNoteExport("CN-1", customer, "CN-1", date.today(), "USD", Decimal("10.00"), line)
    items = [Outgoing(ref=ref, kind=kind, key=str(uuid.uuid4()), attempts=0, queued_at=datetime.now(UTC),
                      payload=jsonutil.loads(jsonutil.dumps(connector.payload(kind, export, "k-" + ref))))
             for ref, kind, export in (("i", "invoice", sale), ("c", "credit_note", credit))]

    outcomes = connector.create_many(items, "mixed")

    assert isinstance(outcomes["i"], Created)
    assert isinstance(outcomes["c"], TransientError) and not isinstance(outcomes["c"], OutcomeUnknown)


def test_a_line_by_amount_and_quantity_goes_with_the_exact_unit_amount_or_as_one(served, ledger):
    from ledgerbridge.connectors.base import InvoiceExport, SalesLineExport

    connector, _, _, _ = connect(served(), ledger)
    lines = (SalesLineExport(Decimal("30.00"), "SVC", quantity=Decimal("3")),
             SalesLineExport(Decimal("10.00"), "SVC", quantity=Decimal("3")))
    payload = connector.payload("invoice", InvoiceExport("I-1", "c", None, date.today(), None, "USD",
                                                         Decimal("40.00"), lines), "k")
    assert [(line["Quantity"], line["UnitAmount"], line["LineAmount"]) for line in payload["LineItems"]] == [
        (Decimal("3"), Decimal("10.00"), Decimal("30.00")), (Decimal("1"), Decimal("10.00"), Decimal("10.00"))]
