"""Supporting documents of every kind of entry through the file drop (protocol version 7): a credit note's and a
bank entry's document leave once, beside the attachments message that names each by its TxnID with a checksum,
after the entry is confirmed; the agent sandbox attaches each to its CreditMemo and its Check, once; a run with
nothing new sends nothing, and the agent reading the message again attaches nothing twice. An agent declared on
version 6 is sent the entries but not their documents: they stay in the ledger unqueued, the run saying why and
what to do, and go once the connection says 7. Over a local folder and the embedded SFTP server."""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from ledgerbridge.ledger.models import Document, OutboxEntry, OutboxState
from ledgerbridge.registry import LegalEntity
from desktop_drop import ENTITY, desk_entity, desktop_drop, run_desk
from desktop_drop import drop_files as _files

FLOWS = ("credit_notes", "bank_entries")
CREDIT_SCAN = b"%PDF-1.4 returned unit, signed \x00\x01"
STATEMENT = b"%PDF-1.4 bank statement, November \x02\x03"


def _document(name: str, content: bytes) -> dict:
    return {"file_name": name, "content_type": "application/pdf", "content_base64": base64.b64encode(content).decode()}


HUB = {
    "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}],
    "vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
    "credit_notes": [{"hub_id": "CN-1", "customer": "C-1", "doc_number": "CN-1", "doc_date": "2026-11-04",
                      "status": "approved", "memo": "returned unit",
                      "attachments": [_document("cn-1.pdf", CREDIT_SCAN)],
                      "lines": [{"item": "Consulting", "quantity": "2", "unit_price": "150.00", "amount": "300.00"}]}],
    "bank_entries": [{"hub_id": "BQ-1", "doc_number": "BQ-1", "doc_date": "2026-11-12", "status": "approved",
                      "bank_account": "1000", "direction": "out", "vendor": "V-1", "memo": "toner",
                      "attachments": [_document("statement-11.pdf", STATEMENT)],
                      "lines": [{"account": "6010", "amount": "42.50"}]}],
}
# Each entry -> what the desktop company books it as, and its document's bytes.
BOOKED_AS = {"CN-1": ("credit_memo", CREDIT_SCAN), "BQ-1": ("check", STATEMENT)}


def _entity() -> LegalEntity:
    return desk_entity(FLOWS)


@pytest.fixture(params=["local", "embedded_sftp"])
def drop(request, tmp_path: Path, ledger):
    with desktop_drop(request.param, tmp_path, 7, ledger=ledger, entity=_entity(), hub=HUB) as opened:
        yield opened


def _run(ledger, conn) -> dict:
    return run_desk(ledger, conn, _entity())


def _entries_confirmed(ledger, agent, fs, conn) -> dict:
    """The credit note and the bank entry sent and confirmed by the agent: the report of the run that settles
    them (and may send their documents)."""
    _run(ledger, conn)
    agent.process(fs, ENTITY)
    settled = _run(ledger, conn)
    assert settled["export_documents"]["confirmed"] == 2
    return settled


def _attached(ledger, agent) -> dict[str, list[tuple[str, bytes]]]:
    """Each entry -> the (transaction type, bytes) of the documents attached to it in the company file."""
    with ledger.session() as session:
        txn_ids = {d.hub_id: d.external_id for d in session.scalars(select(Document))}
    return {hub_id: [(a["txn_type"], a["content"]) for a in agent.company.attachments_of(txn_ids[hub_id])]
            for hub_id in BOOKED_AS}


def _attachment_rows(ledger) -> list[OutboxEntry]:
    with ledger.session() as session:
        return session.scalars(select(OutboxEntry).where(OutboxEntry.kind == "attachment")).all()


def test_a_credit_note_and_a_bank_entry_go_out_with_their_documents_attached_once(ledger, drop):
    agent, fs, conn, root = drop
    settled = _entries_confirmed(ledger, agent, fs, conn)
    assert settled["export_documents"]["attachments"]["awaiting"] == 2
    [message] = _files(root, "to_accounting/attachments")
    sent = json.loads((root / ENTITY / "to_accounting/attachments" / message).read_text())
    assert sent["protocol_version"] == 7
    with ledger.session() as session:
        txn_ids = {d.hub_id: d.external_id for d in session.scalars(select(Document))}
    assert sorted((r["document_type"], r["document"]["external_id"]) for r in sent["records"]) == sorted(
        [("credit_note", txn_ids["CN-1"]), ("bank_entry", txn_ids["BQ-1"])])
    assert len(_files(root, "to_accounting/attachment_files")) == 2

    agent.process(fs, ENTITY)
    third = _run(ledger, conn)
    assert third["export_documents"]["attachments"]["confirmed"] == 2
    assert _attached(ledger, agent) == {hub_id: [booked] for hub_id, booked in BOOKED_AS.items()}
    rows = _attachment_rows(ledger)
    assert {row.state for row in rows} == {OutboxState.CONFIRMED} and len(rows) == 2
    assert {row.external_id for row in rows} == set(agent.company.attachments)
    assert _files(root, "to_accounting/attachment_files") == []  # consumed with their message

    # Exactly once: nothing new sends nothing; the message read again (a crash before its move) is a duplicate.
    fourth = _run(ledger, conn)
    assert fourth["export_documents"]["attachments"]["sent"] == 0 and not _files(root, "to_accounting/attachments")
    (root / ENTITY / "to_accounting/attachments" / message).write_bytes(
        (root / ENTITY / "processed" / message).read_bytes())
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    assert _attached(ledger, agent) == {hub_id: [booked] for hub_id, booked in BOOKED_AS.items()}
    assert len(_attachment_rows(ledger)) == 2


def test_a_version_6_agent_s_documents_stay_in_the_ledger_saying_why_until_the_connection_says_7(
        ledger, drop, caplog):
    agent, fs, conn, root = drop
    older = replace(conn, extra={**conn.extra, "protocol_version": 6})
    with caplog.at_level(logging.WARNING):
        settled = _entries_confirmed(ledger, agent, fs, older)  # the entries themselves go (version 6 has them)
    held = settled["export_documents"]["attachments"]["held"]
    assert {kind: entry["kept"] for kind, entry in held.items()} == {"credit_note": 1, "bank_entry": 1}
    assert held["credit_note"]["reason"] == (
        "the entity's desktop agent speaks file-drop protocol version 6, which attaches files to bill, invoice, "
        "journal_entry only (version 7 attaches them to a credit_note too); once the agent is upgraded, set the "
        "connection's extra protocol_version to 7 and the next run sends it")
    assert "1 file(s) of bank_entry kept in the ledger, not sent" in caplog.text
    assert _files(root, "to_accounting/attachments") == [] and _attachment_rows(ledger) == []  # none rejected
    again = _run(ledger, older)
    assert set(again["export_documents"]["attachments"]["held"]) == {"credit_note", "bank_entry"}
    assert _attachment_rows(ledger) == []

    upgraded = _run(ledger, conn)  # the agent is upgraded; the connection says 7
    assert upgraded["export_documents"]["attachments"]["awaiting"] == 2
    assert "held" not in upgraded["export_documents"]["attachments"]
    agent.process(fs, ENTITY)
    assert _run(ledger, conn)["export_documents"]["attachments"]["confirmed"] == 2
    assert _attached(ledger, agent) == {hub_id: [booked] for hub_id, booked in BOOKED_AS.items()}
    assert _run(ledger, conn)["export_documents"]["attachments"]["sent"] == 0
