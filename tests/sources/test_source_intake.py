"""Intake record by record, on SQLite and PostgreSQL: bad records are quarantined naming the record and
the field (values no ledger column takes never reach the database) while the good ones of the same
file go in; records are upserted by hub id; a record with an outbox row is never changed: it is held
"changed after export"; a record fixed at the source leaves quarantine."""
from __future__ import annotations

import base64
from decimal import Decimal

import pytest
from sqlalchemy import select

from ledgerbridge.ledger.models import (
    Attachment,
    Document,
    OutboxEntry,
    OutboxState,
    Party,
    Payment,
    QuarantineEntry,
    QuarantineStatus,
    RecordType,
    SourceJournal,
)
from ledgerbridge.sources.intake import (
    CHANGED_AFTER_EXPORT,
    REFUSED_AT_INTAKE,
    HubRecordError,
    Outcome,
    records_of_mapping,
    take_in,
)
from support import bill, make_entity

ENTITY = make_entity("acme")


def _take_in(ledger, data: dict, source: str = "hub.json"):
    with ledger.session() as session:
        return take_in(session, ENTITY, records_of_mapping(data, source))


def _held(ledger, dataset: str = "source.bills") -> dict[str, QuarantineEntry]:
    with ledger.session() as session:
        return {q.record_key: q for q in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.dataset == dataset, QuarantineEntry.status == QuarantineStatus.OPEN))}


def _documents(ledger) -> dict[str, Document]:
    with ledger.session() as session:
        return {d.hub_id: d for d in session.scalars(select(Document))}


VENDORS = [{"hub_id": "V-1", "name": "Brown, Nick"}, {"hub_id": "V-2", "name": "Dunder Mifflin"}]


def test_bad_records_are_quarantined_naming_record_and_field_and_the_good_ones_go_in(ledger):
    report = _take_in(ledger, {
        "vendors": [*VENDORS, {"hub_id": "V-NUL", "name": "Nul\x00Co"}],
        "bills": [
            bill("B-GOOD"),
            bill("B-LONG", doc_number="N" * 101),
            bill("B-NUL", memo="line one\x00line two"),
            bill("B-HALF", memo="\ud800"),  # what JSON's "\ud800" escape gives: no UTF-8 for it
            bill("B-FLOAT", amount=12.5),
            bill("B-VENDOR", vendor="V-404"),
            bill("B-OF-NUL", vendor="V-NUL"),
            bill("B-HUGE", amount="10000000000000.00"),
            bill("B-SUM", lines=[{"amount": "9000000000000.00", "account": "6010"},
                                 {"amount": "9000000000000.00", "account": "6010"}]),
            "a bill, as a sentence",
            {"vendor": "V-1", "doc_date": "2026-11-02"},
            bill("B-TWICE", amount="1.00"),
            bill("B-TWICE", amount="2.00"),
        ],
        "bill_payments": [
            {"hub_id": "P-GOOD", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "10.00",
             "bank_account": "1000", "applied": {"B-GOOD": "10.00"}},
            {"hub_id": "P-BAD", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "10.00",
             "bank_account": "1000", "applied": {"B-FLOAT": "10.00"}},
        ],
    })

    assert set(_documents(ledger)) == {"B-GOOD"}
    with ledger.session() as session:
        assert {p.hub_id for p in session.scalars(select(Party))} == {"V-1", "V-2"}
        assert [p.hub_id for p in session.scalars(select(Payment))] == ["P-GOOD"]
    held = _held(ledger)
    fields = {key: [(r["field"], r["expectation"]) for r in entry.reasons] for key, entry in held.items()}
    assert fields == {
        "B-LONG": [("doc_number", REFUSED_AT_INTAKE)], "B-NUL": [("memo", REFUSED_AT_INTAKE)],
        "B-HALF": [("memo", REFUSED_AT_INTAKE)],
        "B-FLOAT": [("lines.0.amount", REFUSED_AT_INTAKE)], "B-VENDOR": [("vendor", REFUSED_AT_INTAKE)],
        "B-OF-NUL": [("vendor", REFUSED_AT_INTAKE)], "B-HUGE": [("lines.0.amount", REFUSED_AT_INTAKE)],
        "B-SUM": [("total", REFUSED_AT_INTAKE)], "hub.json #10": [("bill", REFUSED_AT_INTAKE)],
        "hub.json #11": [("hub_id", REFUSED_AT_INTAKE)], "B-TWICE": [("hub_id", REFUSED_AT_INTAKE)]}
    problems = {key: entry.reasons[0]["problem"] for key, entry in held.items()}
    assert "at most 100 characters" in problems["B-LONG"]
    assert "NUL byte" in problems["B-NUL"]
    assert "is a float" in problems["B-FLOAT"]
    assert problems["B-VENDOR"] == "unknown hub vendor 'V-404'"
    assert "its own record is quarantined" in problems["B-OF-NUL"]
    assert "larger than the ledger can hold" in problems["B-HUGE"]
    assert "more than the ledger can hold" in problems["B-SUM"]
    assert problems["B-TWICE"] == "repeated (records #12 and #13 of hub.json)"
    assert "unable to parse raw data as a unicode string" in problems["B-HALF"]
    assert held["B-FLOAT"].payload["origin"] == "hub.json #5" and held["B-FLOAT"].payload["record"]["hub_id"] == "B-FLOAT"
    assert _held(ledger, "source.vendors")["V-NUL"].reasons[0]["field"] == "name"
    assert _held(ledger, "source.bill_payments")["P-BAD"].reasons[0]["field"] == "applied.B-FLOAT"
    assert report.counts["bills"] == {Outcome.NEW: 1, Outcome.QUARANTINED: 11}
    assert report.count(Outcome.QUARANTINED) == 13


def test_records_are_upserted_by_hub_id_and_unchanged_ones_are_only_counted(ledger):
    timesheet = base64.b64encode(b"10 h").decode()
    first = _take_in(ledger, {"vendors": VENDORS, "bills": [bill("B-1", status="draft", amount="10.00")]})
    assert first.counts["bills"] == {Outcome.NEW: 1}

    changed = _take_in(ledger, {
        "vendors": [{"hub_id": "V-1", "name": "Brown, Nick", "email": "nick@brown.example"}, VENDORS[1]],
        "bills": [bill("B-1", vendor="V-2", status="approved", lines=[
            {"amount": "10.00", "account": "6010"}, {"amount": "2.50", "account": "6030", "description": "travel"}],
            attachments=[{"file_name": "scan.txt", "content_type": "text/plain", "content_base64": timesheet}])]})

    assert changed.counts["bills"] == {Outcome.UPDATED: 1}
    assert changed.counts["vendors"] == {Outcome.UPDATED: 1, Outcome.UNCHANGED: 1}
    with ledger.session() as session:
        document = session.scalars(select(Document)).one()
        assert (document.status, document.total, document.party.hub_id) == ("approved", Decimal("12.50"), "V-2")
        assert [(line.line_no, line.amount, line.account_code) for line in document.lines] == [
            (1, Decimal("10.00"), "6010"), (2, Decimal("2.50"), "6030")]
        assert [a.file_name for a in session.scalars(select(Attachment))] == ["scan.txt"]
        assert session.scalars(select(Party).where(Party.hub_id == "V-1")).one().email == "nick@brown.example"

    again = _take_in(ledger, {"bills": [bill("B-1", vendor="V-2", status="approved", lines=[
        {"amount": "10.00", "account": "6010"}, {"amount": "2.50", "account": "6030", "description": "travel"}],
        attachments=[{"file_name": "scan.txt", "content_type": "text/plain", "content_base64": timesheet}])]})
    assert again.counts["bills"] == {Outcome.UNCHANGED: 1}


def test_credit_notes_come_in_with_lines_by_item_and_a_bad_one_is_held_naming_the_field(ledger):
    note = {"hub_id": "CN-1", "customer": "C-1", "doc_date": "2026-11-04", "status": "approved",
            "lines": [{"item": "Services", "quantity": "2", "unit_price": "12.35"}]}
    report = _take_in(ledger, {"customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}], "credit_notes": [
        note, {**note, "hub_id": "CN-DUE", "due_date": "2026-12-04"},
        {**note, "hub_id": "CN-WHO", "customer": "C-404"}]})

    assert report.counts["credit_notes"] == {Outcome.NEW: 1, Outcome.QUARANTINED: 2}
    with ledger.session() as session:
        document = session.scalars(select(Document)).one()
        assert (document.kind, document.total, document.due_date) == ("credit_note", Decimal("24.70"), None)
        assert [(line.item_code, line.quantity, line.unit_price, line.account_code) for line in document.lines] == [
            ("Services", Decimal("2"), Decimal("12.35"), None)]
    held = _held(ledger, "source.credit_notes")
    assert held["CN-DUE"].reasons[0]["field"] == "due_date"  # a credit is never due
    assert held["CN-WHO"].reasons[0]["field"] == "customer"


def test_a_later_file_wins(ledger):
    with ledger.session() as session:
        report = take_in(session, ENTITY, [*records_of_mapping({"vendors": VENDORS, "bills": [bill("B-1", amount="1.00")]},
                                                                "hub-1.json"),
                                           *records_of_mapping({"bills": [bill("B-1", amount="2.00")]}, "hub-2.json")])
    assert report.counts["bills"] == {Outcome.NEW: 1, Outcome.UPDATED: 1}
    assert _documents(ledger)["B-1"].total == Decimal("2.00")


def test_a_record_fixed_at_the_source_leaves_quarantine(ledger):
    _take_in(ledger, {"vendors": VENDORS, "bills": [bill("B-1", amount=7.5)]})
    assert set(_held(ledger)) == {"B-1"}

    report = _take_in(ledger, {"bills": [bill("B-1", amount="7.50")]}, "hub-fixed.json")

    assert report.counts["bills"] == {Outcome.NEW: 1} and report.released == 1
    assert _held(ledger) == {} and _documents(ledger)["B-1"].total == Decimal("7.50")


def test_a_record_with_an_outbox_row_is_held_changed_after_export_and_left_as_exported(ledger):
    _take_in(ledger, {"vendors": VENDORS, "bills": [bill("B-1", amount="10.00"), bill("B-2", amount="20.00")]})
    documents = _documents(ledger)
    with ledger.session() as session:  # both exported: their outbox rows were sent and confirmed
        for hub_id in ("B-1", "B-2"):
            session.add(OutboxEntry(entity_id=ENTITY.id, record_type=RecordType.DOCUMENT,
                                    record_id=documents[hub_id].id, record_key=f"bill:{hub_id}", kind="bill",
                                    idempotency_key=f"key-{hub_id}", payload={}, state=OutboxState.CONFIRMED,
                                    attempts=1, external_id=f"qbo-{hub_id}"))

    report = _take_in(ledger, {"bills": [bill("B-1", amount="11.00", memo="corrected"),
                                         bill("B-2", amount="20.00", status="void")]}, "hub-2.json")

    assert report.counts["bills"] == {Outcome.CHANGED_AFTER_EXPORT: 2}
    assert [(h.hub_id, h.fields) for h in report.held_after_export] == [("B-1", ("total", "memo", "lines")),
                                                                         ("B-2", ("status",))]
    after = _documents(ledger)
    assert (after["B-1"].total, after["B-1"].memo, after["B-2"].status) == (Decimal("10.00"), None, "approved")
    held = _held(ledger)
    assert {r["field"] for r in held["B-1"].reasons} == {"total", "memo", "lines"}
    assert all(r["expectation"] == CHANGED_AFTER_EXPORT for r in held["B-1"].reasons)
    assert "voided at the source after export" in held["B-2"].reasons[0]["problem"]

    back = _take_in(ledger, {"bills": [bill("B-1", amount="10.00"), bill("B-2", amount="20.00")]}, "hub-3.json")
    assert back.counts["bills"] == {Outcome.UNCHANGED: 2} and back.released == 2 and _held(ledger) == {}


def test_a_nul_byte_in_a_document_a_payment_names_holds_that_payment_and_nothing_else(ledger):
    """The documents a payment applies to are named by hub id in the keys of `applied`: a NUL byte there
    (PostgreSQL refuses it in any query) holds that payment, and the good bill of the batch goes in."""
    report = _take_in(ledger, {
        "vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}], "bills": [bill("B-GOOD")],
        "bill_payments": [{"hub_id": "P-NUL", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "10.00",
                           "bank_account": "1000", "applied": {"B-\x00GOOD": "10.00"}}]})

    assert report.counts["bills"][Outcome.NEW] == 1 and report.counts["bill_payments"][Outcome.QUARANTINED] == 1
    assert list(_documents(ledger)) == ["B-GOOD"]
    held = _held(ledger, "source.bill_payments")["P-NUL"].reasons
    assert held[0]["field"] == "applied" and "NUL byte" in held[0]["problem"]


def test_an_exchange_rate_is_taken_exactly_and_a_rate_taken_from_the_accounting_system_stands(ledger):
    report = _take_in(ledger, {"vendors": VENDORS, "bills": [
        bill("B-RATE", currency="GBP", exchange_rate="1.1712345678"),
        bill("B-FLOAT", currency="GBP", exchange_rate=1.17),
        bill("B-ZERO", currency="GBP", exchange_rate="0"),
        bill("B-FINE", currency="GBP", exchange_rate="1.12345678901"),
        bill("B-TAX", lines=[{"amount": "100.00", "account": "6010", "tax_amount": "20.00"}]),
        bill("B-NONE", currency="GBP")]})

    documents = _documents(ledger)
    assert documents["B-RATE"].exchange_rate == Decimal("1.1712345678")
    with ledger.session() as session:
        assert session.get(Document, documents["B-TAX"].id).lines[0].tax_amount == Decimal("20.00")
    problems = {key: (entry.reasons[0]["field"], entry.reasons[0]["problem"]) for key, entry in _held(ledger).items()}
    assert problems["B-FLOAT"][0] == "exchange_rate" and "is a float" in problems["B-FLOAT"][1]
    assert problems["B-ZERO"][0] == "exchange_rate" and "not a positive number" in problems["B-ZERO"][1]
    assert problems["B-FINE"][0] == "exchange_rate" and "more than 10 decimal places" in problems["B-FINE"][1]
    assert report.counts["bills"] == {Outcome.NEW: 3, Outcome.QUARANTINED: 3}

    # The rate prepare_exports took from the accounting system is kept while the source gives none, the
    # currency and the date stay; a new date drops it (that day's rate is asked), a source rate replaces it.
    with ledger.session() as session:
        session.get(Document, documents["B-NONE"].id).exchange_rate = Decimal("1.16")
    same = _take_in(ledger, {"bills": [bill("B-NONE", currency="GBP")]})
    assert same.counts["bills"] == {Outcome.UNCHANGED: 1} and _documents(ledger)["B-NONE"].exchange_rate == Decimal("1.16")
    _take_in(ledger, {"bills": [bill("B-NONE", currency="GBP", doc_date="2026-11-03")]})
    assert _documents(ledger)["B-NONE"].exchange_rate is None
    _take_in(ledger, {"bills": [bill("B-NONE", currency="GBP", doc_date="2026-11-03", exchange_rate="1.2")]})
    assert _documents(ledger)["B-NONE"].exchange_rate == Decimal("1.2")


def test_a_payments_exchange_rate_is_taken_exactly_a_bad_one_named_and_the_systems_rate_stands(ledger):
    def paid(hub_id: str, **extra) -> dict:
        return {"hub_id": hub_id, "vendor": "V-1", "payment_date": "2026-11-20", "amount": "100.00",
                "currency": "GBP", "bank_account": "1000", "applied": {"B-GBP": "100.00"}, **extra}

    report = _take_in(ledger, {"vendors": VENDORS, "bills": [bill("B-GBP", currency="GBP")], "bill_payments": [
        paid("P-RATE", exchange_rate="1.1712345678"), paid("P-FLOAT", exchange_rate=1.17),
        paid("P-ZERO", exchange_rate="0"), paid("P-NONE")]})

    with ledger.session() as session:
        payments = {p.hub_id: p.exchange_rate for p in session.scalars(select(Payment))}
    assert payments == {"P-RATE": Decimal("1.1712345678"), "P-NONE": None}
    held = {key: (entry.reasons[0]["field"], entry.reasons[0]["problem"])
            for key, entry in _held(ledger, "source.bill_payments").items()}
    assert held["P-FLOAT"][0] == "exchange_rate" and "is a float" in held["P-FLOAT"][1]
    assert held["P-ZERO"][0] == "exchange_rate" and "not a positive number" in held["P-ZERO"][1]
    assert report.counts["bill_payments"] == {Outcome.NEW: 2, Outcome.QUARANTINED: 2}

    # The rate export_payments took from the accounting system stands while the source gives none and the
    # date stays; a source rate replaces it, and the home amount is worked out again.
    with ledger.session() as session:
        payment = session.scalars(select(Payment).where(Payment.hub_id == "P-NONE")).one()
        payment.exchange_rate, payment.home_amount = Decimal("1.16"), Decimal("116.00")
    same = _take_in(ledger, {"bill_payments": [paid("P-NONE")]})
    assert same.counts["bill_payments"] == {Outcome.UNCHANGED: 1}
    _take_in(ledger, {"bill_payments": [paid("P-NONE", exchange_rate="1.2")]})
    with ledger.session() as session:
        payment = session.scalars(select(Payment).where(Payment.hub_id == "P-NONE")).one()
        assert (payment.exchange_rate, payment.home_amount) == (Decimal("1.2"), None)


def _journals(ledger) -> dict[str, tuple[str, str | None, bool]]:
    with ledger.session() as session:
        return {j.code: (j.name, j.journal_type, j.active) for j in session.scalars(
            select(SourceJournal).where(SourceJournal.entity_id == ENTITY.id))}


def test_declared_journals_and_auxiliary_accounts_are_stored_and_a_bad_one_is_held_naming_it(ledger):
    report = _take_in(ledger, {
        "journals": [{"code": "ACH", "name": "Achats", "type": "purchases"},
                     {"code": "VTE", "name": "Ventes", "type": "sales"},
                     {"code": "PAIE", "name": "Paie", "type": "wages"},  # no such type
                     {"code": "X" * 21, "name": "Trop long"},
                     {"code": "BQ", "type": "bank"}],  # no name
        "vendors": [{"hub_id": "V-1", "name": "Moulins", "auxiliary_account": "FMOULINS"},
                    {"hub_id": "V-2", "name": "Dunder", "auxiliary_account": "F" * 18},
                    {"hub_id": "V-3", "name": "Brown"}],
        "bills": [bill("B-1", vendor="V-1", journal="ACH")],
    })

    assert _journals(ledger) == {"ACH": ("Achats", "purchases", True), "VTE": ("Ventes", "sales", True)}
    assert report.journals[Outcome.NEW] == 2 and report.journals[Outcome.QUARANTINED] == 3
    with ledger.session() as session:
        assert {p.hub_id: p.auxiliary_account for p in session.scalars(select(Party))} == {
            "V-1": "FMOULINS", "V-3": None}
    held = _held(ledger, "source.journals")
    assert {key: [r["field"] for r in entry.reasons] for key, entry in held.items()} == {
        "PAIE": ["type"], "BQ": ["name"], "hub.json #4": ["code"]}
    assert "'purchases'" in held["PAIE"].reasons[0]["problem"]  # the types it may be are named
    assert {r.who for r in report.refused} == {"journal 'PAIE'", "journal 'BQ'", "journal #4", "vendor 'V-2'"}
    [long] = _held(ledger, "source.vendors")["V-2"].reasons
    assert long["field"] == "auxiliary_account" and "17" in long["problem"]
    assert set(_documents(ledger)) == {"B-1"}

    # A later feed: ACH retired, VTE absent (kept as it is), PAIE fixed (leaves quarantine), V-1 re-coded.
    report = _take_in(ledger, {
        "journals": [{"code": "ACH", "name": "Achats", "type": "purchases", "active": False},
                     {"code": "PAIE", "name": "Paie", "type": "payroll"}],
        "vendors": [{"hub_id": "V-1", "name": "Moulins", "auxiliary_account": "401MOUL"}]}, "later.json")
    assert _journals(ledger) == {"ACH": ("Achats", "purchases", False), "VTE": ("Ventes", "sales", True),
                                 "PAIE": ("Paie", "payroll", True)}
    assert (report.journals[Outcome.NEW], report.journals[Outcome.UPDATED]) == (1, 1)
    assert set(_held(ledger, "source.journals")) == {"BQ", "hub.json #4"}
    with ledger.session() as session:
        assert session.scalar(select(Party.auxiliary_account).where(Party.hub_id == "V-1")) == "401MOUL"


def test_a_strict_import_refuses_a_bad_journal_naming_its_code_and_the_field(ledger):
    with ledger.session() as session, pytest.raises(HubRecordError, match=r"journal 'ACH': field 'type'"):
        take_in(session, ENTITY, records_of_mapping({"journals": [{"code": "ACH", "name": "Achats",
                                                                    "type": "achats"}]}), strict=True)
