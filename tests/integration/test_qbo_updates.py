"""QuickBooks Online changes after export, through the connector against the real sandbox over HTTP:
sales receipts, sparse updates with the current SyncToken, voids, lost answers, stale tokens."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from dropping_proxy import DroppingProxy
from ledgerbridge import jsonutil
from ledgerbridge.connectors.base import (
    VOID,
    BillExport,
    Created,
    CreditNoteExport,
    InvoiceExport,
    LineExport,
    Outgoing,
    SalesLineExport,
    SalesReceiptExport,
)
from ledgerbridge.connectors.errors import OutcomeUnknown, RecordRejected
from ledgerbridge.connectors.factory import quickbooks_online
from ledgerbridge.flows.outbox import batch_key
from support import connect_company, make_entity

DAY = date(2026, 11, 2)


class Books:
    """A sandbox company, the connector to it (directly or through a proxy), and a person at its books."""

    def __init__(self, server, ledger, name: str):
        self.server, self.ledger = server, ledger
        self.conn = connect_company(server, ledger, make_entity(f"{name}_{uuid.uuid4().hex[:6]}"))
        self.connector = quickbooks_online(self.conn, ledger, backoff_seconds=0.01)
        self.customer = self.find("Customer", "DisplayName", "Vance Refrigeration")
        self.item = self.find("Item", "Name", "Services")
        self.vendor = self.find("Vendor", "DisplayName", "Nick Brown")
        self.expense = self.find("Account", "Name", "Supplies")

    @property
    def company(self):
        return self.server.sandbox.realms[self.conn.schema]

    def find(self, entity: str, field: str, value: str) -> str:
        with self.server.sandbox.lock:
            return next(o["Id"] for o in self.company.objects[entity].values() if o.get(field) == value)

    def get(self, entity: str, object_id: str) -> dict:
        with self.server.sandbox.lock:
            return jsonutil.loads(jsonutil.dumps(self.company.objects[entity][object_id]))

    def write(self, entity: str, body: dict, operation: str | None = None) -> dict:
        """What a person does in QuickBooks, straight in the sandbox's books."""
        with self.server.sandbox.lock:
            return self.company.write(entity.lower(), body, operation=operation)[entity]

    def touch(self, entity: str, object_id: str, memo: str) -> dict:
        """Someone else edits the object (a sparse change of its customer memo): its SyncToken moves on."""
        current = self.get(entity, object_id)
        return self.write(entity, {"Id": object_id, "SyncToken": current["SyncToken"], "sparse": True,
                                   "CustomerMemo": {"value": memo}})

    def through(self, proxy: DroppingProxy, **options):
        conn = replace(self.conn, host=proxy.url,
                       extra={**self.conn.extra, "token_url": f"{proxy.url}/oauth2/v1/tokens/bearer"})
        return quickbooks_online(conn, self.ledger, backoff_seconds=0.01, **options)

    def batches(self) -> int:
        return self.company.api_requests

    def invoice(self, *amounts: str, number: str | None = None) -> InvoiceExport:
        lines = tuple(SalesLineExport(Decimal(a), self.item, Decimal("1"), Decimal(a)) for a in amounts)
        return InvoiceExport(f"HI-{uuid.uuid4().hex[:6]}", self.customer, number or f"I-{uuid.uuid4().hex[:8]}",
                             DAY, DAY + timedelta(days=30), "USD", sum(line.amount for line in lines), lines)

    def outgoing(self, kind: str, export, ref: str = "1", operation: str = "create",
                 target_id: str | None = None) -> Outgoing:
        """An outbox row as the sender loads it (payload stored as JSON text and read back); an update's
        payload is built with the update's own key."""
        key = str(uuid.uuid4())
        payload = jsonutil.loads(jsonutil.dumps(self.connector.payload(kind, export, key)))
        return Outgoing(ref=ref, kind=kind, payload=payload, key=key, queued_at=datetime.now(UTC),
                        operation=operation, target_id=target_id)

    def send(self, items: list[Outgoing], connector=None) -> dict:
        return (connector or self.connector).create_many(items, batch_key([item.key for item in items]))

    def create(self, kind: str, export) -> str:
        outcome = self.send([self.outgoing(kind, export)])["1"]
        assert isinstance(outcome, Created), outcome
        return outcome.external_id


def _batch_with(request: bytes, *parts: bytes) -> bool:
    return b"/batch?" in request.split(b"\r\n", 1)[0] and all(part in request for part in parts)


@pytest.fixture
def books(ledger, qbo_server, request):
    return Books(qbo_server, ledger, request.node.name[5:25])


# -- sales receipts --------------------------------------------------------------------------------

def test_a_sales_receipt_is_created_once_paid_and_mirrored(books):
    since = datetime.now(UTC) - timedelta(seconds=2)
    bank = books.find("Account", "Name", "Operating Bank")
    lines = (SalesLineExport(Decimal("10.01"), books.item, Decimal("3"), Decimal("3.335"), tax_code_id=None),
             SalesLineExport(Decimal("5.00"), books.item, Decimal("2")))
    receipt = SalesReceiptExport("HR-1", books.customer, "SR-1", DAY, "USD", Decimal("15.01"), lines, memo="till 4")
    first = books.outgoing("sales_receipt", receipt)
    to_bank = books.outgoing("sales_receipt", replace(receipt, hub_id="HR-2", doc_number="SR-2",
                                                      deposit_account_id=bank), ref="2")

    outcomes = books.send([first, to_bank])
    again = books.send([first, to_bank])  # the same batch retried: QuickBooks answers the original

    created = outcomes["1"]
    assert isinstance(created, Created) and not created.adopted
    assert again["1"] == created and again["2"] == outcomes["2"]
    held = books.get("SalesReceipt", created.external_id)
    assert (held["TotalAmt"], held["Balance"], held["DocNumber"]) == (Decimal("15.01"), 0, "SR-1")
    assert held["DepositToAccountRef"]["value"] == books.find("Account", "Name", "Undeposited Funds")
    assert held["Line"][1]["SalesItemLineDetail"]["UnitPrice"] == Decimal("2.5")  # derived by QuickBooks
    assert books.get("SalesReceipt", outcomes["2"].external_id)["DepositToAccountRef"]["value"] == bank
    assert len(books.company.objects["SalesReceipt"]) == 2
    documents = books.connector.fetch_documents("sales_receipt", [created.external_id])
    assert (documents[created.external_id].total, documents[created.external_id].balance) == (Decimal("15.01"), 0)
    for how, refs in (("cdc", books.connector.fetch_changes({"sales_receipt": since}, datetime.now(UTC)).changes[
            "sales_receipt"]), ("query", list(books.connector.fetch_reference("sales_receipt", None)))):
        mirrored = {ref.external_id: ref for ref in refs}
        assert set(mirrored) == {created.external_id, outcomes["2"].external_id}, how
        assert (mirrored[created.external_id].number, mirrored[created.external_id].party_external_id) == (
            "SR-1", books.customer), how


def test_an_item_with_a_sku_is_mirrored_with_the_sku_as_its_number(books):
    income = books.find("Account", "Name", "Sales of Product Income")
    widget = books.write("Item", {"Name": "Widget", "Sku": "WID-001", "Type": "NonInventory",
                                  "IncomeAccountRef": {"value": income}})
    items = {ref.external_id: ref for ref in books.connector.fetch_reference("item", None)}
    assert (items[widget["Id"]].number, items[widget["Id"]].name) == ("WID-001", "Widget")
    assert items[books.item].number is None  # no SKU, no number


def test_a_line_whose_amount_is_not_qty_times_unit_price_is_rejected_with_6070(books):
    good = books.invoice("20.00")
    wrong = replace(good, hub_id="HI-bad", doc_number="I-BAD", total=Decimal("10.00"),
                    lines=(SalesLineExport(Decimal("10.00"), books.item, Decimal("3"), Decimal("3.335")),))
    outcomes = books.send([books.outgoing("invoice", good), books.outgoing("invoice", wrong, ref="2")])
    assert isinstance(outcomes["1"], Created)
    rejected = outcomes["2"]
    assert isinstance(rejected, RecordRejected) and rejected.code == "6070"
    assert "Amount is not equal to Qty * UnitPrice" in str(rejected) and "Line.Amount" in str(rejected)


# -- updates ----------------------------------------------------------------------------------------

def test_an_invoice_is_updated_sparsely_with_the_current_sync_token(books):
    original = books.invoice("100.00", "50.00", number="UPD-1")
    target = books.create("invoice", original)
    books.touch("Invoice", target, "thank you")  # someone else's edit: SyncToken 1
    changed = replace(original, total=Decimal("42.50"),
                      lines=(SalesLineExport(Decimal("42.50"), books.item, Decimal("5"), Decimal("8.50")),))
    update = books.outgoing("invoice", changed, operation="update:2", target_id=target)
    newcomer = books.outgoing("invoice", books.invoice("7.00"), ref="2")
    requests_before, client_before = books.batches(), books.connector.client.requests_sent

    outcomes = books.send([update, newcomer])

    assert outcomes["1"] == Created(target) and isinstance(outcomes["2"], Created)
    assert books.batches() - requests_before == 2  # one batch of queries, one batch of writes
    assert books.connector.client.requests_sent - client_before == 2
    held = books.get("Invoice", target)
    assert (held["SyncToken"], held["TotalAmt"], held["Balance"], held["DocNumber"]) == (
        "2", Decimal("42.50"), Decimal("42.50"), "UPD-1")
    assert [(line["Amount"], line["SalesItemLineDetail"]["Qty"]) for line in held["Line"]] == [(Decimal("42.50"), 5)]
    assert update.key in held["PrivateNote"]
    assert held["CustomerMemo"] == {"value": "thank you"}  # sparse: what we do not send stays
    # The same update again (regrouped in another batch): already applied, found, nothing written.
    requests_before = books.batches()
    assert books.send([replace(update, ref="9")])["9"] == Created(target, adopted=True)
    assert books.batches() - requests_before == 1 and books.get("Invoice", target)["SyncToken"] == "2"


def test_a_bill_and_a_credit_note_are_updated_and_cannot_be_voided(books):
    lines = (LineExport(Decimal("80.00"), books.expense),)
    bill = BillExport("HB-1", books.vendor, "B-UPD", DAY, None, "USD", Decimal("80.00"), lines)
    credit = CreditNoteExport("HN-1", books.customer, "CN-UPD", DAY, "USD", Decimal("30.00"),
                              (SalesLineExport(Decimal("30.00"), books.item),))
    bill_id, credit_id = books.create("bill", bill), books.create("credit_note", credit)
    updates = [books.outgoing("bill", replace(bill, total=Decimal("95.00"), lines=(
                   LineExport(Decimal("90.00"), books.expense), LineExport(Decimal("5.00"), books.expense))),
                   operation="update:2", target_id=bill_id),
               books.outgoing("credit_note", replace(credit, total=Decimal("12.00"), lines=(
                   SalesLineExport(Decimal("12.00"), books.item),)), ref="2", operation="update:2", target_id=credit_id),
               books.outgoing("bill", bill, ref="3", operation=VOID, target_id=bill_id)]

    outcomes = books.send(updates)

    assert outcomes["1"] == Created(bill_id) and outcomes["2"] == Created(credit_id)
    assert books.get("Bill", bill_id)["TotalAmt"] == Decimal("95.00")
    assert books.get("CreditMemo", credit_id)["RemainingCredit"] == Decimal("12.00")
    assert isinstance(outcomes["3"], RecordRejected) and "cannot void a Bill" in str(outcomes["3"])


def test_an_update_whose_answer_is_lost_is_found_and_not_applied_twice(books):
    original = books.invoice("60.00")
    target = books.create("invoice", original)
    update = books.outgoing("invoice", replace(original, total=Decimal("61.00"), lines=(
        SalesLineExport(Decimal("61.00"), books.item, Decimal("1"), Decimal("61.00")),)),
        operation="update:2", target_id=target)
    never_sent = books.outgoing("invoice", original, ref="2", operation="update:3", target_id=target)
    proxy = DroppingProxy(books.server.url, lambda r: _batch_with(r, b'"operation":"update"'))
    try:
        with pytest.raises(OutcomeUnknown):  # every attempt's answer is cut off after the commit
            books.send([update], connector=books.through(proxy, max_attempts=3))
    finally:
        proxy.close()
    assert proxy.dropped == 3
    held = books.get("Invoice", target)
    assert (held["SyncToken"], held["TotalAmt"]) == ("1", Decimal("61.00"))  # applied once, repeats replayed

    found = books.connector.find_existing_many([update, never_sent])

    assert found == {"1": Created(target, adopted=True)}  # the one never sent is absent: it will be sent


def test_a_target_changed_between_read_and_write_is_read_again_once_then_held(books):
    original = books.invoice("70.00")
    retried, held_back = books.create("invoice", original), books.create("invoice", books.invoice("80.00"))
    changes = {"count": 0}

    def someone_else(target: str, times: int):
        def rewrite(request: bytes) -> bytes:
            if _batch_with(request, b'"operation":"update"', f'"Id":"{target}"'.encode()) and changes["count"] < times:
                changes["count"] += 1
                books.touch("Invoice", target, f"edit {changes['count']}")
            return request
        return rewrite

    newer = replace(original, total=Decimal("75.00"), lines=(SalesLineExport(Decimal("75.00"), books.item),))
    proxy = DroppingProxy(books.server.url, lambda r: False, rewrite=someone_else(retried, 1))
    try:
        before = books.batches()
        outcome = books.send([books.outgoing("invoice", newer, operation="update:2", target_id=retried)],
                             connector=books.through(proxy))["1"]
    finally:
        proxy.close()
    assert outcome == Created(retried)
    assert books.batches() - before == 4  # read, write (5010), read again, write
    assert (books.get("Invoice", retried)["SyncToken"], books.get("Invoice", retried)["TotalAmt"]) == (
        "2", Decimal("75.00"))

    changes["count"] = 0
    proxy = DroppingProxy(books.server.url, lambda r: False, rewrite=someone_else(held_back, 2))
    try:
        outcome = books.send([books.outgoing("invoice", newer, operation="update:2", target_id=held_back)],
                             connector=books.through(proxy))["1"]
    finally:
        proxy.close()
    now = books.get("Invoice", held_back)
    assert isinstance(outcome, RecordRejected) and outcome.code == "5010"
    assert (f"QuickBooks holds SyncToken 2 (changed by someone else at {now['MetaData']['LastUpdatedTime']}); "
            "ours was built from SyncToken 1") in str(outcome)
    assert "held, not overwritten" in str(outcome)
    assert (now["SyncToken"], now["TotalAmt"], now["CustomerMemo"]) == ("2", Decimal("80.00"), {"value": "edit 2"})


# -- voids ------------------------------------------------------------------------------------------

def test_voids_once_found_after_a_lost_answer_and_refused_when_paid(books):
    plain, lost, paid = (books.create("invoice", books.invoice(a)) for a in ("10.00", "20.00", "30.00"))
    sold = SalesReceiptExport("HR-9", books.customer, "SR-9", DAY, "USD", Decimal("9.00"),
                              (SalesLineExport(Decimal("9.00"), books.item),))
    receipt = books.create("sales_receipt", sold)
    payment = books.write("Payment", {"CustomerRef": {"value": books.customer}, "TotalAmt": Decimal("5.00"),
                                      "Line": [{"Amount": Decimal("5.00"),
                                                "LinkedTxn": [{"TxnId": paid, "TxnType": "Invoice"}]}]})
    void = books.outgoing("invoice", books.invoice("10.00"), operation=VOID, target_id=plain)

    outcomes = books.send([void, books.outgoing("invoice", books.invoice("30.00"), ref="2", operation=VOID,
                                                target_id=paid),
                           books.outgoing("sales_receipt", sold, ref="3", operation=VOID,
                                          target_id=receipt)])

    assert outcomes["1"] == Created(plain) and outcomes["3"] == Created(receipt)
    voided = books.get("Invoice", plain)
    assert (voided["TotalAmt"], voided["SyncToken"]) == (0, "1") and voided["PrivateNote"].startswith("Voided")
    assert books.get("SalesReceipt", receipt)["TotalAmt"] == 0
    refused = outcomes["2"]
    assert isinstance(refused, RecordRejected) and f"Payment {payment['Id']}" in str(refused)
    assert books.get("Invoice", paid)["TotalAmt"] == Decimal("30.00")
    # Voided already: found, nothing written. An update of it is refused, naming it.
    before = books.batches()
    assert books.send([replace(void, ref="4", key=str(uuid.uuid4()))])["4"] == Created(plain, adopted=True)
    assert books.batches() - before == 1 and books.get("Invoice", plain)["SyncToken"] == "1"
    late = books.send([books.outgoing("invoice", books.invoice("11.00"), operation="update:2", target_id=plain)])["1"]
    assert isinstance(late, RecordRejected) and f"Invoice {plain}" in str(late) and "voided" in str(late)
    gone = books.send([books.outgoing("invoice", books.invoice("1.00"), operation="update:2", target_id="987654")])["1"]
    assert isinstance(gone, RecordRejected) and gone.code == "610" and "Invoice 987654" in str(gone)

    # A void whose answer is lost: found by the look-up (voided), not voided twice.
    lost_void = books.outgoing("invoice", books.invoice("20.00"), operation=VOID, target_id=lost)
    proxy = DroppingProxy(books.server.url, lambda r: _batch_with(r, b'"optionsData":"void"'))
    try:
        with pytest.raises(OutcomeUnknown):
            books.send([lost_void], connector=books.through(proxy, max_attempts=2))
    finally:
        proxy.close()
    assert books.get("Invoice", lost)["SyncToken"] == "1"
    assert books.connector.find_existing_many([lost_void]) == {"1": Created(lost, adopted=True)}
    assert books.connector.find_existing_many([replace(lost_void, target_id=paid)]) == {}
