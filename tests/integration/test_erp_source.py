"""An ERP as the source, end to end over HTTP on SQLite and PostgreSQL: the SYSPRO sandbox's sales orders
become invoices and sales receipts in a QuickBooks Online sandbox company, exactly once; customers are
matched, not duplicated; what became of each order (invoice id and number, payment status, changes,
voids) is written back onto it exactly once, faults included."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from ledgerbridge.connectors.factory import ConnectionSettings, quickbooks_online
from ledgerbridge.ledger.models import QuarantineEntry, QuarantineStatus
from ledgerbridge.pipeline import run_all, run_step
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.syspro import SysproSandbox, seed_company, serve_in_thread
from ledgerbridge.sandbox.syspro.faults import Faults
from ledgerbridge.sandbox.syspro.seed import BAD_ORDERS, NICK_BROWN, NICK_BROWN_ORDER
from ledgerbridge.sources.factory import build_source
from support import STANDARD_LISTS, connect_company, context, make_entity, query, syspro_served

TAX_CODES = {"A": "TAX", "B": "TAX", "E": "NON"}
FLOWS = ("reference", "parties", "invoices", "sales_receipts", "customer_payments")


@pytest.fixture
def erp():
    with syspro_served(seed=7, customers=25, stock_items=40, orders=90) as server:
        yield server


def _entity(entity_id: str, **source) -> LegalEntity:
    base = make_entity(entity_id, flows=FLOWS, create_missing_customers=True).model_dump(mode="json")
    return LegalEntity.model_validate({**base, "source": {"kind": "syspro", "conn_id": f"erp_{entity_id}",
                                                          "tax_codes": TAX_CODES, **source}})


def _lists(sandbox) -> dict:
    """The QuickBooks company the ERP's users keep: every stock item as an item (SKU = stock code), and
    Nick Brown as "Brown, Nick"."""
    items = [{"Name": f"{row['Description']} [{code}]"[:100], "Sku": code, "Type": "NonInventory"}
             for code, row in sorted(sandbox.company.rows("StockItems").items())]
    return {**STANDARD_LISTS, "items": items, "customers": [{"DisplayName": "Brown, Nick"}]}


class Bridge:
    """One entity between the ERP sandbox and a QuickBooks sandbox company."""

    def __init__(self, ledger, qbo_server, erp, entity_id: str, **source):
        self.ledger, self.qbo, self.erp = ledger, qbo_server, erp
        self.entity = _entity(entity_id, **source)
        self.conn = connect_company(qbo_server, ledger, self.entity, _lists(erp.sandbox))
        self.erp_conn = ConnectionSettings(f"erp_{entity_id}", erp.url, "ADMIN", erp.sandbox.operator_password,
                                           extra={"company_id": erp.sandbox.company_id})

    def run(self) -> dict:
        ctx = replace(context(self.entity, self.ledger, self.conn),
                      connect_source=lambda: build_source(self.entity, self.erp_conn))
        return run_all(ctx)

    def documents(self) -> dict[str, dict]:
        """QuickBooks invoices and sales receipts by number."""
        found = {}
        for entity in ("Invoice", "SalesReceipt"):
            for obj in query(self.qbo, self.conn, self.ledger, f"SELECT * FROM {entity} MAXRESULTS 1000"):
                assert obj["DocNumber"] not in found, f"order {obj['DocNumber']} is in QuickBooks twice"
                found[obj["DocNumber"]] = {**obj, "entity": entity}
        return found

    def qbo_client(self):
        return quickbooks_online(self.conn, self.ledger).client

    def order(self, number: str) -> dict:
        return self.erp.sandbox.order(number)

    def notes(self, number: str) -> list[str]:
        return [note["Text"] for note in self.order(number).get("Notes") or ()]

    def quarantined(self) -> dict[tuple[str, str], QuarantineEntry]:
        with self.ledger.session() as session:
            return {(q.dataset, q.record_key): q for q in session.scalars(select(QuarantineEntry).where(
                QuarantineEntry.entity_id == self.entity.id, QuarantineEntry.status == QuarantineStatus.OPEN))}


def _exportable(sandbox) -> dict[str, dict]:
    return {number: row for number, row in sandbox.company.rows("SalesOrders").items()
            if row["OrderStatus"] in ("8", "9") and number not in BAD_ORDERS}


def _fingerprints(notes: list[str]) -> Counter:
    return Counter(re.findall(r"LB:[0-9a-f]{16}", " ".join(notes)))


def test_completed_orders_become_invoices_and_sales_receipts_once_with_their_ids_written_back(
        ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_whole")
    first = bridge.run()

    documents = bridge.documents()
    expected = _exportable(erp.sandbox)
    assert set(documents) == set(expected)
    for number, order in expected.items():
        document = documents[number]
        assert document["entity"] == ("SalesReceipt" if order["CashCredit"] == "C" else "Invoice")
        assert Decimal(str(document["TotalAmt"])) == Decimal(order["OrderTotal"])
        fields = bridge.order(number)["CustomFields"]
        assert (fields["QBOInvoice"], fields["QBOInvoiceNo"]) == (document["Id"], number)
        assert all(count == 1 for count in _fingerprints(bridge.notes(number)).values())
    assert any(d["entity"] == "SalesReceipt" for d in documents.values())

    # Nick Brown is "Brown, Nick" in QuickBooks: matched, never created a second time.
    customers = query(qbo_server, bridge.conn, ledger, "SELECT * FROM Customer MAXRESULTS 1000")
    browns = [c for c in customers if "Brown" in c["DisplayName"] and "Nick" in c["DisplayName"]]
    assert [c["DisplayName"] for c in browns] == ["Brown, Nick"]
    assert bridge.order(NICK_BROWN_ORDER)["Customer"] == NICK_BROWN
    assert documents[NICK_BROWN_ORDER]["CustomerRef"]["value"] == browns[0]["Id"]

    # Every deliberately bad order is held, naming the order, the line and the field; nothing of it went out.
    held = bridge.quarantined()
    for number in BAD_ORDERS:
        assert number not in documents
        entry = held.get(("source.invoices", number)) or held.get(("source.sales_receipts", number)) \
            or held.get(("invoices", number)) or held.get(("sales_receipts", number))
        assert entry is not None, f"bad order {number} ({BAD_ORDERS[number]}) was not held"
        assert number in str(entry.reasons) or entry.record_key == number

    assert first["write_back"]["source"]["written"] >= len(expected)
    second = bridge.run()
    assert second["export_documents"]["created"] == 0 and second["pull_source"]["new"] == 0
    assert second["write_back"]["source"]["written"] == 0
    assert bridge.documents().keys() == documents.keys()


def test_an_order_changed_after_export_updates_its_invoice_once_and_a_cancelled_one_voids_it(
        ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_changes")
    bridge.run()
    before = bridge.documents()
    invoices = sorted(n for n, d in before.items() if d["entity"] == "Invoice" and n != NICK_BROWN_ORDER)
    changed, cancelled = invoices[0], invoices[1]
    lines = erp.sandbox.order(changed)["Lines"]
    more = {name: value for name, value in lines[0].items() if name != "LineValue"}  # SYSPRO computes it again
    erp.sandbox.change_order(changed, Lines=[{**more, "OrderQty": str(Decimal(lines[0]["OrderQty"]) + 1)},
                                             *lines[1:]])
    erp.sandbox.cancel_order(cancelled)
    new_total = Decimal(erp.sandbox.order(changed)["OrderTotal"])

    run = bridge.run()

    after = bridge.documents()
    assert Decimal(str(after[changed]["TotalAmt"])) == new_total != Decimal(str(before[changed]["TotalAmt"]))
    assert int(after[changed]["SyncToken"]) == int(before[changed]["SyncToken"]) + 1
    assert Decimal(str(after[cancelled]["TotalAmt"])) == 0 and "Voided" in after[cancelled]["PrivateNote"]
    untouched = [n for n in before if n not in (changed, cancelled)]
    assert all(after[n]["SyncToken"] == before[n]["SyncToken"] for n in untouched)
    assert run["export_documents"]["updated"] == 1 and run["export_documents"]["voided"] == 1
    assert any("updated" in note for note in bridge.notes(changed))
    assert bridge.order(cancelled)["CustomFields"]["QBOPaymentStatus"] == "voided"

    again = bridge.run()
    assert again["export_documents"]["updated"] == 0 and again["export_documents"]["voided"] == 0
    assert bridge.documents()[changed]["SyncToken"] == after[changed]["SyncToken"]
    assert again["reconcile"]["mismatches"] == []


def test_payments_recorded_in_quickbooks_reach_the_order_partially_then_fully(ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_paid")
    bridge.run()
    number, invoice = next((n, d) for n, d in sorted(bridge.documents().items()) if d["entity"] == "Invoice")
    total = Decimal(str(invoice["TotalAmt"]))
    client = bridge.qbo_client()

    def pay(amount: Decimal, day: str) -> None:
        applied = [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]
        client.create("Payment", {"CustomerRef": invoice["CustomerRef"], "TotalAmt": amount, "TxnDate": day,
                                  "Line": applied}, request_id=f"test-pay-{number}-{day}")

    pay(Decimal("10.00"), "2026-12-01")
    bridge.run()
    fields = bridge.order(number)["CustomFields"]
    assert (fields["QBOPaymentStatus"], fields["QBOPaidAmount"], fields["QBOPaidDate"]) == (
        "partially paid", "10.00", "2026-12-01")

    pay(total - Decimal("10.00"), "2026-12-02")
    bridge.run()
    fields = bridge.order(number)["CustomFields"]
    assert (fields["QBOPaymentStatus"], Decimal(fields["QBOPaidAmount"]), fields["QBOPaidDate"]) == (
        "paid", total, date(2026, 12, 2).isoformat())
    notes = bridge.notes(number)
    quiet = bridge.run()
    assert bridge.notes(number) == notes  # told once
    assert quiet["write_back"]["source"]["untraced_payments"] == 0

    # An invoice keyed in QuickBooks by hand, paid there: no order to tell, so it is reported, not dropped.
    item = query(qbo_server, bridge.conn, ledger, "SELECT * FROM Item MAXRESULTS 1")[0]
    by_hand = client.create("Invoice", {"CustomerRef": invoice["CustomerRef"], "Line": [
        {"Amount": Decimal("40.00"), "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}}}]}, request_id="test-by-hand")
    client.create("Payment", {"CustomerRef": invoice["CustomerRef"], "TotalAmt": Decimal("40.00"), "Line": [
        {"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": by_hand["Id"], "TxnType": "Invoice"}]}]},
        request_id="test-by-hand-paid")
    assert bridge.run()["write_back"]["source"]["untraced_payments"] == 1


def test_write_back_under_faults_puts_each_invoice_id_on_its_order_exactly_once(ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_faults")
    erp.sandbox.set_faults(Faults(drop_rate=0.10, error_rate=0.10, seed=3))
    for _ in range(6):
        bridge.run()
    erp.sandbox.set_faults(Faults())
    bridge.run()
    documents = bridge.documents()
    assert set(documents) == set(_exportable(erp.sandbox))
    for number, document in documents.items():
        assert bridge.order(number)["CustomFields"]["QBOInvoice"] == document["Id"]
        counts = _fingerprints(bridge.notes(number))
        assert counts and all(count == 1 for count in counts.values()), (number, bridge.notes(number))


def test_a_cancelled_order_whose_invoice_is_paid_is_held_and_told_not_voided(ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_paid_void")
    bridge.run()
    number, invoice = next((n, d) for n, d in sorted(bridge.documents().items()) if d["entity"] == "Invoice")
    applied = [{"Amount": Decimal("5.00"), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]
    bridge.qbo_client().create("Payment", {"CustomerRef": invoice["CustomerRef"], "TotalAmt": Decimal("5.00"),
                                           "Line": applied}, request_id=f"test-pay-{number}")
    erp.sandbox.cancel_order(number)

    run = bridge.run()

    assert run["export_documents"]["voided"] == 0 and run["export_documents"]["rejected"] == 1
    assert Decimal(str(bridge.documents()[number]["TotalAmt"])) == Decimal(str(invoice["TotalAmt"]))
    held = bridge.quarantined()[("invoices", number)]
    assert held.reasons[0]["field"] == "status" and "the void was refused" in held.reasons[0]["problem"]
    assert any("the void was refused" in note for note in bridge.notes(number))
    again = bridge.run()
    assert again["export_documents"]["sent"] == 0  # held, not tried again and again


def test_a_cancel_withdrawn_before_the_void_left_never_voids_and_a_sent_void_stands(ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_uncancel")
    bridge.run()
    first, second = sorted(n for n, d in bridge.documents().items() if d["entity"] == "Invoice")[:2]
    status = erp.sandbox.order(first)["OrderStatus"]
    erp.sandbox.cancel_order(first)
    ctx = replace(context(bridge.entity, ledger, bridge.conn),
                  connect_source=lambda: build_source(bridge.entity, bridge.erp_conn))
    run_step(ctx, "pull_source")
    run_step(ctx, "prepare_exports")  # the void is queued, not sent
    erp.sandbox.change_order(first, OrderStatus=status)  # the ERP's user changes their mind

    run = bridge.run()

    assert run["export_documents"]["voided"] == 0 and run["export_documents"]["updated"] == 1
    assert Decimal(str(bridge.documents()[first]["TotalAmt"])) > 0
    erp.sandbox.cancel_order(second)
    bridge.run()
    erp.sandbox.change_order(second, OrderStatus=status)
    after = bridge.run()
    assert Decimal(str(bridge.documents()[second]["TotalAmt"])) == 0  # voided there: it stands
    assert ("source.invoices", second) in bridge.quarantined() and after["export_documents"]["updated"] == 0


def test_an_order_switched_between_credit_and_cash_is_never_a_second_document(ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_switch")
    rows = erp.sandbox.company.rows("SalesOrders")
    draft = next(n for n, o in sorted(rows.items()) if o["OrderStatus"] == "1" and o["CashCredit"] != "C"
                 and n not in BAD_ORDERS)
    bridge.run()
    exported = next(n for n, d in sorted(bridge.documents().items()) if d["entity"] == "Invoice")

    erp.sandbox.change_order(exported, CashCredit="C")  # exported as an invoice: it stays one
    erp.sandbox.change_order(draft, CashCredit="C", OrderStatus="9")  # never exported: it becomes a receipt
    bridge.run()

    documents = bridge.documents()  # (documents() fails on a number held twice)
    assert documents[exported]["entity"] == "Invoice" and documents[draft]["entity"] == "SalesReceipt"
    held = bridge.quarantined()[("source.sales_receipts", exported)]
    assert held.reasons[0]["field"] == "kind" and "it was exported as an invoice, which stands" in held.reasons[0][
        "problem"]


def test_a_cancel_then_suspend_never_voids_and_a_refused_void_lets_later_changes_through(ledger, qbo_server, erp):
    bridge = Bridge(ledger, qbo_server, erp, "erp_suspend")
    bridge.run()
    first, second = sorted(n for n, d in bridge.documents().items() if d["entity"] == "Invoice")[:2]
    erp.sandbox.cancel_order(first)
    erp.sandbox.change_order(first, OrderStatus="S")  # cancelled, then suspended before any run
    run = bridge.run()
    assert run["export_documents"]["voided"] == 0
    assert Decimal(str(bridge.documents()[first]["TotalAmt"])) > 0
    assert ("source.invoices", first) in bridge.quarantined()

    # A void refused (the invoice is paid), then the order un-cancelled and changed: the change is followed,
    # and the invoice's balance is read again.
    invoice = bridge.documents()[second]
    applied = [{"Amount": Decimal("5.00"), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]
    bridge.qbo_client().create("Payment", {"CustomerRef": invoice["CustomerRef"], "TotalAmt": Decimal("5.00"),
                                           "Line": applied}, request_id=f"test-pay-{second}")
    status = erp.sandbox.order(second)["OrderStatus"]
    erp.sandbox.cancel_order(second)
    assert bridge.run()["export_documents"]["rejected"] == 1
    erp.sandbox.change_order(second, OrderStatus=status, CustomerPoNumber="PO-AGAIN")
    again = bridge.run()
    assert again["export_documents"]["updated"] == 1
    assert "Customer PO PO-AGAIN" in bridge.documents()[second]["PrivateNote"]
    assert bridge.order(second)["CustomFields"]["QBOPaymentStatus"] == "partially paid"


def test_an_item_map_names_the_item_an_inactive_item_holds_and_no_customer_is_created_unless_allowed(
        ledger, qbo_server, erp):
    browns = sorted((n, o) for n, o in _exportable(erp.sandbox).items() if o["Customer"] == NICK_BROWN)
    (mapped_order, first), (inactive_order, second) = browns[0], browns[1]
    code, retired = first["Lines"][0]["StockCode"], second["Lines"][0]["StockCode"]
    assert code != retired and retired not in {line["StockCode"] for line in first["Lines"]}
    entity_id = "erp_mapped"
    base = make_entity(entity_id, flows=FLOWS, create_missing_customers=False).model_dump(mode="json")
    entity = LegalEntity.model_validate({**base, "source": {"kind": "syspro", "conn_id": f"erp_{entity_id}",
                                                            "tax_codes": TAX_CODES, "item_map": {code: "Mapped thing"}}})
    lists = _lists(erp.sandbox)
    lists["items"] = [{**i, "Active": i["Sku"] != retired} for i in lists["items"] if i["Sku"] != code] + [
        {"Name": "Mapped thing", "Type": "Service"}]
    bridge = Bridge.__new__(Bridge)
    bridge.ledger, bridge.qbo, bridge.erp, bridge.entity = ledger, qbo_server, erp, entity
    bridge.conn = connect_company(qbo_server, ledger, entity, lists)
    bridge.erp_conn = ConnectionSettings(f"erp_{entity_id}", erp.url, "ADMIN", erp.sandbox.operator_password,
                                         extra={"company_id": erp.sandbox.company_id})
    bridge.run()

    customers = query(qbo_server, bridge.conn, ledger, "SELECT * FROM Customer MAXRESULTS 1000")
    assert [c["DisplayName"] for c in customers] == ["Brown, Nick"]  # matched; nobody created
    documents = bridge.documents()
    assert all(d["CustomerRef"]["value"] == customers[0]["Id"] for d in documents.values())
    mapped = query(qbo_server, bridge.conn, ledger, "SELECT * FROM Item WHERE Name = 'Mapped thing'")[0]
    assert documents[mapped_order]["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"] == mapped["Id"]
    assert inactive_order not in documents
    (reason,) = [r for r in bridge.quarantined()[("invoices", inactive_order)].reasons
                 if r["expectation"] == "line_item_resolves"]
    assert reason["field"] == "lines[1].item_code" and reason["problem"].endswith("is inactive")


def test_a_source_connection_edited_to_another_company_reads_and_writes_nothing(ledger, qbo_server, erp):
    from ledgerbridge.sources.base import SourceMismatch

    bridge = Bridge(ledger, qbo_server, erp, "erp_pinned")
    bridge.run()
    notes = {number: bridge.notes(number) for number in bridge.documents()}
    other = SysproSandbox(company_id="WAYNE")
    seed_company(other, seed=9, customers=5, stock_items=5, orders=5, bad_orders=False)
    server = serve_in_thread(other)
    try:
        bridge.erp_conn = replace(bridge.erp_conn, host=server.url, extra={"company_id": "WAYNE"})
        with pytest.raises(SourceMismatch, match="now reaches SYSPRO .* company WAYNE: nothing was read or written"):
            bridge.run()
        assert sum(other.stats()["requests"].values()) == 0  # not even a logon
    finally:
        server.stop()
    assert {number: bridge.notes(number) for number in notes} == notes
