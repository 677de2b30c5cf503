"""What the Test button of each LedgerBridge connection checks (the Airflow UI, `airflow connections
test`): the ledger's schema, a QuickBooks Online company, a Xero organisation, a file drop or a hub
feed, a SYSPRO company. Each answers in words a person can act on; a failure to reach the system at
all is raised, for the hook to report.
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


def xero_organisation(client) -> tuple[bool, str]:
    """Refreshes the tokens if needed (the rotated refresh token is stored as the tasks store it), finds
    the connection's tenant among those the grant reaches (GET /connections), and reads its Organisation.
    A tenant the grant does not reach is named, with the ones it does."""
    tenants = client.connections()
    if client.tenant_id not in {tenant.get("tenantId") for tenant in tenants}:
        reached = ", ".join(f"{t.get('tenantName')!r} ({t.get('tenantId')})" for t in tenants[:MAX_ENTITIES_SHOWN])
        more = f" and {len(tenants) - MAX_ENTITIES_SHOWN} more" if len(tenants) > MAX_ENTITIES_SHOWN else ""
        return False, (f"Xero tenant {client.tenant_id} is not connected to this app at {client.base_url}: the grant "
                       f"reaches {reached + more if tenants else 'no tenant'}; connect the organisation to the app "
                       "(then put the new refresh token in the connection) or correct the connection's Tenant ID")
    organisation = (client.get("Organisation").get("Organisations") or [{}])[0]
    return True, (f"Xero organisation {organisation.get('Name')!r} (tenant {client.tenant_id}, short code "
                  f"{organisation.get('ShortCode')}, base currency {organisation.get('BaseCurrency')}, country "
                  f"{organisation.get('CountryCode')}) at {client.base_url}")


def file_drop(fs, marker: str | None = None) -> str:
    """Lists the drop's root, writes a probe file there the protocol's way (`.part`, renamed, read back)
    and removes it; names the entity directories found (those holding `marker`: to_accounting/ for an
    accounting drop, inbound/ for a hub feed). Raises what the drop answered otherwise."""
    from ledgerbridge.filedrop.fs import join
    from ledgerbridge.filedrop.protocol import ENTITY_ID, PART_SUFFIX, TO_ACCOUNTING

    marker = marker or TO_ACCOUNTING

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
    entities = [name for name in names if ENTITY_ID.fullmatch(name) and fs.exists(join(name, marker))]
    found = (", ".join(entities[:MAX_ENTITIES_SHOWN]) + (f" and {len(entities) - MAX_ENTITIES_SHOWN} more"
                                                         if len(entities) > MAX_ENTITIES_SHOWN else "")
             if entities else "none yet (an entity's first run creates its directory)")
    return f"readable and writable (a probe file written, renamed, read back and removed); entity directories: {found}"


def syspro_company(client) -> tuple[bool, str]:
    """Logs on to SYSPRO (e.net REST), reads one customer (OData `$top=1`, with the count) and logs off.
    A refused logon answers SYSPRO's own reason (wrong password, unknown operator or company); an
    unreachable server or a refused read says so. Never quotes a password (the client scrubs them)."""
    from ledgerbridge.sources.syspro.errors import SysproError, SysproLogonFailed, SysproUnavailable

    where = f"SYSPRO at {client.base_url}"
    who = f"operator {client.operator!r} in company {client.company_id!r}"
    try:
        try:
            client.logon()
        except SysproLogonFailed as exc:
            return False, (f"{where} refused the logon of {who}: {exc.syspro_message or exc}; check the operator, "
                           "its password, the company id and the company password")
        except SysproUnavailable as exc:
            if exc.status is not None:  # it answered: busy (503) or something unusable
                return False, f"{where} answered the logon of {who} with no session: {exc}"
            return False, (f"{where} could not be reached: {_unreachable(str(exc))}; check the base URL "
                           "(host, port, scheme)")
        try:
            rows, count = client.first_page("Customers", top=1)
        except SysproError as exc:
            return False, f"{where}: logged on as {who}, but reading Customers failed: {exc}"
    finally:
        client.close()
    if count is not None:
        readable = f"{count} customer{'s' if count != 1 else ''} readable"
    else:
        readable = "customers readable" if rows else "no customer readable"
    first = f" (first: {rows[0].get('Customer')})" if rows and rows[0].get("Customer") else ""
    return True, f"logged on to SYSPRO company {client.company_id} as {client.operator} at {client.base_url}; " \
                 f"{readable}{first}; logged off"


_CAUSES = (("Connection refused", "connection refused"), ("Name or service not known", "unknown host"),
           ("Temporary failure in name resolution", "unknown host"), ("timed out", "timed out"),
           ("Timeout", "timed out"))


def _unreachable(problem: str) -> str:
    """The cause of a failed connection in a few words; the transport's whole text (URL and all) otherwise."""
    return next((said for needle, said in _CAUSES if needle in problem), problem)
