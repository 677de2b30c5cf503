"""The Test button of the QuickBooks Online, Xero and ledger connections (hook.test_connection(), what the
Airflow UI and `airflow connections test` call): against the QBO and Xero sandboxes and real ledger databases."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy import make_url

from ledgerbridge.ledger import Ledger, migrate
from support import CLIENT_SECRET, connect_company, make_entity


def _set_connection(monkeypatch, conn_id: str, conn, **changes) -> None:
    fields = {"conn_type": "quickbooks_online", "host": conn.host, "login": conn.login, "password": conn.password,
              "schema": conn.schema, "extra": conn.extra, **changes}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


@pytest.fixture
def company(qbo_server, tmp_path, monkeypatch):
    """An entity of the registry, its sandbox company (already used once: its token has rotated) and connection."""
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(ledger_url)
    ledger = Ledger(ledger_url)
    entity = make_entity(f"conntest_{uuid.uuid4().hex[:8]}")
    conn = connect_company(qbo_server, ledger, entity, lists={})
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(entity.model_dump_json())]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    monkeypatch.delenv("AIRFLOW_CONN_LEDGERBRIDGE_LEDGER", raising=False)
    _set_connection(monkeypatch, conn.conn_id, conn)
    yield entity, conn, ledger
    ledger.dispose()


def _expire_access_tokens(ledger) -> None:
    """As an hour later: the next call must refresh, with the newest refresh token the ledger holds."""
    from ledgerbridge.ledger.models import OAuthToken
    from sqlalchemy import update

    with ledger.session() as session:
        session.execute(update(OAuthToken).values(access_expires_at=datetime(2000, 1, 1, tzinfo=UTC)))


def _qbo_hook(conn_id: str):
    from ledgerbridge_airflow.hooks.qbo import QuickBooksOnlineHook

    return QuickBooksOnlineHook(conn_id)


def test_the_test_button_names_the_company_it_reached(company):
    entity, conn, _ = company
    ok, message = _qbo_hook(conn.conn_id).test_connection()
    assert ok, message
    assert f"QuickBooks Online company {entity.name!r} (realm {conn.schema})" in message


def test_the_uis_throwaway_connection_id_uses_the_entitys_tokens_and_leaves_them_working(company):
    """The UI tests a copy of the connection under a random id; a refresh there (which rotates the
    refresh token) must store the new token where the entity's tasks look for it."""
    entity, conn, ledger = company
    transient = f"t{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        _set_connection(patch, transient, conn)
        for _ in range(2):
            _expire_access_tokens(ledger)
            ok, message = _qbo_hook(transient).test_connection()
            assert ok, message
    _expire_access_tokens(ledger)
    client = _qbo_hook(conn.conn_id).get_conn(ledger).client
    assert client.read("CompanyInfo", conn.schema)["CompanyName"] == entity.name


def test_an_unsaved_form_is_not_tested_and_never_spends_the_grant_it_holds(company, qbo_server):
    """An operator reconnects the company (a new grant in the form) and clicks Test before saving: the
    form's refresh token must not be spent, nor its successor stored over the entity's live one."""
    import requests

    from support import CLIENT_ID

    entity, conn, ledger = company
    new_grant = requests.post(f"{qbo_server.url}/_sandbox/realms", json={
        "client_id": CLIENT_ID, "company_name": entity.name, "realm_id": conn.schema}, timeout=10).json()
    transient = f"t{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        _set_connection(patch, transient, conn, extra={**conn.extra, "refresh_token": new_grant["refresh_token"]})
        _expire_access_tokens(ledger)
        ok, message = _qbo_hook(transient).test_connection()
    assert not ok and "the form differs from the saved connection" in message and "save it" in message
    assert new_grant["refresh_token"] not in message
    _expire_access_tokens(ledger)
    client = _qbo_hook(conn.conn_id).get_conn(ledger).client  # the entity's saved connection still works
    assert client.read("CompanyInfo", conn.schema)["CompanyName"] == entity.name


def test_an_invalid_refresh_token_fails_saying_to_reconnect_without_quoting_secrets(company, monkeypatch):
    _, conn, _ = company
    bad_token = f"revoked-{uuid.uuid4().hex}"
    _set_connection(monkeypatch, conn.conn_id, conn, extra={**conn.extra, "refresh_token": bad_token})
    ok, message = _qbo_hook(conn.conn_id).test_connection()
    assert not ok
    assert message.startswith("ReconnectRequired:") and "invalid_grant" in message and "reconnect" in message
    assert bad_token not in message and CLIENT_SECRET not in message


def test_a_connection_no_entity_uses_is_not_tested_rather_than_used_up(company, monkeypatch):
    _, conn, _ = company
    _set_connection(monkeypatch, "qbo_stranger", conn, schema="4620816365171004567")
    ok, message = _qbo_hook("qbo_stranger").test_connection()
    assert not ok and message.startswith("not tested: no legal entity of the registry") and "4620816365171004567" in message


def test_a_connection_lacking_fields_says_which(company, monkeypatch):
    _, conn, _ = company
    _set_connection(monkeypatch, conn.conn_id, conn, schema=None, extra={})
    ok, message = _qbo_hook(conn.conn_id).test_connection()
    assert not ok and "lacks Realm ID" in message and "refresh_token" in message


# -- Xero ---------------------------------------------------------------------------------------


def _xero_tenant(server, name: str) -> dict:
    """A new organisation connected to the test app, as Xero's consent step would: tenant_id, refresh_token."""
    import requests

    from support import CLIENT_ID

    reply = requests.post(f"{server.url}/_sandbox/tenants", json={"client_id": CLIENT_ID, "name": name}, timeout=10)
    reply.raise_for_status()
    return reply.json()


def _xero_settings(server, conn_id: str, tenant: dict):
    from ledgerbridge.connectors.factory import ConnectionSettings

    return ConnectionSettings(conn_id, server.url, "ledgerbridge-test", CLIENT_SECRET, tenant["tenant_id"],
                              {"refresh_token": tenant["refresh_token"], "token_url": f"{server.url}/connect/token"})


def _set_xero_connection(monkeypatch, conn_id: str, conn, **changes) -> None:
    _set_connection(monkeypatch, conn_id, conn, conn_type="xero", **changes)


def _xero_hook(conn_id: str):
    from ledgerbridge_airflow.hooks.xero import XeroHook

    return XeroHook(conn_id)


@pytest.fixture
def organisation(xero_server, tmp_path, monkeypatch):
    """A Xero entity of the registry, its sandbox organisation (already used once: its token has rotated)
    and its connection."""
    from ledgerbridge.connectors.xero.factory import xero
    from ledgerbridge.registry import LegalEntity

    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(ledger_url)
    ledger = Ledger(ledger_url)
    entity_id = f"xerotest_{uuid.uuid4().hex[:8]}"
    entity = LegalEntity.model_validate({"id": entity_id, "name": f"{entity_id} Ltd", "base_currency": "USD",
                                         "accounting": {"kind": "xero", "conn_id": f"xero_{entity_id}"},
                                         "flows": ["reference"]})
    conn = _xero_settings(xero_server, entity.accounting.conn_id, _xero_tenant(xero_server, entity.name))
    assert xero(conn, ledger).client.get("Organisation")["Organisations"][0]["Name"] == entity.name
    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": [json.loads(entity.model_dump_json())]}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    monkeypatch.setenv("LEDGERBRIDGE_DB_URL", ledger_url)
    monkeypatch.delenv("AIRFLOW_CONN_LEDGERBRIDGE_LEDGER", raising=False)
    _set_xero_connection(monkeypatch, conn.conn_id, conn)
    yield entity, conn, ledger
    ledger.dispose()


def test_the_xero_test_button_names_the_organisation_it_reached(organisation, xero_server):
    entity, conn, _ = organisation
    ok, message = _xero_hook(conn.conn_id).test_connection()
    assert ok, message
    short_code = xero_server.sandbox.tenants[conn.schema].short_code
    assert message == (f"Xero organisation {entity.name!r} (tenant {conn.schema}, short code {short_code}, base "
                       f"currency USD, country US) at {xero_server.url}")


def test_the_xero_test_button_stores_the_rotated_refresh_token_where_the_entitys_tasks_find_it(organisation):
    """Xero rotates the refresh token on every refresh; the UI tests a copy under a throw-away id."""
    from ledgerbridge.connectors.xero.factory import xero

    entity, conn, ledger = organisation
    transient = f"t{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        _set_xero_connection(patch, transient, conn)
        for _ in range(2):
            _expire_access_tokens(ledger)
            ok, message = _xero_hook(transient).test_connection()
            assert ok, message
    _expire_access_tokens(ledger)
    client = xero(conn, ledger).client  # the entity's connection refreshes with the newest token
    assert client.get("Organisation")["Organisations"][0]["Name"] == entity.name


def test_a_tenant_not_connected_to_the_app_is_named_with_the_ones_the_grant_reaches(organisation, xero_server,
                                                                                    monkeypatch):
    """The connection holds the grant of one organisation and the tenant id of another (reached by
    another grant only)."""
    _, conn, _ = organisation
    granted = _xero_tenant(xero_server, "Granted Ltd")
    _set_xero_connection(monkeypatch, conn.conn_id, conn, extra={**conn.extra, "refresh_token": granted["refresh_token"]})
    ok, message = _xero_hook(conn.conn_id).test_connection()
    assert not ok
    assert message.startswith(f"Xero tenant {conn.schema} is not connected to this app at {xero_server.url}: the "
                              f"grant reaches 'Granted Ltd' ({granted['tenant_id']}); connect the organisation")


def test_the_xero_test_button_fails_when_the_entity_is_pinned_to_another_organisation(organisation, xero_server,
                                                                                      monkeypatch):
    import logging

    from ledgerbridge.connectors.xero.factory import xero
    from ledgerbridge.context import RunContext

    entity, conn, ledger = organisation
    ctx = RunContext(entity, ledger, "pin-run", connect=lambda: xero(conn, ledger), log=logging.getLogger("t"))
    assert ctx.connector.company_id == conn.schema  # a first run pins the entity to its organisation
    moved = _xero_tenant(xero_server, "New Books Ltd")
    _set_xero_connection(monkeypatch, conn.conn_id, conn, schema=moved["tenant_id"],
                         extra={**conn.extra, "refresh_token": moved["refresh_token"]})

    ok, message = _xero_hook(conn.conn_id).test_connection()

    assert not ok
    assert message.startswith(f"Xero organisation 'New Books Ltd' (tenant {moved['tenant_id']}")
    assert f"but its runs would refuse it: legal entity {entity.id!r} syncs with accounting company {conn.schema}" \
        in message and f"ledgerbridge entity repin {entity.id}" in message


def test_a_revoked_xero_refresh_token_fails_saying_to_reconnect_without_quoting_secrets(organisation, monkeypatch):
    _, conn, ledger = organisation
    bad_token = f"revoked-{uuid.uuid4().hex}"
    _set_xero_connection(monkeypatch, conn.conn_id, conn, extra={**conn.extra, "refresh_token": bad_token})
    ok, message = _xero_hook(conn.conn_id).test_connection()
    assert not ok
    assert message.startswith("ReconnectRequired: Xero refused to refresh the tokens of tenant") and \
        "invalid_grant" in message and "reconnect the organisation" in message
    assert bad_token not in message and CLIENT_SECRET not in message


# -- the ledger ---------------------------------------------------------------------------------


def _point_ledger_hook_at(monkeypatch, url: str) -> None:
    """SQLite through LEDGERBRIDGE_DB_URL, PostgreSQL through the ledgerbridge_ledger connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        monkeypatch.setenv("LEDGERBRIDGE_DB_URL", url)
        monkeypatch.delenv("AIRFLOW_CONN_LEDGERBRIDGE_LEDGER", raising=False)
        return
    # trust authentication ignores the password; it is there to be kept out of the message
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERBRIDGE_LEDGER", json.dumps({
        "conn_type": "ledgerbridge_ledger", "host": parsed.host, "port": parsed.port, "login": parsed.username,
        "password": "ledger-s3cret", "schema": parsed.database}))


def _ledger_test():
    from ledgerbridge_airflow.hooks.ledger import LedgerHook

    return LedgerHook().test_connection()


def test_a_ledger_at_head_passes(monkeypatch, ledger_url):
    _point_ledger_hook_at(monkeypatch, ledger_url)
    ok, message = _ledger_test()
    assert ok, message
    assert "connected; schema at revision" in message and "(head)" in message
    assert "ledger-s3cret" not in message


def test_a_ledger_behind_head_fails_saying_how_to_upgrade(monkeypatch, ledger_url):
    from alembic import command
    from ledgerbridge.ledger.db import alembic_config

    command.downgrade(alembic_config(ledger_url), "-1")
    _point_ledger_hook_at(monkeypatch, ledger_url)
    ok, message = _ledger_test()
    assert not ok
    assert "behind this LedgerBridge's" in message and "run `ledgerbridge db upgrade`" in message
    migrate(ledger_url)
    assert _ledger_test()[0]


def test_an_empty_or_missing_ledger_fails_saying_how_to_create_it(monkeypatch, tmp_path):
    empty = tmp_path / "empty.db"
    Ledger(f"sqlite:///{empty}").dispose()
    empty.touch()
    _point_ledger_hook_at(monkeypatch, f"sqlite:///{empty}")
    ok, message = _ledger_test()
    assert not ok and "holds no LedgerBridge schema" in message and "ledgerbridge db upgrade" in message
    _point_ledger_hook_at(monkeypatch, f"sqlite:///{tmp_path / 'missing.db'}")
    ok, message = _ledger_test()
    assert not ok and "no such database file" in message
    assert not (tmp_path / "missing.db").exists()


def test_an_unreachable_ledger_fails_with_the_reason(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERBRIDGE_LEDGER", json.dumps({
        "conn_type": "ledgerbridge_ledger", "host": "127.0.0.1", "port": 1, "login": "lb",
        "password": "ledger-s3cret", "schema": "ledger"}))
    ok, message = _ledger_test()
    assert not ok and message.startswith("OperationalError:") and "ledger-s3cret" not in message


# -- SYSPRO (the ERP source) ----------------------------------------------------------------------

SYSPRO_PASSWORD = "erp-s3cret"
COMPANY_PASSWORD = "co-s3cret"


@pytest.fixture(scope="module")
def syspro_server():
    from ledgerbridge.sandbox.syspro import SysproSandbox, seed_company, serve_in_thread

    sandbox = SysproSandbox(operator_password=SYSPRO_PASSWORD, company_password=COMPANY_PASSWORD)
    seed_company(sandbox, seed=3, customers=7, stock_items=5, orders=3, bad_orders=False)
    server = serve_in_thread(sandbox)
    yield server
    server.stop()


def _syspro_test(monkeypatch, url: str, **changes) -> tuple[bool, str]:
    """The Test button of a `ledgerbridge_syspro` connection, under a throw-away id as the UI's."""
    from ledgerbridge_airflow.hooks.syspro import SysproHook

    fields = {"conn_type": "ledgerbridge_syspro", "host": url, "login": "ADMIN", "password": SYSPRO_PASSWORD,
              **changes}
    fields["extra"] = {"company_id": "STARK", "company_password": COMPANY_PASSWORD, "timeout": 5,
                       **changes.get("extra", {})}
    conn_id = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return SysproHook(conn_id).test_connection()


def _no_secret(message: str) -> bool:
    return SYSPRO_PASSWORD not in message and COMPANY_PASSWORD not in message and "wrong-pw" not in message


def test_the_syspro_test_button_logs_on_reads_a_customer_and_logs_off(monkeypatch, syspro_server):
    ok, message = _syspro_test(monkeypatch, syspro_server.url)
    assert ok, message
    assert message.startswith(f"logged on to SYSPRO company STARK as ADMIN at {syspro_server.url}; "
                              "7 customers readable (first: ")
    assert _no_secret(message)
    assert syspro_server.sandbox.sessions == {}  # logged off


def test_the_syspro_check_runs_without_airflow_on_a_bare_client(syspro_server):
    from ledgerbridge.connection_checks import syspro_company
    from ledgerbridge.sources.syspro import SysproClient

    ok, message = syspro_company(SysproClient(syspro_server.url, "admin", SYSPRO_PASSWORD, "stark", COMPANY_PASSWORD))
    assert ok and "7 customers readable" in message


@pytest.mark.parametrize("changes, named", [
    ({"password": "wrong-pw"}, "Invalid password for operator 'ADMIN'"),
    ({"extra": {"company_id": "NOPE"}}, "Company 'NOPE' is not defined"),
    ({"extra": {"company_password": "wrong-pw"}}, "Invalid company password for company 'STARK'"),
    ({"login": "BOB"}, "Operator 'BOB' is not defined"),
], ids=["operator password", "company", "company password", "operator"])
def test_the_syspro_test_button_says_which_credential_syspro_refused(monkeypatch, syspro_server, changes, named):
    ok, message = _syspro_test(monkeypatch, syspro_server.url, **changes)
    assert not ok
    assert f"SYSPRO at {syspro_server.url} refused the logon of operator" in message and named in message
    assert "check the operator, its password, the company id and the company password" in message
    assert _no_secret(message), message


def test_the_syspro_test_button_says_an_unreachable_server_could_not_be_reached(monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ok, message = _syspro_test(monkeypatch, f"http://127.0.0.1:{port}")
    assert not ok
    assert message.startswith(f"SYSPRO at http://127.0.0.1:{port} could not be reached: connection refused")
    assert _no_secret(message), message


def test_the_syspro_test_button_names_a_missing_field(monkeypatch, syspro_server):
    ok, message = _syspro_test(monkeypatch, syspro_server.url, extra={"company_id": ""})
    assert not ok and message.startswith("ConnectionSettingsError:") and "extra 'company_id'" in message


# -- the hub feed -----------------------------------------------------------------------------------


def test_the_feed_test_button_probes_the_folder_and_names_the_entities_without_a_company_id(monkeypatch, tmp_path):
    from ledgerbridge_airflow.hooks.feed import FeedHook

    (tmp_path / "acme_us" / "inbound").mkdir(parents=True)
    (tmp_path / "not_an_entity").mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_FEED_TEST", json.dumps({
        "conn_type": "ledgerbridge_feed", "extra": {"local_root": str(tmp_path)}}))
    ok, message = FeedHook("feed_test").test_connection()
    assert ok, message
    assert message == (f"hub feed folder {tmp_path}: readable and writable (a probe file written, renamed, read "
                       "back and removed); entity directories: acme_us")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acme_us", "not_an_entity"]
