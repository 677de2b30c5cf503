"""The accounting connector contract: what every accounting connector does, against its own sandbox.

Each test runs once per harness (conftest.py `HARNESSES`) and drives the connector only through
the `AccountingConnector` protocol, the way the flows do (ledgerbridge/flows/outbox.py,
confirmations.py, reference.py): `payload` -> `create_many` -> (`settle`, `find_existing_many`,
`acknowledge` for a system that answers later), `fetch_changes` / `fetch_reference` with a
watermark, `existing_ids`, `fetch_documents`, and `capabilities`. What the books hold is read
from the sandbox itself (`harness.bills()`), never through the connector under test.

1. create: a bill is created once, with the external id the books hold, its total exact.
2. idempotent re-send: the same item sent again (the same batch retried, or regrouped in another
   batch) yields the same external id; the books hold one bill.
3. uncertain outcome: an item created whose answer was lost is found by `find_existing_many` with
   the id the books hold; an item never sent is absent.
4. rejection with a field: a refused bill is a `RecordRejected` naming the field; the other items
   of its batch are created.
5. changes since a watermark: a vendor added in the books after a read arrives in the next read of
   changes, and what was read before the watermark (or acknowledged) is not read again; reading
   one kind and acknowledging consumes nothing of another kind.
6. deletions: an object deleted in the books arrives as `ReferenceData(deleted=True)` for every
   kind in `capabilities.deletable_kinds`; a connector declaring none never reports a deletion.
7. capabilities: declared kinds are known record kinds, `payload` accepts each (Decimal money, no
   float, storable as the outbox stores it) and refuses any other with a TypeError naming it;
   `batch_size` >= 1; `reads_documents` means a bill's total reads back exactly.

How a new connector joins the suite (the next one: Xero):
  1. in tests/contract/harness.py, write a class implementing `ConnectorHarness`: build the real
     connector against its sandbox on loopback, give a vendor's and an expense account's external
     ids, `refuse(bill)` (a bill the system refuses naming a field), `settle()`, `bills()`,
     `delete(kind, id)`, `add_vendor(name)` and `enter(kind)` for each of its deletable kinds, all
     acting directly on the sandbox's books as a person in the accounting system would;
  2. in tests/contract/conftest.py, add one entry to `HARNESSES` building it.
The connector is done when `pytest tests/contract` passes for it. Do not skip a contract test for
it: a capability it lacks is declared in its `Capabilities`, and the suite checks the declaration.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from harness import ConnectorHarness
from ledgerbridge import jsonutil
from ledgerbridge.connectors.base import (
    AppliedTo,
    AttachmentExport,
    Awaiting,
    BankEntryExport,
    BillExport,
    BillPaymentExport,
    Created,
    CreditNoteExport,
    CustomerPaymentExport,
    ExpenseReportExport,
    InvoiceExport,
    JournalEntryExport,
    JournalLineExport,
    LineExport,
    Outgoing,
    PartyExport,
    ReferenceData,
    SalesLineExport,
    SalesReceiptExport,
    VendorCreditExport,
)
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.flows.outbox import batch_key
from ledgerbridge.kinds import KINDS

AMOUNTS = ("1000.10", "234.47")  # a bill of 1234.57: cents that binary floating point cannot hold


def now() -> datetime:
    return datetime.now(UTC)


def bill(h: ConnectorHarness, amounts: tuple[str, ...] = AMOUNTS) -> BillExport:
    """A valid bill of the harness's company, with a bill number of its own (within the limit)."""
    tag = uuid.uuid4().hex[:8]
    lines = tuple(LineExport(Decimal(amount), h.expense_account_id, f"contract line {n}")
                  for n, amount in enumerate(amounts, 1))
    number = f"CT-{tag}"[: h.connector.capabilities.doc_number_limit]
    return BillExport(hub_id=f"HB-{tag}", vendor_id=h.vendor_id, doc_number=number, doc_date=date.today(),
                      due_date=date.today() + timedelta(days=30), currency=h.currency,
                      total=sum((line.amount for line in lines), Decimal(0)), lines=lines, memo="contract suite")


def outgoing(h: ConnectorHarness, kind: str, export: Any, ref: str) -> Outgoing:
    """An outbox row as the sender loads it: the payload stored as the outbox stores it (JSON text
    with exact Decimals) and read back."""
    key = str(uuid.uuid4())
    payload = jsonutil.loads(jsonutil.dumps(h.connector.payload(kind, export, key)))
    return Outgoing(ref=ref, kind=kind, payload=payload, key=key, queued_at=now())


def send(h: ConnectorHarness, items: list[Outgoing], key: str | None = None) -> dict[str, Any]:
    """Send a batch as the outbox does, then collect what is awaited as collect_confirmations does:
    the system answers (`settle`), the look-up reads the answers, and they are acknowledged."""
    outcomes = dict(h.connector.create_many(items, key or batch_key([item.key for item in items])))
    assert set(outcomes) == {item.ref for item in items}, f"an outcome for every item: {outcomes}"
    awaiting = [item for item in items if isinstance(outcomes[item.ref], Awaiting)]
    if awaiting:
        h.settle()
        outcomes.update(h.connector.find_existing_many(awaiting))
        h.connector.acknowledge()
    return outcomes


def created(outcome: Any) -> Created:
    assert isinstance(outcome, Created), f"expected the record created, got {outcome!r}"
    return outcome


def new_bills(h: ConnectorHarness, before: dict[str, Decimal]) -> dict[str, Decimal]:
    return {external_id: total for external_id, total in h.bills().items() if external_id not in before}


def ids(refs: list[ReferenceData]) -> set[str]:
    return {ref.external_id for ref in refs}


def full_read(h: ConnectorHarness, kinds: list[str]) -> dict[str, list[ReferenceData]]:
    """A first read of reference kinds, as pull_reference does it without a watermark (where the system
    sends its changes: every kind it mirrors in one call, then acknowledged, so that every file read is
    consumed)."""
    connector = h.connector
    if connector.capabilities.changes_only:
        changes = connector.fetch_changes(dict.fromkeys(connector.capabilities.reference_kinds), now()).changes
        connector.acknowledge()
        return {kind: changes[kind] for kind in kinds}
    return {kind: list(connector.fetch_reference(kind, None)) for kind in kinds}


def watermark(h: ConnectorHarness, refs: list[ReferenceData]) -> datetime | None:
    """Where the next read starts: the system's clock at its last answer, else the newest change."""
    return h.connector.server_time() or max((r.updated_at for r in refs if r.updated_at), default=None)


def changes_since(h: ConnectorHarness, kinds: list[str], since: datetime | None) -> dict[str, dict[str, list]]:
    """Every way the flows read changes of `kinds` since `since`: {how: {kind: [ReferenceData]}}.
    Change data capture where the connector declares it, reads by query where it can be listed."""
    connector, capabilities = h.connector, h.connector.capabilities
    if capabilities.changes_only:
        return {"uploaded changes": connector.fetch_changes(dict.fromkeys(kinds), now()).changes}
    reads: dict[str, dict[str, list]] = {}
    if capabilities.change_capture:
        changes = connector.fetch_changes(dict.fromkeys(kinds, since), now()).changes
        assert set(kinds) <= set(changes), f"change data capture left out {set(kinds) - set(changes)} for a fresh watermark"
        reads["change data capture"] = changes
    reads["query"] = {kind: list(connector.fetch_reference(kind, since)) for kind in kinds}
    return reads


# -- 1. create ----------------------------------------------------------------------------------

def test_a_bill_is_created_once_with_the_id_the_books_hold(harness):
    before = harness.bills()
    sent = bill(harness)

    outcome = created(send(harness, [outgoing(harness, "bill", sent, "1")])["1"])

    assert not outcome.adopted  # created now, not found from an earlier attempt
    assert new_bills(harness, before) == {outcome.external_id: sent.total}
    assert isinstance(harness.bills()[outcome.external_id], Decimal)


# -- 2. idempotent re-send ----------------------------------------------------------------------

def test_the_same_item_sent_again_yields_the_same_id_and_one_bill(harness):
    before = harness.bills()
    first, second = outgoing(harness, "bill", bill(harness), "1"), outgoing(harness, "bill", bill(harness, ("5.05",)), "2")
    original = send(harness, [first, second])
    ids_then = {ref: created(outcome).external_id for ref, outcome in original.items()}

    retried = send(harness, [first, second])  # the batch again, same rows, same batch key
    regrouped = send(harness, [first])  # the row again in another batch (another batch key)

    assert {ref: created(outcome).external_id for ref, outcome in retried.items()} == ids_then
    assert created(regrouped["1"]).external_id == ids_then["1"]
    assert set(new_bills(harness, before)) == set(ids_then.values())  # two bills, each once
    assert len(set(ids_then.values())) == 2


# -- 3. look-up of an uncertain outcome -----------------------------------------------------------

def test_an_uncertain_create_is_found_and_a_never_sent_item_is_absent(harness):
    connector = harness.connector
    before = harness.bills()
    lost, never_sent = outgoing(harness, "bill", bill(harness), "1"), outgoing(harness, "bill", bill(harness), "2")

    answer = connector.create_many([lost], batch_key([lost.key]))[lost.ref]  # the answer is lost on the way
    if isinstance(answer, Awaiting):
        early = connector.find_existing_many([lost, never_sent])
        assert isinstance(early.get(lost.ref), Awaiting), "while its file waits, the item is on its way"
        assert never_sent.ref not in early
    harness.settle()
    found = connector.find_existing_many([lost, never_sent])
    connector.acknowledge()

    assert never_sent.ref not in found
    outcome = created(found.get(lost.ref))
    assert new_bills(harness, before) == {outcome.external_id: Decimal("1234.57")}
    if isinstance(answer, Created):
        # A system that answers at once: what the look-up finds existed already, created by the attempt.
        assert outcome.adopted and outcome.external_id == answer.external_id
    else:
        # A system that answers later: the look-up reads the create's own answer (created, not adopted).
        assert isinstance(answer, Awaiting) and not outcome.adopted


# -- 4. rejection with a field --------------------------------------------------------------------

def test_a_refused_bill_names_its_field_and_spares_the_rest_of_the_batch(harness):
    before = harness.bills()
    good = bill(harness)
    refusal = harness.refuse(bill(harness, ("77.70",)))

    outcomes = send(harness, [outgoing(harness, "bill", good, "1"), outgoing(harness, "bill", refusal.bill, "2")])

    rejected = outcomes["2"]
    assert isinstance(rejected, RecordRejected), f"expected a rejection, got {rejected!r}"
    assert refusal.field in (rejected.element or str(rejected)).lower(), \
        f"the rejection should name the {refusal.field}: element {rejected.element!r}, {rejected}"
    assert new_bills(harness, before) == {created(outcomes["1"]).external_id: good.total}


# -- 5. changes since a watermark -----------------------------------------------------------------

def test_a_vendor_added_after_a_read_arrives_in_the_next_read_and_nothing_before_it(harness):
    connector = harness.connector
    assert "vendor" in connector.capabilities.reference_kinds
    time.sleep(harness.clock_resolution)  # the books' vendors are older than the watermark by more than its resolution
    first = full_read(harness, ["vendor"])["vendor"]
    assert harness.vendor_id in ids(first)
    since = watermark(harness, first)
    name = f"Contract Vendor {uuid.uuid4().hex[:8]}"

    added = harness.add_vendor(name)
    harness.settle()

    reads = changes_since(harness, ["vendor"], since)
    for how, changes in reads.items():
        assert ids(changes["vendor"]) == {added}, f"{how}: only the new vendor, nothing read before"
        [vendor] = changes["vendor"]
        assert (vendor.name, vendor.active, vendor.deleted) == (name, True, False), how
    if connector.capabilities.changes_only:
        # What the system sent is handed over until acknowledged (a crash before the commit reads it
        # again), then consumed for good.
        assert connector.capabilities.acknowledges, "changes it sends must wait for acknowledge()"
        for how, changes in changes_since(harness, ["vendor"], since).items():
            assert ids(changes["vendor"]) == {added}, f"{how}: consumed before it was acknowledged"
        assert connector.acknowledge() >= 1
        for how, changes in changes_since(harness, ["vendor"], since).items():
            assert changes["vendor"] == [], f"{how}: delivered again after acknowledge()"
    else:
        # Read by watermark: acknowledging consumes nothing, the same watermark reads the same change.
        connector.acknowledge()
        for how, changes in changes_since(harness, ["vendor"], since).items():
            assert ids(changes["vendor"]) == {added}, how


def test_acknowledging_a_read_of_one_kind_consumes_no_change_of_another(harness):
    """`fetch_reference` of one kind, then `acknowledge()` (what pull_reference does after any read):
    the changes of the other kinds, never handed over, are still there to read."""
    connector = harness.connector
    vendors = list(connector.fetch_reference("vendor", None))
    connector.acknowledge()
    accounts = list(connector.fetch_reference("account", None))
    connector.acknowledge()

    assert harness.vendor_id in ids(vendors)
    assert harness.expense_account_id in ids(accounts), "the accounts were lost by acknowledging the vendors"


# -- 6. deletions ---------------------------------------------------------------------------------

def test_deletions_in_the_books_arrive_exactly_for_the_declared_deletable_kinds(harness):
    """Something of every deletable kind is deleted in the books, and (for a connector declaring
    none) a bill and one object of every kind it reads: exactly the deletions of the declared kinds
    are reported, as `ReferenceData(deleted=True)` where the connector reads changes, and the objects
    are gone from a full read and from `existing_ids`. Nothing else is ever reported deleted."""
    connector, capabilities = harness.connector, harness.connector.capabilities
    kinds, deletable = list(capabilities.reference_kinds), capabilities.deletable_kinds
    assert deletable <= set(kinds)
    outcomes = send(harness, [outgoing(harness, "bill", bill(harness), "1"), outgoing(harness, "bill", bill(harness), "2")])
    doomed, kept = created(outcomes["1"]).external_id, created(outcomes["2"]).external_id
    entered = {kind: doomed if kind == "bill" else harness.enter(kind) for kind in sorted(deletable)}
    snapshot = full_read(harness, kinds)
    for kind, external_id in entered.items():
        assert external_id in ids(snapshot[kind]), f"{kind} {external_id} should be in the books"
    assert [(kind, ref.external_id) for kind, refs in snapshot.items() for ref in refs if ref.deleted] == []
    since = watermark(harness, [ref for refs in snapshot.values() for ref in refs])

    deleted = dict(entered)
    for kind, external_id in entered.items():
        harness.delete(kind, external_id)
    # What a person deletes of the other kinds (lists are deactivated instead where the system says so).
    others = [("bill", doomed)] * ("bill" not in deleted) + [
        (kind, refs[-1].external_id) for kind, refs in snapshot.items()
        if kind not in deleted and refs and refs[-1].external_id != harness.vendor_id]
    for kind, external_id in others:
        try:
            harness.delete(kind, external_id)
        except ValueError:
            continue  # a kind the system never deletes
        deleted.setdefault(kind, external_id)
    assert "bill" in deleted and len(deleted) > 1, f"nothing deleted: {snapshot}"
    added = harness.add_vendor(f"Contract Vendor {uuid.uuid4().hex[:8]}")  # so that every read brings something
    harness.settle()

    expected = set(entered.items())
    for how, changes in changes_since(harness, kinds, since).items():
        assert added in ids(changes["vendor"]), how
        reported = {(kind, ref.external_id) for kind, refs in changes.items() for ref in refs if ref.deleted}
        assert all(not ref.active for refs in changes.values() for ref in refs if ref.deleted), how
        if how == "query":  # a read by query cannot show deletions; it must not invent any
            assert reported <= expected, f"{how}: deletions of undeclared kinds: {reported - expected}"
        else:
            assert reported == expected, f"{how}: deleted {sorted(deleted.items())}, declared deletable " \
                                         f"{sorted(deletable)}, reported {sorted(reported)}"
    connector.acknowledge()
    if entered and not capabilities.changes_only:
        after = full_read(harness, list(entered))
        for kind, external_id in entered.items():  # a full read no longer has it, nor a look-up by id
            assert external_id not in ids(after[kind]), kind
            assert connector.existing_ids(kind, [external_id]) == set(), kind
        if "bill" in entered:
            assert connector.existing_ids("bill", [doomed, kept]) == {kept}


# -- 7. capabilities ------------------------------------------------------------------------------

def test_declared_capabilities_are_consistent(harness):
    capabilities = harness.connector.capabilities
    assert capabilities.kinds and capabilities.kinds <= set(KINDS), \
        f"unknown record kinds declared: {sorted(capabilities.kinds - set(KINDS))}"
    assert "bill" in capabilities.kinds
    assert capabilities.batch_size >= 1
    assert capabilities.doc_number_limit >= 1 and capabilities.name_limit >= 1
    assert capabilities.deletable_kinds <= set(capabilities.reference_kinds)
    assert not (capabilities.changes_only and capabilities.change_capture), \
        "a system that only sends its changes cannot also be asked for changes since a moment"


def samples(h: ConnectorHarness) -> dict[str, Any]:
    """One export of every record kind (references need not exist: `payload` only builds)."""
    total, day = Decimal("1234.57"), date.today()
    return {
        "vendor": PartyExport("vendor", "Contract Vendor", "ap@contract.example", h.currency, "HV-1"),
        "customer": PartyExport("customer", "Contract Customer", "ar@contract.example", h.currency, "HC-1"),
        "bill": bill(h),
        "invoice": InvoiceExport("HI-1", "C-1", "INV-1", day, day, h.currency, total,
                                 (SalesLineExport(total, "I-1", Decimal("2"), Decimal("617.285")),)),
        "credit_note": CreditNoteExport("HN-1", "C-1", "CN-1", day, h.currency, total, (SalesLineExport(total, "I-1"),)),
        "sales_receipt": SalesReceiptExport("HR-1", "C-1", "SR-1", day, h.currency, total,
                                            (SalesLineExport(total, "I-1", Decimal("3"), Decimal("411.523333"),
                                                             tax_code_id="T-1"),), deposit_account_id="A-5"),
        "journal_entry": JournalEntryExport("HJ-1", "JE-1", day, h.currency, (
            JournalLineExport("Debit", total, "A-1"), JournalLineExport("Credit", total, "A-2"))),
        "vendor_credit": VendorCreditExport("HVC-1", h.vendor_id, "VC-1", day, h.currency, total,
                                            (LineExport(total, "A-1", "returned goods"),)),
        "bank_entry": BankEntryExport("HBQ-1", "A-3", "out", None, day, h.currency, total,
                                      (LineExport(total, "A-1", "bank charges"),), "vendor", h.vendor_id),
        "expense_report": ExpenseReportExport("HNDF-1", h.vendor_id, "NDF-1", day, h.currency, total,
                                              (LineExport(total, "A-1", "train ticket"),)),
        "bill_payment": BillPaymentExport("HP-1", h.vendor_id, day, total, h.currency, "A-3",
                                          (AppliedTo("B-1", total),)),
        "customer_payment": CustomerPaymentExport("HP-2", "C-1", day, total, h.currency, "A-4",
                                                  (AppliedTo("INV-9", total),)),
        "attachment": AttachmentExport("HA-1", "bill.pdf", "application/pdf", "bill", "B-1"),
    }


def _floats(value: Any, path: str = "payload") -> list[str]:
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _floats(item, f"{path}.{key}")]
    if isinstance(value, (list, tuple)):
        return [p for n, item in enumerate(value) for p in _floats(item, f"{path}[{n}]")]
    return []


def test_payload_builds_every_declared_kind_and_refuses_the_others_by_name(harness):
    connector = harness.connector
    exports = samples(harness)
    assert set(KINDS) <= set(exports), f"add a sample export for {sorted(set(KINDS) - set(exports))}"
    for kind in sorted(KINDS):
        key = str(uuid.uuid4())
        if kind in connector.capabilities.kinds:
            payload = connector.payload(kind, exports[kind], key)
            assert isinstance(payload, dict) and payload, kind
            assert _floats(payload) == [], f"{kind}: money must be Decimal, never float: {_floats(payload)}"
            assert jsonutil.loads(jsonutil.dumps(payload)) == payload, f"{kind}: the outbox must store it exactly"
        else:
            with pytest.raises(TypeError, match=kind):
                connector.payload(kind, exports[kind], key)
    with pytest.raises(TypeError, match="sales_order"):
        connector.payload("sales_order", exports["bill"], str(uuid.uuid4()))


def test_a_document_attached_to_a_bill_is_created_when_attachments_are_declared(harness):
    connector = harness.connector
    assert connector.capabilities.attachments == ("attachment" in connector.capabilities.kinds), \
        "a connector taking attachments creates the attachment kind, and only such a connector does"
    if not connector.capabilities.attachments:
        return
    bill_id = created(send(harness, [outgoing(harness, "bill", bill(harness), "1")])["1"]).external_id
    document = AttachmentExport(f"HA-{uuid.uuid4().hex[:8]}", "scan.pdf", "application/pdf", "bill", bill_id)
    item = replace(outgoing(harness, "attachment", document, "2"), content=b"%PDF-1.4 contract scan")
    assert created(send(harness, [item])["2"]).external_id


def test_a_bill_reads_back_with_its_exact_total_when_documents_can_be_read(harness):
    connector = harness.connector
    sent = bill(harness)
    external_id = created(send(harness, [outgoing(harness, "bill", sent, "1")])["1"]).external_id

    documents = connector.fetch_documents("bill", [external_id])

    if connector.capabilities.reads_documents:
        document = documents[external_id]
        assert isinstance(document.total, Decimal) and isinstance(document.balance, Decimal)
        assert (document.external_id, document.total, document.balance) == (external_id, Decimal("1234.57"),
                                                                              Decimal("1234.57"))
    else:
        assert documents == {}, "a connector declaring reads_documents=False must not answer as if it could"

