"""LedgerBridge's Airflow adapters: hooks (connections -> core clients) and the step operator.

Declared as an Airflow provider (pyproject entry point `apache_airflow_provider`) so that its
connection types appear in the UI's connection form.
"""

__version__ = "0.1.0"

# How the Airflow UI's connection form shows each connection type. Airflow 3.3 reads this from the
# provider info (without importing hooks); the hooks' get_ui_field_behaviour() return the same.
UI_FIELDS = {
    "quickbooks_online": {
        "hidden_fields": ["port"],
        "relabeling": {"host": "API base URL", "schema": "Realm ID", "login": "Client ID",
                       "password": "Client Secret"},
        "placeholders": {
            "host": "https://quickbooks.api.intuit.com",
            "schema": "the company's realmId, e.g. 9130354564453",
            "extra": '{"refresh_token": "...", "token_url": "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"}',
        },
    },
    "ledgerbridge_ledger": {
        "hidden_fields": ["extra"],
        "relabeling": {"schema": "Database", "host": "Host (empty: SQLite file in the data dir)"},
        "placeholders": {},
    },
}
HOOK_NAMES = {"quickbooks_online": "QuickBooks Online", "ledgerbridge_ledger": "LedgerBridge ledger"}


def _declared(conn_type: str) -> dict:
    fields = UI_FIELDS[conn_type]
    return {"hidden-fields": fields["hidden_fields"], "relabeling": fields["relabeling"],
            "placeholders": fields["placeholders"]}


def get_provider_info() -> dict:
    return {
        "package-name": "ledgerbridge",
        "name": "LedgerBridge",
        "description": "Sync between AP/AR hubs and accounting systems, one legal entity at a time.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "quickbooks_online",
                "hook-class-name": "ledgerbridge_airflow.hooks.qbo.QuickBooksOnlineHook",
                "hook-name": HOOK_NAMES["quickbooks_online"],
                "ui-field-behaviour": _declared("quickbooks_online"),
            },
            {
                "connection-type": "ledgerbridge_ledger",
                "hook-class-name": "ledgerbridge_airflow.hooks.ledger.LedgerHook",
                "hook-name": HOOK_NAMES["ledgerbridge_ledger"],
                "ui-field-behaviour": _declared("ledgerbridge_ledger"),
            },
        ],
    }
