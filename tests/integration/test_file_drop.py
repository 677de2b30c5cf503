"""A desktop entity's sync through the file drop, against the QuickBooks Desktop agent sandbox: bills
and payments leave as files, confirmations settle every outbox row, external ids are written back,
lists come in; a run with nothing new writes nothing. Over a local folder, a real OpenSSH sshd and
the embedded SFTP server; the agent works on the served directory, as it would beside the server."""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledgerbridge.connectors.factory import ConnectionSettings
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
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.desktop.agent import DesktopAgent
from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo
from ledgerbridge.sandbox.sftp import serve_in_thread
from desktop_drop import ENTITY, desk_entity, desktop_drop, run_desk
from desktop_drop import drop_files as _files
from support import bill



def _entity() -> LegalEntity:
    return desk_entity(("bills", "bill_payments"), quality={"allowed_currencies": ["EUR"]})


@pytest.fixture(params=["local", "sshd", "embedded_sftp"])
def drop(request, tmp_path: Path):
    with desktop_drop(request.param, tmp_path) as opened:
        yield opened


def _run(ledger, conn) -> dict:
    return run_desk(ledger, conn, _entity())


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


def _a_bill_with_a_document_confirmed(ledger, drop, conn, file_name: str) -> dict:
    """Bill B-1 with a scanned document, sent and confirmed by the agent: the report of the run that settles
    the bill (and may send the document)."""
    agent, fs, _, _ = drop
    agent.publish_lists(fs, ENTITY, full=True)
    document = {"file_name": file_name, "content_type": "application/pdf",
                "content_base64": base64.b64encode(SCAN).decode()}
    with ledger.session() as session:
        import_hub_data(session, _entity(), {"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
                                             "bills": [bill("B-1", "V-1", "40.00", attachments=[document])]})
    _run(ledger, conn)
    agent.process(fs, ENTITY)
    settled = _run(ledger, conn)
    assert settled["export_documents"]["confirmed"] == 1
    return settled


def test_a_bill_goes_out_with_its_document_to_an_agent_speaking_version_2(ledger, drop):
    agent, fs, conn, root = drop
    conn = replace(conn, extra={**conn.extra, "protocol_version": 2})
    second = _a_bill_with_a_document_confirmed(ledger, drop, conn, "brown-2025-017.pdf")  # its document goes out
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
    _, _, conn, root = drop
    with caplog.at_level(logging.INFO):
        second = _a_bill_with_a_document_confirmed(ledger, drop, conn, "brown.pdf")
    assert second["export_documents"]["attachments"]["skipped"] == "the accounting connector takes no attachments"
    assert _files(root, "to_accounting/attachments") == []
    assert "1 file(s) kept in the ledger, not sent" in caplog.text


# --- exchange rates (protocol version 3) --------------------------------------------------------------

EURO_VENDOR = "Lyon Papeterie"


def _euro_bills(ledger, drop, bills: list[dict]) -> None:
    """A vendor billing in EUR in the company file (whose own EUR rate is 1.1) and in the hub, one billing in
    USD (the home currency), and the bills."""
    agent, fs, _, _ = drop
    agent.company.add_list_entry("vendor", EURO_VENDOR, currency="EUR")
    agent.company.exchange_rates["EUR"] = Decimal("1.1")
    agent.publish_lists(fs, ENTITY, full=True)
    with ledger.session() as session:
        import_hub_data(session, _entity(), {"vendors": [{"hub_id": "V-EU", "name": EURO_VENDOR},
                                                         {"hub_id": "V-1", "name": "Brown, Nick"}], "bills": bills})


def _sent_records(root: Path) -> dict[str, tuple[int, dict]]:
    """bill number -> (the file's protocol_version, the record as the file holds it), of every bills file."""
    found = {}
    for directory in ("to_accounting/bills", "processed"):
        for path in (root / ENTITY / directory).glob("bills-*.json"):
            data = json.loads(path.read_text())
            found.update({r["bill_number"]: (data["protocol_version"], r) for r in data["records"]})
    return found


def _booked(agent) -> dict[str, dict]:
    return {b["bill_number"]: b for b in agent.company.transactions["bill"].values()}


def test_a_foreign_bill_goes_with_the_source_rate_and_the_agent_books_it_once(ledger, drop):
    agent, fs, conn, root = drop
    conn = replace(conn, extra={**conn.extra, "protocol_version": 3})
    _euro_bills(ledger, drop, [bill("B-RATE", "V-EU", "123.45", account="6030", currency="EUR", exchange_rate="1.0856"),
                               bill("B-OWN", "V-EU", "50.00", account="6030", currency="EUR")])

    first = _run(ledger, conn)
    assert first["export_documents"]["awaiting"] == 2
    sent = _sent_records(root)
    assert sent["B-RATE"][0] == 3 and sent["B-RATE"][1]["exchange_rate"] == "1.0856"  # the exact string
    assert "exchange_rate" not in sent["B-OWN"][1]  # no rate from the source: the company applies its own

    agent.process(fs, ENTITY)
    second = _run(ledger, conn)
    assert second["export_documents"]["confirmed"] == 2
    books = _booked(agent)
    assert (books["B-RATE"]["exchange_rate"], books["B-RATE"]["home_total"]) == (Decimal("1.0856"), Decimal("134.02"))
    assert (books["B-OWN"]["exchange_rate"], books["B-OWN"]["home_total"]) == (Decimal("1.1"), Decimal("55.00"))
    with ledger.session() as session:
        documents = {d.hub_id: d for d in session.scalars(select(Document))}
    assert (documents["B-RATE"].exchange_rate, documents["B-RATE"].home_total) == (Decimal("1.0856"), Decimal("134.02"))
    assert documents["B-RATE"].external_id == books["B-RATE"]["txn_id"]
    # Version 3's confirmations carry ids only: the company's rate is not reported back (version 5's are).
    assert documents["B-OWN"].exchange_rate is None

    # Exactly once: a run with nothing new sends nothing, and the agent reading the bills file again (a crash
    # before its move to processed/) answers "duplicate" and books nothing more.
    third = _run(ledger, conn)
    assert third["export_documents"]["sent"] == 0
    [consumed] = (root / ENTITY / "processed").glob("bills-*.json")
    (root / ENTITY / "to_accounting/bills" / consumed.name).write_bytes(consumed.read_bytes())
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    assert Counter(b["bill_number"] for b in agent.company.transactions["bill"].values()) == {"B-RATE": 1, "B-OWN": 1}
    with ledger.session() as session:
        assert Counter(r.state for r in session.scalars(select(OutboxEntry))) == {OutboxState.CONFIRMED: 2}


def test_a_source_rate_for_an_older_agent_is_held_with_the_reason_until_the_connection_says_3(ledger, drop):
    agent, fs, conn, root = drop  # the connection does not say: protocol version 1
    _euro_bills(ledger, drop, [bill("B-RATE", "V-EU", "123.45", account="6030", currency="EUR", exchange_rate="1.0856"),
                               bill("B-OWN", "V-EU", "50.00", account="6030", currency="EUR")])

    first = _run(ledger, conn)
    assert first["prepare_exports"]["quarantined"] == 1 and first["export_documents"]["awaiting"] == 1
    sent = _sent_records(root)
    assert set(sent) == {"B-OWN"} and sent["B-OWN"][0] == 1  # what a version-1 agent reads, as before
    with ledger.session() as session:
        [held] = session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open")).all()
    reason = json.dumps(held.reasons)
    assert held.record_key == "B-RATE" and "exchange_rate 1.0856 (USD per 1 EUR) cannot go with it" in reason
    assert "speaks file-drop protocol version 1" in reason and "protocol_version to 3" in reason

    agent.process(fs, ENTITY)  # the agent is upgraded; the operator says so in the connection
    conn = replace(conn, extra={**conn.extra, "protocol_version": 3})
    second = _run(ledger, conn)
    assert second["prepare_exports"]["released_from_quarantine"] == 1
    assert _sent_records(root)["B-RATE"] == (3, _sent_records(root)["B-RATE"][1])
    assert _sent_records(root)["B-RATE"][1]["exchange_rate"] == "1.0856"
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    books = _booked(agent)
    assert (books["B-RATE"]["exchange_rate"], books["B-OWN"]["exchange_rate"]) == (Decimal("1.0856"), Decimal("1.1"))
    with ledger.session() as session:
        assert Counter(r.state for r in session.scalars(select(OutboxEntry))) == {OutboxState.CONFIRMED: 2}
        assert session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open")).all() == []


def test_a_foreign_payment_with_a_source_rate_is_held_as_no_protocol_version_carries_it(ledger, drop):
    agent, fs, conn, root = drop
    conn = replace(conn, extra={**conn.extra, "protocol_version": 3})
    _euro_bills(ledger, drop, [bill("B-RATE", "V-EU", "100.00", account="6030", currency="EUR"),
                               bill("B-OWN", "V-EU", "50.00", account="6030", currency="EUR")])
    with ledger.session() as session:
        import_hub_data(session, _entity(), {"bill_payments": [
            {"hub_id": "P-RATE", "vendor": "V-EU", "payment_date": "2026-11-20", "amount": "100.00",
             "currency": "EUR", "exchange_rate": "1.0921", "bank_account": "1000", "applied": {"B-RATE": "100.00"}},
            {"hub_id": "P-OWN", "vendor": "V-EU", "payment_date": "2026-11-20", "amount": "50.00",
             "currency": "EUR", "bank_account": "1000", "applied": {"B-OWN": "50.00"}}]})
    _run(ledger, conn)
    agent.process(fs, ENTITY)

    second = _run(ledger, conn)

    assert second["export_documents"]["confirmed"] == 2 and second["export_payments"]["awaiting"] == 1
    sent = [r for path in _files(root, "to_accounting/payments")
            for r in json.loads((root / ENTITY / "to_accounting/payments" / path).read_text())["records"]]
    assert [r.get("exchange_rate") for r in sent] == [None]  # P-OWN, which the company books at its own rate
    with ledger.session() as session:
        [held] = session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open")).all()
        kept = session.scalar(select(Payment.exchange_rate).where(Payment.hub_id == "P-RATE"))
    reason = json.dumps(held.reasons)
    assert held.record_key == "P-RATE" and kept == Decimal("1.0921")
    assert "exchange_rate 1.0921 (USD per 1 EUR) cannot go with it" in reason
    assert "carries no exchange rate on a payment (no version does)" in reason


# --- the rate the company booked, reported back (protocol version 5) ------------------------------------

def _documents(ledger) -> dict[str, Document]:
    with ledger.session() as session:
        return {d.hub_id: d for d in session.scalars(select(Document))}


def _rates(ledger) -> dict[str, tuple]:
    return {hub_id: (d.exchange_rate, d.home_total) for hub_id, d in _documents(ledger).items()}


RATED_BILLS = [bill("B-RATE", "V-EU", "123.45", account="6030", currency="EUR", exchange_rate="1.0856"),
               bill("B-OWN", "V-EU", "50.00", account="6030", currency="EUR"),
               bill("B-USD", "V-1", "80.00", account="6030")]


def test_an_agent_speaking_version_5_reports_the_rate_it_booked_and_the_ledger_keeps_it(ledger, drop, caplog):
    agent, fs, conn, root = drop
    conn = replace(conn, extra={**conn.extra, "protocol_version": 5})
    _euro_bills(ledger, drop, RATED_BILLS)

    first = _run(ledger, conn)
    assert first["export_documents"]["awaiting"] == 3
    assert {version for version, _ in _sent_records(root).values()} == {5}  # asking for the booked rate
    agent.process(fs, ENTITY)
    with caplog.at_level(logging.INFO, logger=f"ledgerbridge.test.{ENTITY}"):
        second = _run(ledger, conn)

    assert second["export_documents"]["confirmed"] == 3
    assert _rates(ledger) == {
        "B-OWN": (Decimal("1.1"), Decimal("55.00")),  # no rate from the source: the company's own, reported back
        "B-RATE": (Decimal("1.0856"), Decimal("134.02")),  # the source's, kept
        "B-USD": (None, None),  # the home currency: nothing to keep
    }
    assert "bill B-OWN (50.00 EUR) was booked at the accounting system's rate 1.1 USD per 1 EUR: 55.00 USD" in \
        caplog.text, caplog.text
    assert not [r for r in caplog.records if "booked it at" in r.getMessage()]  # B-RATE: booked at the rate sent
    books = _booked(agent)
    assert {number: (b.get("exchange_rate"), b.get("home_total")) for number, b in books.items()} == _rates(ledger)

    # Exactly once: a run with nothing new sends nothing; the agent reading the bills file again (a crash before
    # its move to processed/) answers "duplicate" with the same rates, books nothing more and changes nothing.
    third = _run(ledger, conn)
    assert third["export_documents"]["sent"] == 0
    [consumed] = (root / ENTITY / "processed").glob("bills-*.json")
    (root / ENTITY / "to_accounting/bills" / consumed.name).write_bytes(consumed.read_bytes())
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    assert Counter(b["bill_number"] for b in agent.company.transactions["bill"].values()) == {
        "B-RATE": 1, "B-OWN": 1, "B-USD": 1}
    assert _rates(ledger)["B-OWN"] == (Decimal("1.1"), Decimal("55.00"))
    with ledger.session() as session:
        assert Counter(r.state for r in session.scalars(select(OutboxEntry))) == {OutboxState.CONFIRMED: 3}


def _answer_of(root: Path) -> Path:
    [path] = (root / ENTITY / "confirmations").glob("confirmations-*.json")
    return path


def _tamper(path: Path, bill_key: str, **fields) -> int:
    """Change what the agent said of one record (by its key); its index in the file."""
    data = json.loads(path.read_text())
    [index] = [i for i, r in enumerate(data["records"]) if r["key"] == bill_key]
    data["records"][index].update(fields)
    path.write_text(json.dumps(data))
    return index


def _key_of(ledger, hub_id: str) -> str:
    with ledger.session() as session:
        return session.scalars(select(OutboxEntry.idempotency_key)
                               .where(OutboxEntry.record_key == f"bill:{hub_id}")).one()


@pytest.mark.parametrize("drop", ["local"], indirect=True)
def test_a_bad_rate_in_a_confirmation_is_refused_naming_the_field_and_nothing_is_booked_twice(ledger, drop, caplog):
    agent, fs, conn, root = drop
    conn = replace(conn, extra={**conn.extra, "protocol_version": 5})
    _euro_bills(ledger, drop, RATED_BILLS[:2])
    _run(ledger, conn)
    agent.process(fs, ENTITY)
    answer = _answer_of(root)
    index = _tamper(answer, _key_of(ledger, "B-OWN"), exchange_rate="1,1")

    with caplog.at_level(logging.INFO):
        second = _run(ledger, conn)

    error = json.loads((root / ENTITY / "rejected" / f"{answer.name}.error.json").read_text())
    assert (error["code"], error["field"], error["record_index"]) == (
        "schema", f"/records/{index}/exchange_rate", index)
    assert f"field /records/{index}/exchange_rate: \"1,1\" is not a decimal string above zero" in error["message"]
    assert f"field /records/{index}/exchange_rate" in caplog.text  # the task log says it too
    assert second["export_documents"]["confirmed"] == 0  # the answer was not taken: its records asked again
    assert _rates(ledger)["B-OWN"] == (None, None)

    agent.process(fs, ENTITY)  # the same key again: "duplicate", with the rate the company booked
    third = _run(ledger, conn)
    assert third["export_documents"]["confirmed"] == 2
    assert _rates(ledger) == {"B-OWN": (Decimal("1.1"), Decimal("55.00")),
                              "B-RATE": (Decimal("1.0856"), Decimal("134.02"))}
    assert Counter(b["bill_number"] for b in agent.company.transactions["bill"].values()) == {"B-RATE": 1, "B-OWN": 1}


@pytest.mark.parametrize("drop", ["local"], indirect=True)
def test_a_source_rate_booked_at_another_is_kept_and_the_log_names_both(ledger, drop, caplog):
    agent, fs, conn, root = drop
    conn = replace(conn, extra={**conn.extra, "protocol_version": 5})
    _euro_bills(ledger, drop, RATED_BILLS[:1])
    _run(ledger, conn)
    agent.process(fs, ENTITY)
    _tamper(_answer_of(root), _key_of(ledger, "B-RATE"), exchange_rate="1.2", home_total="148.14")

    with caplog.at_level(logging.INFO, logger=f"ledgerbridge.test.{ENTITY}"):
        report = _run(ledger, conn)

    assert report["export_documents"]["confirmed"] == 1
    assert _rates(ledger)["B-RATE"] == (Decimal("1.0856"), Decimal("134.02"))  # never overwritten
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and "B-RATE" in r.getMessage()]
    assert ("bill B-RATE (123.45 EUR) went with the source's rate 1.0856 USD per 1 EUR, but the accounting system "
            "booked it at 1.2 (148.14 USD); the ledger keeps the source's rate (134.02 USD)") in warning.getMessage()
