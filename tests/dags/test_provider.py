"""LedgerBridge declares itself an Airflow provider: its connection types appear in the UI's form."""
from __future__ import annotations

import json
import warnings


def test_connection_types_are_registered_with_their_form_labels():
    from airflow.providers_manager import ProvidersManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manager = ProvidersManager()
        qbo = manager.field_behaviours["quickbooks_online"]
        hook = manager.hooks["quickbooks_online"]
    assert qbo["relabeling"]["schema"] == "Realm ID"
    assert qbo["relabeling"]["login"] == "Client ID"
    assert "port" in qbo["hidden_fields"]
    assert hook.hook_class_name == "ledgerbridge_airflow.hooks.qbo.QuickBooksOnlineHook"
    assert hook.hook_name == "QuickBooks Online"
    assert "ledgerbridge_ledger" in manager.field_behaviours


def test_the_syspro_connection_type_is_registered_with_its_form_and_test_button():
    from airflow.providers_manager import ProvidersManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manager = ProvidersManager()
        form = manager.field_behaviours["ledgerbridge_syspro"]
        hook = manager.hooks["ledgerbridge_syspro"]
    assert form["relabeling"] == {"host": "e.net REST base URL", "login": "Operator",
                                  "password": "Operator password"}
    assert "company_id" in form["placeholders"]["extra"]
    assert hook.hook_class_name == "ledgerbridge_airflow.hooks.syspro.SysproHook"
    assert hook.hook_name == "SYSPRO (e.net REST)" and hook.connection_testable
    assert "ledgerbridge_feed" in manager.field_behaviours


def test_hooks_answer_the_same_form_as_the_provider_info():
    from ledgerbridge_airflow import UI_FIELDS
    from ledgerbridge_airflow.hooks.ledger import LedgerHook
    from ledgerbridge_airflow.hooks.qbo import QuickBooksOnlineHook
    from ledgerbridge_airflow.hooks.syspro import SysproHook

    assert QuickBooksOnlineHook.get_ui_field_behaviour() == UI_FIELDS["quickbooks_online"]
    assert LedgerHook.get_ui_field_behaviour() == UI_FIELDS["ledgerbridge_ledger"]
    assert SysproHook.get_ui_field_behaviour() == UI_FIELDS["ledgerbridge_syspro"]


def test_the_ledger_connection_keeps_a_password_with_url_characters_out_of_the_host(monkeypatch):
    from ledgerbridge_airflow.hooks.ledger import LedgerHook

    monkeypatch.setenv("AIRFLOW_CONN_LEDGERBRIDGE_LEDGER", json.dumps({
        "conn_type": "ledgerbridge_ledger", "host": "db.example", "login": "lb", "password": "p@ss#wo/rd",
        "schema": "ledger", "port": 5432}))
    url = LedgerHook().url()
    assert (url.host, url.password, url.database, url.port) == ("db.example", "p@ss#wo/rd", "ledger", 5432)
    assert "p@ss" not in repr(url)


def test_without_a_ledger_connection_the_environment_decides(monkeypatch):
    from ledgerbridge_airflow.hooks.ledger import LedgerHook

    monkeypatch.delenv("AIRFLOW_CONN_LEDGERBRIDGE_LEDGER", raising=False)
    assert LedgerHook().url() is None


def test_the_provider_info_declares_the_connection_types_of_the_specs():
    from ledgerbridge.connectors.specs import ACCOUNTING_SPECS, SOURCE_SPECS, connection_types
    from ledgerbridge_airflow import get_provider_info

    declared = {t["connection-type"]: t for t in get_provider_info()["connection-types"]}
    assert list(declared) == [c.conn_type for c in connection_types()]
    assert {spec.connection.conn_type for spec in (*ACCOUNTING_SPECS, *SOURCE_SPECS)} | {"ledgerbridge_ledger"} \
        == set(declared)
    for connection in connection_types():
        entry = declared[connection.conn_type]
        assert (entry["hook-class-name"], entry["hook-name"]) == (connection.hook, connection.hook_name)
        assert entry["ui-field-behaviour"]["relabeling"] == dict(connection.form.relabeling)


def test_each_connection_type_maps_to_its_hook_with_a_test_button():
    from importlib import import_module

    from airflow.providers_manager import ProvidersManager
    from ledgerbridge.connectors.specs import connection_types

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manager = ProvidersManager()
        registered = {c.conn_type: manager.hooks[c.conn_type] for c in connection_types()}
    for connection in connection_types():
        module, _, name = connection.hook.rpartition(".")
        hook_class = getattr(import_module(module), name)
        assert (hook_class.conn_type, hook_class.hook_name) == (connection.conn_type, connection.hook_name)
        assert hook_class.get_ui_field_behaviour() == connection.form.behaviour()
        assert registered[connection.conn_type].hook_class_name == connection.hook
        assert registered[connection.conn_type].connection_testable


def test_an_entity_reaches_its_connector_through_the_hook_its_spec_names():
    from ledgerbridge.registry import LegalEntity
    from ledgerbridge_airflow.hooks.connections import accounting_hook
    from ledgerbridge_airflow.hooks.qbo import QuickBooksOnlineHook
    from ledgerbridge_airflow.hooks.sftp_drop import FileDropHook

    def entity(kind):
        return LegalEntity.model_validate({"id": "acme", "name": "Acme", "base_currency": "USD",
                                           "accounting": {"kind": kind, "conn_id": "conn_acme"}})

    online, desktop = accounting_hook(entity("quickbooks_online")), accounting_hook(entity("quickbooks_desktop"))
    assert isinstance(online, QuickBooksOnlineHook) and online.qbo_conn_id == "conn_acme"
    assert isinstance(desktop, FileDropHook) and desktop.drop_conn_id == "conn_acme"


def test_an_entity_reaches_its_source_through_the_hook_its_spec_names_whatever_the_connections_type(
        monkeypatch, tmp_path):
    from ledgerbridge.registry import LegalEntity
    from ledgerbridge.sources.feed import FeedSource
    from ledgerbridge.sources.syspro.connector import SysproSource
    from ledgerbridge_airflow.hooks.connections import source_for, source_hook
    from ledgerbridge_airflow.hooks.feed import FeedHook
    from ledgerbridge_airflow.hooks.syspro import SysproHook

    def entity(kind):
        return LegalEntity.model_validate({"id": "acme", "name": "Acme", "base_currency": "USD",
                                           "accounting": {"kind": "quickbooks_online", "conn_id": "conn_acme"},
                                           "source": {"kind": kind, "conn_id": "src_acme"}})

    feed, erp = source_hook(entity("feed")), source_hook(entity("syspro"))
    assert isinstance(feed, FeedHook) and feed.feed_conn_id == "src_acme"
    assert isinstance(erp, SysproHook) and erp.syspro_conn_id == "src_acme"
    for conn_type in ("ledgerbridge_feed", "generic"):  # the demo's feed was a generic connection
        monkeypatch.setenv("AIRFLOW_CONN_SRC_ACME", json.dumps({"conn_type": conn_type,
                                                                "extra": {"local_root": str(tmp_path)}}))
        assert isinstance(source_for(entity("feed")), FeedSource)
    monkeypatch.setenv("AIRFLOW_CONN_SRC_ACME", json.dumps({
        "conn_type": "ledgerbridge_syspro", "host": "http://127.0.0.1:8767", "login": "ADMIN", "password": "pw",
        "extra": {"company_id": "STARK", "company_password": ""}}))
    source = source_for(entity("syspro"))
    assert isinstance(source, SysproSource) and source.client.base_url == "http://127.0.0.1:8767"


def test_the_demos_source_connections_parse_into_their_sources(monkeypatch, tmp_path):
    """`make demo`'s connections (set in Airflow's metadata database; here as AIRFLOW_CONN_* JSON): the ERP's is a
    ledgerbridge_syspro connection that reaches the sandbox's company, the feed's a ledgerbridge_feed folder."""
    from ledgerbridge import demo
    from ledgerbridge.registry import LegalEntity
    from ledgerbridge.sandbox.syspro import DEFAULT_COMPANY, DEFAULT_OPERATOR, DEFAULT_PASSWORD
    from ledgerbridge.sources.feed import FeedSource
    from ledgerbridge_airflow.hooks.connections import connection_settings, source_for

    def entity(kind, conn_id):
        return LegalEntity.model_validate({"id": "acme", "name": "Acme", "base_currency": "USD",
                                           "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_acme"},
                                           "source": {"kind": kind, "conn_id": conn_id}})

    monkeypatch.setenv("LEDGERBRIDGE_DATA_DIR", str(tmp_path))
    erp, feed = entity("syspro", "syspro_acme"), entity("feed", "feed_acme")
    connections = {**demo.erp_connection(erp, "http://127.0.0.1:8767"), **demo.feed_connection(feed)}
    assert [c["conn_type"] for c in connections.values()] == ["ledgerbridge_syspro", "ledgerbridge_feed"]
    for conn_id, fields in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    conn = connection_settings("syspro_acme")
    assert (conn.host, conn.login, conn.password) == ("http://127.0.0.1:8767", DEFAULT_OPERATOR, DEFAULT_PASSWORD)
    assert conn.extra == {"company_id": DEFAULT_COMPANY, "company_password": ""}
    client = source_for(erp).client
    assert (client.base_url, client.operator, client.company_id) == ("http://127.0.0.1:8767", "ADMIN", "STARK")
    assert isinstance(source_for(feed), FeedSource)
    assert connection_settings("feed_acme").extra["local_root"].startswith(str(tmp_path.resolve()))
