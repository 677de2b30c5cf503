"""The `ledgerbridge` command line, in-process against real ledgers."""
from __future__ import annotations

import yaml

from ledgerbridge.cli import main
from ledgerbridge.hub_import import import_hub_data
from support import bill, connect_company, hub_data, make_entity, sync


def test_registry_check_names_the_bad_entity_and_field(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"legal_entities": [
        {"id": "good", "name": "Good", "base_currency": "USD",
         "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_good"}},
        {"id": "bad", "name": "Bad", "base_currency": "usd",
         "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_bad"}}]}))
    assert main(["registry", "check", "--file", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "ok    good" in out
    assert "legal entity 'bad'" in err and "base_currency" in err


def test_registry_check_says_when_each_entity_runs(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"legal_entities": [
        {"id": entity_id, "name": entity_id.title(), "base_currency": "USD", "sync": sync,
         "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"}}
        for entity_id, sync in (("live", "realtime"), ("evening", "daily"), ("by_hand", "manual"))]}))
    assert main(["registry", "check", "--file", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines() == [
        "ok    by_hand: By_Hand (USD, quickbooks_online via qbo_by_hand, manual runs only, enabled)",
        "ok    evening: Evening (USD, quickbooks_online via qbo_evening, full run 0 19 * * * UTC, enabled)",
        "ok    live: Live (USD, quickbooks_online via qbo_live, exports every minute, full run 0 2 * * * UTC, enabled)"]


def test_registry_check_refuses_a_cron_airflow_would_refuse(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"legal_entities": [
        {"id": "late", "name": "Late", "base_currency": "USD", "schedule": "30 25 * * *",
         "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_late"}}]}))
    assert main(["registry", "check", "--file", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "legal entity 'late'" in err and "field 'schedule'" in err and "hour field '25'" in err


def test_quarantine_list_shows_each_reason_with_the_offending_value(ledger, ledger_url, qbo_server, monkeypatch,
                                                                   capsys):
    entity = make_entity("cli")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00", account="9999")]))
    sync(entity, ledger, conn)
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    assert main(["quarantine", "list", "--entity", "cli"]) == 0
    out = capsys.readouterr().out
    assert "B-1" in out and "lines[1].account_code" in out and "'9999'" in out
    assert "1 open quarantine entry" in out


def test_a_dismissed_record_is_never_exported_even_once_it_passes(ledger, ledger_url, qbo_server, monkeypatch):
    from sqlalchemy import select

    from ledgerbridge.ledger.models import Document
    from support import bills_in_company

    entity = make_entity("dismiss")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00", account="9999")]))
    sync(entity, ledger, conn)
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    assert main(["quarantine", "dismiss", "dismiss", "bills", "B-1", "--reason", "duplicate of B-0"]) == 0
    with ledger.session() as session:
        session.scalars(select(Document)).one().lines[0].account_code = "6010"  # now it would pass
    sync(entity, ledger, conn)
    assert bills_in_company(qbo_server, conn, ledger) == []

    assert main(["quarantine", "reopen", "dismiss", "bills", "B-1"]) == 0
    sync(entity, ledger, conn)
    assert [b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)] == ["B-1"]
    assert main(["quarantine", "dismiss", "dismiss", "bills", "B-404", "--reason", "x"]) == 1


def test_entry_files_writes_balanced_bills_and_journal_entries_and_names_what_it_leaves_out(
        ledger, ledger_url, monkeypatch, tmp_path, capsys):
    import csv
    from decimal import Decimal

    entity = make_entity("entries")
    registry = tmp_path / "r.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [
        {"id": "entries", "name": "Entries", "base_currency": "USD",
         "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_entries"}}]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    with ledger.session() as session:
        import_hub_data(session, entity, {
            **hub_data([bill("B-1", "V-1", "120.00"), bill("B-BAD", "V-1", "10.00", total="11.00")]),
            "journal_entries": [{"hub_id": "JE-1", "doc_date": "2026-11-30", "status": "approved", "lines": [
                {"account": "6030", "debit": "50.00"}, {"account": "2000", "credit": "50.00"}]}]})
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    assert main(["entry-files", "entries", "--out", str(out_dir), "--payables-account", "2000"]) == 0

    out, err = capsys.readouterr()
    assert "1 bill(s)" in out and "1 journal entry(s)" in out
    assert "bill B-BAD" in err and "does not balance" in err
    [bills] = out_dir.glob("entries-bills-*.csv")
    rows = list(csv.DictReader(bills.open(encoding="utf-8")))
    assert sum(Decimal(r["debit"] or 0) for r in rows) == sum(Decimal(r["credit"] or 0) for r in rows) == Decimal("120.00")


def test_entry_files_writes_every_kind_the_dag_posts_balanced_in_its_journal_and_names_what_it_leaves_out(
        ledger, ledger_url, monkeypatch, tmp_path, capsys):
    """Invoices, credit notes, sales receipts, vendor credits, bank entries and expense reports, besides bills
    and journal entries: each kind's file, each entry balanced in the journal an entry-files entity's DAG picks,
    the file read back by its format's validator; a bad document named on stderr and left out."""
    import csv
    from decimal import Decimal

    from ledgerbridge.entryfiles import CsvFormat, validate

    entity = make_entity("toutes", currency="EUR")
    registry = tmp_path / "r.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [
        {"id": "toutes", "name": "Toutes", "base_currency": "EUR",
         "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_toutes"}}]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    day = {"doc_date": "2026-11-12", "status": "approved"}
    sale = {**day, "customer": "C-1", "lines": [
        {"item": "PAIN", "amount": "100.00", "tax_code": "TVA55"}, {"item": "TRAITEUR", "amount": "50.00"}]}
    purchase = {**day, "vendor": "V-1", "lines": [{"account": "601000", "amount": "30.00", "tax_code": "TVA20D"}]}
    with ledger.session() as session:
        import_hub_data(session, entity, {
            **hub_data([bill("B-1", "V-1", "120.00", account="601000")]),
            "customers": [{"hub_id": "C-1", "name": "Mairie de Montreuil"}],
            "invoices": [{**sale, "hub_id": "I-1"}, {**sale, "hub_id": "I-BAD", "lines": [{"item": "GLACE", "amount": "9.00", "tax_code": "TVA10"}]}],
            "credit_notes": [{**sale, "hub_id": "A-1"}],
            "sales_receipts": [{**sale, "hub_id": "R-1"}],
            "vendor_credits": [{**purchase, "hub_id": "AF-1"}],
            "bank_entries": [{**day, "hub_id": "BQ-1", "direction": "out", "vendor": "V-1", "bank_account": "512000",
                              "lines": [{"account": "401000", "amount": "480.00"}, {"account": "627000", "amount": "2.50"}]},
                             {**day, "hub_id": "BQ-2", "direction": "in", "customer": "C-1", "bank_account": "512100",
                              "lines": [{"account": "411000", "amount": "165.50"}]}],
            "expense_reports": [{**purchase, "hub_id": "NDF-1", "vendor": "V-2"},
                                {**purchase, "hub_id": "NDF-2", "vendor": "V-2", "bank_account": "512000"}],
            "journal_entries": [{"hub_id": "JE-1", "doc_date": "2026-11-30", "status": "approved", "lines": [
                {"account": "641000", "debit": "50.00"}, {"account": "421000", "credit": "50.00"}]}]})
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    assert main(["entry-files", "toutes", "--out", str(out_dir), "--payables-account", "401000",
                 "--receivables-account", "411000", "--income-account", "706000", "--item-account", "PAIN=701000",
                 "--tax-code", "TVA55=5.5:445712", "--tax-code", "TVA20D=20:445660", "--journal", "invoice=VE",
                 "--french"]) == 0

    out, err = capsys.readouterr()
    assert "not exported: invoice I-BAD: line 1: tax code 'TVA10' has no rate and account" in err
    assert len(err.splitlines()) == 1, err
    french = CsvFormat.french()

    def rows(dataset: str) -> list[dict]:
        [path] = out_dir.glob(f"toutes-{dataset}-*.csv")
        assert validate(path.read_bytes(), "csv", csv_format=french).ok
        found = list(csv.DictReader(path.open(encoding="utf-8"), delimiter=";"))
        debits = sum(Decimal((r["debit"] or "0").replace(",", ".")) for r in found)
        assert debits == sum(Decimal((r["credit"] or "0").replace(",", ".")) for r in found)  # balanced
        return found

    def lines(found: list[dict]) -> set[tuple]:
        return {(r["journal_code"], r["account"], r["subsidiary_account"], r["debit"], r["credit"]) for r in found}

    assert lines(rows("invoices")) == {("VE", "411000", "C-1", "155,50", ""), ("VE", "701000", "", "", "100,00"),
                                       ("VE", "706000", "", "", "50,00"), ("VE", "445712", "", "", "5,50")}
    assert lines(rows("credit_notes")) == {("AV", "411000", "C-1", "", "155,50"), ("AV", "701000", "", "100,00", ""),
                                           ("AV", "706000", "", "50,00", ""), ("AV", "445712", "", "5,50", "")}
    assert {r["journal_code"] for r in rows("sales_receipts")} == {"VC"}
    assert lines(rows("vendor_credits")) == {("PUR", "401000", "V-1", "36,00", ""), ("PUR", "601000", "", "", "30,00"),
                                             ("PUR", "445660", "", "", "6,00")}
    assert lines(rows("bank_entries")) == {
        ("BQ", "512000", "", "", "482,50"), ("BQ", "401000", "V-1", "480,00", ""), ("BQ", "627000", "", "2,50", ""),
        ("BQ", "512100", "", "165,50", ""), ("BQ", "411000", "C-1", "", "165,50")}
    assert lines(rows("expense_reports")) == {
        ("NDF", "401000", "V-2", "", "36,00"), ("NDF", "601000", "", "30,00", ""), ("NDF", "445660", "", "6,00", ""),
        ("NDF", "512000", "", "", "36,00")}
    assert {r["journal_code"] for r in rows("bills") + rows("journal_entries")} == {"PUR", "OD"}
    for label in ("1 bill(s)", "1 invoice(s)", "1 credit note(s)", "1 sales receipt(s)", "1 vendor credit(s)",
                  "2 bank entry(s)", "2 expense report(s)", "1 journal entry(s)"):
        assert label in out


def test_entry_files_refuses_bad_options_with_a_message(capsys, tmp_path):
    import pytest

    for options, message in (
            (["--tax-code", "TVA20=vingt:445710"], "is not CODE=RATE:ACCOUNT"),
            (["--tax-code", "TVA20=20"], "is not CODE=RATE:ACCOUNT"),
            (["--item-account", "PAIN"], "'PAIN' is not ITEM=ACCOUNT"),
            (["--journal", "payslip=PAIE"], "no document kind 'payslip'"),
            (["--journal", "invoice=ventes"], "a journal code is 1 to 8 capital letters or digits"),
            (["--receivables-account", "401000"], "--receivables-account 401000 is also the payables account"),
            (["--journal", "invoice=VE", "--journal", "invoice=VT"], "--journal invoice given twice")):
        with pytest.raises(SystemExit) as exit_:
            main(["entry-files", "acme_us", "--out", str(tmp_path), "--payables-account", "401000", *options])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


def test_entry_files_put_the_declared_auxiliary_account_on_the_party_line_the_hub_s_then_the_mirror_s(
        ledger, ledger_url, monkeypatch, tmp_path, capsys):
    import csv

    from sqlalchemy import select

    from ledgerbridge.ledger.models import Party, PartyLink, ReferenceRecord

    entity = make_entity("aux")
    registry = tmp_path / "r.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [
        {"id": "aux", "name": "Aux", "base_currency": "USD",
         "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_aux"}}]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    vendors = [{"hub_id": "V-1", "name": "Brown, Nick", "auxiliary_account": "401BROWN"},
               {"hub_id": "V-2", "name": "Dunder Mifflin"}, {"hub_id": "V-3", "name": "Globochem"}]
    with ledger.session() as session:
        import_hub_data(session, entity, hub_data([bill("B-1", "V-1", "10.00"), bill("B-2", "V-2", "20.00"),
                                                   bill("B-3", "V-3", "30.00")], vendors))
        dunder = session.scalar(select(Party).where(Party.hub_id == "V-2"))
        session.add(PartyLink(party_id=dunder.id, entity_id="aux", external_id="56", status="linked", method="person"))
        session.add(ReferenceRecord(entity_id="aux", kind="vendor", external_id="56", name="Dunder Mifflin",
                                    auxiliary_account="401DUNDER"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    assert main(["entry-files", "aux", "--out", str(out_dir), "--payables-account", "2000"]) == 0

    [bills] = out_dir.glob("aux-bills-*.csv")
    rows = list(csv.DictReader(bills.open(encoding="utf-8")))
    assert {(r["document_reference"], r["subsidiary_account"]) for r in rows if r["account"] == "2000"} == {
        ("B-1", "401BROWN"), ("B-2", "401DUNDER"), ("B-3", "V-3")}
    capsys.readouterr()
