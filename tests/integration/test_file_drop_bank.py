"""Bank entries and expense reports to QuickBooks Desktop through the file drop (protocol version 6): money
out leaves once as a Check from the bank account, money in as a Deposit to it, an expense report paid from the
bank as a Check to the payee and one owed as a Bill; each TxnID comes back and settles the outbox row; a run with
nothing new sends nothing, and the agent reading a file again books nothing twice. An agent declared on version
5 is sent none: they are held with the reason naming the protocol version, and go once the connection says 6.
Over a local folder and the embedded SFTP server; the agent works on the served directory, as it would beside
the server."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from ledgerbridge.ledger.models import Document, OutboxEntry, OutboxState, QuarantineEntry
from ledgerbridge.registry import LegalEntity
from desktop_drop import ENTITY, desk_entity, desktop_drop, run_desk
from desktop_drop import drop_files as _files

FLOWS = ("bank_entries", "expense_reports")
MESSAGES = {"bank_entry": "bank_entries", "expense_report": "expense_reports"}
HUB = {
    "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}],
    "vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
    "bank_entries": [
        {"hub_id": "BQ-1", "doc_number": "BQ-1", "doc_date": "2026-11-12", "status": "approved", "bank_account": "1000",
         "direction": "out", "vendor": "V-1", "memo": "toner", "lines": [{"account": "6010", "amount": "42.50"}]},
        {"hub_id": "BQ-2", "doc_number": "BQ-2", "doc_date": "2026-11-13", "status": "approved", "bank_account": "1000",
         "direction": "in", "customer": "C-1", "lines": [{"account": "4000", "amount": "300.00"}]}],
    "expense_reports": [
        {"hub_id": "NDF-1", "vendor": "V-1", "doc_number": "NDF-1", "doc_date": "2026-11-20", "status": "approved",
         "lines": [{"account": "6030", "amount": "45.50", "description": "Train", "date": "2026-11-03"},
                   {"account": "6030", "amount": "12.30", "description": "Taxi", "date": "2026-11-04"}]},
        {"hub_id": "NDF-2", "vendor": "V-1", "doc_number": "NDF-2", "doc_date": "2026-11-21", "status": "approved",
         "bank_account": "1000", "lines": [{"account": "6030", "amount": "20.00", "description": "Lunch"}]}],
}
# Each document -> what the desktop company books it as, and the number field there.
BOOKED_AS = {"BQ-1": ("check", "entry_number"), "BQ-2": ("deposit", "entry_number"),
             "NDF-1": ("bill", "bill_number"), "NDF-2": ("check", "report_number")}


def _entity() -> LegalEntity:
    return desk_entity(FLOWS)


@pytest.fixture(params=["local", "embedded_sftp"])
def drop(request, tmp_path: Path, ledger):
    with desktop_drop(request.param, tmp_path, 6, ledger=ledger, entity=_entity(), hub=HUB) as opened:
        yield opened


def _run(ledger, conn) -> dict:
    return run_desk(ledger, conn, _entity())


def _booked(agent) -> Counter:
    """How many times the desktop company holds each of our documents, by its number."""
    return Counter(txn[number] for txn_type, number in set(BOOKED_AS.values())
                   for txn in agent.company.transactions[txn_type].values() if number in txn)


def _outbox(ledger) -> dict[str, OutboxEntry]:
    with ledger.session() as session:
        documents = {d.id: d.hub_id for d in session.scalars(select(Document))}
        return {documents[row.record_id]: row for row in session.scalars(select(OutboxEntry))}


def test_each_is_exported_once_and_confirmed_with_its_txn_id(ledger, drop):
    agent, fs, conn, root = drop

    first = _run(ledger, conn)
    assert {flow: first["prepare_exports"][flow]["queued"] for flow in FLOWS} == dict.fromkeys(FLOWS, 2), first
    assert first["export_documents"]["awaiting"] == 4  # one file per kind, each record handed over
    for message_kind in MESSAGES.values():
        [sent] = _files(root, f"to_accounting/{message_kind}")
        assert json.loads((root / ENTITY / "to_accounting" / message_kind / sent).read_text())["protocol_version"] == 6

    agent.process(fs, ENTITY)
    second = _run(ledger, conn)
    assert second["export_documents"]["confirmed"] == 4
    rows = _outbox(ledger)
    assert {hub_id: row.state for hub_id, row in rows.items()} == dict.fromkeys(BOOKED_AS, OutboxState.CONFIRMED)
    books = {}
    for hub_id, (txn_type, number) in BOOKED_AS.items():
        [booked] = [txn for txn in agent.company.transactions[txn_type].values() if txn.get(number) == hub_id]
        assert booked["txn_id"] == rows[hub_id].external_id, hub_id
        books[hub_id] = booked
    assert books["BQ-1"]["bank_account"]["name"] == "Checking" and books["BQ-1"]["entity"]["name"] == "Nick Brown"
    assert books["BQ-1"]["memo"] == "toner" and books["BQ-1"]["total"] == Decimal("42.50")
    assert books["BQ-2"]["lines"][0]["account"]["name"] == "Sales"
    assert books["BQ-2"]["lines"][0]["entity"]["name"] == "Vance Refrigeration"
    assert books["NDF-1"]["vendor"]["name"] == "Nick Brown" and books["NDF-1"]["open_balance"] == Decimal("57.80")
    assert books["NDF-2"]["payee"]["name"] == "Nick Brown" and books["NDF-2"]["bank_account"]["name"] == "Checking"

    # Exactly once: a run with nothing new sends nothing; the agent reading a consumed file again (a crash before
    # its move to processed/) answers "duplicate" and books nothing more.
    third = _run(ledger, conn)
    assert third["export_documents"]["sent"] == 0
    assert all(_files(root, f"to_accounting/{message_kind}") == [] for message_kind in MESSAGES.values())
    for message_kind in MESSAGES.values():
        [consumed] = (root / ENTITY / "processed").glob(f"{message_kind}-*.json")
        (root / ENTITY / "to_accounting" / message_kind / consumed.name).write_bytes(consumed.read_bytes())
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    assert _booked(agent) == dict.fromkeys(BOOKED_AS, 1)
    assert {hub_id: row.state for hub_id, row in _outbox(ledger).items()} == dict.fromkeys(BOOKED_AS,
                                                                                            OutboxState.CONFIRMED)


def test_an_agent_on_version_5_is_sent_none_they_are_held_with_the_reason_until_the_connection_says_6(ledger, drop):
    agent, fs, conn, root = drop
    older = replace(conn, extra={**conn.extra, "protocol_version": 5})

    first = _run(ledger, older)
    for flow in FLOWS:
        assert first["prepare_exports"][flow]["held"] == 2
        assert f"speaks file-drop protocol version 5, which has no {flow} message (version 6 added it" in \
            first["prepare_exports"][flow]["reason"]
        assert _files(root, f"to_accounting/{flow}") == []
    assert _outbox(ledger) == {}
    with ledger.session() as session:
        held = {q.record_key: q for q in session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open"))}
    assert set(held) == set(BOOKED_AS)
    [reason] = held["NDF-1"].reasons
    assert reason["field"] == "kind" and reason["problem"] == (
        "the accounting connector (quickbooks_desktop) cannot take an expense report: the entity's desktop agent "
        "speaks file-drop protocol version 5, which has no expense_reports message (version 6 added it: QuickBooks "
        "Desktop's Check or Bill); once the agent is upgraded, set the connection's extra protocol_version to 6 and "
        "the next run sends it")
    assert _run(ledger, older)["prepare_exports"]["bank_entries"]["held"] == 2  # still held, nothing sent
    assert _outbox(ledger) == {}

    upgraded = _run(ledger, conn)  # the agent is upgraded; the connection says 6
    assert {flow: upgraded["prepare_exports"][flow]["released_from_quarantine"] for flow in FLOWS} == \
        dict.fromkeys(FLOWS, 2)
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    assert _booked(agent) == dict.fromkeys(BOOKED_AS, 1)
    assert {hub_id: row.state for hub_id, row in _outbox(ledger).items()} == dict.fromkeys(BOOKED_AS,
                                                                                            OutboxState.CONFIRMED)
    with ledger.session() as session:
        assert session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open")).all() == []
