"""Shared fixtures: ledgers on SQLite and PostgreSQL, the QBO sandbox on loopback, entities.

Airflow reads its configuration when first imported, so its environment is set here, before any
test module imports it: a throw-away AIRFLOW_HOME, no examples, our dags/ folder.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="lb-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["LEDGERBRIDGE_TASK_RETRIES"] = "0"
os.environ["LEDGERBRIDGE_DATA_DIR"] = tempfile.mkdtemp(prefix="lb-data-")
# Every client keeps its limits in its own process unless a test shares them on purpose
# (tests/integration/test_shared_limits.py): a deployment's Redis must not leak into the suite.
os.environ.pop("LEDGERBRIDGE_LIMITS_URL", None)

import pytest  # noqa: E402

from support import postgres_available, redis_available  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def pytest_report_header(config):
    lines = ["PostgreSQL: 127.0.0.1:5432 answers; ledger tests run on SQLite and PostgreSQL" if postgres_available()
             else "PostgreSQL: no server on 127.0.0.1:5432; the PostgreSQL variants of the ledger tests are SKIPPED"]
    lines.append("Redis: 127.0.0.1:6379 answers; the shared rate limiter is tested" if redis_available()
                 else "Redis: no server on 127.0.0.1:6379; the shared rate limiter's tests are SKIPPED")
    return lines


def pytest_collection_modifyitems(config, items):
    if postgres_available():
        return
    skip = pytest.mark.skip(reason="PostgreSQL not reachable on 127.0.0.1:5432")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request, tmp_path):
    """A fresh, migrated ledger database on each backend."""
    from ledgerbridge.ledger import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        migrate(url)
        yield url
        return
    from sqlalchemy import create_engine, text

    name = f"lb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def ledger(ledger_url):
    from ledgerbridge.ledger import Ledger

    ledger = Ledger(ledger_url)
    yield ledger
    ledger.dispose()


@pytest.fixture(scope="session")
def qbo_server():
    """One sandbox for the session; every test connects its own companies (realms)."""
    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    server = serve_in_thread(QBOSandbox(clients={"ledgerbridge-test": "test-secret"}))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def xero_server():
    """One Xero sandbox for the session (its limits on); every test connects its own organisations."""
    from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread

    server = serve_in_thread(XeroSandbox(clients={"ledgerbridge-test": "test-secret"}))
    yield server
    server.stop()
