"""GST into an Australian Xero organisation through every step of a run: a feed whose amounts include
GST (as suppliers state them) keeps the hub's totals to the cent, Xero taking the GST out of each
line; payments, paid status and write-back agree; an unknown tax code holds its bill naming the line;
a second run sends nothing."""
from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
import requests
from ledgerbridge.connectors.base import BillExport, LineExport
from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.connectors.xero.factory import xero
from ledgerbridge.context import RunContext, RunParams
from ledgerbridge.ledger.models import Document, PaidStatus, QuarantineEntry
from ledgerbridge.pipeline import run_all
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.factory import build_source
from sqlalchemy import select

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-test", "test-secret"

HUB = {
    "vendors": [{"hub_id": "V-1", "name": "Dunder Mifflin"}],
    "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}],
    "bills": [
        {"hub_id": "B-1", "vendor": "V-1", "doc_number": "DM-1", "doc_date": "2026-11-02", "status": "approved",
         "lines": [{"amount": "110.00", "account": "453", "tax_code": "INPUT", "description": "Paper"},
                   {"amount": "33.37", "account": "429", "tax_code": "INPUT"},
                   {"amount": "20.00", "account": "429", "tax_code": "EXEMPTEXPENSES", "description": "Fresh fruit"}]},
        {"hub_id": "B-2", "vendor": "V-1", "doc_number": "DM-2", "doc_date": "2026-11-03", "status": "approved",
         "lines": [{"amount": "11.00", "account": "453", "tax_code": "GST 10%"}]},
    ],
    "bill_payments": [{"hub_id": "P-1", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "50.00",
                       "bank_account": "090", "applied": {"B-1": "50.00"}}],
    "invoices": [{"hub_id": "I-1", "customer": "C-1", "doc_number": "WA-1", "doc_date": "2026-11-04",
                  "status": "approved", "lines": [{"item": "SERVICE", "quantity": "2", "unit_price": "110.00",
                                                   "tax_code": "OUTPUT"}]}],
}


@pytest.fixture
def australian(xero_server, ledger, tmp_path):
    return australian_entity(xero_server, ledger, tmp_path, amounts_include_tax=True, hub=HUB)


def australian_entity(xero_server, ledger, tmp_path, amounts_include_tax: bool, hub: dict):
    """(entity, run, org, outbound folder): an AUD entity whose feed says whether its amounts include GST,
    an Australian Xero organisation with one supplier already keyed and one item; `run()` is one whole
    DAG run."""
    reply = requests.post(f"{xero_server.url}/_sandbox/tenants", json={
        "client_id": CLIENT_ID, "name": "Wayne Australia", "country_code": "AU"}, timeout=10)
    reply.raise_for_status()
    tenant = reply.json()
    org = xero_server.sandbox.tenants[tenant["tenant_id"]]
    with xero_server.sandbox.lock:
        org.write("Contacts", {"Name": "Dunder Mifflin"})
        org.write("Items", {"Code": "SERVICE", "Name": "Service call", "Description": "Service call",
                            "SalesDetails": {"AccountCode": "200", "TaxType": "OUTPUT"}})
    entity_id = f"au_{uuid.uuid4().hex[:6]}"
    entity = LegalEntity.model_validate({
        "id": entity_id, "name": "Wayne Australia", "base_currency": "AUD",
        "accounting": {"kind": "xero", "conn_id": f"xero_{entity_id}"},
        "source": {"kind": "feed", "conn_id": f"feed_{entity_id}", "amounts_include_tax": amounts_include_tax},
        "flows": ["reference", "parties", "bills", "bill_payments", "invoices"],
        "matching": {"create_missing_vendors": True, "create_missing_customers": True}})
    conn = ConnectionSettings(entity.accounting.conn_id, xero_server.url, CLIENT_ID, CLIENT_SECRET,
                              tenant["tenant_id"], {"refresh_token": tenant["refresh_token"],
                                                    "token_url": f"{xero_server.url}/connect/token"})
    feed_root = tmp_path / "feed"
    (feed_root / entity_id / "inbound").mkdir(parents=True)
    (feed_root / entity_id / "inbound" / "hub-001.json").write_text(json.dumps(hub))

    def run(run_id: str) -> dict:
        return run_all(RunContext(
            entity=entity, ledger=ledger, run_id=run_id, params=RunParams(),
            connect=lambda: xero(conn, ledger, backoff_seconds=0.01),
            connect_source=lambda: build_source(entity, ConnectionSettings(
                entity.source.conn_id, extra={"local_root": str(feed_root)})),
            log=logging.getLogger(f"ledgerbridge.test.{entity_id}")))
    return entity, run, org, feed_root / entity_id / "outbound"


def test_gst_inclusive_amounts_reach_xero_to_the_cent(australian, ledger):
    entity, run, org, outbound = australian
    first = run("gst-1")

    bills = [b for b in org.records["Invoices"].values() if b["Type"] == "ACCPAY"]
    [bill] = bills
    assert bill["LineAmountTypes"] == "Inclusive"
    assert [(line["TaxType"], line["LineAmount"], line["TaxAmount"]) for line in bill["LineItems"]] == [
        ("INPUT", Decimal("110.00"), Decimal("10.00")), ("INPUT", Decimal("33.37"), Decimal("3.03")),
        ("EXEMPTEXPENSES", Decimal("20.00"), Decimal("0.00"))]
    # The hub's total is what the supplier asks for: Xero's too, the GST inside it.
    assert (bill["Total"], bill["TotalTax"], bill["SubTotal"]) == (
        Decimal("163.37"), Decimal("13.03"), Decimal("150.34"))
    assert bill["AmountDue"] == Decimal("113.37")  # after the hub's payment of 50.00
    assert Counter(c["Name"] for c in org.records["Contacts"].values()) == {
        "Dunder Mifflin": 1, "Vance Refrigeration": 1}  # the keyed supplier matched, not created again

    [invoice] = [i for i in org.records["Invoices"].values() if i["Type"] == "ACCREC"]
    assert (invoice["LineAmountTypes"], invoice["Total"], invoice["TotalTax"]) == ("Inclusive", Decimal("220.00"),
                                                                                   Decimal("20.00"))

    with ledger.session() as session:
        b1 = session.scalars(select(Document).where(Document.entity_id == entity.id, Document.hub_id == "B-1")).one()
        assert (b1.external_id, b1.paid_status, b1.open_balance) == (
            bill["InvoiceID"], PaidStatus.PARTIALLY_PAID, Decimal("113.37"))
        held = session.scalars(select(QuarantineEntry).where(QuarantineEntry.entity_id == entity.id,
                                                             QuarantineEntry.status == "open")).all()
    assert [(h.record_key, h.reasons[0]["field"], h.reasons[0]["value"]) for h in held] == [
        ("B-2", "lines[1].tax_code", "GST 10%")]
    assert first["reconcile"]["mismatches"] == []
    assert first["reconcile"]["accounting_total_of_confirmed_bills"] == Decimal("163.37")
    written = {(item["hub_id"], item["status"]): item for path in sorted(outbound.glob("writeback-*.json"))
               for item in json.loads(path.read_text())["records"]}
    paid = written[("B-1", "partially_paid")]
    assert (Decimal(paid["paid_amount"]), Decimal(paid["open_balance"])) == (Decimal("50.00"), Decimal("113.37"))

    second = run("gst-2")
    assert second["export_documents"].get("sent", 0) == 0
    assert len(org.records["Invoices"]) == 2 and len(org.records["Payments"]) == 1


def test_net_prices_get_gst_on_top_and_reconcile_compares_them_net(xero_server, ledger, tmp_path):
    hub = {"customers": HUB["customers"], "invoices": HUB["invoices"]}
    entity, run, org, _ = australian_entity(xero_server, ledger, tmp_path, amounts_include_tax=False, hub=hub)

    first = run("net-1")

    [invoice] = org.records["Invoices"].values()
    assert (invoice["LineAmountTypes"], invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]) == (
        "Exclusive", Decimal("220.00"), Decimal("22.00"), Decimal("242.00"))
    assert first["reconcile"]["mismatches"] == []
    assert first["reconcile"]["accounting_total_of_confirmed_invoices"] == Decimal("220.00")


def test_net_amounts_get_gst_on_top_and_no_tax_code_means_no_tax(xero_server, ledger):
    connector = xero(ConnectionSettings("xero_payloads", xero_server.url, CLIENT_ID, CLIENT_SECRET, "tenant",
                                        {"refresh_token": "unused"}), ledger)
    net = BillExport("B-9", "contact", "N-9", date(2026, 11, 2), None, "AUD", Decimal("100.00"),
                     (LineExport(Decimal("100.00"), "453", tax_code_id="INPUT"),))
    untaxed = BillExport("B-10", "contact", "N-10", date(2026, 11, 2), None, "AUD", Decimal("100.00"),
                         (LineExport(Decimal("100.00"), "453"),), amounts_include_tax=True)
    assert connector.payload("bill", net, "k1")["LineAmountTypes"] == "Exclusive"
    assert connector.payload("bill", untaxed, "k2")["LineAmountTypes"] == "NoTax"
    assert "TaxType" not in connector.payload("bill", untaxed, "k2")["LineItems"][0]
