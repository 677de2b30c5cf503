"""The steps of a legal entity's sync, in run order, and the ledgerbridge.flows module defining each.

Kept free of imports: the DAG file reads it at parse time.
"""

STEPS = (
    ("pull_source", "source"),
    ("pull_reference", "reference"),
    ("check_reference", "checks"),
    ("match_parties", "parties"),
    ("prepare_exports", "exports"),
    ("export_documents", "exports"),
    ("export_payments", "exports"),
    ("collect_confirmations", "confirmations"),
    ("write_back", "confirmations"),
    ("reconcile", "reconcile"),
)
STEP_NAMES = tuple(name for name, _ in STEPS)

# Steps that need the entity's connector: to talk to the accounting system, or (prepare_exports) to
# shape the payloads it will receive. The others only read and write the ledger.
CONNECTED_STEPS = frozenset({
    "pull_reference", "match_parties", "prepare_exports", "export_documents", "export_payments",
    "collect_confirmations", "reconcile",
})

# Steps that read from or write back to the entity's source (registry `source:`), when it has one.
SOURCE_STEPS = frozenset({"pull_source", "write_back"})


def connector_pool(kind: str) -> str:
    """The Airflow pool of the connected steps of every entity using connector `kind`."""
    return f"ledgerbridge_{kind}"
