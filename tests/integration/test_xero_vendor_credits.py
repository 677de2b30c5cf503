"""Vendor credits into a Xero organisation over HTTP (the sandbox): a CreditNote ACCPAYCREDIT each, created
once (a re-run sends nothing), read back with its remaining credit, mirrored as vendor credits (not as
customer credit notes); a lost answer found by the credit's number, supplier, date and lines (Xero keeps no
Reference on it) and adopted, not sent again; an unknown account held naming the line."""
from __future__ import annotations

import itertools
import json
import logging
import uuid
from dataclasses import replace
from decimal import Decimal

from dropping_proxy import DroppingProxy
from ledgerbridge.connectors.xero.factory import xero
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxEntry, OutboxState, QuarantineEntry, ReferenceRecord
from ledgerbridge.pipeline import RunContext, RunParams, run_all
from ledgerbridge.registry import LegalEntity
from sqlalchemy import select
from test_xero_flows import open_books

FLOWS = ("reference", "parties", "vendor_credits")
CREDIT = {"hub_id": "VC-1", "vendor": "V-1", "doc_number": "GS-AV-1", "doc_date": "2026-11-05", "status": "approved",
          "memo": "damaged drums returned", "lines": [{"account": "429", "amount": "120.10"},
                                                      {"account": "429", "amount": "0.20"}]}
VENDORS = [{"hub_id": "V-1", "name": "Globochem Supplies"}]


def credit_entity(entity_id: str) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD",
        "accounting": {"kind": "xero", "conn_id": f"xero_{entity_id}"}, "flows": list(FLOWS),
        "matching": {"create_missing_vendors": True}})


def run(entity: LegalEntity, ledger, conn, **client_options) -> dict:
    return run_all(RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                              params=RunParams(),
                              connect=lambda: xero(conn, ledger, **{"backoff_seconds": 0.01, **client_options}),
                              log=logging.getLogger(f"ledgerbridge.test.{entity.id}")))


def test_a_vendor_credit_becomes_one_accpaycredit_credit_note_and_a_bad_one_is_held(ledger, xero_server):
    entity = credit_entity("xero_credits")
    books = open_books(xero_server, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": VENDORS, "vendor_credits": [
            CREDIT, dict(CREDIT, hub_id="VC-2", doc_number="GS-AV-2", lines=[{"account": "9999", "amount": "5.00"}])]})

    first = run(entity, ledger, books.conn)

    [credit] = books.records("CreditNotes")
    supplier = next(c for c in books.records("Contacts") if c["Name"] == "Globochem Supplies")
    assert (credit["Type"], credit["CreditNoteNumber"], credit["Contact"]["ContactID"], credit["Status"]) == (
        "ACCPAYCREDIT", "GS-AV-1", supplier["ContactID"], "AUTHORISED")
    assert (credit["Total"], credit["RemainingCredit"]) == (Decimal("120.30"), Decimal("120.30"))
    assert [line["AccountCode"] for line in credit["LineItems"]] == ["429", "429"]
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "vendor_credit")).one()
        held = {q.record_key: json.dumps(q.reasons) for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.status == "open"))}
    assert (row.state, row.external_id) == (OutboxState.CONFIRMED, credit["CreditNoteID"])
    assert "lines[1].account_code" in held["VC-2"] and "9999" in held["VC-2"]
    assert first["reconcile"]["vendor_credits"]["buckets"] == {"confirmed": 1, "quarantined": 1}
    assert first["reconcile"]["accounting_total_of_confirmed_vendor_credits"] == Decimal("120.30")

    second = run(entity, ledger, books.conn)

    assert second["export_documents"]["sent"] == 0 and len(books.records("CreditNotes")) == 1
    with ledger.session() as session:  # mirrored as a vendor credit, so a deletion there would be noticed
        mirrored = {(r.kind, r.external_id) for r in session.scalars(select(ReferenceRecord).where(
            ReferenceRecord.entity_id == entity.id, ReferenceRecord.kind.in_(("vendor_credit", "credit_note"))))}
    assert mirrored == {("vendor_credit", credit["CreditNoteID"])}


def test_a_vendor_credit_whose_answer_is_lost_is_found_and_adopted(ledger, xero_server):
    entity = credit_entity("xero_credits_lost")
    books = open_books(xero_server, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": VENDORS, "vendor_credits": [CREDIT]})
    attempts = itertools.count()
    proxy = DroppingProxy(xero_server.url, lambda request: request.startswith(b"PUT /api.xro/2.0/CreditNotes")
                          and next(attempts) == 0)
    try:
        lost = run(entity, ledger, replace(books.conn, host=proxy.url), max_attempts=1)
    finally:
        proxy.close()

    assert proxy.dropped == 1
    assert (lost["export_documents"]["uncertain"], lost["collect_confirmations"]["settled_by_lookup"]) == (1, 1)
    [credit] = books.records("CreditNotes")
    assert books.server.sandbox.stats(books.conn.schema)["idempotency_replays"] == 0  # found by the look-up
    assert run(entity, ledger, books.conn)["export_documents"]["sent"] == 0
    assert len(books.records("CreditNotes")) == 1
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "vendor_credit")).one()
    assert (row.state, row.external_id) == (OutboxState.CONFIRMED, credit["CreditNoteID"])
