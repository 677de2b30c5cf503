"""An Airflow connection as the core's ConnectionSettings (the core never imports Airflow), and the
hook of an entity's accounting connection, named by the spec of its kind."""
from __future__ import annotations

from airflow.sdk import BaseHook


def connection_settings(conn_id: str):
    from ledgerbridge.connectors.factory import ConnectionSettings

    conn = BaseHook.get_connection(conn_id)
    return ConnectionSettings(conn_id=conn_id, host=conn.host, login=conn.login, password=conn.password,
                              schema=conn.schema, extra=conn.extra_dejson, port=conn.port)


def accounting_hook(entity):
    """The hook that builds the entity's connector (`accounting_hook(entity).connector(entity, ledger)`)."""
    from importlib import import_module

    from ledgerbridge.connectors.specs import accounting_spec

    module, _, name = accounting_spec(entity.accounting.kind).connection.hook.rpartition(".")
    hook_class = getattr(import_module(module), name)
    return hook_class(**{hook_class.conn_name_attr: entity.accounting.conn_id})


def source_for(entity):
    """The entity's source (registry `source:`) from its Airflow connection (a drop-shaped one:
    folder or SFTP, read by the same parser as the file drop's)."""
    from ledgerbridge.sources.factory import build_source

    return build_source(entity, connection_settings(entity.source.conn_id))
