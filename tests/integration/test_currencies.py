"""Foreign-currency documents into QuickBooks Online: each goes with its exchange rate (the source's, else
QuickBooks' own for its date, asked once per currency and day) and its home-currency total kept beside it in the
ledger, exactly once; a currency QuickBooks has no rate for, and any foreign document of a company with
multicurrency off, is held with the reason."""
from __future__ import annotations

import json
from decimal import Decimal

from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import Document, Payment, QuarantineEntry
from ledgerbridge.registry import LegalEntity
from sqlalchemy import select
from support import bill, company, connect_company, sync

LISTS = {"accounts": [{"Name": "Banque", "AcctNum": "512000", "AccountType": "Bank"},
                      {"Name": "Fournisseurs", "AcctNum": "401000", "AccountType": "Accounts Payable"},
                      {"Name": "Honoraires", "AcctNum": "622600", "AccountType": "Expense"}]}


def _entity(entity_id: str, flows: tuple[str, ...] = ("reference", "parties", "bills")) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} SAS", "base_currency": "EUR",
        "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"},
        "flows": list(flows), "matching": {"create_missing_vendors": True},
        "quality": {"allowed_currencies": ["USD", "GBP", "NOK"]}})


def _documents(ledger) -> dict[str, Document]:
    with ledger.session() as session:
        return {d.hub_id: d for d in session.scalars(select(Document))}


def _held(ledger) -> dict[str, str]:
    with ledger.session() as session:
        return {q.record_key: json.dumps(q.reasons, ensure_ascii=False) for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.status == "open"))}


def test_foreign_bills_go_with_the_source_rate_or_quickbooks_rate_for_their_date(ledger, qbo_server, caplog):
    entity = _entity("hooli_fx")
    conn = connect_company(qbo_server, ledger, entity, LISTS, country="FR", multicurrency=True)
    # The company's own rate for GBP on one day, as set in QuickBooks (POST exchangerate).
    company(qbo_server, conn).set_exchange_rate({"SourceCurrencyCode": "GBP", "Rate": "1.1712",
                                                 "AsOfDate": "2026-11-03"})
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "vendors": [{"hub_id": "V-1", "name": "Globex Corporation"}],
            "bills": [bill("B-USD", amount="1000.00", account="622600", currency="USD"),  # QuickBooks' market rate
                      bill("B-USD-2", amount="333.33", account="622600", currency="USD"),  # same day: asked once
                      bill("B-SRC", amount="100.05", account="622600", currency="USD", exchange_rate="0.9150"),
                      bill("B-GBP", amount="250.00", account="622600", currency="GBP", doc_date="2026-11-03"),
                      bill("B-EUR", amount="80.00", account="622600"),
                      bill("B-NOK", amount="500.00", account="622600", currency="NOK")],
        })

    with caplog.at_level("INFO"):
        first = sync(entity, ledger, conn)

    asked = [r.getMessage() for r in caplog.records if r.getMessage().startswith("exchange rate USD -> EUR")]
    assert asked == ["exchange rate USD -> EUR on 2026-11-02: 0.925926 (the accounting system's)"]
    books = {b["DocNumber"]: b for b in company(qbo_server, conn).objects["Bill"].values()}
    documents = _documents(ledger)
    expected = {"B-USD": (Decimal("0.925926"), Decimal("925.93")), "B-USD-2": (Decimal("0.925926"), Decimal("308.64")),
                "B-SRC": (Decimal("0.9150"), Decimal("91.55")), "B-GBP": (Decimal("1.1712"), Decimal("292.80"))}
    for hub_id, (rate, home_total) in expected.items():
        sent = books[hub_id]
        assert (sent["CurrencyRef"]["value"], sent["ExchangeRate"], sent["HomeTotalAmt"]) == (
            documents[hub_id].currency, rate, home_total), hub_id
        assert (documents[hub_id].exchange_rate, documents[hub_id].home_total) == (rate, home_total), hub_id
        assert isinstance(documents[hub_id].home_total, Decimal)
    # The home currency: no rate asked, none kept.
    assert books["B-EUR"]["ExchangeRate"] == 1 and documents["B-EUR"].exchange_rate is None
    # QuickBooks has no rate for NOK: held, naming the field, and what to do.
    assert "B-NOK" not in books
    reason = _held(ledger)["B-NOK"]
    assert "exchange_rate" in reason and "no exchange rate for NOK on 2026-11-02" in reason \
        and "give exchange_rate (EUR per 1 NOK) in the feed" in reason
    assert first["export_documents"]["confirmed"] == 5

    # The source gives the missing rate: it goes; nothing else is sent again, and the kept rates stand.
    with ledger.session() as session:
        import_hub_data(session, entity, {"bills": [
            bill("B-NOK", amount="500.00", account="622600", currency="NOK", exchange_rate="0.0861"),
            bill("B-USD", amount="1000.00", account="622600", currency="USD")]})
    second = sync(entity, ledger, conn)
    books = {b["DocNumber"]: b for b in company(qbo_server, conn).objects["Bill"].values()}
    assert second["export_documents"]["sent"] == 1 and len(books) == 6
    assert (books["B-NOK"]["ExchangeRate"], books["B-NOK"]["HomeTotalAmt"]) == (Decimal("0.0861"), Decimal("43.05"))
    assert _documents(ledger)["B-USD"].exchange_rate == Decimal("0.925926")
    assert "B-NOK" not in _held(ledger)


def test_with_multicurrency_off_a_foreign_bill_is_held_saying_so(ledger, qbo_server):
    entity = _entity("hooli_single")
    conn = connect_company(qbo_server, ledger, entity, LISTS, country="FR")  # multicurrency off
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "vendors": [{"hub_id": "V-1", "name": "Globex Corporation"}],
            "bills": [bill("B-USD", amount="1000.00", account="622600", currency="USD", exchange_rate="0.92"),
                      bill("B-EUR", amount="80.00", account="622600")]})

    run = sync(entity, ledger, conn)

    books = {b["DocNumber"]: b for b in company(qbo_server, conn).objects["Bill"].values()}
    assert set(books) == {"B-EUR"} and "ExchangeRate" not in books["B-EUR"]
    reason = _held(ledger)["B-USD"]
    assert "multicurrency is off in the accounting company, which takes EUR only" in reason
    assert run["export_documents"]["rejected"] == 0


def test_foreign_payments_go_with_the_source_rate_or_quickbooks_rate_for_their_date(ledger, qbo_server, caplog):
    """A bill payment in dollars goes with the rate the money was converted at (the source's), else QuickBooks'
    own for the payment's date, kept on the payment with its home amount: QuickBooks books the exchange difference
    against the bill's rate. Sent once; a rate given later to an exported payment is held, not sent again."""
    entity = _entity("hooli_fx_paid", flows=("reference", "parties", "bills", "bill_payments"))
    conn = connect_company(qbo_server, ledger, entity, LISTS, country="FR", multicurrency=True)
    company(qbo_server, conn).set_exchange_rate({"SourceCurrencyCode": "USD", "Rate": "0.9400",
                                                 "AsOfDate": "2026-11-20"})
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "vendors": [{"hub_id": "V-1", "name": "Globex Corporation"}],
            "bills": [bill("B-1", amount="1000.00", account="622600", currency="USD", exchange_rate="0.9150"),
                      bill("B-2", amount="200.00", account="622600", currency="USD", exchange_rate="0.9150")],
            "bill_payments": [
                {"hub_id": "P-SRC", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "1000.00",
                 "currency": "USD", "exchange_rate": "0.9321", "bank_account": "512000", "applied": {"B-1": "1000.00"}},
                {"hub_id": "P-QBO", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "200.00",
                 "currency": "USD", "bank_account": "512000", "applied": {"B-2": "200.00"}}]})

    with caplog.at_level("INFO"):
        first = sync(entity, ledger, conn)

    books = company(qbo_server, conn)
    paid = {p["Line"][0]["LinkedTxn"][0]["TxnId"]: p for p in books.objects["BillPayment"].values()}
    bills = {b["DocNumber"]: b for b in books.objects["Bill"].values()}
    by_bill = {doc: paid[b["Id"]] for doc, b in bills.items()}
    assert (by_bill["B-1"]["ExchangeRate"], by_bill["B-1"]["HomeTotalAmt"]) == (Decimal("0.9321"), Decimal("932.10"))
    assert (by_bill["B-2"]["ExchangeRate"], by_bill["B-2"]["HomeTotalAmt"]) == (Decimal("0.9400"), Decimal("188.00"))
    assert bills["B-1"]["Balance"] == 0 and bills["B-2"]["Balance"] == 0
    with ledger.session() as session:
        kept = {p.hub_id: (p.exchange_rate, p.home_amount) for p in session.scalars(select(Payment))}
    assert kept == {"P-SRC": (Decimal("0.9321"), Decimal("932.10")), "P-QBO": (Decimal("0.94"), Decimal("188.00"))}
    assert all(isinstance(home, Decimal) for _, home in kept.values())
    assert "exchange rate USD -> EUR on 2026-11-20: 0.9400 (the accounting system's)" in caplog.text
    assert first["export_payments"]["confirmed"] == 2

    # The same feed again (P-QBO still without a rate): the kept rate stands, nothing is sent again.
    with ledger.session() as session:
        import_hub_data(session, entity, {"bill_payments": [
            {"hub_id": "P-QBO", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "200.00",
             "currency": "USD", "bank_account": "512000", "applied": {"B-2": "200.00"}}]})
    second = sync(entity, ledger, conn)
    assert len(company(qbo_server, conn).objects["BillPayment"]) == 2
    assert second["export_payments"].get("sent", 0) == 0
    with ledger.session() as session:
        assert session.scalar(select(Payment.exchange_rate).where(Payment.hub_id == "P-QBO")) == Decimal("0.94")
