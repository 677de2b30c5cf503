"""An Airflow connection as the core's ConnectionSettings (the core never imports Airflow)."""
from __future__ import annotations

from airflow.sdk import BaseHook


def connection_settings(conn_id: str):
    from ledgerbridge.connectors.factory import ConnectionSettings

    conn = BaseHook.get_connection(conn_id)
    return ConnectionSettings(conn_id=conn_id, host=conn.host, login=conn.login, password=conn.password,
                              schema=conn.schema, extra=conn.extra_dejson, port=conn.port)
