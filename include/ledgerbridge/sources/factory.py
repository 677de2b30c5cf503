"""Building an entity's source from its connection settings (an Airflow Connection, or the CLI's)."""
from __future__ import annotations

from ledgerbridge.connectors.factory import ConnectionSettings, ConnectionSettingsError, drop_opener
from ledgerbridge.connectors.specs import source_spec
from ledgerbridge.filedrop.fs import join
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.base import SourceConnector
from ledgerbridge.sources.feed import DEFAULT_MAX_BYTES, FeedSource


def build_source(entity: LegalEntity, conn: ConnectionSettings, **options) -> SourceConnector:
    """The entity's source, built by the factory of its kind's spec (connectors/specs.py: SOURCE_SPECS);
    `options` go to that factory (the feed's `open_fs`)."""
    if entity.source is None:
        raise ConnectionSettingsError(f"legal entity {entity.id!r} has no source in the registry")
    return source_spec(entity.source.kind).build(entity, conn, **options)


def feed(entity: LegalEntity, conn: ConnectionSettings, open_fs=None) -> FeedSource:
    """The entity's feed, read the way a file drop's connection is (`connectors.factory.drop_opener`): a
    local folder (extra `local_root`, e.g. a mounted share), or an SFTP server (host, port, login,
    password or extra `private_key` / `key_file`, extra `host_key` or `known_hosts`, extra `root`: the
    folder holding one directory per entity). Extra `max_bytes` caps one file (64 MiB by default).
    `open_fs` replaces the transport."""
    extra = conn.extra
    if open_fs is not None:
        where = f"connection {conn.conn_id}"
    elif extra.get("local_root"):
        where = f"folder {extra['local_root'].rstrip('/')}/{entity.id}"
    else:
        where = f"sftp://{conn.login}@{conn.host}:{conn.port or 22}{join('/', extra.get('root', ''), entity.id)}"
    # The one reading of a drop connection, the file drop's: folder or SFTP, host key always verified.
    open_fs = open_fs or drop_opener(conn)
    try:
        max_bytes = int(extra.get("max_bytes") or DEFAULT_MAX_BYTES)
    except (TypeError, ValueError):
        raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra 'max_bytes' must be a whole number, "
                                      f"not {extra.get('max_bytes')!r}") from None
    if max_bytes < 1:
        raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra 'max_bytes' must be at least 1")
    return FeedSource(open_fs, entity.id, max_bytes=max_bytes, where=where)


def syspro(entity: LegalEntity, conn: ConnectionSettings) -> SourceConnector:
    """The entity's SYSPRO, reached through the connection (`syspro_client`)."""
    from ledgerbridge.sources.syspro.connector import SysproSource

    client = syspro_client(conn)
    where = f"{client.base_url} company {client.company_id}"
    return SysproSource(client, entity.id, entity.source, where=where, identity=f"SYSPRO {where}")


def syspro_client(conn: ConnectionSettings, **options):
    """The one reading of a SYSPRO connection (the source's tasks, SysproHook and its Test button): host
    (the e.net REST base URL, or a host name with port and extra `scheme`, https by default), login and
    password (the operator's), extra `company_id` and `company_password`, extra `timeout` (seconds, 30).
    `options` go to SysproClient (e.g. `read_retries`)."""
    from ledgerbridge.sources.syspro.client import SysproClient

    extra = conn.extra
    if not conn.host or not conn.login or not extra.get("company_id"):
        raise ConnectionSettingsError(f"connection {conn.conn_id!r}: a SYSPRO source needs host, login (the "
                                      "operator), password and extra 'company_id'")
    base_url = conn.host if "://" in conn.host else \
        f"{extra.get('scheme', 'https')}://{conn.host}{f':{conn.port}' if conn.port else ''}"
    try:
        timeout = float(extra.get("timeout") or 30)
    except (TypeError, ValueError):
        raise ConnectionSettingsError(f"connection {conn.conn_id!r}: extra 'timeout' must be a number of seconds, "
                                      f"not {extra.get('timeout')!r}") from None
    return SysproClient(base_url.rstrip("/"), conn.login, conn.password or "", str(extra["company_id"]),
                        str(extra.get("company_password") or ""), timeout=timeout, **options)
