"""LedgerBridge declares itself an Airflow provider: its connection types appear in the UI's form."""
from __future__ import annotations

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
