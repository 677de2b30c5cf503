"""The steps of a legal entity's sync, in run order (ledgerbridge.pipeline.STEPS holds each one's function).

Kept free of imports: the DAG file reads it at parse time.
"""

STEP_NAMES = (
    "pull_source",
    "pull_reference",
    "check_reference",
    "match_parties",
    "prepare_exports",
    "export_documents",
    "export_payments",
    "collect_confirmations",
    "write_back",
    "reconcile",
    "fiscal_year_fec",
)

# Steps that need the entity's connector: to talk to the accounting system, or (prepare_exports) to
# shape the payloads it will receive. The others only read and write the ledger.
CONNECTED_STEPS = frozenset({
    "pull_reference", "match_parties", "prepare_exports", "export_documents", "export_payments",
    "collect_confirmations", "reconcile", "fiscal_year_fec",
})

# Steps that do something only for entities of these accounting kinds. Every entity's DAG keeps every step
# (a run's steps are the same for all, which the run's standing and the alerts count on); for another kind
# the task never connects, takes no slot of its connector's pool, and its step says it has nothing to do.
KIND_STEPS = {"fiscal_year_fec": frozenset({"entry_files"})}

# Steps that read from or write back to the entity's source (registry `source:`), when it has one.
SOURCE_STEPS = frozenset({"pull_source", "write_back"})


# The ledger's run id of a realtime DAG's run (registry `sync: realtime`) is Airflow's with this prefix:
# its scheduled runs would otherwise share ids with the entity's full runs (`scheduled__<date>`), and with
# them its steps' rows in sync_runs and its outbox sender; the entity's standing counts full runs only.
REALTIME_RUN_PREFIX = "realtime__"


def connects(step: str, kind: str) -> bool:
    """Whether `step` needs the connector of an entity of accounting kind `kind`."""
    return step in CONNECTED_STEPS and kind in KIND_STEPS.get(step, (kind,))


def connector_pool(kind: str) -> str:
    """The Airflow pool of the connected steps of every entity using connector `kind` (its spec's)."""
    from ledgerbridge.connectors.specs import accounting_spec

    return accounting_spec(kind).pool.name
