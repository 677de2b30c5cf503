"""Xero changes after export, through the connector against the Xero sandbox over HTTP: updates (POST
with the id), voids (Status VOIDED, a draft DELETED), lost answers found and not applied twice, a paid
invoice refused and held, and a document voided in Xero read as gone."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from ledgerbridge import jsonutil, kinds
from ledgerbridge.connectors.base import (
    VOID,
    BillExport,
    Created,
    CreditNoteExport,
    InvoiceExport,
    LineExport,
    Outgoing,
    SalesLineExport,
)
from ledgerbridge.connectors.errors import OutcomeUnknown, RecordRejected
from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.connectors.xero.factory import xero
from ledgerbridge.context import RunContext, ensure_entity
from ledgerbridge.flows import outbox
from ledgerbridge.flows.outbox import batch_key
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import OutboxEntry, OutboxState, QuarantineEntry
from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread
from sqlalchemy import select
from support import make_entity

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-test", "test-secret"
DAY = date(2026, 11, 2)


class Org:
    """A Xero organisation of its own sandbox, the connector to it, and a person at its books."""

    def __init__(self, server, ledger, **options):
        self.server, self.ledger = server, ledger
        reply = requests.post(f"{server.url}/_sandbox/tenants", json={"client_id": CLIENT_ID, "name": "Test Org"},
                              timeout=10)
        reply.raise_for_status()
        tenant = reply.json()
        self.conn = ConnectionSettings(f"xero_{uuid.uuid4().hex[:8]}", server.url, CLIENT_ID, CLIENT_SECRET,
                                       tenant["tenant_id"], {"refresh_token": tenant["refresh_token"],
                                                             "token_url": f"{server.url}/connect/token"})
        self.org = server.sandbox.tenants[tenant["tenant_id"]]
        self.connector = self.connect(**options)
        self.vendor = self.write("Contacts", {"Name": "Nick Brown"})["ContactID"]
        self.customer = self.write("Contacts", {"Name": "Vance Refrigeration"})["ContactID"]
        self.write("Items", {"Code": "SVC", "Name": "Services", "SalesDetails": {"AccountCode": "200"}})

    def connect(self, **options):
        return xero(self.conn, self.ledger, **{"backoff_seconds": 0.01, **options})

    def write(self, endpoint: str, element: dict) -> dict:
        """What a person does in Xero, straight in the sandbox's books."""
        with self.server.sandbox.lock:
            return self.org.write(endpoint, element)

    def get(self, endpoint: str, record_id: str) -> dict:
        with self.server.sandbox.lock:
            return jsonutil.loads(jsonutil.dumps(self.org.records[endpoint][record_id]))

    def faults(self, **knobs) -> None:
        requests.post(f"{self.server.url}/_sandbox/faults", json=knobs, timeout=10).raise_for_status()

    def invoice(self, *amounts: str) -> InvoiceExport:
        lines = tuple(_sales_line(a) for a in amounts)
        return InvoiceExport(f"HI-{uuid.uuid4().hex[:6]}", self.customer, f"I-{uuid.uuid4().hex[:8]}", DAY,
                             DAY + timedelta(days=30), "USD", sum(line.amount for line in lines), lines)

    def outgoing(self, kind: str, export, ref: str = "1", operation: str = "create",
                 target_id: str | None = None) -> Outgoing:
        """An outbox row as the sender loads it (payload stored as JSON and read back); an update's payload
        is built with the update's own key."""
        key = str(uuid.uuid4())
        payload = jsonutil.loads(jsonutil.dumps(self.connector.payload(kind, export, key))) if export else {}
        return Outgoing(ref=ref, kind=kind, payload=payload, key=key, queued_at=datetime.now(UTC),
                        operation=operation, target_id=target_id)

    def send(self, items: list[Outgoing], connector=None) -> dict:
        return (connector or self.connector).create_many(items, batch_key([item.key for item in items]))

    def create(self, kind: str, export) -> str:
        outcome = self.send([self.outgoing(kind, export)])["1"]
        assert isinstance(outcome, Created), outcome
        return outcome.external_id

    def pay(self, invoice_id: str, amount: str) -> dict:
        return self.write("Payments", {"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": "090"},
                                       "Date": DAY.isoformat(), "Amount": Decimal(amount)})


@pytest.fixture
def books(ledger):
    server = serve_in_thread(XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}))
    yield Org(server, ledger)
    server.stop()


def _sales_line(amount: str, quantity: str = "1") -> SalesLineExport:
    return SalesLineExport(Decimal(amount), "SVC", Decimal(quantity), Decimal(amount) / Decimal(quantity), "service")


# -- updates ----------------------------------------------------------------------------------------

def test_an_invoice_and_a_bill_are_updated_once_and_the_change_is_read_back(books):
    original = books.invoice("100.00", "50.00")
    invoice_id = books.create("invoice", original)
    bill = BillExport("HB-1", books.vendor, "B-UPD", DAY, None, "USD", Decimal("80.00"),
                      (LineExport(Decimal("80.00"), "429", "supplies"),))
    bill_id = books.create("bill", bill)
    created = books.get("Invoices", invoice_id)
    since = datetime.now(UTC) - timedelta(milliseconds=1)
    changed = replace(original, total=Decimal("42.50"), lines=(_sales_line("42.50", "5"),))
    update = books.outgoing("invoice", changed, operation="update:2", target_id=invoice_id)
    bill_update = books.outgoing("bill", replace(bill, total=Decimal("95.00"), lines=(
        LineExport(Decimal("90.00"), "429", "supplies"), LineExport(Decimal("5.00"), "400", "ads"))), ref="2",
        operation="update:2", target_id=bill_id)

    outcomes = books.send([update, bill_update])

    assert outcomes == {"1": Created(invoice_id), "2": Created(bill_id)}
    held = books.get("Invoices", invoice_id)
    assert (held["Total"], held["AmountDue"], held["Status"], held["InvoiceNumber"]) == (
        Decimal("42.50"), Decimal("42.50"), "AUTHORISED", original.doc_number)
    assert [(line["Quantity"], line["LineAmount"]) for line in held["LineItems"]] == [(5, Decimal("42.50"))]
    assert held["Reference"] == update.key  # the version marker: the key of the last operation applied
    assert held["_updated"] > created["_updated"]
    assert [line["LineAmount"] for line in books.get("Invoices", bill_id)["LineItems"]] == [90, 5]
    # If-Modified-Since sees the change, as an active invoice.
    seen = {ref.external_id: ref for ref in books.connector.fetch_changes(
        {"invoice": since}, datetime.now(UTC)).changes["invoice"]}
    assert invoice_id in seen and (seen[invoice_id].deleted, seen[invoice_id].active) == (False, True)
    assert books.connector.fetch_documents("invoice", [invoice_id])[invoice_id].total == Decimal("42.50")

    # The same update again (regrouped in another batch): applied already, found, nothing written.
    again = books.send([replace(update, ref="9")])
    assert again == {"9": Created(invoice_id, adopted=True)}
    assert books.get("Invoices", invoice_id)["_updated"] == held["_updated"]


def test_an_update_whose_answer_is_lost_is_found_and_not_applied_twice(books):
    original = books.invoice("60.00")
    target = books.create("invoice", original)
    update = books.outgoing("invoice", replace(original, total=Decimal("61.00"), lines=(_sales_line("61.00"),)),
                            operation="update:2", target_id=target)
    books.faults(drop_rate=1.0)
    with pytest.raises(OutcomeUnknown):  # the only attempt's answer is cut off after the commit
        books.send([update], connector=books.connect(max_attempts=1))
    books.faults()
    applied = books.get("Invoices", target)
    assert (applied["Total"], applied["Reference"]) == (Decimal("61.00"), update.key)

    outcome = books.send([update])  # sent again by the next run: read first, found, not written

    assert outcome == {"1": Created(target, adopted=True)}
    assert books.get("Invoices", target)["_updated"] == applied["_updated"]


def test_a_retried_update_is_replayed_by_its_idempotency_key(books):
    original = books.invoice("70.00")
    target = books.create("invoice", original)
    update = books.outgoing("invoice", replace(original, total=Decimal("71.00"), lines=(_sales_line("71.00"),)),
                            operation="update:2", target_id=target)
    books.faults(drop_rate=1.0)

    outcome = books.send([update], connector=books.connect(max_attempts=2))  # answer cut, retried, replayed

    assert outcome == {"1": Created(target)}
    assert books.server.sandbox.stats(books.org.tenant_id)["idempotency_replays"] >= 1
    assert books.get("Invoices", target)["Total"] == Decimal("71.00")


def test_a_credit_note_is_updated_and_voided_and_a_draft_is_deleted(books):
    credit = CreditNoteExport("HN-1", books.customer, "CN-UPD", DAY, "USD", Decimal("30.00"), (_sales_line("30.00"),))
    credit_id = books.create("credit_note", credit)
    draft = books.write("Invoices", {"Type": "ACCREC", "Contact": {"ContactID": books.customer}, "Status": "DRAFT",
                                     "LineAmountTypes": "NoTax", "LineItems": [
                                         {"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}]})

    updated = books.send([books.outgoing("credit_note", replace(credit, total=Decimal("12.00"), lines=(
        _sales_line("12.00"),)), operation="update:2", target_id=credit_id)])
    voided = books.send([books.outgoing("credit_note", None, operation=VOID, target_id=credit_id),
                         books.outgoing("invoice", None, ref="2", operation=VOID, target_id=draft["InvoiceID"])])

    assert updated == {"1": Created(credit_id)}
    assert voided == {"1": Created(credit_id), "2": Created(draft["InvoiceID"])}
    note = books.get("CreditNotes", credit_id)
    assert (note["Status"], note["Total"], note["RemainingCredit"]) == ("VOIDED", Decimal("12.00"), 0)
    assert books.get("Invoices", draft["InvoiceID"])["Status"] == "DELETED"  # Xero deletes drafts, voids no draft


def test_a_change_xero_cannot_make_is_refused_naming_the_document(books):
    bill_payment = books.outgoing("bill_payment", None, operation=VOID, target_id="p-1")
    unknown = books.outgoing("invoice", books.invoice("1.00"), ref="2", operation="update:2",
                             target_id=str(uuid.uuid4()))

    outcomes = books.send([bill_payment, unknown])

    assert isinstance(outcomes["1"], RecordRejected) and "cannot void a bill_payment" in str(outcomes["1"])
    assert isinstance(outcomes["2"], RecordRejected) and outcomes["2"].element == "InvoiceID"
    assert f"invoice {unknown.target_id}: Xero has no such document" in str(outcomes["2"])


# -- voids ------------------------------------------------------------------------------------------

def test_voids_once_found_after_a_lost_answer_and_refused_when_paid(books):
    plain, lost, part_paid = (books.create("invoice", books.invoice(a)) for a in ("10.00", "20.00", "30.00"))
    payment = books.pay(part_paid, "5.00")
    number = books.get("Invoices", part_paid)["InvoiceNumber"]
    void = books.outgoing("invoice", None, operation=VOID, target_id=plain)

    outcomes = books.send([void, books.outgoing("invoice", None, ref="2", operation=VOID, target_id=part_paid)])

    assert outcomes["1"] == Created(plain)
    voided = books.get("Invoices", plain)
    assert (voided["Status"], voided["Total"], voided["AmountDue"]) == ("VOIDED", Decimal("10.00"), 0)
    refused = outcomes["2"]
    assert isinstance(refused, RecordRejected) and refused.element == "Status"
    assert f"voiding invoice {number} (Xero InvoiceID {part_paid})" in str(refused)
    assert f"payment {payment['PaymentID']} of 5.00" in str(refused) and "not voided" in str(refused)
    assert books.get("Invoices", part_paid)["Status"] == "AUTHORISED"

    # Voided already: found, nothing written. An update of it, or a change of lines of the part-paid
    # invoice, is refused naming the document (the latter in Xero's own words).
    assert books.send([replace(void, ref="4", key=str(uuid.uuid4()))]) == {"4": Created(plain, adopted=True)}
    assert books.get("Invoices", plain)["_updated"] == voided["_updated"]
    late = books.send([books.outgoing("invoice", books.invoice("11.00"), operation="update:2", target_id=plain)])["1"]
    assert isinstance(late, RecordRejected) and f"(Xero InvoiceID {plain}): it is voided in Xero" in str(late)
    relined = books.send([books.outgoing("invoice", books.invoice("31.00"), operation="update:2",
                                         target_id=part_paid)])["1"]
    assert isinstance(relined, RecordRejected) and f"updating invoice {number}" in str(relined)
    assert "cannot be edited as it has a payment or credit note allocated to it" in str(relined)
    assert books.get("Invoices", part_paid)["Total"] == Decimal("30.00")

    # A void whose answer is lost: found by reading the document (VOIDED), not voided twice.
    lost_void = books.outgoing("invoice", None, operation=VOID, target_id=lost)
    books.faults(drop_rate=1.0)
    with pytest.raises(OutcomeUnknown):
        books.send([lost_void], connector=books.connect(max_attempts=1))
    books.faults()
    stamp = books.get("Invoices", lost)["_updated"]
    assert books.send([lost_void]) == {"1": Created(lost, adopted=True)}
    assert books.get("Invoices", lost)["_updated"] == stamp


def test_a_void_of_a_paid_invoice_is_held_by_the_flows_with_the_reason(books, ledger):
    entity = make_entity(f"xv_{uuid.uuid4().hex[:6]}")
    ctx = RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                     connect=lambda: books.connector, log=logging.getLogger("ledgerbridge.test.xero_updates"))
    export = books.invoice("40.00")
    paid = books.create("invoice", export)
    books.pay(paid, "40.00")
    with ledger.session() as session:
        ensure_entity(session, entity)
    assert ctx.connector.company_id == books.org.tenant_id  # pins the entity to the organisation
    with ledger.session() as session:
        outbox.enqueue(session, ctx, kinds.get("invoice"), 1, kinds.get("invoice").record_key(export.hub_id), None,
                       VOID, paid)

    report = outbox.send(ctx, ("invoice",))

    assert (report.rejected, report.voided) == (1, 0)
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry).where(OutboxEntry.entity_id == entity.id)).one()
        held = session.scalars(select(QuarantineEntry).where(QuarantineEntry.entity_id == entity.id)).one()
        assert row.state == OutboxState.REJECTED
        assert (held.dataset, held.record_key) == (kinds.get("invoice").dataset, export.hub_id)
        reason = quarantine.describe(held.reasons[0])
    assert "the void was refused by the accounting system" in reason
    assert f"(Xero InvoiceID {paid})" in reason and "40.00 USD is paid or credited against it" in reason
    assert books.get("Invoices", paid)["Status"] == "PAID"


# -- read side --------------------------------------------------------------------------------------

def test_a_document_voided_in_xero_reads_as_gone_like_a_deleted_one(books):
    voided, deleted, kept = (books.create("invoice", books.invoice(a)) for a in ("1.00", "2.00", "3.00"))
    since = datetime.now(UTC) - timedelta(milliseconds=1)
    books.write("Invoices", {"InvoiceID": voided, "Status": "VOIDED"})  # a person voids it in Xero
    with pytest.raises(Exception, match="not of valid status for modification"):
        books.write("Invoices", {"InvoiceID": deleted, "Status": "DELETED"})  # Xero deletes no approved invoice

    changes = {ref.external_id: ref for ref in books.connector.fetch_changes(
        {"invoice": since}, datetime.now(UTC)).changes["invoice"]}
    full = {ref.external_id for ref in books.connector.fetch_reference("invoice", None)}

    assert (changes[voided].deleted, changes[voided].active) == (True, False)
    assert voided not in full and {deleted, kept} <= full
    assert books.connector.existing_ids("invoice", [voided, kept]) == {kept}
