"""Vendor credits (avoirs fournisseurs), added as one kind module: to QuickBooks Online once each as a
VendorCredit lowering what the vendor is owed, mirrored; an unknown account held naming the line, a
missing vendor refused at intake naming the field. Xero: test_xero_vendor_credits.py."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.sources.intake import HubRecordError
from ledgerbridge.ledger.models import (
    Document,
    OutboxEntry,
    OutboxState,
    PaidStatus,
    QuarantineEntry,
    ReferenceRecord,
)
from sqlalchemy import select
from support import company, connect_company, make_entity, sync

FRENCH_LISTS = {"accounts": [{"Name": "Fournisseurs", "AcctNum": "401000", "AccountType": "Accounts Payable"},
                             {"Name": "Honoraires", "AcctNum": "622600", "AccountType": "Expense"}]}
FEED = {
    "vendors": [{"hub_id": "V-1", "name": "Globochem Supplies"}],
    "bills": [{"hub_id": "B-1", "vendor": "V-1", "doc_number": "GS-100", "doc_date": "2026-11-02",
               "status": "approved", "lines": [{"account": "6010", "amount": "500.00"}]}],
    "vendor_credits": [
        {"hub_id": "VC-1", "vendor": "V-1", "doc_number": "GS-AV-1", "doc_date": "2026-11-05", "status": "approved",
         "memo": "damaged drums returned", "lines": [{"account": "6010", "amount": "120.10"},
                                                     {"account": "6010", "amount": "0.20"}]},
        {"hub_id": "VC-2", "vendor": "V-1", "doc_number": "GS-AV-2", "doc_date": "2026-11-05", "status": "approved",
         "lines": [{"account": "9999", "amount": "5.00"}]},
    ],
}


def test_a_vendor_credit_becomes_one_vendor_credit_and_bad_ones_are_held(ledger, qbo_server):
    entity = make_entity("vendor_credits", flows=("reference", "parties", "bills", "vendor_credits"))
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, FEED)

    first = sync(entity, ledger, conn)

    books = company(qbo_server, conn)
    [credit] = books.objects["VendorCredit"].values()
    vendor = next(v for v in books.objects["Vendor"].values() if v["DisplayName"] == "Globochem Supplies")
    assert (credit["DocNumber"], credit["VendorRef"]["value"], credit["TotalAmt"]) == (
        "GS-AV-1", vendor["Id"], Decimal("120.30"))
    assert [line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"] for line in credit["Line"]] == [
        next(a["Id"] for a in books.objects["Account"].values() if a.get("AcctNum") == "6010")] * 2
    assert vendor["Balance"] == Decimal("500.00") - Decimal("120.30")  # the credit lowers what is owed
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "vendor_credit")).one()
        document = session.scalars(select(Document).where(Document.hub_id == "VC-1")).one()
        held = {q.record_key: q for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.status == "open"))}
        assert row.state == OutboxState.CONFIRMED and row.idempotency_key in credit["PrivateNote"]
        assert document.external_id == credit["Id"]
        assert (document.paid_status, document.open_balance) == (PaidStatus.UNPAID, None)  # not tracked
    assert first["reconcile"]["vendor_credits"]["buckets"] == {"confirmed": 1, "quarantined": 1}
    assert first["reconcile"]["accounting_total_of_confirmed_vendor_credits"] == Decimal("120.30")
    assert (held["VC-2"].reasons[0]["field"], held["VC-2"].reasons[0]["value"]) == ("lines[1].account_code", "9999")

    second = sync(entity, ledger, conn)

    assert second["export_documents"]["sent"] == 0
    assert len(books.objects["VendorCredit"]) == 1
    with ledger.session() as session:  # mirrored, so a deletion there would be noticed
        mirrored = session.scalars(select(ReferenceRecord).where(ReferenceRecord.kind == "vendor_credit")).one()
    assert (mirrored.external_id, mirrored.number) == (credit["Id"], "GS-AV-1")


def test_a_vendor_credit_without_its_vendor_is_refused_naming_the_field(ledger):
    entity = make_entity("vendor_credits_bad", flows=("reference", "parties", "vendor_credits"))
    credit = {"hub_id": "VC-3", "doc_number": "GS-AV-3", "doc_date": "2026-11-05", "status": "approved",
              "lines": [{"account": "6010", "amount": "5.00"}]}
    with ledger.session() as session, pytest.raises(HubRecordError) as refused:
        import_hub_data(session, entity, {"vendor_credits": [credit]})
    assert str(refused.value) == "vendor credit 'VC-3': field 'vendor': Field required"


def test_a_french_company_takes_a_vendor_credit_in_the_journal_of_its_type(ledger, qbo_server):
    """QuickBooks France puts a VendorCredit in the purchases journal itself: JournalCodeRef belongs to
    journal entry lines only, so none is sent; a journal the company lacks is still held."""
    entity = make_entity("hooli_fr_credits", currency="EUR", flows=("reference", "parties", "vendor_credits"))
    conn = connect_company(qbo_server, ledger, entity, FRENCH_LISTS, country="FR")
    credit = {"hub_id": "AF-1", "vendor": "V-1", "doc_number": "AV-77", "doc_date": "2026-11-20",
              "status": "approved", "journal": "ACH", "lines": [{"account": "622600", "amount": "240.00"}]}
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": [{"hub_id": "V-1", "name": "Cabinet Lefèvre Avocats"}],
                                          "vendor_credits": [credit, dict(credit, hub_id="AF-2", journal="PAIE")]})

    sync(entity, ledger, conn)
    sync(entity, ledger, conn)

    [sent] = company(qbo_server, conn).objects["VendorCredit"].values()
    assert (sent["DocNumber"], sent["TotalAmt"], sent["CurrencyRef"]["value"]) == ("AV-77", Decimal("240.00"), "EUR")
    assert "JournalCodeRef" not in json.dumps(sent, default=str)
    with ledger.session() as session:
        held = {q.record_key: json.dumps(q.reasons) for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.status == "open"))}
    assert "no active journal 'PAIE'" in held["AF-2"]
