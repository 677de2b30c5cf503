"""The connector harnesses the contract suite runs against: one fixture param per harness.

To add a connector: write its harness (harness.py) and add one entry to HARNESSES below.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.ledger import Ledger, migrate

from harness import entry_files_harness, file_drop_harness, qbo_harness, xero_harness

SFTP_USER, SFTP_PASSWORD = "agent", "contract-drop-secret"


@pytest.fixture(scope="session")
def contract_ledger(tmp_path_factory):
    """One SQLite ledger for the session: the QuickBooks connector keeps its rotated tokens there,
    one row per company. The contract is about connectors, not the ledger's backends."""
    url = f"sqlite:///{tmp_path_factory.mktemp('contract-ledger') / 'ledger.db'}"
    migrate(url)
    ledger = Ledger(url)
    yield ledger
    ledger.dispose()


@pytest.fixture(scope="session")
def drop_root(tmp_path_factory):
    """The drop folder every file-drop harness shares (each has its own entity directory in it)."""
    return tmp_path_factory.mktemp("contract-drop")


@pytest.fixture(scope="session")
def sftp_server(drop_root, tmp_path_factory):
    """The embedded SFTP server serving the drop folder."""
    from ledgerbridge.sandbox.sftp import serve_in_thread

    server = serve_in_thread(drop_root, users={SFTP_USER: SFTP_PASSWORD},
                             host_key_path=tmp_path_factory.mktemp("contract-sftp") / "host_key")
    yield server
    server.stop()


@contextmanager
def _qbo(request):
    with qbo_harness(request.getfixturevalue("qbo_server"), request.getfixturevalue("contract_ledger")) as harness:
        yield harness


@contextmanager
def _xero(request):
    with xero_harness(request.getfixturevalue("xero_server"), request.getfixturevalue("contract_ledger")) as harness:
        yield harness


@contextmanager
def _file_drop_local(request):
    root = request.getfixturevalue("drop_root")

    def transport(company_id: str) -> ConnectionSettings:
        return ConnectionSettings("drop_local", extra={"company_id": company_id, "local_root": str(root),
                                                         "protocol_version": 7})  # the newest: every kind, booked rates

    with file_drop_harness(root, request.getfixturevalue("tmp_path"), transport) as harness:
        yield harness


@contextmanager
def _file_drop_sftp(request):
    root, server = request.getfixturevalue("drop_root"), request.getfixturevalue("sftp_server")

    def transport(company_id: str) -> ConnectionSettings:
        return ConnectionSettings("drop_sftp", host=server.host, port=server.port, login=SFTP_USER,
                                  password=SFTP_PASSWORD,
                                  extra={"company_id": company_id, "root": "/", "host_key": server.host_key_line,
                                         "protocol_version": 7})  # the newest: every kind, booked rates

    with file_drop_harness(root, request.getfixturevalue("tmp_path"), transport) as harness:
        yield harness


@contextmanager
def _entry_files_local(request):
    root = request.getfixturevalue("drop_root")
    with entry_files_harness(root, lambda _: ConnectionSettings("files_local", extra={"local_root": str(root)})) \
            as harness:
        yield harness


@contextmanager
def _entry_files_sftp(request):
    root, server = request.getfixturevalue("drop_root"), request.getfixturevalue("sftp_server")

    def transport(_: str) -> ConnectionSettings:
        return ConnectionSettings("files_sftp", host=server.host, port=server.port, login=SFTP_USER,
                                  password=SFTP_PASSWORD, extra={"root": "/", "host_key": server.host_key_line})

    with entry_files_harness(root, transport) as harness:
        yield harness


# name -> how to build the harness (a context manager over the pytest request)
HARNESSES = {
    "quickbooks_online": _qbo,
    "xero": _xero,
    "file_drop_local": _file_drop_local,
    "file_drop_sftp": _file_drop_sftp,
    "entry_files_local": _entry_files_local,
    "entry_files_sftp": _entry_files_sftp,
}


# Defects the suite found, per (harness, test): the test runs and must fail (strict xfail) until fixed.
# None open now.
KNOWN_DEFECTS: dict[tuple[str, str], str] = {}


@pytest.fixture(params=list(HARNESSES))
def harness(request):
    defect = KNOWN_DEFECTS.get((request.param, request.node.originalname))
    if defect:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=defect))
    with HARNESSES[request.param](request) as built:
        yield built
