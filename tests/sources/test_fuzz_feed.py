"""Fuzz: bad feed files (the demo's valid hub data, broken one way at a time: truncated, wrong types, missing
fields, unknown references, huge numbers, NaN and Infinity, too many decimals, non-UTF-8 bytes, a BOM,
deep nesting, empty, the wrong top-level type) are refused whole naming the file, or record by record
naming the record and the field; never a raw parser, decimal or database error; and the good file beside
the bad one is still taken in, whole. On SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
import uuid
from contextlib import nullcontext
from pathlib import Path

import pytest
import yaml
from fuzzing import damaged, mutated, to_json, to_yaml
from hypothesis import event, example, given
from hypothesis import strategies as st
from sqlalchemy import select

from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.ledger.models import Document, Party, Payment, QuarantineEntry
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sources.feed import FeedSource
from ledgerbridge.sources.intake import HubRecordError, _usable_hub_id, records_of_mapping, take_in
from ledgerbridge.sources.records import KINDS_BY_KEY
from support import bill

ROOT = Path(__file__).resolve().parents[2]
DEMO_HUB = yaml.safe_load((ROOT / "include/config/demo_data.yaml").read_text())["entities"]["acme_us"]["hub"]
# The demo's acme_us hub data, as the hub would send it (JSON: dates as text): every record valid at intake.
VALID_FEED = json.loads(json.dumps(DEMO_HUB, default=str))
GOOD_FILE = {"vendors": [{"hub_id": "GOOD-V-1", "name": "Good Vendor"}],
             "customers": [{"hub_id": "GOOD-C-1", "name": "Good Customer"}],
             "bills": [bill("GOOD-B-1", vendor="GOOD-V-1"), bill("GOOD-B-2", vendor="GOOD-V-1", amount="0.01")]}
VALID_CSV = "hub_id,name,email,city\nV-100,\"Brown, Nick\",nick@brown.example,\nV-101,Dunder Mifflin Paper Co.,,Scranton\n"


def _entity(entity_id: str) -> LegalEntity:
    return LegalEntity.model_validate({"id": entity_id, "name": "Fuzz Ltd", "base_currency": "USD",
                                       "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"},
                                       "source": {"kind": "feed", "conn_id": f"feed_{entity_id}"}})


def _csv_text(rows: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


@st.composite
def feed_files(draw) -> tuple[str, bytes, list[str]]:
    """(file name, bytes, what was broken): one of the demo's feed files, broken."""
    form = draw(st.sampled_from(["json", "json", "yaml", "csv"]))
    if form == "csv":
        rows = list(csv.reader(io.StringIO(VALID_CSV)))
        (broken, done) = draw(mutated(rows, root=False))
        broken = [row if isinstance(row, list) else [row] for row in broken]
        content = _csv_text([[cell if isinstance(cell, str) else json.dumps(cell, default=str)
                              for cell in (row if isinstance(row, list) else [row])] for row in broken])
        name = "vendors-fuzz.csv"
    else:
        document, done = draw(mutated(VALID_FEED))
        content = to_json(document, draw(st.booleans())) if form == "json" else to_yaml(document)
        name = f"z-fuzz.{form}"
    content, how = draw(damaged(content))
    return name, content, [*done, how]


def _check_batch_and_intake(ledger, tmp_path: Path, name: str, content: bytes) -> tuple:
    entity_id = f"fz_{uuid.uuid4().hex[:10]}"
    root = tmp_path / uuid.uuid4().hex
    inbound = root / entity_id / "inbound"
    inbound.mkdir(parents=True)
    (inbound / "a-good.json").write_text(json.dumps(GOOD_FILE))
    (inbound / name).write_bytes(content)
    source = FeedSource(lambda: nullcontext(LocalFileSystem(root)), entity_id)

    batch = source.fetch_changes()

    for refused in batch.refused:  # a file refused whole names itself and says why, in the words of a person
        assert refused.name == name and refused.reason.strip()
        report = root / entity_id / "rejected" / f"{name}.error.json"
        assert refused.moved_to is None or json.loads(report.read_text())["file"] == name
    assert [r.origin.source for r in batch.records if r.origin.source == "a-good.json"] == ["a-good.json"] * 4

    entity = _entity(entity_id)
    with ledger.session() as session:
        report = take_in(session, entity, batch.records)
    for refusal in report.refused:
        assert refusal.origin.source in ("a-good.json", name)
        assert refusal.who.startswith(refusal.kind.label) and refusal.reasons
        for reason in refusal.reasons:
            assert isinstance(reason.field, str) and reason.field.strip() and reason.problem.strip()
        assert f"field '{refusal.reasons[0].field}'" in refusal.message()

    with ledger.session() as session:
        taken = {(kind, hub_id) for model, kind_column in ((Party, Party.kind), (Document, Document.kind),
                                                           (Payment, Payment.kind))
                 for kind, hub_id in session.execute(select(kind_column, model.hub_id)
                                                     .where(model.entity_id == entity_id))}
        held = set(session.scalars(select(QuarantineEntry.record_key).where(QuarantineEntry.entity_id == entity_id)))
    # The good file is taken in whole, whatever its neighbour holds.
    assert {("vendor", "GOOD-V-1"), ("customer", "GOOD-C-1"), ("bill", "GOOD-B-1"), ("bill", "GOOD-B-2")} <= taken
    # Nothing is lost silently: each record read is in the ledger or held, under its hub id or its place.
    ledger_ids = {hub_id for _, hub_id in taken}
    for record in batch.records:
        hub_id = _usable_hub_id(record.data)
        assert (hub_id in ledger_ids or hub_id in held) if hub_id else str(record.origin)[-200:] in held, record
    return batch, report


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("feed-fuzz")


@given(case=feed_files())
@example(case=("z-inf.yaml", b"bills: [{hub_id: B-INF, vendor: V-100, doc_date: 2026-11-02, lines: [{amount: .inf}]}]\n",
               ["regression: a YAML .inf amount broke the quarantine's JSON"]))
@example(case=("z-nan.yaml", b"vendors: [{hub_id: .nan, name: A}]\n", ["regression: a NaN hub id"]))
@example(case=("z-huge.json", b'{"bills": [{"hub_id": "B-HUGE", "vendor": "V-100", "doc_date": "2026-11-02", '
                              b'"lines": [{"amount": 1e400}]}]}', ["regression: a JSON number past float range is inf"]))
def test_a_broken_feed_file_is_refused_naming_file_or_record_and_field_and_the_good_file_goes_in(
        ledger, fuzz_dir, case):
    name, content, _ = case
    batch, report = _check_batch_and_intake(ledger, fuzz_dir, name, content)
    event("file refused whole" if batch.refused else "file read")
    event("some records held at intake" if report.refused else "no record held at intake")


def test_the_valid_demo_feed_is_taken_in_whole(ledger, tmp_path):
    """The fuzz's starting point is valid: unbroken, every record of it goes in (else the fuzz proves little)."""
    _check_batch_and_intake(ledger, tmp_path, "z-demo.json", to_json(VALID_FEED))
    _check_batch_and_intake(ledger, tmp_path, "z-demo.yaml", to_yaml(VALID_FEED))
    with ledger.session() as session:
        assert session.scalar(select(QuarantineEntry.id).limit(1)) is None


@given(broken=mutated(VALID_FEED, root=False))
@example(broken=({"bills": 5}, ["regression: a kind that holds no list"]))
@example(broken=({1: [], "bills": []}, ["regression: a key that is no text"]))
def test_strict_import_refuses_a_broken_mapping_with_hub_record_error_naming_record_and_field(ledger, broken):
    """hub_import's all-or-nothing form: the first bad record is a HubRecordError naming it and its field."""
    document, _ = broken
    entity = _entity(f"fz_{uuid.uuid4().hex[:10]}")
    try:
        with ledger.session() as session:
            take_in(session, entity, records_of_mapping(document, "hub.json"), strict=True)
    except HubRecordError as error:
        message = str(error)
        if any(message.startswith(f"{kind.label} ") for kind in KINDS_BY_KEY.values()):
            assert "field '" in message, message  # a record: by its hub id or its place, and the field
        else:
            assert "hub.json" in message, message  # the mapping itself: by its source, and the kind



@pytest.mark.parametrize("name, content, record_key, field", [
    ("inf.yaml", b"vendors: [{hub_id: V-1, name: A}]\n"
                 b"bills: [{hub_id: B-INF, vendor: V-1, doc_date: 2026-11-02, lines: [{amount: .inf}]}]\n",
     "B-INF", "lines.0.amount"),
    ("nan.yaml", b"vendors: [{hub_id: .nan, name: A}]\n", "nan.yaml #1", "hub_id"),
    ("huge.json", b'{"vendors": [{"hub_id": "V-1", "name": "A"}], "bills": [{"hub_id": "B-HUGE", "vendor": "V-1", '
                  b'"doc_date": "2026-11-02", "lines": [{"amount": 1e400}]}]}', "B-HUGE", "lines.0.amount"),
])
def test_regression_a_non_finite_number_is_held_naming_record_and_field(ledger, tmp_path, name, content,
                                                                         record_key, field):
    """Found by the fuzz: YAML's .inf/.nan and JSON's 1e400 (a float past range: inf) reached the quarantine's
    JSON, which refused them: a raw database error that took the whole batch down, good records too."""
    entity_id = f"fz_{uuid.uuid4().hex[:10]}"
    (tmp_path / entity_id / "inbound").mkdir(parents=True)
    (tmp_path / entity_id / "inbound" / name).write_bytes(content)
    (tmp_path / entity_id / "inbound" / "a-good.json").write_text(json.dumps(GOOD_FILE))
    batch = FeedSource(lambda: nullcontext(LocalFileSystem(tmp_path)), entity_id).fetch_changes()

    with ledger.session() as session:
        report = take_in(session, _entity(entity_id), batch.records)

    (refusal,) = report.refused
    assert refusal.record_key == record_key and refusal.reasons[0].field == field
    assert report.counts["bills"]["new"] == 2  # the good file's
    with ledger.session() as session:
        entry = session.scalars(select(QuarantineEntry).where(QuarantineEntry.entity_id == entity_id)).one()
    assert entry.record_key == record_key and entry.reasons[0]["field"] == field
    assert "inf" in json.dumps(entry.payload) or "nan" in json.dumps(entry.payload)


@pytest.mark.parametrize("data, words", [
    ({"bills": 5}, "field 'bills' of the feed holds an int, not a list of records"),
    ({"vendors": "V-1,A"}, "field 'vendors' of the feed holds a str, not a list of records"),
    ({1: [], "bills": []}, "unknown kind(s) 1 in the feed"),
    (["bills"], "the feed holds a list, not a mapping of record kinds"),
])
def test_regression_strict_import_of_a_mapping_of_the_wrong_shape_is_a_hub_record_error(data, words):
    """Found by the fuzz: these raised TypeError (an int where a list belongs, a key that is no text, sorted
    beside text) or, for a string, took each of its characters as a record."""
    with pytest.raises(HubRecordError) as refused:
        records_of_mapping(data)
    assert words in str(refused.value)
