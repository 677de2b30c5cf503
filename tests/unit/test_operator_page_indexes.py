"""Migrations 0007 and 0008: the indexes behind the operators' pages (bench/ui_pages.py measures the pages at 1,000
entities and 100,000 quarantine rows). They exist on both backends, go and come back with the
migration, and SQLite's planner reads the pages' queries through them."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, event, inspect

from ledgerbridge.ledger import Ledger, migrate
from ledgerbridge.ledger.db import alembic_config
from ledgerbridge.ledger.models import LegalEntityRow, SyncRun

INDEXES = {
    "quarantine": {"ix_quarantine_entity_status": ["entity_id", "status", "dataset", "record_key"]},
    "sync_runs": {"ix_sync_runs_entity_started": ["entity_id", "started_at"]},
}


def _indexes(url: str) -> dict[str, dict[str, list[str]]]:
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {table: {index["name"]: index["column_names"] for index in found.get_indexes(table)
                        if index["name"] in wanted} for table, wanted in INDEXES.items()}
    finally:
        engine.dispose()


def test_the_migration_adds_and_removes_the_page_indexes(ledger_url):
    assert _indexes(ledger_url) == INDEXES
    command.downgrade(alembic_config(ledger_url), "0006")
    assert _indexes(ledger_url) == {"quarantine": {}, "sync_runs": {}}
    migrate(ledger_url)
    assert _indexes(ledger_url) == INDEXES


@pytest.fixture
def sqlite_ledger(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(url)
    ledger = Ledger(url)
    with ledger.session() as session:
        session.add(LegalEntityRow(id="acme", name="Acme", base_currency="USD", accounting_kind="quickbooks_online",
                                   conn_id="qbo"))
    yield ledger
    ledger.dispose()


def _plans(ledger: Ledger, read) -> dict[str, str]:
    """Each SELECT that `read` runs -> SQLite's plan for it."""
    statements = []
    keep = lambda conn, cursor, statement, parameters, context, many: statements.append((statement, parameters))
    event.listen(ledger.engine, "before_cursor_execute", keep)
    try:
        with ledger.session() as session:
            read(session)
    finally:
        event.remove(ledger.engine, "before_cursor_execute", keep)
    with ledger.engine.connect() as conn:
        return {" ".join(statement.split()): " / ".join(row[-1] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters)) for statement, parameters in statements}


def test_a_quarantine_page_and_its_count_read_the_index_on_sqlite(sqlite_ledger):
    from ledgerbridge.ledger import quarantine

    plans = _plans(sqlite_ledger, lambda session: quarantine.listing(session, "acme", frozenset(), offset=100))
    assert len(plans) == 2
    for statement, plan in plans.items():
        assert "ix_quarantine_entity_status (entity_id=? AND status=?)" in plan, (statement, plan)
    assert "USE TEMP B-TREE FOR ORDER BY" not in " ".join(plans.values())


def test_the_entities_page_reads_runs_only_through_the_indexes_on_sqlite(sqlite_ledger):
    from ledgerbridge import status
    from support import make_entity

    plans = _plans(sqlite_ledger, lambda session: status.entities_page(session, [make_entity("acme")]))
    runs = [plan for statement, plan in plans.items() if "FROM sync_runs" in statement]
    counts = [plan for statement, plan in plans.items() if "FROM quarantine" in statement]
    # Each entity's last run is on its row (legal_entities.last_run); an entity whose row has none yet is
    # read from sync_runs through the index.
    assert runs and all("ix_sync_runs_entity_started" in plan for plan in runs), plans
    assert counts and "COVERING INDEX ix_quarantine_entity_status" in counts[0], plans


def test_an_entity_whose_row_has_no_standing_yet_shows_its_latest_run_from_sync_runs(ledger_url):
    from ledgerbridge import status
    from support import make_entity

    ledger = Ledger(ledger_url)
    try:
        with ledger.session() as session:  # a run recorded before 0008: no standing on the entity's row
            session.add(LegalEntityRow(id="acme", name="Acme", base_currency="USD", accounting_kind="quickbooks_online",
                                       conn_id="qbo"))
            session.flush()
            for step in ("pull_source", "export_documents", "reconcile"):
                session.add(SyncRun(entity_id="acme", run_id="scheduled__old", step=step, status="success",
                                    summary={"created": 2, "confirmed": 2} if step == "export_documents" else
                                    {"mismatches": [], "compared": True, "accounting_total_of_confirmed_bills": 2,
                                     "hub_total_of_confirmed_bills": 2} if step == "reconcile" else {}))
        command.downgrade(alembic_config(ledger_url), "0007")
        migrate(ledger_url)
        with ledger.session() as session:
            [row] = status.entities_page(session, [make_entity("acme")]).items
        assert (row.last_run.run_id, row.last_run.exported, row.reconciliation) == ("scheduled__old", 2, "balanced")
    finally:
        ledger.dispose()
