"""The source side in whole runs against the QBO sandbox, on SQLite and PostgreSQL: hub data arrives as
feed files through pull_source, what happened to each record goes back as write-back files, exactly
once, even when the worker dies between writing the file and recording it."""
from __future__ import annotations

import json
import uuid
from collections import Counter
from contextlib import nullcontext
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from ledgerbridge.connectors.factory import ConnectionSettings
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.hub_import import import_hub_data
from ledgerbridge.ledger.models import (
    Document,
    OutboxEntry,
    Party,
    OutboxState,
    QuarantineEntry,
    QuarantineStatus,
    SourceJournal,
    SourceWriteBack,
    WriteBackState,
)
from ledgerbridge.pipeline import run_all, run_step
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.factory import build_source
from ledgerbridge.sources.feed import FeedSource
from support import bill, bills_in_company, connect_company, context, make_entity


def _entity(entity_id: str) -> LegalEntity:
    return LegalEntity.model_validate({**make_entity(entity_id).model_dump(mode="json"),
                                       "source": {"kind": "feed", "conn_id": f"feed_{entity_id}"}})


class Feed:
    """An entity's feed folder, as the hub sees it."""

    def __init__(self, root: Path, entity: LegalEntity):
        self.root, self.entity = root, entity
        self.folder = root / entity.id
        (self.folder / "inbound").mkdir(parents=True)
        self.dropped = 0

    def drop(self, data: dict, name: str | None = None) -> None:
        self.dropped += 1
        (self.folder / "inbound" / (name or f"hub-{self.dropped:03d}.json")).write_text(json.dumps(data))

    def source(self):
        return build_source(self.entity, ConnectionSettings(f"feed_{self.entity.id}",
                                                            extra={"local_root": str(self.root)}))

    def written_back(self) -> list[dict]:
        """Every item of every write-back file, in the order written."""
        return [record for path in sorted((self.folder / "outbound").glob("writeback-*.json"))
                for record in json.loads(path.read_text())["records"]]

    def statuses(self) -> Counter:
        return Counter((item["hub_id"], item["status"]) for item in self.written_back())


@pytest.fixture
def synced(ledger, qbo_server, tmp_path):
    """(feed, run): an entity with a feed source and a sandbox company; `run()` is one whole DAG run."""
    def make(entity_id: str):
        entity = _entity(entity_id)
        conn = connect_company(qbo_server, ledger, entity)
        feed = Feed(tmp_path / "feed", entity)

        def run(run_id: str | None = None, source=None) -> dict:
            ctx = replace(context(entity, ledger, conn, run_id),
                          connect_source=(lambda: source) if source else feed.source)
            return run_all(ctx)
        return feed, run, conn
    return make


def _open_quarantine(ledger, entity_id: str) -> dict[tuple[str, str], QuarantineEntry]:
    with ledger.session() as session:
        return {(q.dataset, q.record_key): q for q in session.scalars(select(QuarantineEntry).where(
            QuarantineEntry.entity_id == entity_id, QuarantineEntry.status == QuarantineStatus.OPEN))}


VENDORS_CSV = "hub_id,name\nV-1,\"Brown, Nick\"\nV-2,Dunder Mifflin Paper Co.\n"


def test_a_draft_approved_later_in_the_feed_is_exported_by_the_next_run(ledger, qbo_server, synced):
    feed, run, conn = synced("src_draft")
    feed.drop({"bills": [bill("B-1", "V-1", "10.00"), bill("B-2", "V-2", "20.00", status="draft")]})
    (feed.folder / "inbound" / "vendors.csv").write_text(VENDORS_CSV)  # parties may come as CSV

    first = run()

    assert first["pull_source"]["new"] == 4 and first["pull_source"]["files"] == 2
    assert sorted(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == ["B-1"]
    assert sorted(p.name for p in (feed.folder / "processed").iterdir()) == ["hub-001.json", "vendors.csv"]

    feed.drop({"bills": [bill("B-2", "V-2", "20.00", status="approved")]})
    second = run()

    assert second["pull_source"]["kinds"] == {"bills": {"updated": 1}}
    assert sorted(b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)) == ["B-1", "B-2"]
    assert feed.statuses() == {("B-1", "confirmed"): 1, ("B-2", "confirmed"): 1}  # V-1 was matched, not created
    exported = {b["DocNumber"]: b["Id"] for b in bills_in_company(qbo_server, conn, ledger)}
    assert {i["hub_id"]: i["external_id"] for i in feed.written_back() if i["record_kind"] == "bill"} == exported


def test_a_bill_held_for_a_bad_account_is_released_once_fixed_in_the_feed(ledger, qbo_server, synced):
    feed, run, conn = synced("src_fixed")
    feed.drop({"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}], "bills": [bill("B-1", account="9999")]})
    run()
    assert ("bills", "B-1") in _open_quarantine(ledger, "src_fixed") and not bills_in_company(qbo_server, conn, ledger)
    (quarantined,) = [i for i in feed.written_back() if i["hub_id"] == "B-1"]
    assert quarantined["status"] == "quarantined" and "lines[1].account_code" in quarantined["reason"]

    feed.drop({"bills": [bill("B-1", account="6010")]})
    second = run()

    assert second["prepare_exports"]["released_from_quarantine"] == 1
    assert [b["DocNumber"] for b in bills_in_company(qbo_server, conn, ledger)] == ["B-1"]
    assert _open_quarantine(ledger, "src_fixed") == {}
    assert feed.statuses() == {("B-1", "quarantined"): 1, ("B-1", "confirmed"): 1}


def test_an_exported_bill_changed_or_voided_in_the_feed_is_held_and_nothing_is_sent_again(ledger, qbo_server, synced):
    feed, run, conn = synced("src_changed")
    feed.drop({"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
               "bills": [bill("B-1", amount="100.00"), bill("B-2", amount="50.00")]})
    run()
    before = {b["DocNumber"]: (b["Id"], b["TotalAmt"]) for b in bills_in_company(qbo_server, conn, ledger)}
    with ledger.session() as session:
        outbox_before = [(r.id, r.state, r.external_id) for r in session.scalars(select(OutboxEntry))]

    feed.drop({"bills": [bill("B-1", amount="120.00"), bill("B-2", amount="50.00", status="void")]})
    report = run()

    assert report["pull_source"]["changed_after_export"] == 2
    assert report["export_documents"]["sent"] == 0
    assert {b["DocNumber"]: (b["Id"], b["TotalAmt"]) for b in bills_in_company(qbo_server, conn, ledger)} == before
    with ledger.session() as session:
        assert [(r.id, r.state, r.external_id) for r in session.scalars(select(OutboxEntry))] == outbox_before
        ledger_bills = {d.hub_id: (d.total, d.status) for d in session.scalars(select(Document))}
    assert ledger_bills == {"B-1": (Decimal("100.00"), "approved"), "B-2": (Decimal("50.00"), "approved")}
    held = _open_quarantine(ledger, "src_changed")
    assert {r["field"] for r in held[("source.bills", "B-1")].reasons} == {"total", "lines"}
    assert "voided at the source after export" in held[("source.bills", "B-2")].reasons[0]["problem"]
    changed = {i["hub_id"]: i["reason"] for i in feed.written_back() if i["status"] == "changed_after_export"}
    assert set(changed) == {"B-1", "B-2"} and "total: changed at the source after export" in changed["B-1"]

    run()  # the same facts are not told twice
    assert Counter(i["status"] for i in feed.written_back()) == {"confirmed": 2, "changed_after_export": 2}


def test_a_newer_version_quarantined_at_intake_keeps_the_older_one_from_export(ledger, qbo_server, synced):
    feed, run, conn = synced("src_newer")
    feed.drop({"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}], "bills": [bill("B-1", amount="10.00")]})
    feed.drop({"bills": [bill("B-1", amount=12.5)]})  # the hub's correction, with a float

    first = run()

    assert first["pull_source"]["kinds"]["bills"] == {"new": 1, "quarantined": 1}
    assert first["prepare_exports"]["held_at_source"] == 1 and not bills_in_company(qbo_server, conn, ledger)
    assert first["reconcile"]["bills"]["buckets"] == {"quarantined": 1}

    feed.drop({"bills": [bill("B-1", amount="12.50")]})
    run()
    assert [b["TotalAmt"] for b in bills_in_company(qbo_server, conn, ledger)] == [Decimal("12.50")]


def test_a_record_queued_but_never_sent_takes_the_source_s_change(ledger, qbo_server, synced):
    """A dry run (or an export that stopped before it) leaves outbox rows never sent: a change at the
    source then withdraws the row and the record goes out as it is now (a voided bill not at all)."""
    feed, run, conn = synced("src_unsent")
    feed.drop({"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
               "bills": [bill("B-1", amount="100.00"), bill("B-2", amount="200.00")]})
    run_all(replace(context(feed.entity, ledger, conn, "dry-1", dry_run=True), connect_source=feed.source))
    assert bills_in_company(qbo_server, conn, ledger) == []

    feed.drop({"bills": [bill("B-1", amount="100.00", status="void"), bill("B-2", amount="250.00")]})
    report = run("real-1")

    assert report["pull_source"]["kinds"] == {"bills": {"updated": 2}}
    assert [(b["DocNumber"], b["TotalAmt"]) for b in bills_in_company(qbo_server, conn, ledger)] == [
        ("B-2", Decimal("250.00"))]
    with ledger.session() as session:
        rows = session.scalars(select(OutboxEntry)).all()
    assert [(row.record_key, row.state) for row in rows] == [("bill:B-2", OutboxState.CONFIRMED)]
    assert _open_quarantine(ledger, feed.entity.id) == {}


class DiesAfterWriting(FeedSource):
    """The worker is killed once the write-back file has landed, before the ledger hears of it."""

    def write_back(self, items, batch_key):
        super().write_back(items, batch_key)
        raise SystemExit("worker killed")


def test_write_back_is_exactly_once_even_when_the_worker_dies_after_writing_the_file(ledger, qbo_server, synced):
    feed, run, conn = synced("src_once")
    feed.drop({"vendors": [{"hub_id": "V-3", "name": "Globochem Supplies"}],  # created in QuickBooks
               "bills": [bill("B-1", "V-3"), bill("B-2", "V-3", account="9999")]})
    dying = DiesAfterWriting(lambda: nullcontext(LocalFileSystem(feed.root)), feed.entity.id)

    with pytest.raises(SystemExit):
        run("run-1", source=dying)

    items = feed.written_back()
    assert Counter((i["hub_id"], i["status"]) for i in items) == {("V-3", "confirmed"): 1, ("B-1", "confirmed"): 1,
                                                                  ("B-2", "quarantined"): 1}
    with ledger.session() as session:
        assert {r.state for r in session.scalars(select(SourceWriteBack))} == {WriteBackState.SENDING}

    # Another run while run-1's claim lasts leaves its items alone.
    other = run_step(replace(context(feed.entity, ledger, conn, "run-2"), connect_source=feed.source), "write_back")
    assert other["source"]["written"] == 0 and len(list((feed.folder / "outbound").iterdir())) == 1

    # run-1's retry looks the items up before sending anything: they are there, nothing is written again.
    retry = run_step(replace(context(feed.entity, ledger, conn, "run-1"), connect_source=feed.source), "write_back")

    assert retry["source"] == {"written": 0, "found_written": 3, "new": 0}
    assert feed.written_back() == items and len(list((feed.folder / "outbound").iterdir())) == 1
    with ledger.session() as session:
        rows = session.scalars(select(SourceWriteBack)).all()
    assert {(r.state, r.location) for r in rows} == {
        (WriteBackState.WRITTEN, f"src_once/outbound/{next((feed.folder / 'outbound').iterdir()).name}")}

    run("run-3")
    assert feed.written_back() == items  # nothing new to tell: no file


def test_an_entity_without_a_source_skips_both_source_steps(ledger, qbo_server):
    entity = make_entity("src_none")
    conn = connect_company(qbo_server, ledger, entity)
    with ledger.session() as session:
        import_hub_data(session, entity, {"vendors": [{"hub_id": "V-1", "name": "Brown, Nick"}],
                                          "bills": [bill("B-1")]})

    report = run_all(context(entity, ledger, conn, f"test__{uuid.uuid4().hex[:8]}"))

    assert report["pull_source"] == {"skipped": "no source"}
    assert report["write_back"]["source"] == {"skipped": "no source"} and report["write_back"]["documents"] == 1


def test_pull_source_takes_in_the_declared_journals_and_auxiliary_accounts_and_says_how_many(
        ledger, qbo_server, synced, caplog):
    feed, _, conn = synced("src_journals")
    feed.drop({"journals": [{"code": "ACH", "name": "Achats", "type": "purchases"},
                            {"code": "VTE", "name": "Ventes", "type": "ventes"}]})
    (feed.folder / "inbound" / "vendors.csv").write_text("hub_id,name,auxiliary_account\nV-1,Brown,401BROWN\n"
                                                        f"V-2,Dunder,{'F' * 18}\n")
    ctx = replace(context(feed.entity, ledger, conn), connect_source=feed.source)

    with caplog.at_level("INFO", logger="ledgerbridge.test.src_journals"):
        summary = run_step(ctx, "pull_source")

    assert summary["kinds"]["journals"] == {"new": 1, "quarantined": 1}
    assert "journals declared: 1 new, 0 updated, 0 unchanged, 1 quarantined" in caplog.text
    assert "journal 'VTE' quarantined (hub-001.json #2), not taken in: field 'type'" in caplog.text
    assert "vendor 'V-2' quarantined (vendors.csv #3), not taken in: field 'auxiliary_account'" in caplog.text
    held = _open_quarantine(ledger, "src_journals")
    assert set(held) == {("source.journals", "VTE"), ("source.vendors", "V-2")}
    with ledger.session() as session:
        assert session.scalar(select(Party.auxiliary_account).where(Party.hub_id == "V-1")) == "401BROWN"
        assert session.scalars(select(SourceJournal.code)).all() == ["ACH"]
    # A quarantined journal is none of the write-back's business (the hub hears of its records only).
    run_step(ctx, "write_back")
    assert ("VTE", "quarantined") not in feed.statuses() and ("V-2", "quarantined") in feed.statuses()
