"""A Xero entity's flows against the Xero sandbox over HTTP: the reference pull (contacts split into
vendors and customers, tracking options as classes, archived and deleted objects, If-Modified-Since),
matching hub vendors to Xero contacts, and the day's budget of calls running out in the middle of an
export."""
from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import requests
from sqlalchemy import select

from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.connectors.limits import RealmLimits
from ledgerbridge.connectors.xero.client import DayLimitExhausted
from ledgerbridge.connectors.xero.factory import xero
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.flows.reconcile import ReconciliationError
from ledgerbridge.ledger.models import (
    AuditEvent,
    Document,
    OutboxEntry,
    OutboxState,
    PaidStatus,
    Party,
    Payment,
    PartyLink,
    QuarantineEntry,
    ReferenceRecord,
)
from ledgerbridge.pipeline import RunContext, RunParams, run_all, run_step
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread
from support import CLIENT_ID, CLIENT_SECRET, FakeClock, bill, hub_data


def xero_entity(entity_id: str, flows: tuple[str, ...] = ("reference", "parties", "bills")) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD",
        "accounting": {"kind": "xero", "conn_id": f"xero_{entity_id}"},
        "flows": list(flows), "matching": {"create_missing_vendors": True}})


@dataclass
class Books:
    """An organisation of the sandbox (what people see in Xero) and the entity's connection to it."""

    server: Any
    conn: ConnectionSettings

    @property
    def org(self):
        return self.server.sandbox.tenants[self.conn.schema]

    def enter(self, endpoint: str, element: dict) -> dict:
        """What a person enters or changes in Xero itself."""
        with self.server.sandbox.lock:
            return self.org.write(endpoint, element)

    def records(self, endpoint: str) -> list[dict]:
        with self.server.sandbox.lock:
            return list(self.org.records[endpoint].values())


def open_books(server, entity: LegalEntity) -> Books:
    reply = requests.post(f"{server.url}/_sandbox/tenants", json={"client_id": CLIENT_ID, "name": entity.name},
                          timeout=10)
    reply.raise_for_status()
    tenant = reply.json()
    return Books(server, ConnectionSettings(entity.accounting.conn_id, server.url, CLIENT_ID, CLIENT_SECRET,
                                            tenant["tenant_id"], {"refresh_token": tenant["refresh_token"],
                                                                  "token_url": f"{server.url}/connect/token"}))


def context(entity: LegalEntity, ledger, books: Books, run_id: str | None = None, **client_options) -> RunContext:
    return RunContext(entity=entity, ledger=ledger, run_id=run_id or f"test__{uuid.uuid4().hex[:8]}",
                      params=RunParams(),
                      connect=lambda: xero(books.conn, ledger, **{"backoff_seconds": 0.01, **client_options}),
                      log=logging.getLogger(f"ledgerbridge.test.{entity.id}"))


def sync(entity: LegalEntity, ledger, books: Books) -> dict:
    return run_all(context(entity, ledger, books))


def mirror(ledger, entity_id: str, kind: str) -> dict[str, ReferenceRecord]:
    with ledger.session() as session:
        return {row.external_id: row for row in session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == entity_id, ReferenceRecord.kind == kind))}


def names(rows: dict[str, ReferenceRecord]) -> set[str]:
    return {row.name for row in rows.values()}


def their_document(books: Books, contact_id: str, kind: str, number: str, amount: str = "40.00") -> dict:
    """A bill (ACCPAY) or sales invoice (ACCREC) somebody entered in Xero: it makes its contact a
    supplier or a customer, as Xero derives IsSupplier / IsCustomer from transactions."""
    return books.enter("Invoices", {
        "Type": kind, "Contact": {"ContactID": contact_id}, "InvoiceNumber": number, "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax", "LineItems": [{"Description": "goods", "Quantity": 1, "UnitAmount": amount,
                                                   "AccountCode": "429" if kind == "ACCPAY" else "200"}]})


# -- the reference pull ----------------------------------------------------------------------------


def test_the_reference_pull_mirrors_a_xero_organisations_lists(ledger, xero_server):
    entity = xero_entity("xero_lists", flows=("reference",))
    books = open_books(xero_server, entity)
    account_numbers = {"Acme Supplies": "ACME01", "Both Ways Ltd": "BOTH01"}  # their codes in Xero's ledgers
    contacts = {name: books.enter("Contacts", {"Name": name, **({"AccountNumber": account_numbers[name]}
                                                               if name in account_numbers else {})})["ContactID"]
                for name in ("Acme Supplies", "Vance Refrigeration", "Both Ways Ltd", "No Documents Yet")}
    bill_acme = their_document(books, contacts["Acme Supplies"], "ACCPAY", "AS-1")
    their_document(books, contacts["Vance Refrigeration"], "ACCREC", "INV-900")
    their_document(books, contacts["Both Ways Ltd"], "ACCPAY", "BW-1")
    their_document(books, contacts["Both Ways Ltd"], "ACCREC", "INV-901")
    books.enter("Items", {"Code": "WIDGET", "Name": "Widget"})

    summary = sync(entity, ledger, books)

    accounts = mirror(ledger, entity.id, "account")
    assert set(accounts) == {"090", "200", "310", "400", "429", "610", "800", "820"}  # by Code: what lines name
    assert (accounts["090"].name, accounts["090"].account_type) == ("Business Bank Account", "BANK")
    # One list of contacts in Xero, split by IsSupplier / IsCustomer; one with neither may be either.
    assert names(mirror(ledger, entity.id, "vendor")) == {"Acme Supplies", "Both Ways Ltd", "No Documents Yet"}
    assert names(mirror(ledger, entity.id, "customer")) == {"Vance Refrigeration", "Both Ways Ltd", "No Documents Yet"}
    assert mirror(ledger, entity.id, "vendor")[contacts["Both Ways Ltd"]].external_id == contacts["Both Ways Ltd"]
    # A contact's AccountNumber is its auxiliary account; a contact both supplier and customer holds its own twice.
    assert {row.name: row.auxiliary_account for row in mirror(ledger, entity.id, "vendor").values()} == {
        "Acme Supplies": "ACME01", "Both Ways Ltd": "BOTH01", "No Documents Yet": None}
    assert mirror(ledger, entity.id, "customer")[contacts["Both Ways Ltd"]].auxiliary_account == "BOTH01"
    classes = mirror(ledger, entity.id, "class")
    assert {(key, row.name) for key, row in classes.items()} == {("Region/North", "Region: North"),
                                                                 ("Region/South", "Region: South")}
    assert set(mirror(ledger, entity.id, "tax_code")) == {"INPUT", "OUTPUT", "NONE"}
    assert set(mirror(ledger, entity.id, "item")) == {"WIDGET"}
    bills = mirror(ledger, entity.id, "bill")
    assert {(row.number, row.party_external_id) for row in bills.values()} == {
        ("AS-1", contacts["Acme Supplies"]), ("BW-1", contacts["Both Ways Ltd"])}
    assert bills[bill_acme["InvoiceID"]].data["Total"] == Decimal("40.00")
    assert {row.number for row in mirror(ledger, entity.id, "invoice").values()} == {"INV-900", "INV-901"}
    # Xero's lists pass the reference suite as they are: nothing is quarantined.
    assert all(counts["failed"] == 0 for counts in summary["check_reference"].values()), summary["check_reference"]


def test_an_incremental_pull_reads_only_what_changed_and_an_archived_contact_turns_inactive(ledger, xero_server):
    entity = xero_entity("xero_incremental", flows=("reference",))
    books = open_books(xero_server, entity)
    acme = books.enter("Contacts", {"Name": "Acme Supplies"})["ContactID"]
    for n in range(5):
        books.enter("Contacts", {"Name": f"Quiet Contact {n}"})
    first = sync(entity, ledger, books)
    assert first["pull_reference"]["vendor"]["received"] == 6

    books.enter("Contacts", {"ContactID": acme, "ContactStatus": "ARCHIVED"})
    late = books.enter("Contacts", {"Name": "Late Arrival"})["ContactID"]
    second = sync(entity, ledger, books)

    vendors = second["pull_reference"]["vendor"]
    assert (vendors["source"], vendors["received"], vendors["new"], vendors["inactive"]) == (
        "change data capture", 2, 1, 1)  # If-Modified-Since: the archived and the new one, not the quiet five
    assert second["pull_reference"]["account"]["received"] == 0
    mirrored = mirror(ledger, entity.id, "vendor")
    assert (mirrored[acme].active, mirrored[acme].deleted_at) == (False, None)  # archived, not deleted
    assert mirrored[late].active and mirrored[late].name == "Late Arrival"
    assert len(mirrored) == 7


def test_a_bill_voided_and_a_payment_deleted_in_xero_are_deleted_in_the_ledger_once(ledger, xero_server):
    entity = xero_entity("xero_deleted", flows=("reference",))
    books = open_books(xero_server, entity)
    supplier = books.enter("Contacts", {"Name": "Dunder Mifflin Paper"})["ContactID"]
    paid = their_document(books, supplier, "ACCPAY", "DM-1", "100.00")
    dropped = their_document(books, supplier, "ACCPAY", "DM-2", "55.00")
    payment = books.enter("Payments", {"Invoice": {"InvoiceID": paid["InvoiceID"]}, "Account": {"Code": "090"},
                                       "Amount": "30.00", "Date": "2026-11-02"})
    sync(entity, ledger, books)
    assert set(mirror(ledger, entity.id, "bill")) == {paid["InvoiceID"], dropped["InvoiceID"]}
    assert mirror(ledger, entity.id, "payment")[payment["PaymentID"]].deleted_at is None

    books.enter("Payments", {"PaymentID": payment["PaymentID"], "Status": "DELETED"})
    # Xero deletes only drafts: an approved bill is voided, which counts for nothing (the ledger: gone).
    books.enter("Invoices", {"InvoiceID": dropped["InvoiceID"], "Status": "VOIDED"})
    second = sync(entity, ledger, books)

    assert second["pull_reference"]["payment"]["deleted"] == 1
    assert second["pull_reference"]["bill"]["deleted"] == 1
    bills, payments = mirror(ledger, entity.id, "bill"), mirror(ledger, entity.id, "payment")
    assert bills[dropped["InvoiceID"]].deleted_at is not None and bills[dropped["InvoiceID"]].active is False
    assert bills[dropped["InvoiceID"]].number == "DM-2"  # what it was stays readable
    assert payments[payment["PaymentID"]].deleted_at is not None
    assert bills[paid["InvoiceID"]].deleted_at is None
    assert bills[paid["InvoiceID"]].data["AmountDue"] == Decimal("100.00")  # the payment's deletion reopened it
    third = sync(entity, ledger, books)
    assert (third["pull_reference"]["bill"]["deleted"], third["pull_reference"]["payment"]["deleted"]) == (0, 0)


# -- matching on Xero contacts ---------------------------------------------------------------------


def test_hub_vendors_are_matched_to_existing_xero_contacts_and_never_duplicated(ledger, xero_server):
    entity = xero_entity("xero_matching")
    books = open_books(xero_server, entity)
    nick = books.enter("Contacts", {"Name": "Nick Brown", "EmailAddress": "nick@brown.example"})["ContactID"]
    dunder = books.enter("Contacts", {"Name": "Dunder Mifflin Paper"})["ContactID"]
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "120.00", account="429"),
                                                   bill("B-2", "V-2", "342.19", account="429"),
                                                   bill("B-3", "V-3", "75.25", account="429")]))

    first = sync(entity, ledger, books)
    second = sync(entity, ledger, books)

    assert Counter(c["Name"] for c in books.records("Contacts")) == Counter(
        {"Nick Brown": 1, "Dunder Mifflin Paper": 1, "Globochem Supplies": 1})
    with ledger.session() as session:
        links = dict(session.execute(select(Party.hub_id, PartyLink.external_id).join(PartyLink)).all())
    assert (links["V-1"], links["V-2"]) == (nick, dunder)  # "Brown, Nick" and "Dunder Mifflin Paper Co." by name
    globochem = next(c["ContactID"] for c in books.records("Contacts") if c["Name"] == "Globochem Supplies")
    assert links["V-3"] == globochem  # nothing matched, and the policy allows creating it
    exported = {i["InvoiceNumber"]: i for i in books.records("Invoices") if i["Type"] == "ACCPAY"}
    assert {number: (i["Contact"]["ContactID"], i["Total"]) for number, i in exported.items()} == {
        "B-1": (nick, Decimal("120.00")), "B-2": (dunder, Decimal("342.19")), "B-3": (globochem, Decimal("75.25"))}
    assert first["match_parties"]["created"] == 1 and first["export_documents"]["created"] == 3
    assert second["match_parties"]["created"] == 0 and second["export_documents"]["sent"] == 0
    assert second["reconcile"]["mismatches"] == []


# -- the day's budget ------------------------------------------------------------------------------


def test_the_days_budget_running_out_mid_export_leaves_the_rest_for_the_next_window(ledger, caplog):
    """60 bills are two batches (50 + 10); the day's budget allows the first batch only. The export
    stops cleanly, the 10 left wait with their keys, and once Xero's rolling 24 hours have moved on a
    next run exports them exactly once."""
    clock = FakeClock(time.time())
    # The sandbox's clock stands still, so its minute limit (and the client's, on the real clock) are
    # raised: only the day's budget is under test here.
    server = serve_in_thread(XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=clock, per_minute=100_000,
                                         per_day=300))
    unthrottled = RealmLimits(requests_per_minute=100_000, concurrent_requests=5, batch_requests_per_minute=10**6)
    try:
        entity = xero_entity("xero_day_budget")
        books = open_books(server, entity)
        books.enter("Contacts", {"Name": "Nick Brown"})
        with ledger.session() as session:
            import_hub_data(session, entity, hub_data(
                [bill(f"B-{n:03d}", "V-1", f"{n}.25", account="429") for n in range(1, 61)],
                vendors=[{"hub_id": "V-1", "name": "Nick Brown"}]))
        today = context(entity, ledger, books, "day-1", limits=unthrottled)
        for step in ("pull_source", "pull_reference", "check_reference", "match_parties", "prepare_exports"):
            run_step(today, step)
        client = today.connector.client
        while client.day_remaining > 1:  # other work of the day has used the rest: one batch's PUT (a first
            client.get("Currencies")  # export looks nothing up)

        with caplog.at_level(logging.WARNING, logger="ledgerbridge.test.xero_day_budget"):
            stopped = run_step(today, "export_documents")

        assert (stopped["confirmed"], stopped["left_pending"]) == (50, 10)
        assert len(stopped["errors"]) == 1 and "daily limit" in stopped["errors"][0]
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped sending bill")]
        assert len(said) == 1
        assert f"Xero's daily limit of calls for tenant {books.conn.schema} is used up" in said[0]
        assert "Xero takes calls again in about 24.0 h" in said[0] and "10 of 60 left for the next run" in said[0]
        assert len(books.records("Invoices")) == 50
        with ledger.session() as session:
            states = Counter(session.scalars(select(OutboxEntry.state).where(
                OutboxEntry.entity_id == entity.id, OutboxEntry.kind == "bill")))
        assert states == Counter({OutboxState.CONFIRMED: 50, OutboxState.PENDING: 10})
        # The steps after it need Xero too: they fail with the same words until the window moves.
        with pytest.raises(DayLimitExhausted, match="Xero takes calls again in about 24.0 h"):
            run_step(today, "collect_confirmations")

        clock.advance(86_400 + 1)
        tomorrow = run_all(context(entity, ledger, books, "day-2", limits=unthrottled))

        assert tomorrow["export_documents"]["created"] == 10 and tomorrow["export_documents"]["errors"] == []
        exported = Counter(i["InvoiceNumber"] for i in books.records("Invoices"))
        assert exported == Counter({f"B-{n:03d}": 1 for n in range(1, 61)})
        assert sum(i["Total"] for i in books.records("Invoices")) == sum(Decimal(f"{n}.25") for n in range(1, 61))
        assert tomorrow["reconcile"]["bills"]["buckets"] == {"confirmed": 60}
        assert tomorrow["reconcile"]["mismatches"] == []
    finally:
        server.stop()


def test_a_bill_voided_by_hand_in_xero_is_reported_not_marked_paid(ledger, xero_server, caplog):
    """A voided bill keeps its Total in Xero with nothing due: read as paid, the hub would be told it was.
    It is reported instead, by confirmations and by reconcile, and its paid status stays as it was."""
    entity = xero_entity("xero_voided_by_hand")
    books = open_books(xero_server, entity)
    books.enter("Contacts", {"Name": "Nick Brown"})
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "120.00", account="429")],
                                                  vendors=[{"hub_id": "V-1", "name": "Nick Brown"}]))
    first = sync(entity, ledger, books)
    assert first["reconcile"]["mismatches"] == []
    [exported] = [i for i in books.records("Invoices") if i["Type"] == "ACCPAY"]
    books.enter("Invoices", {"InvoiceID": exported["InvoiceID"], "Status": "VOIDED"})

    with caplog.at_level(logging.WARNING, logger="ledgerbridge.test.xero_voided_by_hand"), \
            pytest.raises(ReconciliationError) as failed:
        sync(entity, ledger, books)

    assert str(failed.value).endswith(
        f"1 mismatch(es) between hub and accounting system: bill B-1: voided in the accounting system "
        f"(accounting id {exported['InvoiceID']})")
    assert any("is voided in the accounting system: its paid status is left as it was" in r.getMessage()
               for r in caplog.records)
    with ledger.session() as session:
        document = session.scalars(select(Document).where(Document.entity_id == entity.id)).one()
        assert (document.paid_status, document.open_balance) == (PaidStatus.UNPAID, Decimal("120.00"))


def test_currencies_are_mirrored_and_a_bill_in_one_xero_has_not_enabled_is_held(ledger, xero_server):
    entity = LegalEntity.model_validate({**xero_entity("xero_currencies").model_dump(mode="json"),
                                         "quality": {"allowed_currencies": ["GBP", "NZD"]}})
    books = open_books(xero_server, entity)  # the sandbox's organisation takes USD and NZD
    books.enter("Contacts", {"Name": "Nick Brown"})
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data(
            [bill("B-GBP", "V-1", "80.00", account="429", currency="GBP"),
             bill("B-NZD", "V-1", "90.00", account="429", currency="NZD", exchange_rate="0.61"),
             bill("B-NZD-2", "V-1", "330.46", account="429", currency="NZD")],
            vendors=[{"hub_id": "V-1", "name": "Nick Brown"}]))

    run = sync(entity, ledger, books)

    assert set(mirror(ledger, entity.id, "currency")) == {"USD", "NZD"}
    assert (run["prepare_exports"]["queued"], run["prepare_exports"]["quarantined"]) == (2, 1)
    with ledger.session() as session:
        [held] = session.scalars(select(QuarantineEntry).where(QuarantineEntry.entity_id == entity.id,
                                                               QuarantineEntry.status == "open")).all()
    assert (held.record_key, held.reasons[0]["field"], held.reasons[0]["problem"]) == (
        "B-GBP", "currency", "GBP is not enabled in the accounting system (enabled: NZD, USD)")
    # The source's rate (0.61 USD per NZD) goes as Xero quotes it, NZD per 1 USD to six places: Xero books
    # 90.00 / 1.639344 = 54.90 USD. Without one Xero books its day's rate (the sandbox's: 1.6523 NZD per
    # USD); the next run's confirmations read it back, with the home total it gave.
    assert sorted((b["InvoiceNumber"], b["CurrencyCode"], b["CurrencyRate"]) for b in books.records("Invoices")) == [
        ("B-NZD", "NZD", Decimal("1.639344")), ("B-NZD-2", "NZD", Decimal("1.652300"))]
    with ledger.session() as session:
        sent = {d.hub_id: (d.exchange_rate, d.home_total) for d in session.scalars(
            select(Document).where(Document.entity_id == entity.id, Document.hub_id.like("B-NZD%")))}
    assert sent == {"B-NZD": (Decimal("0.61"), Decimal("54.90")),
                    "B-NZD-2": (Decimal("0.6052169703"), Decimal("200.00"))}
    assert run["collect_confirmations"]["rates_read"] == 1
    with ledger.session() as session:
        [kept] = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == entity.id,
                                                          AuditEvent.action == "booked_rate_kept")).all()
    assert (kept.detail["record"], kept.detail["exchange_rate"], kept.detail["home_total"]) == (
        "bill:B-NZD-2", "0.6052169703", "200.00")


def test_a_foreign_payment_goes_with_the_sources_rate_else_xero_books_its_own(ledger, xero_server):
    """Each Payment of a foreign bill payment carries the source's rate, inverted as Xero quotes it; a payment
    with none goes without, and Xero books its rate for the payment's date. The ledger keeps the source's with
    the home amount it gives."""
    entity = LegalEntity.model_validate({
        **xero_entity("xero_fx_paid", flows=("reference", "parties", "bills", "bill_payments")).model_dump(mode="json"),
        "quality": {"allowed_currencies": ["NZD"]}})
    books = open_books(xero_server, entity)  # the sandbox's organisation takes USD and NZD
    books.enter("Contacts", {"Name": "Nick Brown"})
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data(
            [bill("B-1", "V-1", "90.00", account="429", currency="NZD", exchange_rate="0.61"),
             bill("B-2", "V-1", "50.00", account="429", currency="NZD", exchange_rate="0.61")],
            vendors=[{"hub_id": "V-1", "name": "Nick Brown"}],
            payments=[{"hub_id": "P-SRC", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "90.00",
                       "currency": "NZD", "exchange_rate": "0.62", "bank_account": "090", "applied": {"B-1": "90.00"}},
                      {"hub_id": "P-XERO", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "50.00",
                       "currency": "NZD", "bank_account": "090", "applied": {"B-2": "50.00"}}]))

    run = sync(entity, ledger, books)

    assert run["export_payments"]["confirmed"] == 2
    invoices = {i["InvoiceID"]: i["InvoiceNumber"] for i in books.records("Invoices")}
    booked = {invoices[p["Invoice"]["InvoiceID"]]: (p["Amount"], p["CurrencyRate"]) for p in books.records("Payments")}
    # 0.62 USD per NZD goes as 1 / 0.62 = 1.612903 NZD per USD; without a rate, the sandbox's day's 1.6523.
    assert booked == {"B-1": (Decimal("90.00"), Decimal("1.612903")), "B-2": (Decimal("50.00"), Decimal("1.652300"))}
    assert all(i["AmountDue"] == 0 for i in books.records("Invoices"))
    with ledger.session() as session:
        kept = {p.hub_id: (p.exchange_rate, p.home_amount) for p in session.scalars(
            select(Payment).where(Payment.entity_id == entity.id))}
    assert kept == {"P-SRC": (Decimal("0.62"), Decimal("55.80")), "P-XERO": (None, None)}
