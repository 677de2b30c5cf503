"""A desktop entity's sync through the file drop, against the QuickBooks Desktop agent sandbox: bills
and payments leave as files, confirmations settle every outbox row, external ids are written back,
lists come in; a run with nothing new writes nothing. Over a local folder, a real OpenSSH sshd and
the embedded SFTP server; the agent works on the served directory, as it would beside the server."""
from __future__ import annotations

import base64
import logging
from dataclasses import replace
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledgerbridge.connectors.factory import ConnectionSettings, build_connector
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import (
    Document,
    OutboxEntry,
    OutboxState,
    Payment,
    QuarantineEntry,
    ReferenceRecord,
)
from ledgerbridge.pipeline import RunContext, RunParams, run_all
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.desktop.agent import DesktopAgent
from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo
from ledgerbridge.sandbox.sftp import serve_in_thread
from sshd import running_sshd
from support import bill

ENTITY = "acme_desk"


def _entity() -> LegalEntity:
    return LegalEntity.model_validate({
        "id": ENTITY, "name": "Acme Desktop", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_acme_desk"},
        "flows": ["reference", "parties", "bills", "bill_payments"],
    })


@pytest.fixture(params=["local", "sshd", "embedded_sftp"])
def drop(request, tmp_path: Path):
    root = tmp_path / "drop"
    root.mkdir()
    company = seed_demo(DesktopCompany(company_id=f"QBD-{ENTITY}", entity_id=ENTITY))
    agent = DesktopAgent(company, state_file=tmp_path / "qbd.json")
    extra = {"company_id": f"QBD-{ENTITY}"}
    with _transport(request.param, tmp_path, root) as (host, port, login, password, transport_extra):
        conn = ConnectionSettings("drop_acme_desk", host=host, port=port, login=login, password=password,
                                  extra={**extra, **transport_extra})
        yield agent, LocalFileSystem(root), conn, root


@contextmanager
def _transport(kind: str, tmp_path: Path, root: Path):
    if kind == "local":
        yield None, None, None, None, {"local_root": str(root)}
    elif kind == "sshd":
        (tmp_path / "sshd").mkdir()
        with running_sshd(tmp_path / "sshd") as sshd:
            yield sshd.host, sshd.port, sshd.user, None, {"key_file": str(sshd.client_key), "root": str(root),
                                                          "host_key": sshd.host_key_line}
    else:
        server = serve_in_thread(root, users={"agent": "drop-secret"}, host_key_path=tmp_path / "host_key")
        try:
            yield server.host, server.port, "agent", "drop-secret", {"root": "/", "host_key": server.host_key_line}
        finally:
            server.stop()


def _run(ledger, conn) -> dict:
    entity = _entity()
    return run_all(RunContext(entity=entity, ledger=ledger, run_id=f"test__{uuid.uuid4().hex[:8]}",
                              params=RunParams.from_mapping({}), connect=lambda: build_connector(entity, conn, ledger),
                              log=logging.getLogger(f"ledgerbridge.test.{ENTITY}")))


def _files(root: Path, directory: str) -> list[str]:
    return sorted(p.name for p in (root / ENTITY / directory).glob("*") if p.is_file())


def test_bills_and_payments_round_trip_through_the_agent(ledger, drop):
    agent, fs, conn, root = drop
    agent.publish_lists(fs, ENTITY, full=True)
    with ledger.session() as session:
        import_hub_data(session, _entity(), {
            "vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}, {"hub_id": "V-2", "name": "Dunder Mifflin Paper"}],
            "bills": [bill("B-1", "V-1", "1200.00", account="6030"), bill("B-2", "V-2", "80.00", account="Office Supplies"),
                      bill("B-3", "V-1", "5.00", account="9999")],
            "bill_payments": [{"hub_id": "P-1", "vendor": "V-1", "payment_date": "2026-11-20", "amount": "500.00",
                               "bank_account": "1000", "applied": {"B-1": "500.00"}}],
        })

    first = _run(ledger, conn)

    assert first["pull_reference"]["vendor"]["received"] == 2 and first["pull_reference"]["account"]["received"] >= 7
    assert first["export_documents"]["awaiting"] == 2  # two bills handed over in one file
    assert _files(root, "to_accounting/bills") and not _files(root, "to_accounting/payments")  # P-1 waits for B-1
    assert _files(root, "from_accounting/lists") == []  # imported, then moved to processed/

    agent.process(fs, ENTITY)
    second = _run(ledger, conn)
    assert second["export_documents"]["confirmed"] == 2  # settled from the agent's confirmation
    assert second["export_payments"]["awaiting"] == 1
    agent.process(fs, ENTITY)
    third = _run(ledger, conn)
    assert third["export_payments"]["confirmed"] == 1  # settled from its confirmation before anything is sent

    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry)).all()
        assert Counter(r.state for r in rows) == {OutboxState.CONFIRMED: 3}
        txn_ids = {r.record_key: r.external_id for r in rows}
        bills = {d.hub_id: d.external_id for d in session.scalars(select(Document))}
        payment = session.scalars(select(Payment)).one()
        held = [q.record_key for q in session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open"))]
        vendors = session.scalars(select(ReferenceRecord).where(ReferenceRecord.kind == "vendor")).all()
    books = {b["bill_number"]: b for b in agent.company.transactions["bill"].values()}
    assert {number: b["txn_id"] for number, b in books.items()} == {"B-1": bills["B-1"], "B-2": bills["B-2"]}
    assert txn_ids["bill:B-1"] == bills["B-1"] and payment.external_id == txn_ids["bill_payment:P-1"]
    assert held == ["B-3"]  # account 9999 is not in the company file
    assert len(vendors) == 2

    written = _files(root, "processed")
    fourth = _run(ledger, conn)
    agent.process(fs, ENTITY)
    assert fourth["export_documents"]["sent"] == 0 and fourth["export_payments"]["sent"] == 0
    assert _files(root, "to_accounting/bills") == [] and _files(root, "processed") == written
    assert len(agent.company.transactions["bill"]) == 2


def test_a_file_the_agent_refuses_rejects_its_records_with_the_reason(ledger, drop):
    agent, fs, conn, _ = drop
    agent.company.closing_date = date(2026, 12, 31)  # the whole of November is closed
    agent.publish_lists(fs, ENTITY, full=True)
    with ledger.session() as session:
        import_hub_data(session, _entity(), {"vendors": [{"hub_id": "V-1", "name": "Nick Brown"}],
                                             "bills": [bill("B-1", "V-1", "10.00", account="6030")]})
    _run(ledger, conn)
    agent.process(fs, ENTITY)

    report = _run(ledger, conn)

    assert report["export_documents"]["rejected"] == 1
    with ledger.session() as session:
        row = session.scalars(select(OutboxEntry)).one()
    assert row.state == OutboxState.REJECTED and "closed" in row.error and "txn_date" in row.error


def test_a_connection_dropped_mid_upload_loses_nothing_and_duplicates_nothing(ledger, tmp_path, monkeypatch):
    """The SFTP session dies halfway through the second file of an export: the half `.part` is never
    consumed, the rows of that file and the next are sent again later (same keys), and every bill
    exists once in the company file."""
    from ledgerbridge.connectors.filedrop import FileDropConnector
    from ledgerbridge.filedrop.sftp import SFTPFileSystem

    root = tmp_path / "drop"
    root.mkdir()
    server = serve_in_thread(root, users={"agent": "drop-secret"}, host_key_path=tmp_path / "host_key")
    agent = DesktopAgent(seed_demo(DesktopCompany(company_id=f"QBD-{ENTITY}", entity_id=ENTITY)),
                         state_file=tmp_path / "qbd.json")
    conn = ConnectionSettings("drop_acme_desk", host=server.host, port=server.port, login="agent",
                              password="drop-secret", extra={"company_id": f"QBD-{ENTITY}", "root": "/",
                                                             "host_key": server.host_key_line})
    monkeypatch.setattr(FileDropConnector, "capabilities",  # 5 bills: files of 2, 2 and 1
                        replace(FileDropConnector.capabilities, batch_size=2))
    uploads = {"bills": 0}
    real_write = SFTPFileSystem.write_bytes

    def write_then_cut(self, path, data):
        if "to_accounting/bills/" in path:
            uploads["bills"] += 1
            if uploads["bills"] == 2:
                real_write(self, path, data[: len(data) // 2])
                server.drop_connections()
                raise ConnectionError(f"{path}: connection lost mid-upload")
        real_write(self, path, data)

    try:
        agent.publish_lists(LocalFileSystem(root), ENTITY, full=True)
        with ledger.session() as session:
            import_hub_data(session, _entity(), {"vendors": [{"hub_id": "V-1", "name": "Nick Brown"}],
                                                 "bills": [bill(f"B-{n}", "V-1", f"{n}.00", account="6030")
                                                           for n in range(1, 6)]})
        monkeypatch.setattr(SFTPFileSystem, "write_bytes", write_then_cut)
        first = _run(ledger, conn)
        assert first["export_documents"]["awaiting"] == 2 and first["export_documents"]["left_pending"] == 3
        assert len(list((root / ENTITY / "to_accounting" / "bills").glob("*.part"))) == 1
        for _ in range(3):
            agent.process(LocalFileSystem(root), ENTITY)
            _run(ledger, conn)
    finally:
        server.stop()

    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry)).all()
    assert Counter(r.state for r in rows) == {OutboxState.CONFIRMED: 5}
    books = Counter(b["bill_number"] for b in agent.company.transactions["bill"].values())
    assert books == {f"B-{n}": 1 for n in range(1, 6)}
    assert {r.external_id for r in rows} == {b["txn_id"] for b in agent.company.transactions["bill"].values()}
    # The half file was never taken for a message: it is still a `.part`, and nothing was rejected.
    assert len(list((root / ENTITY / "to_accounting" / "bills").glob("*.part"))) == 1
    assert not (root / ENTITY / "rejected").exists() or list((root / ENTITY / "rejected").iterdir()) == []


def test_a_lists_file_with_a_byte_order_mark_is_taken_and_the_log_says_so(ledger, drop, caplog):
    agent, fs, conn, root = drop
    agent.publish_lists(fs, ENTITY, full=True)
    [published] = (root / ENTITY / "from_accounting/lists").glob("*.json")
    published.write_bytes(b"\xef\xbb\xbf" + published.read_bytes())  # as a Windows editor saves it
    with caplog.at_level(logging.INFO, logger="ledgerbridge.connectors.filedrop"):
        _run(ledger, conn)
    with ledger.session() as session:  # the company's vendors came in from that file
        assert session.scalar(select(func.count(ReferenceRecord.id)).where(
            ReferenceRecord.entity_id == ENTITY, ReferenceRecord.kind == "vendor")) >= 2
    assert any("began with a UTF-8 byte-order mark" in message and published.name in message
               for message in caplog.messages), caplog.messages


SCAN = b"%PDF-1.4 scanned bill \x00\x01\x02"


def test_a_bill_goes_out_with_its_document_to_an_agent_speaking_version_2(ledger, drop):
    agent, fs, conn, root = drop
    conn = replace(conn, extra={**conn.extra, "protocol_version": 2})
    agent.publish_lists(fs, ENTITY, full=True)
    document = {"file_name": "brown-2025-017.pdf", "content_type": "application/pdf",
                "content_base64": base64.b64encode(SCAN).decode()}
    with ledger.session() as session:
        import_hub_data(session, _entity(), {"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
                                             "bills": [bill("B-1", "V-1", "40.00", attachments=[document])]})

    _run(ledger, conn)
    agent.process(fs, ENTITY)
    second = _run(ledger, conn)  # the bill confirmed, its document goes out
    assert second["export_documents"]["confirmed"] == 1
    assert second["export_documents"]["attachments"]["awaiting"] == 1
    [message] = _files(root, "to_accounting/attachments")
    [stored_bytes] = _files(root, "to_accounting/attachment_files")
    assert (root / ENTITY / "to_accounting/attachment_files" / stored_bytes).read_bytes() == SCAN

    agent.process(fs, ENTITY)
    third = _run(ledger, conn)
    assert third["export_documents"]["attachments"]["confirmed"] == 1
    with ledger.session() as session:
        bill_txn = session.scalar(select(Document.external_id).where(Document.hub_id == "B-1"))
        attachment_row = session.scalar(select(OutboxEntry).where(OutboxEntry.kind == "attachment"))
    [attached] = agent.company.attachments_of(bill_txn)
    assert (attached["content"], attached["file_name"], attached["content_type"]) == (
        SCAN, "brown-2025-017.pdf", "application/pdf")
    assert attachment_row.state == OutboxState.CONFIRMED and attachment_row.external_id == attached["attachment_id"]
    assert _files(root, "to_accounting/attachment_files") == []  # consumed with its message

    fourth = _run(ledger, conn)
    assert fourth["export_documents"]["attachments"]["sent"] == 0 and not _files(root, "to_accounting/attachments")


def test_an_agent_speaking_version_1_is_sent_no_attachments_and_the_log_says_they_are_kept(ledger, drop, caplog):
    agent, fs, conn, root = drop
    agent.publish_lists(fs, ENTITY, full=True)
    document = {"file_name": "brown.pdf", "content_type": "application/pdf",
                "content_base64": base64.b64encode(SCAN).decode()}
    with ledger.session() as session:
        import_hub_data(session, _entity(), {"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
                                             "bills": [bill("B-1", "V-1", "40.00", attachments=[document])]})
    _run(ledger, conn)
    agent.process(fs, ENTITY)
    with caplog.at_level(logging.INFO):
        second = _run(ledger, conn)
    assert second["export_documents"]["confirmed"] == 1
    assert second["export_documents"]["attachments"]["skipped"] == "the accounting connector takes no attachments"
    assert _files(root, "to_accounting/attachments") == []
    assert "1 file(s) kept in the ledger, not sent" in caplog.text
