"""What the Test button of each LedgerBridge connection checks (the Airflow UI, `airflow connections
test`): the ledger's schema, a QuickBooks Online company, a file drop. Each answers in words a person
can act on; a failure to reach the system at all is raised, for the hook to report.
"""
from __future__ import annotations

import uuid
from pathlib import Path

PROBE_PREFIX = ".ledgerbridge-connection-test-"
PROBE_BYTES = b"LedgerBridge connection test: this file is removed at once\n"
MAX_ENTITIES_SHOWN = 10


def ledger_schema(url) -> tuple[bool, str]:
    """Connects, runs `SELECT 1`, and compares the schema's alembic revision with the code's head."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    from ledgerbridge.ledger.db import MIGRATIONS_DIR

    url = make_url(url)
    shown = url.render_as_string(hide_password=True)
    upgrade = "run `ledgerbridge db upgrade` with this database's URL in LEDGERBRIDGE_DB_URL"
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return False, f"ledger {shown}: no such database file; {upgrade} to create it"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = set(scripts.get_heads())
    head = ", ".join(sorted(heads))
    if current == heads:
        return True, f"ledger {shown}: connected; schema at revision {head} (head)"
    if not current:
        return False, f"ledger {shown}: connected, but it holds no LedgerBridge schema; {upgrade}"
    try:
        for revision in current:
            scripts.get_revision(revision)
    except CommandError:
        return False, (f"ledger {shown}: schema at revision {', '.join(sorted(current))}, which this LedgerBridge "
                       f"does not know (a newer version migrated it): run the same version everywhere")
    return False, (f"ledger {shown}: schema at revision {', '.join(sorted(current))}, behind this LedgerBridge's "
                   f"{head}; {upgrade}")


def quickbooks_company(client) -> str:
    """Reads the company's CompanyInfo (which takes a valid access token) and names the company."""
    info = client.read("CompanyInfo", client.realm_id)
    return f"QuickBooks Online company {info.get('CompanyName')!r} (realm {client.realm_id}) at {client.base_url}"


def file_drop(fs) -> str:
    """Lists the drop's root, writes a probe file there the protocol's way (`.part`, renamed, read back)
    and removes it; names the entity directories found. Raises what the drop answered otherwise."""
    from ledgerbridge.filedrop.fs import join
    from ledgerbridge.filedrop.protocol import ENTITY_ID, PART_SUFFIX, TO_ACCOUNTING

    names = fs.list("")
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:12]}"
    fs.write_bytes(probe + PART_SUFFIX, PROBE_BYTES)
    try:
        fs.rename(probe + PART_SUFFIX, probe)
        if fs.read_bytes(probe, len(PROBE_BYTES)) != PROBE_BYTES:
            raise OSError(f"{probe}: read back other bytes than were written")
    finally:
        for leftover in (probe + PART_SUFFIX, probe):
            if fs.exists(leftover):
                fs.remove(leftover)
    entities = [name for name in names if ENTITY_ID.fullmatch(name) and fs.exists(join(name, TO_ACCOUNTING))]
    found = (", ".join(entities[:MAX_ENTITIES_SHOWN]) + (f" and {len(entities) - MAX_ENTITIES_SHOWN} more"
                                                         if len(entities) > MAX_ENTITIES_SHOWN else "")
             if entities else "none yet (an entity's first run creates its directory)")
    return f"readable and writable (a probe file written, renamed, read back and removed); entity directories: {found}"
