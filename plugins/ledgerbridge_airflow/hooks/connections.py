"""An Airflow connection as the core's ConnectionSettings (the core never imports Airflow), and the
hooks of an entity's accounting and source connections, named by the specs of their kinds."""
from __future__ import annotations

from airflow.sdk import BaseHook


def connection_settings(conn_id: str):
    from ledgerbridge.connectors.factory import ConnectionSettings

    conn = BaseHook.get_connection(conn_id)
    return ConnectionSettings(conn_id=conn_id, host=conn.host, login=conn.login, password=conn.password,
                              schema=conn.schema, extra=conn.extra_dejson, port=conn.port)


def accounting_hook(entity):
    """The hook that builds the entity's connector (`accounting_hook(entity).connector(entity, ledger)`)."""
    from ledgerbridge.connectors.specs import accounting_spec

    return _hook(accounting_spec(entity.accounting.kind).connection.hook, entity.accounting.conn_id)


def source_hook(entity):
    """The hook that builds the entity's source (`source_hook(entity).source(entity)`), named by the spec
    of its kind; the connection itself may be of any type with the same fields (a feed's `generic`)."""
    from ledgerbridge.connectors.specs import source_spec

    return _hook(source_spec(entity.source.kind).connection.hook, entity.source.conn_id)


def source_for(entity):
    """The entity's source (registry `source:`) from its Airflow connection."""
    return source_hook(entity).source(entity)


def _hook(class_path: str, conn_id: str):
    from importlib import import_module

    module, _, name = class_path.rpartition(".")
    hook_class = getattr(import_module(module), name)
    return hook_class(**{hook_class.conn_name_attr: conn_id})
