"""An accountant hub's French client file in QuickBooks Online France: the company's journal codes are
mirrored and checked, a journal entry goes to the journal its document names (JournalCodeRef on each
line), one naming a journal the company lacks is held with the reason, a document dated in the closed
period is refused with QuickBooks' reason (never retried), and a US company has no journal codes."""
from __future__ import annotations

import json
from decimal import Decimal

from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import OutboxEntry, OutboxState, QuarantineEntry, ReferenceRecord
from sqlalchemy import select
from ledgerbridge.connectors.factory import quickbooks_online
from support import bill, company, connect_company, make_entity, sync

FRENCH_LISTS = {
    "accounts": [{"Name": "Banque", "AcctNum": "512000", "AccountType": "Bank"},
                 {"Name": "Fournisseurs", "AcctNum": "401000", "AccountType": "Accounts Payable"},
                 {"Name": "Honoraires", "AcctNum": "622600", "AccountType": "Expense"},
                 {"Name": "Rémunérations du personnel", "AcctNum": "641000", "AccountType": "Expense"},
                 {"Name": "Personnel - rémunérations dues", "AcctNum": "421000",
                  "AccountType": "Other Current Liability"}],
}


def _payroll(hub_id: str, journal: str | None, amount: str = "18400.00") -> dict:
    entry = {"hub_id": hub_id, "doc_number": hub_id, "doc_date": "2026-11-30", "status": "approved",
             "memo": "Salaires de novembre",
             "lines": [{"account": "641000", "debit": amount}, {"account": "421000", "credit": amount}]}
    return {**entry, "journal": journal} if journal else entry


def _held(ledger) -> dict[str, str]:
    with ledger.session() as session:
        return {q.record_key: json.dumps(q.reasons, ensure_ascii=False) for q in session.scalars(
            select(QuarantineEntry).where(QuarantineEntry.status == "open"))}


def test_entries_go_to_the_journal_they_name_and_a_closed_period_is_a_clear_refusal(ledger, qbo_server):
    entity = make_entity("hooli_fr", currency="EUR", flows=("reference", "parties", "bills", "journal_entries"))
    conn = connect_company(qbo_server, ledger, entity, FRENCH_LISTS, country="FR", book_close_date="2026-10-31")
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "vendors": [{"hub_id": "V-1", "name": "Cabinet Lefèvre Avocats"}],
            "bills": [bill("B-1", "V-1", "2400.00", account="622600"),
                      bill("B-2", "V-1", "42.00", account="622600", doc_date="2026-10-21")],
            "journal_entries": [_payroll("J-1", "SAL"), _payroll("J-2", "PAIE", "1200.00"), _payroll("J-3", None)],
        })

    first = sync(entity, ledger, conn)

    books = company(qbo_server, conn)
    codes = {obj["Name"]: obj["Id"] for obj in books.objects["JournalCode"].values()}
    with ledger.session() as session:
        mirrored = {r.name: r.external_id for r in session.scalars(
            select(ReferenceRecord).where(ReferenceRecord.kind == "journal_code"))}
        rows = {r.record_key: r for r in session.scalars(select(OutboxEntry))}
    assert mirrored == codes and {"ACH", "VTE", "SAL", "OD"} <= set(codes)
    entries = {obj["DocNumber"]: obj for obj in books.objects["JournalEntry"].values()}
    payroll_lines = [line["JournalEntryLineDetail"] for line in entries["J-1"]["Line"]]
    assert {detail["JournalCodeRef"]["value"] for detail in payroll_lines} == {codes["SAL"]}
    assert all("JournalCodeRef" not in line["JournalEntryLineDetail"] for line in entries["J-3"]["Line"])
    assert "J-2" not in entries and "no active journal 'PAIE'" in _held(ledger)["J-2"]
    # The closed period: refused once, with QuickBooks' reason, and not sent again.
    assert rows["bill:B-2"].state == OutboxState.REJECTED and "Account Period Closed" in rows["bill:B-2"].error
    assert rows["bill:B-1"].state == OutboxState.CONFIRMED
    assert first["export_documents"]["rejected"] == 1
    second = sync(entity, ledger, conn)
    assert second["export_documents"]["sent"] == 0
    assert sum(1 for b in books.objects["Bill"].values() if b.get("DocNumber") == "B-2") == 0


def test_a_us_company_has_no_journal_codes_and_a_document_naming_one_is_held(ledger, qbo_server):
    entity = make_entity("acme_journal", flows=("reference", "journal_entries"))
    conn = connect_company(qbo_server, ledger, entity, {"accounts": FRENCH_LISTS["accounts"]})
    with ledger.session() as session:
        import_hub_data(session, entity, {"journal_entries": [_payroll("J-9", "OD")]})

    run = sync(entity, ledger, conn)
    again = sync(entity, ledger, conn)  # incremental: change data capture, journal codes answered empty

    assert run["pull_reference"]["journal_code"]["received"] == 0
    assert again["pull_reference"]["journal_code"]["received"] == 0
    assert "no active journal 'OD'" in _held(ledger)["J-9"]
    assert Decimal(run["export_documents"].get("sent", 0)) == 0


def test_each_partys_own_payables_or_receivables_account_is_mirrored_checked_and_credited(ledger, qbo_server):
    """QuickBooks France: Vendor.APAccountRef / Customer.ARAccountRef become the party's collective account; a
    bill to the vendor credits that account (APAccountRef), not the company's default payables; a vendor whose
    account is not a payables one is held by the reference suite, and so are its bills."""
    entity = make_entity("hooli_fr_tiers", currency="EUR", flows=("reference", "parties", "bills", "bill_payments"))
    lists = {"accounts": [*FRENCH_LISTS["accounts"],
                          {"Name": "Clients", "AcctNum": "411000", "AccountType": "Accounts Receivable"}]}
    conn = connect_company(qbo_server, ledger, entity, lists, country="FR")
    books = company(qbo_server, conn)
    account_ids = {obj["AcctNum"]: obj["Id"] for obj in books.objects["Account"].values() if obj.get("AcctNum")}
    client = quickbooks_online(conn, ledger).client
    made = {
        "lefevre": client.create("Vendor", {"DisplayName": "Cabinet Lefèvre",
                                            "APAccountRef": {"value": account_ids["401000"]}}, "tiers-1")["Id"],
        "bank": client.create("Vendor", {"DisplayName": "Banque Populaire",
                                         "APAccountRef": {"value": account_ids["401000"]}}, "tiers-2")["Id"],
        "customer": client.create("Customer", {"DisplayName": "Hooli SAS",
                                               "ARAccountRef": {"value": account_ids["411000"]}}, "tiers-3")["Id"],
    }
    # QuickBooks refuses a vendor's own account that is not a payables one; an older company file may hold one.
    books.objects["Vendor"][made["bank"]]["APAccountRef"] = {"value": account_ids["512000"]}
    with ledger.session() as session:
        import_hub_data(session, entity, {
            "vendors": [{"hub_id": "V-1", "name": "Cabinet Lefèvre"}, {"hub_id": "V-2", "name": "Banque Populaire"}],
            "bills": [bill("B-1", "V-1", "2400.00", account="622600"), bill("B-2", "V-2", "30.00", account="622600")]})

    run = sync(entity, ledger, conn)
    with ledger.session() as session:
        import_hub_data(session, entity, {"bill_payments": [
            {"hub_id": "P-1", "vendor": "V-1", "payment_date": "2026-11-30", "amount": "2400.00",
             "bank_account": "512000", "applied": {"B-1": "2400.00"}}]})
    sync(entity, ledger, conn)

    with ledger.session() as session:
        collective = {r.external_id: r.collective_account for r in session.scalars(
            select(ReferenceRecord).where(ReferenceRecord.entity_id == entity.id,
                                          ReferenceRecord.kind.in_(("vendor", "customer"))))}
    assert collective == {made["lefevre"]: account_ids["401000"], made["bank"]: account_ids["512000"],
                          made["customer"]: account_ids["411000"]}
    assert run["check_reference"]["vendor"] == {"checked": 2, "failed": 1}
    held = _held(ledger)
    assert f"its collective account {account_ids['512000']} (Banque) is of type Bank, not a payables account" \
        in held[made["bank"]]
    [sent] = [obj for obj in books.objects["Bill"].values()]
    assert sent["DocNumber"] == "B-1" and sent["APAccountRef"]["value"] == account_ids["401000"]
    assert set(held) == {made["bank"], "B-2"}
    # Its payment debits the account the bill credited, and pays the bill off.
    [paid] = books.objects["BillPayment"].values()
    assert paid["APAccountRef"]["value"] == account_ids["401000"] and sent["Balance"] == Decimal("0")
