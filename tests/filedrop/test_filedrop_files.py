"""Writing and moving the protocol's way: `.part` then rename, no overwrite, nothing lost."""
from __future__ import annotations

import json
import os

import pytest
from drop_samples import ENTITY, START, message
from ledgerbridge.filedrop import (
    LocalFileSystem,
    Problem,
    UnsafePath,
    build_message,
    ensure_layout,
    move_to,
    reject_file,
    write_atomic,
    write_message,
)
from ledgerbridge.filedrop.wire import from_wire


def test_write_atomic_leaves_only_the_final_file(tmp_path):
    fs = LocalFileSystem(tmp_path)
    write_atomic(fs, "a/b/file.json", b"{}")
    assert os.listdir(tmp_path / "a/b") == ["file.json"]


def test_a_retry_of_the_same_bytes_is_done_and_different_bytes_never_overwrite(tmp_path):
    fs = LocalFileSystem(tmp_path)
    write_atomic(fs, "file.json", b"first")
    write_atomic(fs, "file.json", b"first")  # the first attempt had landed: nothing to do
    with pytest.raises(FileExistsError):
        write_atomic(fs, "file.json", b"second")
    assert (tmp_path / "file.json").read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["file.json"], "no .part left behind"


def test_an_interrupted_part_is_overwritten_by_the_next_attempt(tmp_path):
    fs = LocalFileSystem(tmp_path)
    (tmp_path / "file.json.part").write_bytes(b"half a fi")
    write_atomic(fs, "file.json", b"whole file")
    assert os.listdir(tmp_path) == ["file.json"] and (tmp_path / "file.json").read_bytes() == b"whole file"


def test_write_message_names_the_file_and_it_reads_back_exactly(tmp_path):
    fs = LocalFileSystem(tmp_path)
    data = message("bills")
    built = build_message("bills", entity_id=ENTITY, company_id=data["company_id"], batch_key="b-7",
                          records=from_wire(data["records"]), created_at=START)
    path = write_message(fs, ENTITY, built)
    assert path == f"{ENTITY}/to_accounting/bills/bills-20250201T090000.000Z-b-7.json"
    assert write_message(fs, ENTITY, built) == path, "the same upload again lands on the same file"
    on_disk = json.loads((tmp_path / path).read_text())
    assert on_disk["records"] == data["records"]


def test_a_name_collision_with_other_content_gets_a_copy_number(tmp_path):
    fs = LocalFileSystem(tmp_path)
    first = build_message("bills", entity_id=ENTITY, company_id="C1", batch_key="b-7",
                          records=from_wire(message("bills")["records"]), created_at=START)
    second = {**first, "records": from_wire(message("bills", records=[message("bills")["records"][0] | {
        "key": "bill-2"}])["records"])}
    assert write_message(fs, ENTITY, first).endswith("b-7.json")
    assert write_message(fs, ENTITY, second).endswith("b-7~2.json")


def test_move_to_never_overwrites(tmp_path):
    fs = LocalFileSystem(tmp_path)
    ensure_layout(fs, ENTITY)
    for content in (b"one", b"two"):
        (tmp_path / "in.json").write_bytes(content)
        move_to(fs, "in.json", f"{ENTITY}/processed")
    assert sorted(os.listdir(tmp_path / ENTITY / "processed")) == ["in.json", "in~2.json"]


def test_reject_file_writes_the_report_beside_the_file(tmp_path):
    fs = LocalFileSystem(tmp_path)
    (tmp_path / "in.json").write_bytes(b"{}")
    problem = Problem("schema", "is required but missing", "/records/2/vendor", 2, "bill-3")
    target = reject_file(fs, "in.json", [problem], "rejected", now=START)
    assert target == "rejected/in.json"
    report = json.loads((tmp_path / "rejected/in.json.error.json").read_text())
    assert report["message"] == "record 2 (key 'bill-3'), field /records/2/vendor: is required but missing"
    assert (report["record_index"], report["record_key"], report["field"]) == (2, "bill-3", "/records/2/vendor")
    assert report["rejected_at"] == "2025-02-01T09:00:00.000Z"


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "a\\b"])
def test_local_filesystem_refuses_paths_out_of_its_root(tmp_path, path):
    fs = LocalFileSystem(tmp_path / "root")
    with pytest.raises(UnsafePath):
        fs.write_bytes(path, b"x")
    with pytest.raises(UnsafePath):
        fs.read_bytes(path, 10)


def test_local_filesystem_does_not_write_through_a_symlink(tmp_path):
    (tmp_path / "target").write_bytes(b"keep")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link.part").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        LocalFileSystem(tmp_path / "root").write_bytes("link.part", b"overwrite")
    assert (tmp_path / "target").read_bytes() == b"keep"


def test_local_filesystem_implements_the_interface(tmp_path):
    from ledgerbridge.filedrop import FileSystem

    assert isinstance(LocalFileSystem(tmp_path), FileSystem)
