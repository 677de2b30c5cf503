"""LedgerBridge's Airflow adapters: hooks (connections -> core clients) and the step operator.

Declared as an Airflow provider (pyproject entry point `apache_airflow_provider`) so that its
connection types appear in the UI's connection form. They come from the connector specs
(ledgerbridge.connectors.specs), a light import: every Airflow process reads the provider info.
"""
from ledgerbridge.connectors.specs import connection_types

__version__ = "0.1.0"

# How the Airflow UI's connection form shows each connection type. Airflow 3.3 reads this from the
# provider info (without importing hooks); the hooks' get_ui_field_behaviour() return the same.
UI_FIELDS = {declared.conn_type: declared.form.behaviour() for declared in connection_types()}


def get_provider_info() -> dict:
    return {
        "package-name": "ledgerbridge",
        "name": "LedgerBridge",
        "description": "Sync between AP/AR hubs and accounting systems, one legal entity at a time.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": declared.conn_type,
                "hook-class-name": declared.hook,
                "hook-name": declared.hook_name,
                "ui-field-behaviour": {"hidden-fields": list(declared.form.hidden_fields),
                                       "relabeling": dict(declared.form.relabeling),
                                       "placeholders": dict(declared.form.placeholders)},
            }
            for declared in connection_types()
        ],
    }
