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
