"""Engines and sessions for the ledger, on SQLite (default) or PostgreSQL, and its migrations."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge import settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")  # first, so the pragmas below wait for a busy ledger too
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers not block the writer (UI, CLI, tasks); it is kept in the file, so only a new ledger switches
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class Ledger:
    def __init__(self, url=None, engine: Engine | None = None):
        url = url or settings.ledger_url()  # a string or a sqlalchemy URL
        self.url = settings.with_driver(url) if isinstance(url, str) else url
        self.engine = engine or create_engine(self.url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.with_driver(url).replace("%", "%%"))
    return config


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Bring the ledger schema to `revision` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url or settings.ledger_url()), revision)
