"""Where LedgerBridge keeps its files and finds its ledger, and what kind of deployment it runs in,
overridable through the environment."""
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


ENVIRONMENTS = ("demo", "production")
TOKEN_KEY_VARIABLE = "LEDGERBRIDGE_TOKEN_KEY"


class SettingError(Exception):
    """A setting the deployment must fix: a person edits the environment; a retry changes nothing."""


def environment() -> str:
    """`LEDGERBRIDGE_ENVIRONMENT`: `demo` (the default: the demo, the tests, a laptop) or `production`.
    Anything else is refused, so that a typo ("prod") never turns production's checks off."""
    value = os.environ.get("LEDGERBRIDGE_ENVIRONMENT", "").strip() or "demo"
    if value not in ENVIRONMENTS:
        raise SettingError(f"LEDGERBRIDGE_ENVIRONMENT={value!r} is not one of {', '.join(ENVIRONMENTS)}: "
                           "set it to production on a real deployment, or leave it unset for the demo")
    return value


def token_key() -> str | None:
    """`LEDGERBRIDGE_TOKEN_KEY`, the key material that encrypts the OAuth tokens kept in the ledger.

    In production it is required: without it the key would be derived from each connection's client
    secret, so that rotating a client secret makes the stored tokens unreadable, and anyone holding the
    secret can read them. Elsewhere None lets the token store derive it, as the demo always has."""
    key = os.environ.get(TOKEN_KEY_VARIABLE, "").strip()
    if key:
        return key
    if environment() == "production":
        raise SettingError(
            f"{TOKEN_KEY_VARIABLE} is not set and LEDGERBRIDGE_ENVIRONMENT=production: set it to a long random "
            "secret (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), the same on every "
            "machine running Airflow, and keep it with the ledger's backups; tokens "
            "stored under another key cannot be read (reconnect those companies). See docs/deployment.md#secrets")
    return None
