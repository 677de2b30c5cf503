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
        return url
    path = data_dir() / "ledger.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def registry_path() -> Path:
    return Path(os.environ.get("LEDGERBRIDGE_REGISTRY", PROJECT_ROOT / "include" / "config" / "legal_entities.yaml"))
