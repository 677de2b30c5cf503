"""Protocol version 7: an attachment may support any kind of entry the drop carries (credit notes, vendor
credits, sales receipts, bank entries, expense reports besides bills, invoices and journal entries), named as
every attachment names its document (document_type, and its key or TxnID). Such a value in a file of an older
version is refused naming record and field; the desktop agent attaches to the object each kind was booked as,
once; the connector writes such an attachment as version 7 and, for an older agent, declares the kinds whose
files it cannot attach (kept in the ledger unqueued) and refuses one reaching it alone saying to upgrade."""
from __future__ import annotations

import hashlib
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from drop_samples import (
    COMPANY,
    ENTITY,
    attachment,
    bank_entry,
    credit_note,
    drop,
    expense_report,
    message,
    sales_receipt,
    send,
    vendor_credit,
)
from ledgerbridge.connectors.base import AttachmentExport, Awaiting, Outgoing
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop import LocalFileSystem, read_inbound, validate_message, write_atomic
from ledgerbridge.filedrop.protocol import ATTACHMENT_FILES, message_version

SCAN = b"%PDF-1.4 supporting document \x00\x01"
NEW_KINDS = ("credit_note", "vendor_credit", "sales_receipt", "bank_entry", "expense_report")
# document_type -> (message kind, the entry, the transaction type the agent books it as)
ENTRIES = {
    "credit_note": ("credit_notes", lambda: credit_note("doc-1"), "credit_memo"),
    "vendor_credit": ("vendor_credits", lambda: vendor_credit("doc-1"), "vendor_credit"),
    "sales_receipt": ("sales_receipts", lambda: sales_receipt("doc-1"), "sales_receipt"),
    "bank_entry": ("bank_entries", lambda: bank_entry("doc-1"), "check"),
    "bank_entry_in": ("bank_entries", lambda: bank_entry("doc-1", direction="in", entity="Vance Refrigeration",
                                                         account="Sales"), "deposit"),
    "expense_report": ("expense_reports", lambda: expense_report("doc-1", bank="Checking"), "check"),
    "expense_report_owed": ("expense_reports", lambda: expense_report("doc-1"), "bill"),
}


def to(document_type: str, ref: dict | None = None, content: bytes = SCAN, key: str = "att-1") -> dict:
    return {**attachment(content, key=key), "document_type": document_type.removesuffix("_in").removesuffix("_owed"),
            "document": ref or {"key": "doc-1"}}


def put_bytes(root: Path, name: str, content: bytes) -> None:
    write_atomic(LocalFileSystem(root), f"{ENTITY}/{ATTACHMENT_FILES}/{name}", content)


def answer_to(root: Path, sent: str) -> list[dict]:
    fs, name = LocalFileSystem(root), sent.rsplit("/", 1)[-1]
    found = [read_inbound(fs, f"{ENTITY}/confirmations/{path.name}", entity_id=ENTITY, company_id=COMPANY)
             for path in sorted((root / ENTITY / "confirmations").glob("*.json"))]
    return max((m for m in found if m.envelope["in_reply_to"]["file"] == name), key=lambda m: m.created_at).records


def book(agent, root: Path, clock, entry: str) -> str:
    kind, make, _ = ENTRIES[entry]
    sent = send(root, clock, kind, [make()], batch_key="entries")
    agent.process(LocalFileSystem(root), ENTITY)
    [answer] = answer_to(root, sent)
    assert answer["status"] == "confirmed", answer
    return answer["external_id"]


# --- the schema and the version ---------------------------------------------------------------------

@pytest.mark.parametrize("document_type", NEW_KINDS)
def test_an_attachment_to_each_new_kind_is_version_7_and_passes_only_in_it(document_type):
    record = to(document_type)
    assert message_version("attachments", [record]) == 7
    assert message_version("attachments", [attachment()]) == 2  # a bill's stays what a version-2 agent reads
    assert validate_message("attachments", message("attachments", [record], protocol_version=7)) == []
    for older in (2,):  # an attachments file is version 2, or 7 when it needs
        file = message("attachments", [attachment(key="ok"), record], protocol_version=older)
        [problem] = validate_message("attachments", file)
        assert (problem.code, problem.field, problem.record_index, problem.record_key) == (
            "protocol_version", "/records/1/document_type", 1, "att-1")
        assert f"document_type {document_type!r} is a value of protocol_version 7" in problem.reason


def test_a_bad_document_type_or_document_is_named_by_record_and_field():
    problems = validate_message("attachments", message("attachments", [to("credit_note"), {**to("bank_entry", key="b"),
                                        "document_type": "payment"}, {**to("sales_receipt", key="c"),
                                        "document": {"txn": "x"}}], protocol_version=7))
    assert {(p.record_index, p.field) for p in problems} >= {(1, "/records/1/document_type"),
                                                              (2, "/records/2/document")}
    assert all(p.record_index != 0 for p in problems)


# --- the desktop agent --------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ENTRIES)
def test_the_agent_attaches_to_each_kind_by_key_and_by_txn_id_once(agent, root, clock, entry):
    txn_id = book(agent, root, clock, entry)
    put_bytes(root, "att-1.bin", SCAN)
    put_bytes(root, "att-2.bin", SCAN + b"page 2")
    sent = send(root, clock, "attachments", [to(entry), {**to(entry, {"external_id": txn_id}, SCAN + b"page 2",
                                                                 key="att-2"), "file": "att-2.bin"}])
    assert read_inbound(LocalFileSystem(root), sent).envelope["protocol_version"] == 7
    agent.process(LocalFileSystem(root), ENTITY)
    answers = answer_to(root, sent)
    stored = agent.company.attachments_of(txn_id)
    assert [a["status"] for a in answers] == ["confirmed", "confirmed"]
    assert {a["external_id"] for a in answers} == {s["attachment_id"] for s in stored}
    assert {s["txn_type"] for s in stored} == {ENTRIES[entry][2]} and {s["content"] for s in stored} == {
        SCAN, SCAN + b"page 2"}

    name = sent.rsplit("/", 1)[1]  # the message dropped again, its bytes consumed already
    shutil.copy(root / ENTITY / "processed" / name, root / sent)
    agent.process(LocalFileSystem(root), ENTITY)
    assert [a["status"] for a in answer_to(root, sent)] == ["duplicate", "duplicate"]
    assert len(agent.company.attachments_of(txn_id)) == 2


def _refusal(agent, root, clock, record: dict) -> dict:
    sent = send(root, clock, "attachments", [record], batch_key="bad")
    agent.process(LocalFileSystem(root), ENTITY)
    [answer] = answer_to(root, sent)
    assert answer["status"] == "rejected" and agent.company.attachments == {}
    return answer["error"]


def test_the_agent_refuses_an_unknown_transaction_or_one_of_another_kind(agent, root, clock):
    bill_of_report = book(agent, root, clock, "expense_report_owed")  # a Bill, but booked from a report
    put_bytes(root, "att-1.bin", SCAN)
    for record in (to("credit_note", {"external_id": "FFFF-1700000000"}),
                   to("bank_entry", {"external_id": bill_of_report}),  # not a bank entry's Check or Deposit
                   to("vendor_credit", {"key": "doc-1"}),  # the key made a Bill, not a VendorCredit
                   {**attachment(SCAN), "document": {"external_id": bill_of_report}}):  # a bill: the report's
        error = _refusal(agent, root, clock, record)
        assert (error["code"], error["field"]) == ("unknown_reference", "/records/0/document")
        assert f"no {record['document_type']} " in error["message"]


def test_the_agent_refuses_a_checksum_or_size_mismatch_naming_the_field(agent, root, clock):
    book(agent, root, clock, "credit_note")
    put_bytes(root, "att-1.bin", SCAN[:-1] + b"\xff")
    error = _refusal(agent, root, clock, to("credit_note"))
    assert (error["code"], error["field"]) == ("checksum_mismatch", "/records/0/sha256")
    put_bytes(root, "att-1.bin", SCAN[:5])
    error = _refusal(agent, root, clock, to("credit_note"))
    assert (error["code"], error["field"]) == ("size_mismatch", "/records/0/size")


def test_a_version_2_file_naming_a_credit_note_is_refused_for_that_record(agent, root, clock):
    book(agent, root, clock, "credit_note")
    put_bytes(root, "att-1.bin", SCAN)
    path = drop(root, "attachments", message("attachments", [to("credit_note")], protocol_version=2))
    agent.process(LocalFileSystem(root), ENTITY)
    [answer] = answer_to(root, path.name)
    assert (answer["status"], answer["error"]["code"], answer["error"]["field"]) == (
        "rejected", "protocol_version", "/records/0/document_type")
    assert agent.company.attachments == {}


# --- the connector ------------------------------------------------------------------------------------

@contextmanager
def _opener(root: Path):
    yield LocalFileSystem(root)


def _connector(root: Path, version: int) -> FileDropConnector:
    return FileDropConnector(lambda: _opener(root), ENTITY, COMPANY, protocol_version=version)


def _outgoing(connector: FileDropConnector, document_kind: str, n: int = 0) -> Outgoing:
    export = AttachmentExport(f"HA-{n}", f"{document_kind}.pdf", "application/pdf", document_kind, "1A2C-1738400000")
    key = f"c0ffee00-0000-4000-8000-00000000000{n}"
    return Outgoing(str(n), "attachment", connector.payload("attachment", export, key), key, content=SCAN)


def test_version_7_writes_an_attachment_to_a_credit_note_in_version_7(root):
    connector = _connector(root, 7)
    assert connector.capabilities.attachments_not_carried == {}
    outcomes = connector.create_many([_outgoing(connector, "credit_note", 1), _outgoing(connector, "bank_entry", 2)],
                                     "batch-1")
    message_path = outcomes["1"].where
    assert isinstance(outcomes["2"], Awaiting) and outcomes["2"].where == message_path
    sent = read_inbound(LocalFileSystem(root), message_path, entity_id=ENTITY, company_id=COMPANY)
    assert sent.envelope["protocol_version"] == 7
    assert [(r["document_type"], r["document"]) for r in sent.records] == [
        ("credit_note", {"external_id": "1A2C-1738400000"}), ("bank_entry", {"external_id": "1A2C-1738400000"})]
    assert sent.records[0]["sha256"] == hashlib.sha256(SCAN).hexdigest()
    only_bills = _connector(root, 7).create_many([_outgoing(connector, "bill", 3)], "batch-2")
    assert read_inbound(LocalFileSystem(root), only_bills["3"].where).envelope["protocol_version"] == 2


@pytest.mark.parametrize("version", [2, 4, 6])
def test_an_older_agent_declares_the_kinds_it_cannot_attach_to_and_refuses_one_alone(root, version):
    connector = _connector(root, version)
    carried = {kind for kind in NEW_KINDS if kind in connector.capabilities.kinds}
    assert set(connector.capabilities.attachments_not_carried) == carried  # the kinds it takes but cannot attach
    for reason in connector.capabilities.attachments_not_carried.values():
        assert f"speaks file-drop protocol version {version}, which attaches files to bill, invoice, " \
               "journal_entry only" in reason
        assert "set the connection's extra protocol_version to 7 and the next run sends it" in reason
    items = [_outgoing(_connector(root, 7), "credit_note", 1), _outgoing(connector, "bill", 2)]
    outcomes = connector.create_many(items, "batch-1")
    assert isinstance(outcomes["1"], RecordRejected) and outcomes["1"].element == "document_type"
    assert "protocol_version to 7" in str(outcomes["1"]) and "by hand" not in str(outcomes["1"])
    assert isinstance(outcomes["2"], Awaiting)
    assert [p.name for p in (root / ENTITY / ATTACHMENT_FILES).iterdir()] == [f"{items[1].key}.bin"]


def test_no_attachments_before_version_2_and_nothing_held_for_them(root):
    assert _connector(root, 1).capabilities.attachments_not_carried == {}
    assert not _connector(root, 1).capabilities.attachments
