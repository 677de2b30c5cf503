"""The safe reader: every kind of bad inbound file is refused with a reason naming record and field,
lands in rejected/ with its `.error.json`, and the good files beside it are still read."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from drop_samples import (
    COMPANY,
    DELETE,
    ENTITY,
    START,
    changed,
    drop,
    file_name,
    message,
    relative,
)
from ledgerbridge.filedrop import (
    DEFAULT_MAX_BYTES,
    LEAVE_IN_PLACE,
    InboundMessage,
    LocalFileSystem,
    Rejection,
    consume_inbox,
    list_inbound,
    read_inbound,
)

LIMIT = 16 * 1024  # the catalogue's size limit: small, so "huge" stays cheap


def dumped(data) -> bytes:
    return json.dumps(data, indent=1).encode("utf-8")


def nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@dataclass(frozen=True)
class Bad:
    id: str
    kind: str  # whose inbox the file lands in
    content: bytes
    code: str
    field: str | None = None
    record: int | None = None
    words: str = ""
    name: str | None = None


def _lists(pointer: str, value) -> bytes:
    return dumped(changed(message("lists"), pointer, value))


BAD_FILES = [
    Bad("malformed_json", "lists", dumped(message("lists"))[:200], "malformed_json", words="not valid JSON: "),
    Bad("protocol_version_9", "lists", _lists("/protocol_version", 9), "protocol_version", "/protocol_version",
        words="speaks protocol_version 9; this reader speaks 1, 2, 3, 4, 5, 6, 7, 8"),
    Bad("protocol_version_missing", "lists", _lists("/protocol_version", DELETE), "protocol_version",
        "/protocol_version", words="no protocol_version"),
    Bad("protocol_version_string", "lists", _lists("/protocol_version", "1"), "protocol_version", "/protocol_version"),
    Bad("missing_field", "lists", _lists("/records/1/name", DELETE), "schema", "/records/1/name", 1, "required"),
    Bad("wrong_type", "lists", _lists("/records/0/active", "yes"), "schema", "/records/0/active", 0,
        'must be boolean, not string "yes"'),
    Bad("negative_quantity", "purchase_orders",
        dumped(changed(message("purchase_orders"), "/records/0/lines/0/quantity", "-5")), "schema",
        "/records/0/lines/0/quantity", 0, "never negative"),
    Bad("unknown_kind_in_name", "lists", dumped(message("lists")), "unknown_kind", words="'widgets'",
        name="widgets-20250201T090000.000Z-b1.json"),
    Bad("unknown_kind_in_envelope", "lists", _lists("/kind", "widgets"), "kind_mismatch", "/kind",
        words="kind 'widgets' differs"),
    Bad("huge_file", "lists", dumped(changed(message("lists"), "/x_padding", "z" * LIMIT)), "too_large",
        words=f"over the limit of {LIMIT} bytes"),
    Bad("empty_file", "lists", b"", "empty", words="is empty"),
    Bad("whitespace_only", "lists", b" \n\t\n", "empty", words="only whitespace"),
    Bad("latin1", "lists", dumped(changed(message("lists"), "/records/0/name", "Caf\u00e9")).replace(
        b"Caf\\u00e9", b"Caf\xe9"), "not_utf8", words="byte 0xe9 at offset"),
    Bad("utf16", "lists", json.dumps(message("lists")).encode("utf-16"), "not_utf8", words="not UTF-8"),
    Bad("float_amount", "payments_made", dumped(changed(message("payments_made"), "/records/0/amount", 100.1)),
        "schema", "/records/0/amount", 0, "JSON number 100.1"),
    Bad("too_many_decimals", "payments_made",
        dumped(changed(message("payments_made"), "/records/0/applications/0/amount", "100.001")), "schema",
        "/records/0/applications/0/amount", 0, "at most 2 decimal places"),
    Bad("negative_amount", "payments_made", dumped(changed(message("payments_made"), "/records/0/amount", "-100.00")),
        "schema", "/records/0/amount", 0, "above zero"),
    Bad("wrong_entity", "lists", _lists("/entity_id", "globex_uk"), "wrong_entity", "/entity_id",
        words="'globex_uk'"),
    Bad("wrong_company", "lists", _lists("/company_id", "QBD-globex"), "wrong_company", "/company_id",
        words="'QBD-globex'"),
    Bad("duplicate_record_keys", "lists", _lists("/records/3/key", "80000001-1738000000"), "duplicate_key",
        "/records/3/key", 3, "already used by record 0"),
    Bad("top_level_array", "lists", dumped([message("lists")]), "not_an_object", "/", words="JSON array"),
    Bad("nan_literal", "payments_made", dumped(message("payments_made")).replace(b'"100.00"', b"NaN", 1),
        "malformed_json", words="NaN is not JSON"),
    Bad("duplicate_member", "lists", dumped(message("lists")).replace(b'"active": true',
        b'"active": true, "active": false', 1), "malformed_json", words="'active' appears twice"),
    Bad("name_outside_convention", "lists", dumped(message("lists")), "bad_name", words="does not follow",
        name="vendors.json"),
    Bad("wrong_directory", "lists", dumped(message("purchase_orders")), "wrong_directory",
        words="a purchase_orders file does not belong in from_accounting/lists/",
        name=file_name("purchase_orders")),
    Bad("typo_field", "lists", _lists("/records/0/nmae", "Nick"), "schema", "/records/0/nmae", 0, "not a field"),
    Bad("impossible_date", "purchase_orders",
        dumped(changed(message("purchase_orders"), "/records/0/txn_date", "2025-02-30")), "schema",
        "/records/0/txn_date", 0, "calendar date"),
    Bad("unknown_list_type", "lists", _lists("/records/0/list_type", "employee"), "schema", "/records/0/list_type", 0,
        "not one of"),
    Bad("total_not_sum_of_lines", "purchase_orders",
        dumped(changed(message("purchase_orders"), "/records/0/total", "251.00")), "inconsistent",
        "/records/0/total", 0, "not the sum of the line amounts (250.00)"),
    Bad("deep_nesting", "lists", _lists("/x_deep", nested(100)), "malformed_json", words="nests deeper"),
    Bad("batch_key_mismatch", "lists", _lists("/batch_key", "other-batch"), "batch_key_mismatch", "/batch_key"),
    Bad("applications_over_amount", "payments_received",
        dumped(changed(message("payments_received"), "/records/0/applications/0/amount", "999.00")), "inconsistent",
        "/records/0/applications", 0, "more than the payment's amount"),
    Bad("records_not_an_array", "lists", _lists("/records", {"0": {}}), "schema", "/records", words="must be array"),
    Bad("local_time_created_at", "lists", _lists("/created_at", "2025-02-01T10:00:00+01:00"), "schema", "/created_at",
        words="UTC timestamp"),
]
assert len({bad.id for bad in BAD_FILES}) == len(BAD_FILES) >= 20


def put(root: Path, bad: Bad) -> Path:
    return drop(root, bad.kind, bad.content, name=bad.name or file_name(bad.kind))


def read(root: Path, path: Path, max_bytes: int = LIMIT) -> InboundMessage | Rejection:
    return read_inbound(LocalFileSystem(root), relative(root, path), max_bytes, entity_id=ENTITY, company_id=COMPANY)


@pytest.mark.parametrize("bad", BAD_FILES, ids=[bad.id for bad in BAD_FILES])
def test_each_bad_file_is_refused_naming_record_and_field(tmp_path, bad):
    result = read(tmp_path, put(tmp_path, bad))
    assert isinstance(result, Rejection), result
    assert result.code == bad.code, result.reason
    assert result.field == bad.field, result.reason
    assert result.record_index == bad.record, result.reason
    assert bad.words in result.reason
    if bad.record is not None:
        assert f"record {bad.record} (key " in result.reason and bad.field in result.reason


GOOD = {"lists": message("lists", batch_key="good-1"),
        "purchase_orders": message("purchase_orders", batch_key="good-2"),
        "payments_made": message("payments_made", batch_key="good-3"),
        "payments_received": message("payments_received", batch_key="good-4")}
def test_a_kind_of_version_2_in_a_version_1_message_is_refused(tmp_path):
    path = drop(tmp_path, "attachments", dumped(message("attachments", protocol_version=1)))
    result = read(tmp_path, path)
    assert isinstance(result, Rejection)
    assert (result.code, result.problems[0].field) == ("protocol_version", "/protocol_version")
    assert "which protocol_version 2 introduced, but says protocol_version 1" in result.reason


def test_version_1_and_version_2_messages_are_both_read(tmp_path):
    for version, batch_key in ((1, "v1"), (2, "v2")):
        path = drop(tmp_path, "bills", dumped(message("bills", batch_key=batch_key, protocol_version=version)),
                    batch_key=batch_key)
        result = read(tmp_path, path)
        assert isinstance(result, InboundMessage), result
        assert result.envelope["protocol_version"] == version


INBOXES = ("from_accounting/lists", "from_accounting/purchase_orders", "from_accounting/payments")


def test_bad_files_go_to_rejected_and_the_good_ones_beside_them_are_read(tmp_path):
    for second, bad in enumerate(BAD_FILES):
        name = bad.name or file_name(bad.kind, at=START + timedelta(seconds=second))
        drop(tmp_path, bad.kind, bad.content, name=name)
    (tmp_path / ENTITY / "from_accounting/lists" / file_name("lists", "a-directory")).mkdir()
    for kind, data in GOOD.items():
        drop(tmp_path, kind, data, batch_key=data["batch_key"])
    drop(tmp_path, "lists", b"\xef\xbb\xbf" + dumped(message("lists", batch_key="with-bom")), batch_key="with-bom")

    imported: dict[str, list] = {}
    notes: dict[str, tuple] = {}
    fs = LocalFileSystem(tmp_path)
    outcomes = [outcome for inbox in INBOXES for outcome in consume_inbox(
        fs, ENTITY, inbox,
        lambda m: (imported.setdefault(m.batch_key, m.records), notes.setdefault(m.batch_key, m.notes)),
        entity_id=ENTITY, company_id=COMPANY, max_bytes=LIMIT)]

    assert set(imported) == {"good-1", "good-2", "good-3", "good-4", "with-bom"}
    # A byte-order mark is tolerated, and said (the connector logs each note), never silently.
    assert notes["with-bom"] == ("began with a UTF-8 byte-order mark, which carries no data and was ignored",)
    assert notes["good-1"] == ()
    assert imported["good-3"][0]["amount"] == Decimal("100.00")
    rejected = {o.path.rsplit("/", 1)[1]: o for o in outcomes if o.status == "rejected"}
    assert len(rejected) == len(BAD_FILES) + 1  # and the directory
    for inbox in INBOXES:
        assert list_inbound(fs, f"{ENTITY}/{inbox}") == [], "every file was either read or rejected"
    for name, outcome in rejected.items():
        report = json.loads((tmp_path / (outcome.moved_to + ".error.json")).read_text())
        assert report["file"] == name
        assert report["code"] == outcome.rejection.code
        assert report["message"] == outcome.rejection.reason
        assert report["field"] == outcome.rejection.field and report["record_index"] == outcome.rejection.record_index
        assert (tmp_path / outcome.moved_to).exists()
    assert sorted(os.listdir(tmp_path / ENTITY / "processed")) == sorted(
        o.moved_to.rsplit("/", 1)[1] for o in outcomes if o.status == "processed")


def test_the_default_size_limit_refuses_a_file_without_reading_it(tmp_path):
    path = drop(tmp_path, "lists", b" " * (DEFAULT_MAX_BYTES + 1))
    result = read(tmp_path, path, DEFAULT_MAX_BYTES)
    assert result.code == "too_large" and f"{DEFAULT_MAX_BYTES + 1} bytes" in result.reason


# --- path tricks: refused before anything is opened, and never moved ---------------------------

def test_a_name_climbing_out_with_dot_dot_is_refused(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(message("lists")))
    path = f"{ENTITY}/from_accounting/lists/../../../secret.json"
    result = read_inbound(LocalFileSystem(tmp_path / "drop"), path, LIMIT)
    assert result.code == "unsafe_path" and "'..'" in result.reason


@pytest.mark.parametrize("path", ["/etc/passwd", "C:/Windows/win.ini", "acme_us\\..\\..\\x.json",
                                  "acme_us/from_accounting/lists/./lists-20250201T090000.000Z-b1.json",
                                  "acme_us//lists-20250201T090000.000Z-b1.json", "acme_us/lists\x00.json", ""])
def test_absolute_and_odd_paths_are_refused(tmp_path, path):
    result = read_inbound(LocalFileSystem(tmp_path), path, LIMIT)
    assert isinstance(result, Rejection) and result.code == "unsafe_path", result


def test_an_absolute_path_to_a_real_good_file_is_still_refused(tmp_path):
    path = drop(tmp_path, "lists", message("lists"))
    result = read_inbound(LocalFileSystem(tmp_path), str(path), LIMIT)
    assert result.code == "unsafe_path" and "absolute path" in result.reason


def test_a_symlink_is_refused_even_to_a_good_file(tmp_path):
    good = drop(tmp_path, "lists", message("lists"))
    link = good.parent / file_name("lists", "linked")
    link.symlink_to(good)
    result = read(tmp_path, link)
    assert result.code == "symlink" and "symbolic link" in result.reason
    assert isinstance(read(tmp_path, good), InboundMessage)


def test_a_symlinked_directory_leading_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    drop(outside, "lists", message("lists"))
    root = tmp_path / "drop"
    (root / ENTITY / "from_accounting").mkdir(parents=True)
    (root / ENTITY / "from_accounting" / "lists").symlink_to(outside / ENTITY / "from_accounting" / "lists")
    path = f"{ENTITY}/from_accounting/lists/{file_name('lists')}"
    result = read_inbound(LocalFileSystem(root), path, LIMIT)
    assert result.code == "unsafe_path" and "outside the drop root" in result.reason


def test_part_files_are_not_listed_and_never_read(tmp_path):
    good = drop(tmp_path, "lists", message("lists"))
    part = good.parent / (file_name("lists", "uploading") + ".part")
    part.write_bytes(dumped(message("lists"))[:50])
    fs = LocalFileSystem(tmp_path)
    assert list_inbound(fs, f"{ENTITY}/from_accounting/lists") == [relative(tmp_path, good)]
    with pytest.raises(ValueError, match="upload in progress"):
        read_inbound(fs, relative(tmp_path, part), LIMIT)
    consume_inbox(fs, ENTITY, "from_accounting/lists", lambda m: None, entity_id=ENTITY)
    assert part.exists(), "a .part is left for its writer to finish"


def test_strict_false_keeps_a_sound_file_and_lists_its_bad_records(tmp_path):
    data = changed(message("lists"), "/records/2/account_type", "Cash")
    result = read_inbound(LocalFileSystem(tmp_path), relative(tmp_path, drop(tmp_path, "lists", data)), LIMIT,
                          strict=False)
    assert isinstance(result, InboundMessage)
    assert [(p.record_index, p.field) for p in result.record_problems] == [(2, "/records/2/account_type")]
    assert result.problems_of(0) == [] and len(result.records) == 6


def test_a_file_gone_before_it_is_read_is_left_for_the_next_poll(tmp_path):
    result = read_inbound(LocalFileSystem(tmp_path), f"{ENTITY}/from_accounting/lists/{file_name('lists')}", LIMIT)
    assert result.code == "missing" and result.code in LEAVE_IN_PLACE
