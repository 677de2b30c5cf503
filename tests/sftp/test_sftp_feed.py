"""The feed source over SFTP (OpenSSH sshd and the embedded server), built from connection settings as
the operator builds it: files read, a bad one rejected with its reason, the rest acknowledged into
processed/, a write-back file landing whole (no `.part` left) and found again; a wrong host key is refused."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.filedrop.sftp import HostKeyRefused
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.sftp import public_key_line
from ledgerbridge.sources.base import WriteBack, WriteBackStatus
from ledgerbridge.sources.factory import build_source

ENTITY = "acme"


def _source(target, drop_dir, **extra):
    entity = LegalEntity.model_validate({
        "id": ENTITY, "name": "Acme", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_online", "conn_id": "qbo_acme"},
        "source": {"kind": "feed", "conn_id": "feed_acme"}})
    password = target.credentials.get("password")  # sshd logs in with a key file
    key_file = {} if password else {"key_file": str(target.client_key)}
    conn = ConnectionSettings("feed_acme", host=target.host, port=target.port, login=target.user, password=password,
                              extra={"root": target.remote(drop_dir), "host_key": target.host_key_line, **key_file,
                                     **extra})
    return build_source(entity, conn)


def test_a_feed_on_sftp_is_read_rejected_acknowledged_and_written_back(target, drop_dir):
    inbound = drop_dir / ENTITY / "inbound"
    inbound.mkdir(parents=True)
    (inbound / "hub-1.json").write_text(json.dumps({"bills": [
        {"hub_id": "B-1", "vendor": "V-1", "doc_date": "2026-11-02", "lines": [{"amount": "12.50"}]}]}))
    (inbound / "vendors.csv").write_text("hub_id,name\nV-1,Brown Nick\n")
    (inbound / "broken.yaml").write_text("bills: [\n")
    (inbound / "hub-2.json.part").write_text('{"bills": [')
    source = _source(target, drop_dir)

    batch = source.fetch_changes()

    assert [(r.kind, str(r.origin)) for r in batch.records] == [("bills", "hub-1.json #1"),
                                                                 ("vendors", "vendors.csv #2")]
    assert batch.records[0].data["lines"] == [{"amount": "12.50"}]
    (refused,) = batch.refused
    assert refused.name == "broken.yaml" and "not valid YAML" in refused.reason
    assert json.loads((drop_dir / ENTITY / "rejected" / "broken.yaml.error.json").read_text())["code"] == "malformed_yaml"

    assert source.acknowledge(batch) == 2
    assert sorted(p.name for p in (drop_dir / ENTITY / "processed").iterdir()) == ["hub-1.json", "vendors.csv"]
    assert sorted(p.name for p in inbound.iterdir()) == ["hub-2.json.part"]

    item = WriteBack("key-1", "bill", "B-1", WriteBackStatus.PAID, external_id="77", paid_amount=Decimal("12.50"),
                     open_balance=Decimal("0"), currency="USD")
    written = source.write_back([item], "batch-7")
    (landed,) = (drop_dir / ENTITY / "outbound").iterdir()
    assert landed.name.endswith("-batch-7.json") and written["key-1"].location.endswith(landed.name)
    assert json.loads(landed.read_text())["records"] == [item.as_record() | {"paid_amount": "12.50",
                                                                              "open_balance": "0.00"}]
    assert set(source.find_written([item, WriteBack("key-2", "bill", "B-2", WriteBackStatus.PAID)])) == {"key-1"}


def test_a_feed_server_with_another_host_key_is_refused(target, drop_dir):
    import asyncssh

    impostor = public_key_line(asyncssh.generate_private_key("ssh-ed25519"))
    source = _source(target, drop_dir, host_key=impostor)
    with pytest.raises(HostKeyRefused):
        source.fetch_changes()
