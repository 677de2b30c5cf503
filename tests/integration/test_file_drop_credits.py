"""Credit notes, vendor credits and sales receipts to QuickBooks Desktop through the file drop (protocol
version 4): each leaves once as a file, the agent sandbox books it as a CreditMemo, VendorCredit or
SalesReceipt, its TxnID comes back and settles the outbox row; a run with nothing new sends nothing, and the
agent reading a file again books nothing twice. An agent declared on version 3 is sent none: they are held
with the reason naming the protocol version, and go once the connection says 4. Over a local folder and the
embedded SFTP server; the agent works on the served directory, as it would beside the server."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from ledgerbridge.ledger.models import Document, OutboxEntry, OutboxState, QuarantineEntry
from ledgerbridge.registry import LegalEntity
from desktop_drop import ENTITY, desk_entity, desktop_drop, run_desk
from desktop_drop import drop_files as _files

FLOWS = ("credit_notes", "vendor_credits", "sales_receipts")
# Our record kind -> (its message kind, where the desktop company keeps it, the number's field there).
DESKTOP = {"credit_note": ("credit_notes", "credit_memo", "credit_note_number"),
           "vendor_credit": ("vendor_credits", "vendor_credit", "credit_number"),
           "sales_receipt": ("sales_receipts", "sales_receipt", "receipt_number")}
ITEM_LINES = [{"item": "Consulting", "quantity": "2", "unit_price": "150.00", "amount": "300.00"}]
HUB = {
    "customers": [{"hub_id": "C-1", "name": "Vance Refrigeration"}],
    "vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
    "credit_notes": [{"hub_id": "CN-1", "customer": "C-1", "doc_number": "CN-1", "doc_date": "2026-11-04",
                      "status": "approved", "memo": "returned unit", "lines": ITEM_LINES}],
    "vendor_credits": [{"hub_id": "VC-1", "vendor": "V-1", "doc_number": "VC-1", "doc_date": "2026-11-05",
                        "status": "approved", "lines": [{"account": "6030", "amount": "45.25"}]}],
    "sales_receipts": [{"hub_id": "SR-1", "customer": "C-1", "doc_number": "SR-1", "doc_date": "2026-11-06",
                        "status": "approved", "lines": ITEM_LINES}],
}


def _entity() -> LegalEntity:
    return desk_entity(FLOWS)


@pytest.fixture(params=["local", "embedded_sftp"])
def drop(request, tmp_path: Path, ledger):
    with desktop_drop(request.param, tmp_path, 4, ledger=ledger, entity=_entity(), hub=HUB) as opened:
        yield opened


def _run(ledger, conn) -> dict:
    return run_desk(ledger, conn, _entity())


def _booked(agent) -> dict[str, Counter]:
    """Our record kind -> how many of each number the desktop company holds."""
    return {kind: Counter(txn[number] for txn in agent.company.transactions[txn_type].values())
            for kind, (_, txn_type, number) in DESKTOP.items()}


def _outbox(ledger) -> dict[str, OutboxEntry]:
    with ledger.session() as session:
        return {row.kind: row for row in session.scalars(select(OutboxEntry))}


def test_each_kind_is_exported_once_and_confirmed_with_its_txn_id(ledger, drop):
    agent, fs, conn, root = drop

    first = _run(ledger, conn)
    assert {flow: first["prepare_exports"][flow]["queued"] for flow in FLOWS} == dict.fromkeys(FLOWS, 1)
    assert first["export_documents"]["awaiting"] == 3  # one file per kind, each handed over
    for message_kind, _, _ in DESKTOP.values():
        [sent] = _files(root, f"to_accounting/{message_kind}")
        assert json.loads((root / ENTITY / "to_accounting" / message_kind / sent).read_text())["protocol_version"] == 4

    agent.process(fs, ENTITY)
    second = _run(ledger, conn)
    assert second["export_documents"]["confirmed"] == 3
    rows = _outbox(ledger)
    assert {kind: row.state for kind, row in rows.items()} == dict.fromkeys(DESKTOP, OutboxState.CONFIRMED)
    with ledger.session() as session:
        documents = {d.hub_id: d.external_id for d in session.scalars(select(Document))}
    for kind, (_, txn_type, number) in DESKTOP.items():
        [booked] = agent.company.transactions[txn_type].values()
        assert booked["txn_id"] == rows[kind].external_id == documents[booked[number]], kind
    books = {t: next(iter(agent.company.transactions[t].values())) for t in ("credit_memo", "vendor_credit",
                                                                            "sales_receipt")}
    assert books["credit_memo"]["customer"]["name"] == "Vance Refrigeration" and books["credit_memo"]["memo"] == \
        "returned unit"
    assert books["vendor_credit"]["vendor"]["name"] == "Nick Brown" and str(books["vendor_credit"]["total"]) == "45.25"
    assert books["sales_receipt"]["deposit_account"]["name"] == "Undeposited Funds"  # the hub names none

    # Exactly once: a run with nothing new sends nothing; the agent reading a consumed file again (a crash before
    # its move to processed/) answers "duplicate" and books nothing more.
    third = _run(ledger, conn)
    assert third["export_documents"]["sent"] == 0
    assert all(_files(root, f"to_accounting/{message_kind}") == [] for message_kind, _, _ in DESKTOP.values())
    [consumed] = (root / ENTITY / "processed").glob("credit_notes-*.json")
    (root / ENTITY / "to_accounting/credit_notes" / consumed.name).write_bytes(consumed.read_bytes())
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    assert _booked(agent) == {"credit_note": {"CN-1": 1}, "vendor_credit": {"VC-1": 1}, "sales_receipt": {"SR-1": 1}}
    assert {kind: row.state for kind, row in _outbox(ledger).items()} == dict.fromkeys(DESKTOP, OutboxState.CONFIRMED)


def test_an_agent_on_version_3_is_sent_none_they_are_held_with_the_reason_until_the_connection_says_4(ledger,
                                                                                                      drop):
    agent, fs, conn, root = drop
    older = replace(conn, extra={**conn.extra, "protocol_version": 3})

    first = _run(ledger, older)
    for flow, label, message_kind in (("credit_notes", "credit note", "credit_notes"),
                                      ("vendor_credits", "vendor credit", "vendor_credits"),
                                      ("sales_receipts", "sales receipt", "sales_receipts")):
        assert first["prepare_exports"][flow]["held"] == 1
        assert f"speaks file-drop protocol version 3, which has no {message_kind} message" in \
            first["prepare_exports"][flow]["reason"]
        assert _files(root, f"to_accounting/{message_kind}") == []
    assert _outbox(ledger) == {}
    with ledger.session() as session:
        held = {q.record_key: q for q in session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open"))}
    assert set(held) == {"CN-1", "VC-1", "SR-1"}
    [reason] = held["VC-1"].reasons
    assert reason["field"] == "kind" and reason["problem"] == (
        "the accounting connector (quickbooks_desktop) cannot take a vendor credit: the entity's desktop agent speaks "
        "file-drop protocol version 3, which has no vendor_credits message (version 4 added it: QuickBooks Desktop's "
        "VendorCredit); once the agent is upgraded, set the connection's extra protocol_version to 4 and the next run "
        "sends it")
    assert _run(ledger, older)["prepare_exports"]["credit_notes"]["held"] == 1  # still held, said again, nothing sent
    assert _outbox(ledger) == {}

    upgraded = _run(ledger, conn)  # the agent is upgraded; the connection says 4
    assert {flow: upgraded["prepare_exports"][flow]["released_from_quarantine"] for flow in FLOWS} == \
        dict.fromkeys(FLOWS, 1)
    agent.process(fs, ENTITY)
    _run(ledger, conn)
    assert _booked(agent) == {"credit_note": {"CN-1": 1}, "vendor_credit": {"VC-1": 1}, "sales_receipt": {"SR-1": 1}}
    assert {kind: row.state for kind, row in _outbox(ledger).items()} == dict.fromkeys(DESKTOP, OutboxState.CONFIRMED)
    with ledger.session() as session:
        assert session.scalars(select(QuarantineEntry).where(QuarantineEntry.status == "open")).all() == []
