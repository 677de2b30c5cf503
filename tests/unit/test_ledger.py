"""The ledger's migrations build exactly the models' schema, and money and time survive both backends."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ledgerbridge.ledger.models import Base, Document, LegalEntityRow, Watermark


def test_migrations_match_the_models(ledger_url):
    engine = create_engine(ledger_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_money_round_trips_exactly_and_time_stays_utc(ledger):
    with ledger.session() as session:
        session.add(LegalEntityRow(id="acme", name="Acme", base_currency="USD", accounting_kind="quickbooks_online",
                                   conn_id="qbo"))
        session.flush()
        session.add(Document(entity_id="acme", kind="bill", hub_id="B-1", doc_date=date(2026, 11, 1), currency="USD",
                             total=Decimal("123456789012.3456")))
        session.add(Watermark(entity_id="acme", stream="reference.vendor",
                              value=datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)))
    with ledger.session() as session:
        document = session.query(Document).one()
        assert document.total == Decimal("123456789012.3456") and isinstance(document.total, Decimal)
        assert session.get(Watermark, ("acme", "reference.vendor")).value == datetime(2026, 11, 1, 9, 30,
                                                                                       tzinfo=timezone.utc)


def test_a_float_amount_is_refused(ledger):
    with pytest.raises(Exception, match="money must be Decimal"):
        with ledger.session() as session:
            session.add(LegalEntityRow(id="acme", name="Acme", base_currency="USD",
                                       accounting_kind="quickbooks_online", conn_id="qbo"))
            session.add(Document(entity_id="acme", kind="bill", hub_id="B-1", doc_date=date(2026, 11, 1),
                                 currency="USD", total=0.1))
            session.flush()


def test_a_ledger_where_two_entities_already_share_a_company_is_not_migrated_silently(tmp_path):
    """Migration 0010 adds the database's one-entity-per-company index; a ledger where the race already
    happened says which entities share what, and stays as it was until a person re-pins one."""
    from ledgerbridge.ledger import Ledger, migrate

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(url, "0009")
    engine = create_engine(url)
    with engine.begin() as conn:
        for entity_id in ("north", "south"):
            conn.exec_driver_sql(
                "INSERT INTO legal_entities (id, name, base_currency, accounting_kind, conn_id, company_id, created_at,"
                " updated_at) VALUES (?, ?, 'USD', 'quickbooks_online', ?, '4620816365', '2026-12-01', '2026-12-01')",
                (entity_id, entity_id, entity_id))
    engine.dispose()
    with pytest.raises(RuntimeError, match=r"legal_entities.company_id: '4620816365' is pinned by 'north' and "
                                           r"'south'. Re-pin all but one"):
        migrate(url)
    ledger = Ledger(url)
    with ledger.session() as session:
        session.get(LegalEntityRow, "south").company_id = None  # `ledgerbridge entity repin south`
    ledger.dispose()
    migrate(url)


def test_a_postgresql_url_without_a_driver_reaches_the_ledger_through_psycopg2(ledger_url, monkeypatch):
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which is not installed: an operator's
    LEDGERBRIDGE_DB_URL=postgresql://... must work as written."""
    from sqlalchemy import text

    from ledgerbridge import settings
    from ledgerbridge.ledger import Ledger

    assert settings.with_driver("postgres://u:p@db/ledger") == "postgresql+psycopg2://u:p@db/ledger"
    assert settings.with_driver("postgresql+asyncpg://db/x") == "postgresql+asyncpg://db/x"
    assert settings.with_driver("sqlite:///x.db") == "sqlite:///x.db"
    bare = ledger_url.replace("postgresql+psycopg2://", "postgresql://")
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", bare)
    ledger = Ledger()
    try:
        with ledger.session() as session:
            assert session.execute(text("SELECT count(*) FROM legal_entities")).scalar() >= 0
    finally:
        ledger.dispose()


def test_a_sqlite_ledger_waits_for_a_writer_holding_it_past_sqlites_own_five_seconds(tmp_path):
    """A new ledger (not yet WAL) locked by another process: opening it waits instead of 'database is locked'."""
    import sqlite3
    import threading

    from sqlalchemy import text

    from ledgerbridge.ledger.db import Ledger

    path = tmp_path / "ledger.db"
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.commit()
    holder.execute("BEGIN EXCLUSIVE")
    releasing = threading.Timer(6, holder.commit)
    releasing.start()
    ledger = Ledger(f"sqlite:///{path}")
    try:
        with ledger.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        releasing.join()
        ledger.dispose()
        holder.close()
