"""An Airflow connection as the core's ConnectionSettings (the core never imports Airflow)."""
from __future__ import annotations

from airflow.sdk import BaseHook


def connection_settings(conn_id: str):
    from ledgerbridge.connectors.factory import ConnectionSettings

    conn = BaseHook.get_connection(conn_id)
    return ConnectionSettings(conn_id=conn_id, host=conn.host, login=conn.login, password=conn.password,
                              schema=conn.schema, extra=conn.extra_dejson, port=conn.port)


def connector_for(entity, ledger=None):
    """The entity's connector from its Airflow connection. A file drop on SFTP goes through the
    Airflow SFTP provider (FileDropHook), host key verified."""
    from ledgerbridge.connectors.factory import build_connector, file_drop
    from ledgerbridge.registry import FILE_DROP_KINDS

    settings = connection_settings(entity.accounting.conn_id)
    if entity.accounting.kind in FILE_DROP_KINDS and not settings.extra.get("local_root"):
        from ledgerbridge_airflow.hooks.sftp_drop import FileDropHook

        return file_drop(entity, settings, open_fs=FileDropHook(entity.accounting.conn_id).get_conn)
    return build_connector(entity, settings, ledger)


def source_for(entity):
    """The entity's source (registry `source:`) from its Airflow connection."""
    from ledgerbridge.sources.factory import build_source

    return build_source(entity, connection_settings(entity.source.conn_id))
