"""The ledger database, from the `ledgerbridge_ledger` connection or, without one, LEDGERBRIDGE_DB_URL."""
from __future__ import annotations

import logging
import os

from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSecretsBackendAccessDenied

from ledgerbridge_airflow.hooks.base import LedgerBridgeHook

log = logging.getLogger(__name__)
CALLBACK_ACCESS = (
    "Airflow's Execution API refuses connections to callbacks (a deadline callback's workload token, Airflow "
    "3.3.2): define this connection as an AIRFLOW_CONN_ environment variable or in a secrets backend on the "
    "machines that run callbacks (docs/alerts.md)")


class ConnectionRefusedToCallback(RuntimeError):
    """A connection the Execution API will not give to this process (a callback, not a task)."""


class LedgerHook(LedgerBridgeHook):
    conn_name_attr = "ledger_conn_id"
    default_conn_name = "ledgerbridge_ledger"
    conn_type = "ledgerbridge_ledger"

    def __init__(self, ledger_conn_id: str = default_conn_name):
        super().__init__()
        self.ledger_conn_id = ledger_conn_id

    def url(self):
        """The connection's PostgreSQL URL, or None to use the environment's default."""
        try:
            conn = self.get_connection(self.ledger_conn_id)
        except AirflowNotFoundException:
            return None
        except AirflowSecretsBackendAccessDenied as exc:
            if os.environ.get("LEDGERBRIDGE_DB_URL"):  # the deployment's other way to name the ledger
                log.warning("connection %r refused (%s); using LEDGERBRIDGE_DB_URL", self.ledger_conn_id, exc)
                return None
            raise ConnectionRefusedToCallback(f"connection {self.ledger_conn_id!r} refused: {CALLBACK_ACCESS}") from exc
        if not conn.host:
            return None
        from sqlalchemy.engine import URL

        # URL.create escapes what a password may contain ("@", "#", "/"), so none of it leaks into the host.
        return URL.create("postgresql+psycopg2", username=conn.login or None, password=conn.password or None,
                          host=conn.host, port=conn.port or None, database=conn.schema or "ledgerbridge")

    def get_conn(self):
        from ledgerbridge.ledger import Ledger

        return Ledger(self.url())

    def check(self) -> tuple[bool, str]:
        from ledgerbridge import settings
        from ledgerbridge.connection_checks import ledger_schema

        return ledger_schema(self.url() or settings.ledger_url())
