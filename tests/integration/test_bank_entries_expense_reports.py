"""Bank entries and expense reports (the accountant hub's issue), into a French QuickBooks Online company over
HTTP: money out as one Purchase paid from the bank account, money in as one Deposit to it, an expense report
owed to its payee as a Bill and one the company paid as a Purchase; their external ids typed ("Purchase:42"),
their scans attached to the right object, no JournalCodeRef sent; one deleted there reported by its typed
id; created once whatever answer is lost; a
date in the closed period refused with QuickBooks' reason, never retried; a bank account that is no bank
account held by the documents suite; bad input refused at intake naming the record and the field; the file
drop carries both from protocol version 6 (test_file_drop_bank.py), an older agent's held with the reason; Xero
carries both too (test_xero_bank_entries.py)."""
from __future__ import annotations

import base64
import itertools
import json
import logging
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from dropping_proxy import DroppingProxy
from ledgerbridge.connectors.factory import ConnectionSettings, quickbooks_online
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.flows.reconcile import ReconciliationError
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import Document, DocumentLine, OutboxEntry, OutboxState, QuarantineEntry
from ledgerbridge.pipeline import RunContext, RunParams, run_all
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.intake import HubRecordError
from sqlalchemy import select
from support import company, connect_company, context, make_entity, sync

FRENCH_LISTS = {
    "accounts": [{"Name": "Banque", "AcctNum": "512000", "AccountType": "Bank"},
                 {"Name": "Fournisseurs", "AcctNum": "401000", "AccountType": "Accounts Payable"},
                 {"Name": "Honoraires", "AcctNum": "622600", "AccountType": "Expense"},
                 {"Name": "Voyages et déplacements", "AcctNum": "625100", "AccountType": "Expense"},
                 {"Name": "Prestations de services", "AcctNum": "706000", "AccountType": "Income"}],
    "journal_codes": [{"Name": "NDF", "Type": "Expenses", "Description": "Notes de frais"}],
}
FLOWS = ("reference", "parties", "bank_entries", "expense_reports")
SCAN = b"%PDF-1.4 releve\n"
PARTIES = {"vendors": [{"hub_id": "V-1", "name": "Cabinet Lefèvre Avocats"},
                       {"hub_id": "E-7", "name": "Camille Martin"}],
           "customers": [{"hub_id": "C-1", "name": "Pied Piper SAS"}]}


def _bank_entry(hub_id: str, direction: str, amount: str, account: str, **extra) -> dict:
    return {"hub_id": hub_id, "doc_date": "2026-11-12", "status": "approved", "bank_account": "512000",
            "direction": direction, "journal": "BQ", "lines": [{"account": account, "amount": amount}], **extra}


def _expense_report(hub_id: str, **extra) -> dict:
    return {"hub_id": hub_id, "vendor": "E-7", "doc_number": hub_id, "doc_date": "2026-11-20", "status": "approved",
            "journal": "NDF", "lines": [
                {"account": "625100", "amount": "45.50", "description": "Train Paris-Lyon", "date": "2026-11-03"},
                {"account": "625100", "amount": "12.30", "description": "Taxi", "date": "2026-11-04"}], **extra}


def _held(ledger) -> dict[str, str]:
    with ledger.session() as session:
        return {q.record_key: json.dumps(q.reasons, ensure_ascii=False) for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.status == "open"))}


def _rows(ledger) -> dict[str, OutboxEntry]:
    with ledger.session() as session:
        return {row.record_key: row for row in session.scalars(select(OutboxEntry))}


def test_bank_entries_and_expense_reports_become_purchases_deposits_and_bills_once(ledger, qbo_server):
    entity = make_entity("hooli_fr_bank", currency="EUR", flows=FLOWS, create_missing_customers=True)
    conn = connect_company(qbo_server, ledger, entity, FRENCH_LISTS, country="FR", book_close_date="2026-10-31")
    scan = {"file_name": "releve-novembre.pdf", "content_type": "application/pdf",
            "content_base64": base64.b64encode(SCAN).decode()}
    with ledger.session() as session:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [
            _bank_entry("BQ-1", "out", "1200.00", "622600", vendor="V-1", memo="Honoraires octobre",
                        attachments=[scan]),
            _bank_entry("BQ-2", "in", "3000.00", "706000", customer="C-1"),
            _bank_entry("BQ-3", "out", "80.00", "622600", doc_date="2026-10-15"),  # in the closed period
            _bank_entry("BQ-4", "out", "15.00", "622600", bank_account="625100"),  # an expense account
        ], "expense_reports": [_expense_report("NDF-1"), _expense_report("NDF-2", bank_account="512000")]})

    first = sync(entity, ledger, conn)

    books = company(qbo_server, conn)
    accounts = {a.get("AcctNum"): a["Id"] for a in books.objects["Account"].values()}
    vendors = {v["DisplayName"]: v["Id"] for v in books.objects["Vendor"].values()}
    customers = {c["DisplayName"]: c["Id"] for c in books.objects["Customer"].values()}
    purchases = {p["PrivateNote"].split("(hub ")[1].split(")")[0]: p for p in books.objects["Purchase"].values()}
    assert set(purchases) == {"bank entry BQ-1", "expense report NDF-2"}
    out = purchases["bank entry BQ-1"]
    assert (out["PaymentType"], out["AccountRef"]["value"], out["EntityRef"], out["TotalAmt"]) == (
        "Cash", accounts["512000"], {"value": vendors["Cabinet Lefèvre Avocats"], "type": "Vendor",
                                     "name": "Cabinet Lefèvre Avocats"}, Decimal("1200.00"))
    assert out["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["value"] == accounts["622600"]
    [deposit] = books.objects["Deposit"].values()
    assert (deposit["DepositToAccountRef"]["value"], deposit["TotalAmt"]) == (accounts["512000"], Decimal("3000.00"))
    detail = deposit["Line"][0]["DepositLineDetail"]
    assert (detail["AccountRef"]["value"], detail["Entity"]["value"], detail["Entity"]["type"]) == (
        accounts["706000"], customers["Pied Piper SAS"], "Customer")
    [owed] = books.objects["Bill"].values()  # the report nobody paid yet: owed to the employee
    assert (owed["DocNumber"], owed["VendorRef"]["value"], owed["TotalAmt"]) == (
        "NDF-1", vendors["Camille Martin"], Decimal("57.80"))
    paid = purchases["expense report NDF-2"]
    assert (paid["AccountRef"]["value"], paid["EntityRef"]["value"], paid["TotalAmt"]) == (
        accounts["512000"], vendors["Camille Martin"], Decimal("57.80"))
    for obj in (out, deposit, owed, paid):  # QuickBooks France books them in the journal of their type
        assert "JournalCodeRef" not in json.dumps(obj, default=str)

    rows = _rows(ledger)
    assert rows["bank_entry:BQ-1"].external_id == f"Purchase:{out['Id']}"
    assert rows["bank_entry:BQ-2"].external_id == f"Deposit:{deposit['Id']}"
    assert rows["expense_report:NDF-1"].external_id == f"Bill:{owed['Id']}"
    assert rows["expense_report:NDF-2"].external_id == f"Purchase:{paid['Id']}"
    [attachable] = books.objects["Attachable"].values()
    assert attachable["AttachableRef"][0]["EntityRef"] == {"type": "Purchase", "value": out["Id"]}
    assert books.files[attachable["Id"]] == SCAN
    # The closed period: refused once with QuickBooks' reason, not retried.
    assert rows["bank_entry:BQ-3"].state == OutboxState.REJECTED
    assert "Account Period Closed" in rows["bank_entry:BQ-3"].error
    # A bank account that is an expense account never leaves.
    assert "bank_entry:BQ-4" not in rows and "is of type Expense, not Bank" in _held(ledger)["BQ-4"]
    with ledger.session() as session:
        report = session.scalars(select(Document).where(Document.hub_id == "NDF-1")).one()
        assert report.external_id == f"Bill:{owed['Id']}" and report.total == Decimal("57.80")
        assert [str(line.line_date) for line in session.scalars(
            select(DocumentLine).where(DocumentLine.document_id == report.id).order_by(DocumentLine.line_no))] == [
            "2026-11-03", "2026-11-04"]
    # Read back from the object each typed id names: nothing missing, totals agree.
    assert first["reconcile"]["bank_entries"]["buckets"] == {"confirmed": 2, "rejected": 1, "quarantined": 1}
    assert first["reconcile"]["accounting_total_of_confirmed_bank_entries"] == Decimal("4200.00")
    assert first["reconcile"]["accounting_total_of_confirmed_expense_reports"] == Decimal("115.60")

    second = sync(entity, ledger, conn)

    assert second["export_documents"]["sent"] == 0
    assert (len(books.objects["Purchase"]), len(books.objects["Deposit"]), len(books.objects["Bill"])) == (2, 1, 1)
    assert not any("mismatch" in key and value for key, value in second["reconcile"].items()
                   if isinstance(value, (list, int)))


def _bank_creates(request: bytes) -> bool:
    return (request.startswith(b"POST ") and b"/batch?" in request.split(b"\r\n", 1)[0]
            and (b'"Purchase":' in request or b'"Deposit":' in request))


def test_a_lost_answer_creates_each_bank_entry_once(ledger, qbo_server):
    entity = make_entity("bank_lost", currency="EUR", flows=FLOWS, create_missing_customers=True)
    conn = connect_company(qbo_server, ledger, entity, FRENCH_LISTS, country="FR")
    with ledger.session() as session:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [
            _bank_entry("BQ-1", "out", "10.00", "622600"), _bank_entry("BQ-2", "in", "20.00", "706000")]})
    attempts = itertools.count()
    proxy = DroppingProxy(qbo_server.url, lambda r: _bank_creates(r) and next(attempts) == 0)
    through = replace(conn, host=proxy.url, extra={**conn.extra, "token_url": f"{proxy.url}/oauth2/v1/tokens/bearer"})
    try:
        report = run_all(context(entity, ledger, through))
    finally:
        proxy.close()

    books = company(qbo_server, conn)
    assert proxy.dropped == 1
    assert (len(books.objects["Purchase"]), len(books.objects["Deposit"])) == (1, 1)
    assert report["export_documents"]["confirmed"] == 2
    rows = _rows(ledger)
    assert rows["bank_entry:BQ-1"].external_id == f"Purchase:{next(iter(books.objects['Purchase']))}"
    assert rows["bank_entry:BQ-2"].external_id == f"Deposit:{next(iter(books.objects['Deposit']))}"


@pytest.mark.parametrize(("record", "field", "problem"), [
    (_bank_entry("BQ-9", "out", "5.00", "622600", bank_account=None), "bank_account", "Input should be a valid string"),
    ({k: v for k, v in _bank_entry("BQ-9", "out", "5.00", "622600").items() if k != "bank_account"},
     "bank_account", "Field required"),
    (_bank_entry("BQ-9", "sideways", "5.00", "622600"), "direction", "Input should be 'in' or 'out'"),
    (_bank_entry("BQ-9", "out", "5.00", "622600", vendor="V-1", customer="C-1"), "bank entry",
     "name a vendor or a customer, not both"),
    (_bank_entry("BQ-9", "out", 5.0, "622600"), "lines.0.amount", "float"),
    (_bank_entry("BQ-9", "out", "5.00", "622600", vendor="V-404"), "vendor", "unknown hub vendor 'V-404'"),
])
def test_a_bad_bank_entry_is_refused_at_intake_naming_the_record_and_the_field(ledger, record, field, problem):
    entity = make_entity("bank_bad", currency="EUR", flows=FLOWS)
    with ledger.session() as session, pytest.raises(HubRecordError) as refused:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [record]})
    message = str(refused.value)
    assert message.startswith("bank entry 'BQ-9'") and problem in message
    assert field == "bank entry" or f"'{field}'" in message


@pytest.mark.parametrize(("change", "field", "problem"), [
    ({"vendor": None}, "vendor", "Input should be a valid string"),
    ({"lines": [{"account": "625100", "amount": "4.00", "date": "3 novembre"}]}, "lines.0.date", "valid date"),
    ({"lines": [{"amount": "4.00"}]}, "lines.0.account", "Field required"),
    ({"total": "99.00"}, None, None),  # taken: the documents suite holds a total that is not the lines'
])
def test_a_bad_expense_report_is_refused_at_intake_naming_the_record_and_the_field(ledger, change, field, problem):
    entity = make_entity("ndf_bad", currency="EUR", flows=FLOWS)
    with ledger.session() as session:
        if field is None:
            import_hub_data(session, entity, {**PARTIES, "expense_reports": [_expense_report("NDF-9", **change)]})
            return
        with pytest.raises(HubRecordError) as refused:
            import_hub_data(session, entity, {**PARTIES, "expense_reports": [_expense_report("NDF-9", **change)]})
    message = str(refused.value)
    assert message.startswith("expense report 'NDF-9'") and f"'{field}'" in message and problem in message


def test_intake_totals_come_from_every_line_whichever_the_direction(ledger):
    entity = make_entity("bank_totals", currency="EUR", flows=FLOWS)
    entry = _bank_entry("BQ-5", "in", "0", "706000", customer="C-1")
    entry["lines"] = [{"account": "706000", "amount": "100.10"}, {"account": "706000", "amount": "0.25"}]
    with ledger.session() as session:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [entry]})
        document = session.scalars(select(Document).where(Document.hub_id == "BQ-5")).one()
        assert (document.total, document.bank_account, {line.posting_type for line in document.lines}) == (
            Decimal("100.35"), "512000", {"credit"})
        assert document.party.kind == "customer"


def test_xero_carries_bank_entries_and_expense_reports():
    """Xero takes both kinds (bank transactions and bills): tests/integration/test_xero_bank_entries.py."""
    from ledgerbridge.connectors.xero.connector import XeroConnector

    assert {"bank_entry", "expense_report"} <= XeroConnector.capabilities.kinds


def test_a_desktop_file_drop_before_protocol_version_6_holds_them_saying_why(ledger, tmp_path, caplog):
    """The file drop carries both from protocol version 6 (test_file_drop_bank.py); an agent declared older is
    sent none, and they are held in quarantine with the reason rather than skipped unsaid."""
    from ledgerbridge.connectors.factory import build_connector
    from ledgerbridge.connectors.filedrop import FileDropConnector
    from ledgerbridge.sandbox.desktop.agent import DesktopAgent
    from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo

    assert not {"bank_entry", "expense_report"} & FileDropConnector.capabilities.kinds  # the class: version 1
    entity = LegalEntity.model_validate({
        "id": "desk_bank", "name": "Desk Bank", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_desk_bank"}, "flows": list(FLOWS)})
    root = tmp_path / "drop"
    root.mkdir()
    agent = DesktopAgent(seed_demo(DesktopCompany(company_id="QBD-desk_bank", entity_id=entity.id)),
                         state_file=tmp_path / "qbd.json")
    agent.publish_lists(LocalFileSystem(root), entity.id)
    conn = ConnectionSettings("drop_desk_bank", extra={"company_id": "QBD-desk_bank", "local_root": str(root),
                                                       "protocol_version": 5})
    with ledger.session() as session:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [_bank_entry("BQ-1", "out", "10.00", "622600")],
                                          "expense_reports": [_expense_report("NDF-1")]})
    with caplog.at_level(logging.WARNING):
        report = run_all(RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                                    params=RunParams(), connect=lambda: build_connector(entity, conn, ledger),
                                    log=logging.getLogger(f"ledgerbridge.test.{entity.id}")))
    with ledger.session() as session:  # nothing queued: held, each with the reason
        assert session.scalars(select(OutboxEntry).where(OutboxEntry.kind.in_(
            ("bank_entry", "expense_report")))).all() == []
    held = _held(ledger)
    assert set(held) == {"BQ-1", "NDF-1"}
    for flow, hub_id, desktop in (("bank_entries", "BQ-1", "Check and Deposit"),
                                  ("expense_reports", "NDF-1", "Check or Bill")):
        reason = report["prepare_exports"][flow]["reason"]
        assert report["prepare_exports"][flow]["held"] == 1
        assert (f"speaks file-drop protocol version 5, which has no {flow} message (version 6 added it: QuickBooks "
                f"Desktop's {desktop})") in reason and reason in held[hub_id]
        assert f"held, not sent: {reason}" in caplog.text
    assert not list((root / entity.id / "to_accounting").glob("*/*.json"))


def test_a_bank_entry_and_an_expense_report_deleted_in_quickbooks_are_reported_by_their_typed_ids(
        ledger, qbo_server, caplog):
    entity = make_entity("hooli_fr_deleted", currency="EUR", flows=FLOWS)
    conn = connect_company(qbo_server, ledger, entity, FRENCH_LISTS, country="FR")
    with ledger.session() as session:
        import_hub_data(session, entity, {**PARTIES, "bank_entries": [
            _bank_entry("BQ-1", "out", "10.00", "622600"), _bank_entry("BQ-2", "in", "20.00", "706000")],
            "expense_reports": [_expense_report("NDF-1")]})
    assert sync(entity, ledger, conn)["export_documents"]["confirmed"] == 3
    client = quickbooks_online(conn, ledger).client
    rows = _rows(ledger)
    for record_key in ("bank_entry:BQ-1", "expense_report:NDF-1"):  # Purchase:<Id>, Bill:<Id>
        object_type, _, object_id = rows[record_key].external_id.partition(":")
        there = client.read(object_type, object_id)
        client.delete(object_type, object_id, there["SyncToken"], request_id=f"delete-{record_key}")

    with caplog.at_level(logging.WARNING), pytest.raises(ReconciliationError, match="not found"):
        sync(entity, ledger, conn)

    warned = [r.getMessage() for r in caplog.records if "has been deleted in the accounting system" in r.getMessage()]
    assert sorted(message.split(" was exported as ")[0] for message in warned) == [
        "bank_entry:BQ-1", "expense_report:NDF-1"]  # the deposit still stands: not reported
    assert len(company(qbo_server, conn).objects["Purchase"]) == 0  # not re-created behind anyone's back
