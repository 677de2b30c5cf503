"""The source's tax amounts checked against the accounting system's rates through whole runs: the mirror
keeps each tax code's rate (Xero's EffectiveRate, QuickBooks Online's TaxRates by side, an entry-files
list's rate column); a line whose tax_amount is what its code's rate makes (within a cent) goes out, and
Xero and entry files book the source's amount itself; one that differs by more is held with both
amounts, as is a tax amount on a line without a tax code; a US QuickBooks code (no rate) is not checked."""
from __future__ import annotations

import logging
from decimal import Decimal

import test_entry_files as entry_files
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import Document, QuarantineEntry, ReferenceRecord
from sqlalchemy import select
from ledgerbridge.pipeline import run_step
from support import bill, company, connect_company, context, make_entity, sync
from test_xero_gst import HUB as GST_HUB
from test_xero_gst import australian_entity


def _held(ledger, entity_id: str) -> dict[str, list[tuple[str, str]]]:
    with ledger.session() as session:
        return {q.record_key: [(r["field"], r["problem"]) for r in q.reasons] for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.entity_id == entity_id, QuarantineEntry.status == "open"))}


def _rates(ledger, entity_id: str) -> dict[str, dict]:
    with ledger.session() as session:
        return {r.name: {k: v for k, v in r.data.items() if k.endswith("rate")} for r in session.scalars(
            select(ReferenceRecord).where(ReferenceRecord.entity_id == entity_id, ReferenceRecord.kind == "tax_code"))}


def _confirmed(ledger, entity_id: str) -> set[str]:
    with ledger.session() as session:
        return {d.hub_id for d in session.scalars(select(Document).where(
            Document.entity_id == entity_id, Document.external_id.is_not(None)))}


XERO_HUB = {
    "vendors": GST_HUB["vendors"], "customers": GST_HUB["customers"],
    "bills": [
        bill("B-1", doc_number="DM-1", lines=[{"amount": "100.00", "account": "453", "tax_code": "INPUT",
                                               "tax_amount": "10.00"},
                                              # 33.37 x 10% = 3.337: the source rounded down, a cent from 3.34
                                              {"amount": "33.37", "account": "429", "tax_code": "INPUT",
                                               "tax_amount": "3.33"}]),
        bill("B-2", doc_number="DM-2", doc_date="2026-11-03", lines=[
            {"amount": "200.00", "account": "453", "tax_code": "INPUT", "tax_amount": "30.00"}]),
        bill("B-3", doc_number="DM-3", doc_date="2026-11-04", lines=[
            {"amount": "80.00", "account": "453", "tax_amount": "8.00"}]),
    ],
    "invoices": [{**GST_HUB["invoices"][0], "lines": [{**GST_HUB["invoices"][0]["lines"][0], "tax_amount": "22.00"}]}],
}


def test_xero_net_amounts_a_right_tax_goes_out_a_wrong_one_is_held_with_both_amounts(xero_server, ledger,
                                                                                     tmp_path):
    entity, run, org, _ = australian_entity(xero_server, ledger, tmp_path, amounts_include_tax=False,
                                            hub=XERO_HUB)
    first = run("tax-1")

    assert _rates(ledger, entity.id)["GST on Expenses"] == {"rate": "10.00"}
    assert _held(ledger, entity.id) == {
        "B-2": [("lines[1].tax_amount", "the source says 30.00, INPUT at 10% of 200.00 makes 20.00")],
        "B-3": [("lines[1].tax_amount", "the source says 8.00 of tax but the line has no tax code: the "
                                        "accounting system would book none")]}
    [sent] = [b for b in org.records["Invoices"].values() if b["Type"] == "ACCPAY"]
    # The source's 3.33, not the 3.34 Xero would work out: the books hold the supplier's tax.
    assert [line["TaxAmount"] for line in sent["LineItems"]] == [Decimal("10.00"), Decimal("3.33")]
    assert (sent["InvoiceNumber"], sent["LineAmountTypes"], sent["TotalTax"], sent["Total"]) == (
        "DM-1", "Exclusive", Decimal("13.33"), Decimal("146.70"))
    [invoice] = [i for i in org.records["Invoices"].values() if i["Type"] == "ACCREC"]
    assert (invoice["TotalTax"], invoice["Total"]) == (Decimal("22.00"), Decimal("242.00"))
    assert _confirmed(ledger, entity.id) == {"B-1", "I-1"}
    assert first["reconcile"]["mismatches"] == []


def test_xero_inclusive_amounts_the_tax_inside_the_amount_is_checked(xero_server, ledger, tmp_path):
    hub = {"vendors": XERO_HUB["vendors"], "bills": [
        {"hub_id": "B-1", "vendor": "V-1", "doc_number": "IN-1", "doc_date": "2026-11-02", "status": "approved",
         "lines": [{"amount": "110.00", "account": "453", "tax_code": "INPUT", "tax_amount": "10.00"}]},
        {"hub_id": "B-2", "vendor": "V-1", "doc_number": "IN-2", "doc_date": "2026-11-02", "status": "approved",
         "lines": [{"amount": "110.00", "account": "453", "tax_code": "INPUT", "tax_amount": "11.00"}]}]}
    entity, run, org, _ = australian_entity(xero_server, ledger, tmp_path, amounts_include_tax=True, hub=hub)
    run("tax-incl-1")

    assert _held(ledger, entity.id) == {
        "B-2": [("lines[1].tax_amount", "the source says 11.00, INPUT at 10% (inside 110.00) makes 10.00")]}
    [sent] = org.records["Invoices"].values()
    assert (sent["InvoiceNumber"], sent["LineAmountTypes"], sent["TotalTax"], sent["Total"]) == (
        "IN-1", "Inclusive", Decimal("10.00"), Decimal("110.00"))


UK_CODES = ({"TaxCode": "20.0% S", "TaxRateDetails": [
                {"TaxRateName": "20.0% S (sales)", "RateValue": 20, "TaxAgencyId": "1", "TaxApplicableOn": "Sales"},
                {"TaxRateName": "20.0% S (purchases)", "RateValue": 20, "TaxAgencyId": "1",
                 "TaxApplicableOn": "Purchase"}]},
            {"TaxCode": "5.0% R", "TaxRateDetails": [
                {"TaxRateName": "5.0% R (purchases)", "RateValue": 5, "TaxAgencyId": "1",
                 "TaxApplicableOn": "Purchase"}]})


def test_quickbooks_rates_by_side_a_wrong_tax_is_held_and_a_us_code_is_not_checked(ledger, qbo_server, caplog):
    entity = make_entity("wayne_uk", currency="GBP")
    conn = connect_company(qbo_server, ledger, entity, country="GB")
    books = company(qbo_server, conn)
    with qbo_server.sandbox.lock:  # as the company's accountant set up its VAT codes
        codes = {body["TaxCode"]: books.tax_service(body)["TaxCodeId"] for body in UK_CODES}
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": [{"hub_id": "V-1", "name": "Acme Widgets"}], "bills": [
            bill("B-1", lines=[{"amount": "100.00", "account": "6010", "tax_code": "20.0% S", "tax_amount": "20.00"},
                               {"amount": "40.00", "account": "6010", "tax_code": "5.0% R", "tax_amount": "2.00"}]),
            bill("B-2", lines=[{"amount": "100.00", "account": "6010", "tax_code": "20.0% S",
                                "tax_amount": "25.00"}])]})

    sync(entity, ledger, conn)

    rates = _rates(ledger, entity.id)
    assert rates["20.0% S"] == {"sales_rate": "20", "purchase_rate": "20", "rate": "20"}
    assert rates["5.0% R"] == {"purchase_rate": "5", "rate": "5"}
    assert rates["TAX"] == {}  # the US pseudo code names no rate
    assert _held(ledger, entity.id) == {
        "B-2": [("lines[1].tax_amount", "the source says 25.00, 20.0% S at 20% of 100.00 makes 20.00")]}
    [sent] = books.objects["Bill"].values()
    assert sent["DocNumber"] == "B-1"
    assert [line["AccountBasedExpenseLineDetail"]["TaxCodeRef"]["value"] for line in sent["Line"]] == [
        codes["20.0% S"], codes["5.0% R"]]

    # A code the accountant adds later reaches the mirror with its rate by change data capture.
    with qbo_server.sandbox.lock:
        books.tax_service({"TaxCode": "12.5% X", "TaxRateDetails": [
            {"TaxRateName": "12.5% X (purchases)", "RateValue": "12.5", "TaxAgencyId": "1",
             "TaxApplicableOn": "Purchase"}]})
    with ledger.session() as session:
        import_hub_data(session, entity, {"bills": [
            bill("B-3", lines=[{"amount": "80.00", "account": "6010", "tax_code": "12.5% X", "tax_amount": "12.00"}]),
            bill("B-4", lines=[{"amount": "80.00", "account": "6010", "tax_code": "12.5% X", "tax_amount": "10.00"}])]})
    second = sync(entity, ledger, conn)
    assert (second["pull_reference"]["tax_code"]["source"], second["pull_reference"]["tax_code"]["new"]) == (
        "change data capture", 1)
    assert _rates(ledger, entity.id)["12.5% X"] == {"purchase_rate": "12.5", "rate": "12.5"}
    assert _held(ledger, entity.id)["B-3"] == [
        ("lines[1].tax_amount", "the source says 12.00, 12.5% X at 12.5% of 80.00 makes 10.00")]
    assert _confirmed(ledger, entity.id) == {"B-1", "B-4"}

    us = make_entity("acme_us_tax")
    us_conn = connect_company(qbo_server, ledger, us)
    with ledger.session() as session:
        import_hub_data(session, us, {"vendors": [{"hub_id": "V-1", "name": "Acme Widgets"}], "bills": [
            bill("B-9", lines=[{"amount": "100.00", "account": "6010", "tax_code": "TAX", "tax_amount": "8.25"}])]})
    with caplog.at_level(logging.INFO, logger=f"ledgerbridge.test.{us.id}"):
        sync(us, ledger, us_conn)
    assert _held(ledger, us.id) == {} and _confirmed(ledger, us.id) == {"B-9"}
    assert "tax amounts on lines with tax code(s) TAX were not checked: the accounting system gives no rate" \
        in caplog.text
    assert _rates(ledger, us.id) == {"TAX": {}, "NON": {}}


def test_entry_files_rates_from_the_tax_list_and_the_sources_vat_in_the_entry(ledger, tmp_path):
    root, conn = entry_files._local_folder(tmp_path)  # the accountant's lists: TVA20D, 20 %, on 445660
    entity = entry_files._entity()

    def vat_bill(hub_id: str, amount: str, tax: str) -> dict:
        return bill(hub_id, "V-500", lines=[{"amount": amount, "account": "601000", "tax_code": "TVA20D",
                                             "tax_amount": tax}])
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": [{"hub_id": "V-500", "name": "Les Moulins de Paris"}],
                                          "bills": [vat_bill("B-1", "100.00", "20.00"),
                                                    vat_bill("B-2", "33.33", "6.66"),  # 6.666: a cent off
                                                    vat_bill("B-3", "100.00", "19.60")]})  # the old 19.6 %
    entry_files._run(ledger, conn, entity)

    assert _rates(ledger, entity.id)["TVA déductible 20 %"] == {"rate": "20"}
    assert _held(ledger, entity.id) == {
        "B-3": [("lines[1].tax_amount", "the source says 19.60, TVA20D at 20% of 100.00 makes 20.00")]}
    [written] = entry_files._entry_files(root)
    vat = {line["EcritureNum"]: entry_files._amount(line["Debit"]) for line in entry_files._fec_lines(written)
           if line["CompteNum"] == "445660"}
    assert vat == {"B-1": Decimal("20.00"), "B-2": Decimal("6.66")}


def test_quickbooks_books_the_sources_tax_a_cent_from_its_own_exactly_once(ledger, qbo_server):
    entity = make_entity("wayne_uk_vat", currency="GBP",
                         flows=("reference", "parties", "bills", "bill_payments", "invoices"),
                         create_missing_customers=True)
    conn = connect_company(qbo_server, ledger, entity, country="GB")
    books = company(qbo_server, conn)
    with qbo_server.sandbox.lock:
        answers = {body["TaxCode"]: books.tax_service(body) for body in UK_CODES}
    rate_ids = {d["TaxRateName"]: d["TaxRateId"] for answer in answers.values() for d in answer["TaxRateDetails"]}
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "vendors": [{"hub_id": "V-1", "name": "Acme Widgets"}],
            "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}],
            "bills": [
                # 33.37 at 20% is 6.674: QuickBooks would book 6.67, the supplier's bill says 6.68 (a cent apart).
                bill("B-1", lines=[{"amount": "100.00", "account": "6010", "tax_code": "20.0% S", "tax_amount": "20.00"},
                                   {"amount": "33.37", "account": "6010", "tax_code": "20.0% S", "tax_amount": "6.68"},
                                   {"amount": "40.00", "account": "6010", "tax_code": "5.0% R", "tax_amount": "2.00"}]),
                bill("B-2", lines=[{"amount": "33.37", "account": "6010", "tax_code": "20.0% S"}])],  # no source tax
            "invoices": [{"hub_id": "I-1", "customer": "C-1", "doc_number": "WA-1", "doc_date": "2026-11-04",
                          "status": "approved", "lines": [{"item": "Services", "quantity": "1", "unit_price": "33.37",
                                                           "tax_code": "20.0% S", "tax_amount": "6.68"}]}]})

    first = sync(entity, ledger, conn)

    with ledger.session() as session:
        mirrored = session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == entity.id, ReferenceRecord.name == "20.0% S")).one().data
    assert (mirrored["purchase_tax_rates"], mirrored["sales_tax_rates"]) == (
        [{"id": rate_ids["20.0% S (purchases)"], "percent": "20"}], [{"id": rate_ids["20.0% S (sales)"], "percent": "20"}])
    assert _held(ledger, entity.id) == {}
    sent = {b["DocNumber"]: b for b in books.objects["Bill"].values()}
    tax_of = {number: [(t["TaxLineDetail"]["TaxRateRef"]["value"], t["Amount"], t["TaxLineDetail"]["NetAmountTaxable"])
                       for t in doc["TxnTaxDetail"]["TaxLine"]] for number, doc in sent.items()}
    # The source's tax, not QuickBooks' 26.67: the books hold the supplier's bill to the cent.
    assert tax_of["B-1"] == [(rate_ids["20.0% S (purchases)"], Decimal("26.68"), Decimal("133.37")),
                             (rate_ids["5.0% R (purchases)"], Decimal("2.00"), Decimal("40.00"))]
    assert (sent["B-1"]["TxnTaxDetail"]["TotalTax"], sent["B-1"]["TotalAmt"]) == (Decimal("28.68"), Decimal("202.05"))
    # Without the source's tax QuickBooks works it out itself: 6.674 -> 6.67.
    assert (sent["B-2"]["TxnTaxDetail"]["TotalTax"], sent["B-2"]["TotalAmt"]) == (Decimal("6.67"), Decimal("40.04"))
    [sold] = books.objects["Invoice"].values()
    assert (sold["TxnTaxDetail"]["TotalTax"], sold["TotalAmt"]) == (Decimal("6.68"), Decimal("40.05"))
    assert _confirmed(ledger, entity.id) == {"B-1", "B-2", "I-1"}
    assert first["reconcile"]["mismatches"] == []  # the tax QuickBooks adds on top is not the hub's total

    # A rate the mirror names but the company does not have (as read in this run): QuickBooks' 2500 names it.
    with ledger.session() as session:
        import_hub_data(session, entity, {"bills": [
            bill("B-3", lines=[{"amount": "40.00", "account": "6010", "tax_code": "5.0% R", "tax_amount": "2.00"}])]})
    ctx = context(entity, ledger, conn)
    for step in ("pull_source", "pull_reference", "check_reference", "match_parties"):
        run_step(ctx, step)
    with ledger.session() as session:
        reduced = session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == entity.id, ReferenceRecord.name == "5.0% R")).one()
        reduced.data = {**reduced.data, "purchase_tax_rates": [{"id": "999", "percent": "5"}]}
    second = {step: run_step(ctx, step) for step in ("prepare_exports", "export_documents")}

    assert second["export_documents"]["rejected"] == 1
    [error] = second["export_documents"]["errors"]
    assert "TaxRate with Id=999 does not exist" in error and "TxnTaxDetail.TaxLine.TaxLineDetail.TaxRateRef" in error

    # Exactly once: a whole run more sends nothing again.
    third = sync(entity, ledger, conn)
    assert third["export_documents"]["sent"] == 0
    assert sorted(b["DocNumber"] for b in books.objects["Bill"].values()) == ["B-1", "B-2"]
    assert len(books.objects["Invoice"]) == 1 and _confirmed(ledger, entity.id) == {"B-1", "B-2", "I-1"}
