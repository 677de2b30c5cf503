"""A desktop company behind its agent, reached through the file drop over a local folder, a real OpenSSH
sshd or the embedded SFTP server: what the file-drop integration tests share. The agent works on the served
directory, as it would beside the server."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledgerbridge.connectors.factory import ConnectionSettings, build_connector
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.filedrop.protocol import PROTOCOL_VERSION
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.pipeline import RunContext, RunParams, run_all
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.desktop.agent import DesktopAgent
from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo
from ledgerbridge.sandbox.sftp import serve_in_thread
from sshd import running_sshd

ENTITY = "acme_desk"
CONN_ID = "drop_acme_desk"


def desk_entity(flows: tuple[str, ...], **settings: Any) -> LegalEntity:
    """The desktop entity, running reference data, parties and `flows`."""
    return LegalEntity.model_validate({
        "id": ENTITY, "name": "Acme Desktop", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_desktop", "conn_id": CONN_ID},
        "flows": ["reference", "parties", *flows], **settings})


@contextmanager
def drop_transport(kind: str, tmp_path: Path, root: Path) -> Iterator[tuple]:
    """(host, port, login, password, connection extra) of a drop served from `root`: `local`, `sshd` or
    `embedded_sftp`."""
    if kind == "local":
        yield None, None, None, None, {"local_root": str(root)}
    elif kind == "sshd":
        with running_sshd(tmp_path / "sshd") as sshd:
            yield sshd.host, sshd.port, sshd.user, None, {"key_file": str(sshd.client_key), "root": str(root),
                                                          "host_key": sshd.host_key_line}
    else:
        server = serve_in_thread(root, users={"agent": "drop-secret"}, host_key_path=tmp_path / "host_key")
        try:
            yield server.host, server.port, "agent", "drop-secret", {"root": "/", "host_key": server.host_key_line}
        finally:
            server.stop()


@contextmanager
def desktop_drop(kind: str, tmp_path: Path, protocol_version: int | None = None, *, ledger=None,
                 entity: LegalEntity | None = None, hub: dict | None = None, company: DesktopCompany | None = None,
                 agent_version: int = PROTOCOL_VERSION
                 ) -> Iterator[tuple[DesktopAgent, LocalFileSystem, ConnectionSettings, Path]]:
    """(agent, the drop's folder as the agent sees it, our connection, the folder) of a demo desktop company (or
    `company`) behind its agent speaking `agent_version`; `protocol_version`: what the connection declares the
    agent speaks (None: not said). With `hub`: the agent has published its lists, and `hub` is in the ledger for
    `entity`."""
    root = tmp_path / "drop"
    root.mkdir()
    agent = DesktopAgent(company or seed_demo(DesktopCompany(company_id=f"QBD-{ENTITY}", entity_id=ENTITY)),
                         state_file=tmp_path / "qbd.json", protocol_version=agent_version)
    extra: dict[str, Any] = {"company_id": f"QBD-{ENTITY}"}
    if protocol_version is not None:
        extra["protocol_version"] = protocol_version
    with drop_transport(kind, tmp_path, root) as (host, port, login, password, transport_extra):
        conn = ConnectionSettings(CONN_ID, host=host, port=port, login=login, password=password,
                                  extra={**extra, **transport_extra})
        fs = LocalFileSystem(root)
        if hub is not None:
            agent.publish_lists(fs, ENTITY, full=True)
            with ledger.session() as session:
                import_hub_data(session, entity, hub)
        yield agent, fs, conn, root


def run_desk(ledger, conn: ConnectionSettings, entity: LegalEntity) -> dict:
    """One whole run of the entity's DAG steps through `conn`."""
    return run_all(RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                              params=RunParams.from_mapping({}), connect=lambda: build_connector(entity, conn, ledger),
                              log=logging.getLogger(f"ledgerbridge.test.{ENTITY}")))


def drop_files(root: Path, directory: str) -> list[str]:
    """The names of the files in the entity's `directory` of the drop."""
    return sorted(p.name for p in (root / ENTITY / directory).glob("*") if p.is_file())
