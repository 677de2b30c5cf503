"""The feed source over a local folder: files in name order with each record's origin, `.part` uploads
left alone, files that cannot be read moved to rejected/ with the reason, the rest acknowledged into
processed/, and write-back files written atomically and found again."""
from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerbridge.connectors.factory import ConnectionSettings, ConnectionSettingsError
from ledgerbridge.filedrop.sftp import HostKeyRefused
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.base import WriteBack, WriteBackStatus
from ledgerbridge.sources.factory import build_source

ENTITY = "acme"


def _entity() -> LegalEntity:
    return LegalEntity.model_validate({
        "id": ENTITY, "name": "Acme", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_acme"},
        "source": {"kind": "feed", "conn_id": "feed_acme"}})


@pytest.fixture
def feed(tmp_path):
    root = tmp_path / "feed"
    (root / ENTITY / "inbound").mkdir(parents=True)
    return build_source(_entity(), ConnectionSettings("feed_acme", extra={"local_root": str(root)})), root / ENTITY


def _drop(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / "inbound" / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _names(folder: Path, directory: str) -> list[str]:
    return sorted(p.name for p in (folder / directory).iterdir()) if (folder / directory).exists() else []


def test_json_yaml_and_csv_files_are_read_in_name_order_with_each_record_s_origin(feed):
    source, folder = feed
    _drop(folder, "vendors-2026-11.csv", "hub_id,name,email,city\nV-1,\"Brown, Nick\",nick@brown.example,\n\nV-2,Dunder,,Scranton\n")
    _drop(folder, "b-bills.json", json.dumps({"entity_id": ENTITY, "bills": [
        {"hub_id": "B-1", "vendor": "V-1", "doc_date": "2026-11-02", "lines": [{"amount": "10.00"}]}]}))
    _drop(folder, "c-more.yaml", "bills:\n  - {hub_id: B-2, vendor: V-2, doc_date: 2026-11-03}\n"
                                 "customers: []\nbill_payments:\n")
    _drop(folder, "d-upload.json.part", "{half a fi")

    batch = source.fetch_changes()

    assert [(r.kind, str(r.origin)) for r in batch.records] == [
        ("bills", "b-bills.json #1"), ("bills", "c-more.yaml #1"),
        ("vendors", "vendors-2026-11.csv #2"), ("vendors", "vendors-2026-11.csv #4")]
    assert batch.records[2].data == {"hub_id": "V-1", "name": "Brown, Nick", "email": "nick@brown.example"}
    assert batch.records[1].data["doc_date"].isoformat() == "2026-11-03"  # YAML dates arrive as dates
    assert batch.refused == ()
    assert source.acknowledge(batch) == 3
    assert _names(folder, "inbound") == ["d-upload.json.part"]  # an upload in progress is never touched
    assert _names(folder, "processed") == ["b-bills.json", "c-more.yaml", "vendors-2026-11.csv"]
    assert source.fetch_changes().records == ()


@pytest.mark.parametrize("name, content, code, words", [
    ("cut.json", '{"bills": [', "malformed_json", "not valid JSON"),
    ("latin1.json", '{"vendors": [{"hub_id": "V-1", "name": "Caf\xe9"}]}'.encode("latin-1"), "not_utf8",
     "byte 0xe9"),
    ("twice.json", '{"bills": [], "bills": []}', "malformed_json", "appears twice"),
    ("nan.json", '{"bills": [{"amount": NaN}]}', "malformed_json", "NaN"),
    ("list.json", "[]", "not_an_object", "not a mapping"),
    ("typo.yaml", "bils: []\n", "unknown_kind", "'bils'"),
    ("wrong.json", '{"entity_id": "globex", "bills": []}', "wrong_entity", "'globex'"),
    ("notalist.json", '{"bills": {"hub_id": "B-1"}}', "not_a_list", "not a list"),
    ("twice.yaml", "bills: []\nbills: []\n", "malformed_yaml", "appears twice"),
    ("alias.yaml", "vendors: &v [{hub_id: V-1, name: A}]\ncustomers: *v\n", "malformed_yaml", "aliases"),
    ("tabs.yaml", "bills:\n\t- x\n", "malformed_yaml", "not valid YAML"),
    # Well-formed YAML whose scalar PyYAML cannot build (a date that does not exist, a tagged non-number).
    ("feb30.yaml", "bills:\n  - {hub_id: B-1, doc_date: 2026-02-30}\n", "malformed_yaml", "cannot read"),
    ("tagged.yaml", "bills:\n  - {hub_id: B-1, total: !!int ten}\n", "malformed_yaml", "cannot read"),
    ("empty.json", "  \n", "empty", "whitespace"),
    ("notes.txt", "hello", "bad_name", "not a feed file"),
    ("vendors.csv", "hub_id,name,colour\nV-1,A,red\n", "unknown_column", "'colour'"),
    ("customers.csv", "name,email\nA,a@b.c\n", "bad_header", "hub_id and name"),
    ("future.json", '{"feed_version": 2, "bills": []}', "feed_version", "feed_version 2"),
])
def test_a_file_that_cannot_be_read_goes_to_rejected_with_its_reason_and_the_others_go_on(
        feed, name, content, code, words):
    source, folder = feed
    _drop(folder, "good.json", json.dumps({"vendors": [{"hub_id": "V-1", "name": "A"}]}))
    _drop(folder, name, content)

    batch = source.fetch_changes()

    assert [r.data["hub_id"] for r in batch.records] == ["V-1"]
    (refused,) = batch.refused
    assert refused.name == name and words in refused.reason
    assert refused.moved_to == f"{ENTITY}/rejected/{name}"
    report = json.loads((folder / "rejected" / f"{name}.error.json").read_text())
    assert report["code"] == code and report["file"] == name and words in report["message"]
    assert _names(folder, "inbound") == ["good.json"]


def test_symlinks_and_oversized_files_are_refused_before_reading(tmp_path):
    root = tmp_path / "feed"
    (root / ENTITY / "inbound").mkdir(parents=True)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"vendors": [{"hub_id": "V-9", "name": "Stolen"}]}))
    os.symlink(secret, root / ENTITY / "inbound" / "link.json")
    (root / ENTITY / "inbound" / "big.json").write_text(json.dumps({"vendors": [{"hub_id": "V-1", "name": "A" * 200}]}))
    source = build_source(_entity(), ConnectionSettings("feed_acme", extra={"local_root": str(root),
                                                                             "max_bytes": "100"}))

    batch = source.fetch_changes()

    assert batch.records == ()
    reasons = {r.name: r.reason for r in batch.refused}
    assert "symbolic link" in reasons["link.json"] and "over the limit of 100 bytes" in reasons["big.json"]
    assert secret.exists() and sorted(p.name for p in (root / ENTITY / "rejected").iterdir()) == [
        "big.json", "big.json.error.json", "link.json", "link.json.error.json"]


def test_write_back_lands_atomically_in_outbound_and_is_found_again(feed):
    source, folder = feed
    items = [WriteBack("k-1", "bill", "B-1", WriteBackStatus.CONFIRMED, external_id="145", external_number="NB-11"),
             WriteBack("k-2", "bill", "B-2", WriteBackStatus.PARTIALLY_PAID, external_id="146",
                       paid_amount=Decimal("600.00"), open_balance=Decimal("750.5"), currency="USD"),
             WriteBack("k-3", "bill", None, WriteBackStatus.QUARANTINED, reason="hub.json #3: bill: not a mapping")]

    written = source.write_back(items, "batch-1")

    (name,) = _names(folder, "outbound")
    assert name.startswith("writeback-") and name.endswith("-batch-1.json")
    assert set(written) == {"k-1", "k-2", "k-3"} and {w.location for w in written.values()} == {
        f"{ENTITY}/outbound/{name}"}
    message = json.loads((folder / "outbound" / name).read_text())
    assert (message["kind"], message["entity_id"], message["batch_key"]) == ("write_back", ENTITY, "batch-1")
    assert message["records"][1] == {"key": "k-2", "record_kind": "bill", "hub_id": "B-2", "status": "partially_paid",
                                     "external_id": "146", "paid_amount": "600.00", "open_balance": "750.50",
                                     "currency": "USD"}  # amounts as exact strings
    assert message["records"][2]["hub_id"] is None
    assert WriteBack.from_record(message["records"][1]) == items[1]
    assert source.find_written([items[1], WriteBack("k-9", "bill", "B-9", WriteBackStatus.PAID)]) == {
        "k-2": written["k-2"]}


def test_a_feed_needs_a_folder_or_a_verified_sftp_server():
    with pytest.raises(ConnectionSettingsError, match="lacks host, login"):
        build_source(_entity(), ConnectionSettings("feed_acme", password="x"))
    # Read by the file drop's one parser: no host key, no connection (refused before any network traffic).
    unverified = build_source(_entity(), ConnectionSettings("feed_acme", host="sftp.example", login="hub",
                                                            password="x"))
    with pytest.raises(HostKeyRefused, match="no host_key and no known_hosts given"):
        unverified.fetch_changes()
    with pytest.raises(ConnectionSettingsError, match="max_bytes"):
        build_source(_entity(), ConnectionSettings("feed_acme", extra={"local_root": "/tmp", "max_bytes": "lots"}))


def test_declared_journals_come_first_and_a_parties_file_may_give_auxiliary_accounts(feed):
    source, folder = feed
    _drop(folder, "a-hub.yaml", "bills:\n  - {hub_id: B-1, vendor: V-1, doc_date: 2026-11-02, journal: ACH}\n"
                                "journals:\n  - {code: ACH, name: Achats, type: purchases}\n"
                                "  - {code: OD, name: Opérations diverses, type: general, active: false}\n")
    _drop(folder, "vendors.csv", "hub_id,name,auxiliary_account\nV-1,Moulins,FMOULINS\nV-2,Dunder,\n")

    batch = source.fetch_changes()

    assert [(r.kind, str(r.origin)) for r in batch.records] == [
        ("journals", "a-hub.yaml #1"), ("journals", "a-hub.yaml #2"), ("bills", "a-hub.yaml #1"),
        ("vendors", "vendors.csv #2"), ("vendors", "vendors.csv #3")]
    assert batch.records[1].data == {"code": "OD", "name": "Opérations diverses", "type": "general", "active": False}
    assert [r.data for r in batch.records[3:]] == [{"hub_id": "V-1", "name": "Moulins", "auxiliary_account": "FMOULINS"},
                                                   {"hub_id": "V-2", "name": "Dunder"}]
    assert batch.refused == ()
