"""The real Airflow API server app, in process, with LedgerBridge's plugin mounted as Airflow mounts it.

Once per session: `airflow db migrate` (the session's throw-away AIRFLOW_HOME, see tests/conftest.py),
users of SimpleAuthManager with known passwords (through a test-only subclass adding one user allowed
on one DAG, see one_dag_auth_manager.py), a registry of two entities and a migrated ledger; then
`airflow.api_fastapi.app.create_app()`, the api-server's own factory. Tokens come from its real
`POST /auth/token`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
PASSWORDS = {"viewer": "viewer-pw", "editor": "editor-pw", "admin": "admin-pw", "acme_clerk": "clerk-pw"}
ENTITIES = ("acme", "globex")


@dataclass
class Airflow:
    client: object  # fastapi.testclient.TestClient over the whole Airflow app
    ledger: object
    plugin_app: object  # LedgerBridge's FastAPI app, as mounted

    def token(self, user: str) -> str:
        reply = self.client.post("/auth/token", json={"username": user, "password": PASSWORDS[user]})
        assert reply.status_code in (200, 201), reply.text
        return reply.json()["access_token"]

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}


_PREVIOUS: dict[str, str | None] = {}  # the environment before the app's, put back after this folder's last test


def _set_env(values: dict[str, str]) -> dict[str, str | None]:
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    _PREVIOUS.update(previous)
    return previous


def pytest_runtest_teardown(item, nextitem):
    """The app's environment (its registry, ledger and auth manager) is for this folder's tests only: once its
    last test ran, the tests after it see the session's own again (the app itself is not asked any more)."""
    if _PREVIOUS and (nextitem is None or HERE not in Path(str(nextitem.path)).parents):
        _restore(dict(_PREVIOUS))
        _PREVIOUS.clear()


def _restore(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def airflow(tmp_path_factory) -> Airflow:
    from support import make_entity

    from ledgerbridge.context import ensure_entity
    from ledgerbridge.ledger import Ledger, migrate

    sys.path.insert(0, str(HERE))  # one_dag_auth_manager, for [core] auth_manager
    work = tmp_path_factory.mktemp("ui")
    passwords = work / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    registry = work / "legal_entities.yaml"
    entities = [make_entity(entity_id) for entity_id in ENTITIES]
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(e.model_dump_json()) for e in entities]}))
    ledger_url = f"sqlite:///{work / 'ledger.db'}"
    migrate(ledger_url)
    ledger = Ledger(ledger_url)
    with ledger.session() as session:
        for entity in entities:
            ensure_entity(session, entity)

    previous = _set_env({
        "AIRFLOW__CORE__AUTH_MANAGER": "one_dag_auth_manager.OneDagAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer,editor:user,admin:admin,acme_clerk:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "ledgerbridge-ui-tests-only-" + "x" * 64,
        "LEDGERBRIDGE_REGISTRY": str(registry),
        "LEDGERBRIDGE_DB_URL": ledger_url,
    })
    migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                              timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]

    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app, purge_cached_app
    from airflow.plugins_manager import get_fastapi_plugins

    apps = [entry for entry in get_fastapi_plugins()[0] if entry["url_prefix"] == "/ledgerbridge"]
    assert apps, ("LedgerBridge's plugin is not found through the `airflow.plugins` entry point: "
                  "re-install the project (pip install -e .) after pyproject changes")
    app = create_app()
    try:
        with TestClient(app, base_url="http://localhost:8080") as client:
            yield Airflow(client, ledger, apps[0]["app"].app)
    finally:
        purge_cached_app()
        ledger.dispose()
        _restore(previous)
