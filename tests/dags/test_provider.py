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


def test_hooks_answer_the_same_form_as_the_provider_info():
    from ledgerbridge_airflow import UI_FIELDS
    from ledgerbridge_airflow.hooks.ledger import LedgerHook
    from ledgerbridge_airflow.hooks.qbo import QuickBooksOnlineHook

    assert QuickBooksOnlineHook.get_ui_field_behaviour() == UI_FIELDS["quickbooks_online"]
    assert LedgerHook.get_ui_field_behaviour() == UI_FIELDS["ledgerbridge_ledger"]


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
