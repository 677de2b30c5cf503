"""Where LedgerBridge keeps its files and finds its ledger, overridable through the environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("LEDGERBRIDGE_DATA_DIR", PROJECT_ROOT / "data"))


def ledger_url() -> str:
    """`LEDGERBRIDGE_DB_URL`, else a SQLite file in the project's data dir."""
    url = os.environ.get("LEDGERBRIDGE_DB_URL")
    if url:
        return with_driver(url)
    path = data_dir() / "ledger.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def limits_url() -> str | None:
    """`LEDGERBRIDGE_LIMITS_URL` (redis://host:6379/0): the Redis that holds every company's rate limits,
    shared by all processes and machines. Unset: each process keeps its own (connectors/limits.py)."""
    return os.environ.get("LEDGERBRIDGE_LIMITS_URL") or None


def registry_path() -> Path:
    return Path(os.environ.get("LEDGERBRIDGE_REGISTRY", PROJECT_ROOT / "include" / "config" / "legal_entities.yaml"))


def with_driver(url: str) -> str:
    """A PostgreSQL URL without a driver names psycopg2, the one installed: SQLAlchemy 2.1 would pick
    psycopg 3 for a bare postgresql://, and fail to import it."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg2://{rest}"
    return url
