"""Protocol version 2's attachments: the bytes beside the message, checked by size and SHA-256 before the
desktop agent stores them against their transaction, once; and the connector's side of it."""
from __future__ import annotations

import hashlib
import shutil
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from drop_samples import COMPANY, ENTITY, attachment, bill, drop, send
from ledgerbridge.connectors.base import AttachmentExport, Awaiting, Capabilities, Outgoing
from ledgerbridge.connectors.errors import RecordRejected
from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop import LocalFileSystem, read_inbound, write_atomic
from ledgerbridge.filedrop.protocol import ATTACHMENT_FILES, MAX_ATTACHMENT_BYTES
from ledgerbridge.sandbox.desktop import DesktopCompany

SCAN = b"%PDF-1.4 scanned bill \x00\x01\x02"


def put_bytes(root: Path, name: str, content: bytes) -> None:
    write_atomic(LocalFileSystem(root), f"{ENTITY}/{ATTACHMENT_FILES}/{name}", content)


def answer_to(root: Path, sent: str) -> list[dict]:
    """The records of the newest confirmation answering a file, read by the strict reader."""
    fs, name = LocalFileSystem(root), sent.rsplit("/", 1)[1]
    found = []
    for path in sorted((root / ENTITY / "confirmations").glob("*.json")):
        message = read_inbound(fs, f"{ENTITY}/confirmations/{path.name}", entity_id=ENTITY, company_id=COMPANY)
        if message.envelope["in_reply_to"]["file"] == name:
            found.append(message)
    return max(found, key=lambda m: m.created_at).records


@pytest.fixture
def bill_txn(agent, root, clock) -> str:
    path = send(root, clock, "bills", [bill()])
    agent.process(LocalFileSystem(root), ENTITY)
    return answer_to(root, path)[0]["external_id"]


def test_a_document_is_stored_against_its_bill_and_confirmed_with_its_id(agent, root, clock, bill_txn):
    put_bytes(root, "att-1.bin", SCAN)
    sent = send(root, clock, "attachments", [attachment(SCAN)])
    assert read_inbound(LocalFileSystem(root), sent).envelope["protocol_version"] == 2

    agent.process(LocalFileSystem(root), ENTITY)

    [answer] = answer_to(root, sent)
    [stored] = agent.company.attachments_of(bill_txn)
    assert answer["status"] == "confirmed" and answer["external_id"] == stored["attachment_id"]
    assert (stored["content"], stored["file_name"], stored["content_type"]) == (
        SCAN, "Brown invoice 2025-017.pdf", "application/pdf")
    assert not (root / ENTITY / ATTACHMENT_FILES / "att-1.bin").exists()  # consumed with its message
    assert (root / ENTITY / "processed" / "att-1.bin").read_bytes() == SCAN
    # The state file keeps the bytes: an agent restarted from it still holds the document.
    reloaded = DesktopCompany.load(agent.state_file)
    assert reloaded.attachments_of(bill_txn)[0]["content"] == SCAN


def test_the_same_attachment_message_twice_is_one_attachment(agent, root, clock, bill_txn):
    put_bytes(root, "att-1.bin", SCAN)
    sent = send(root, clock, "attachments", [attachment(SCAN)])
    agent.process(LocalFileSystem(root), ENTITY)
    [first] = answer_to(root, sent)
    name = sent.rsplit("/", 1)[1]
    shutil.copy(root / ENTITY / "processed" / name, root / sent)  # the message dropped again, bytes already consumed

    agent.process(LocalFileSystem(root), ENTITY)

    [second] = answer_to(root, sent)
    assert (second["status"], second["external_id"]) == ("duplicate", first["external_id"])
    assert len(agent.company.attachments_of(bill_txn)) == 1


def test_the_same_key_with_another_document_is_refused(agent, root, clock, bill_txn):
    put_bytes(root, "att-1.bin", SCAN)
    send(root, clock, "attachments", [attachment(SCAN)])
    agent.process(LocalFileSystem(root), ENTITY)
    other = SCAN + b"edited"
    put_bytes(root, "att-1.bin", other)
    sent = send(root, clock, "attachments", [attachment(other)], batch_key="batch-2")

    agent.process(LocalFileSystem(root), ENTITY)

    [answer] = answer_to(root, sent)
    assert (answer["status"], answer["error"]["code"], answer["error"]["field"]) == (
        "rejected", "key_reused", "/records/0/key")
    assert len(agent.company.attachments_of(bill_txn)) == 1


def _refusal(agent, root, clock, record: dict) -> dict:
    sent = send(root, clock, "attachments", [record], batch_key="bad")
    agent.process(LocalFileSystem(root), ENTITY)
    [answer] = answer_to(root, sent)
    assert answer["status"] == "rejected"
    assert not any(stored["txn_type"] == "bill" for stored in agent.company.attachments.values())
    return answer["error"]


def test_a_checksum_mismatch_is_refused_naming_the_field(agent, root, clock, bill_txn):
    put_bytes(root, "att-1.bin", SCAN[:-1] + b"\xff")  # same size, one byte changed in transit
    error = _refusal(agent, root, clock, attachment(SCAN))
    assert (error["code"], error["field"]) == ("checksum_mismatch", "/records/0/sha256")
    assert hashlib.sha256(SCAN).hexdigest() in error["message"]


def test_a_size_mismatch_is_refused_naming_the_field(agent, root, clock, bill_txn):
    put_bytes(root, "att-1.bin", SCAN[:10])  # cut short
    error = _refusal(agent, root, clock, attachment(SCAN))
    assert (error["code"], error["field"]) == ("size_mismatch", "/records/0/size")
    assert f"holds 10 bytes; the message says {len(SCAN)}" in error["message"]


def test_a_missing_file_is_refused_naming_the_field(agent, root, clock, bill_txn):
    error = _refusal(agent, root, clock, attachment(SCAN))
    assert (error["code"], error["field"]) == ("missing_file", "/records/0/file")
    assert "att-1.bin is not in to_accounting/attachment_files/" in error["message"]


def test_a_file_over_the_limit_is_refused_unread(agent, root, clock, bill_txn):
    put_bytes(root, "att-1.bin", b"x" * (MAX_ATTACHMENT_BYTES + 1))
    record = {**attachment(SCAN), "size": MAX_ATTACHMENT_BYTES}
    error = _refusal(agent, root, clock, record)
    assert (error["code"], error["field"]) == ("too_large", "/records/0/file")


def test_a_document_for_an_unknown_bill_is_refused(agent, root, clock):
    put_bytes(root, "att-1.bin", SCAN)
    error = _refusal(agent, root, clock, {**attachment(SCAN), "document": {"external_id": "FFFF-1700000000"}})
    assert (error["code"], error["field"]) == ("unknown_reference", "/records/0/document")


def test_a_bad_checksum_text_is_refused_by_the_schema(agent, root, clock, bill_txn):
    put_bytes(root, "att-1.bin", SCAN)
    raw = {"protocol_version": 2, "kind": "attachments", "entity_id": ENTITY, "company_id": COMPANY,
           "batch_key": "bad", "created_at": "2025-02-01T09:00:00.000Z",
           "records": [{**attachment(SCAN), "sha256": "ABC"}]}
    path = drop(root, "attachments", raw)
    agent.process(LocalFileSystem(root), ENTITY)
    [answer] = answer_to(root, str(path.relative_to(root)))
    assert (answer["status"], answer["error"]["field"]) == ("rejected", "/records/0/sha256")


# --- the connector ------------------------------------------------------------------------------

@contextmanager
def _opener(root: Path):
    yield LocalFileSystem(root)


def _connector(root: Path, version: int) -> FileDropConnector:
    return FileDropConnector(lambda: _opener(root), ENTITY, COMPANY, protocol_version=version)


def _outgoing(connector: FileDropConnector, content: bytes, key: str = "c0ffee00-0000-4000-8000-000000000001",
              ref: str = "1") -> Outgoing:
    export = AttachmentExport("HA-1", "brown.pdf", "Application/PDF; charset=binary", "bill", "1A2C-1738400000")
    return Outgoing(ref, "attachment", connector.payload("attachment", export, key), key, content=content)


def test_the_version_decides_the_capability(root):
    assert isinstance(_connector(root, 1).capabilities, Capabilities)
    assert not _connector(root, 1).capabilities.attachments
    assert "attachment" not in _connector(root, 1).capabilities.kinds
    with pytest.raises(TypeError, match="attachment.*protocol version 1"):
        _outgoing(_connector(root, 1), SCAN)
    assert _connector(root, 2).capabilities.attachments and "attachment" in _connector(root, 2).capabilities.kinds
    assert FileDropConnector.capabilities.attachments is False  # the class's stays version 1's
    assert _connector(root, 3).capabilities.attachments  # version 3 keeps what 2 added
    assert _connector(root, 4).capabilities.attachments  # and version 4
    with pytest.raises(ValueError, match="protocol_version 9"):
        _connector(root, 9)


def test_the_connector_writes_the_bytes_then_the_message_naming_them(root):
    connector = _connector(root, 2)
    item = _outgoing(connector, SCAN)
    outcome = connector.create_many([item], "batch-1")
    assert isinstance(outcome["1"], Awaiting)
    message = read_inbound(LocalFileSystem(root), outcome["1"].where, entity_id=ENTITY, company_id=COMPANY)
    [record] = message.records
    assert record["file"] == f"{item.key}.bin" and record["size"] == len(SCAN)
    assert record["sha256"] == hashlib.sha256(SCAN).hexdigest() and record["content_type"] == "application/pdf"
    assert record["document"] == {"external_id": "1A2C-1738400000"} and record["document_type"] == "bill"
    assert (root / ENTITY / ATTACHMENT_FILES / record["file"]).read_bytes() == SCAN
    assert not list((root / ENTITY).rglob("*.part"))
    connector.create_many([item], "batch-1")  # a re-send: its bytes land on the same name (the agent answers
    assert [p.name for p in (root / ENTITY / ATTACHMENT_FILES).iterdir()] == [record["file"]]  # "duplicate")


def test_the_connector_refuses_an_empty_or_too_large_document_alone(root):
    connector = _connector(root, 2)
    big = _outgoing(connector, b"x" * (MAX_ATTACHMENT_BYTES + 1), ref="big")
    empty = _outgoing(connector, b"", key="c0ffee00-0000-4000-8000-000000000002", ref="empty")
    good = _outgoing(connector, SCAN, key="c0ffee00-0000-4000-8000-000000000003", ref="good")
    outcomes = connector.create_many([big, empty, good], "batch-1")
    assert isinstance(outcomes["big"], RecordRejected) and "over the file drop's limit of 20971520" in str(outcomes["big"])
    assert isinstance(outcomes["empty"], RecordRejected) and "no file content" in str(outcomes["empty"])
    assert isinstance(outcomes["good"], Awaiting)
    assert [p.name for p in (root / ENTITY / ATTACHMENT_FILES).iterdir()] == [f"{good.key}.bin"]


def test_the_connection_declares_the_agent_s_version(root):
    from ledgerbridge.connectors.factory import ConnectionSettings, ConnectionSettingsError, file_drop
    from ledgerbridge.registry import LegalEntity

    entity = LegalEntity.model_validate({
        "id": ENTITY, "name": "Acme", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_acme"}, "flows": ["bills"]})

    def connection(**extra) -> ConnectionSettings:
        return ConnectionSettings("drop_acme", extra={"company_id": COMPANY, "local_root": str(root), **extra})

    assert not file_drop(entity, connection()).capabilities.attachments  # an agent of before version 2
    assert file_drop(entity, connection(protocol_version=2)).capabilities.attachments
    assert file_drop(entity, connection(protocol_version="2")).capabilities.attachments
    for wrong in ("two", 9):
        with pytest.raises(ConnectionSettingsError, match=(
                rf"connection 'drop_acme': extra protocol_version {wrong!r} is not a file-drop protocol version "
                r"\(this connector speaks 1, 2, 3, 4, 5, 6, 7, 8; 2 for an agent taking attachments, 3 for one also "
                r"taking exchange rates, 4 for one also taking credit notes, vendor credits and sales receipts, 5 for "
                r"one also answering the rate it booked, 6 for one also taking bank entries and expense reports, 7 for "
                r"one also attaching files to every kind of entry, 8 for one also publishing journal codes and "
                r"auxiliary accounts\)")):
            file_drop(entity, connection(protocol_version=wrong))


def test_an_attachments_file_refused_whole_is_answered_in_version_2(agent, root):
    raw = {"protocol_version": 2, "kind": "attachments", "entity_id": "globex_uk", "company_id": COMPANY,
           "batch_key": "bad", "created_at": "2025-02-01T09:00:00.000Z", "records": [attachment(SCAN)]}
    path = drop(root, "attachments", raw)
    [outcome] = agent.process(LocalFileSystem(root), ENTITY)
    assert outcome.status == "rejected"
    confirmation = read_inbound(LocalFileSystem(root), outcome.confirmation, entity_id=ENTITY, company_id=COMPANY)
    assert confirmation.envelope["protocol_version"] == 2
    assert confirmation.envelope["in_reply_to"] == {"file": path.name, "kind": "attachments", "batch_key": "bad"}
    assert confirmation.envelope["file_error"]["code"] == "wrong_entity" and confirmation.records == []


class _DiesBeforeTheMessage(LocalFileSystem):
    """A session that dies once the document's bytes are up, before its message is renamed into place."""

    def rename(self, source: str, target: str) -> None:
        if target.endswith(".json") and "/attachments/" in target:
            raise ConnectionResetError("connection lost")
        super().rename(source, target)


def test_a_connection_lost_between_the_bytes_and_the_message_loses_nothing(agent, root, clock, bill_txn):
    from ledgerbridge.connectors.errors import TransientError

    @contextmanager
    def dying():
        yield _DiesBeforeTheMessage(root)

    item = _outgoing(_connector(root, 2), SCAN)
    item = replace(item, payload={**item.payload, "document": {"external_id": bill_txn}})
    with pytest.raises(TransientError, match="sent again next run"):
        FileDropConnector(dying, ENTITY, COMPANY, protocol_version=2).create_many([item], "batch-1")
    assert (root / ENTITY / ATTACHMENT_FILES / f"{item.key}.bin").read_bytes() == SCAN
    assert not list((root / ENTITY / "to_accounting/attachments").glob("*.json"))
    agent.process(LocalFileSystem(root), ENTITY)  # the agent sees bytes but no message: nothing to do
    assert agent.company.attachments == {}

    connector = _connector(root, 2)
    outcome = connector.create_many([item], "batch-1")  # the next run sends it again
    agent.process(LocalFileSystem(root), ENTITY)
    found = connector.find_existing_many([item])
    [stored] = agent.company.attachments_of(bill_txn)
    assert found["1"].external_id == stored["attachment_id"] and stored["content"] == SCAN
    assert isinstance(outcome["1"], Awaiting)
