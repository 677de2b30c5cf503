"""LedgerBridge's Airflow adapters: hooks (connections -> core clients) and the step operator.

Declared as an Airflow provider (pyproject entry point `apache_airflow_provider`) so that its
connection types appear in the UI's connection form.
"""

__version__ = "0.1.0"


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
            },
            {
                "connection-type": "ledgerbridge_ledger",
                "hook-class-name": "ledgerbridge_airflow.hooks.ledger.LedgerHook",
            },
        ],
    }
