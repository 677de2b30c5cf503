"""Entry files land whole, under a name with entity, kind and UTC time, on any file-drop FileSystem."""
from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from entry_samples import ENTITY, sample_rows
from ledgerbridge.entryfiles import (
    CsvFormat,
    entry_file_name,
    render_csv,
    write_entry_file,
)
from ledgerbridge.filedrop import LocalFileSystem

MOMENT = datetime(2025, 4, 1, 9, 30, 15, 123456, tzinfo=UTC)


class RecordingFileSystem(LocalFileSystem):
    """A local drop that notes each write and rename, to see the order the protocol asks for."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.calls: list[tuple[str, ...]] = []

    def write_bytes(self, path: str, data: bytes) -> None:
        self.calls.append(("write", path))
        super().write_bytes(path, data)

    def rename(self, source: str, target: str) -> None:
        self.calls.append(("rename", source, target))
        super().rename(source, target)


def test_the_name_holds_entity_kind_and_utc_timestamp():
    paris = timezone(timedelta(hours=2))
    assert entry_file_name(ENTITY, "bills", "csv", MOMENT.astimezone(paris)) == \
        "acme_fr-bills-20250401T093015.123Z.csv"
    with pytest.raises(ValueError, match="entity id"):
        entry_file_name("../acme", "bills", "csv", MOMENT)
    assert entry_file_name(ENTITY, "expense_reports", "csv", MOMENT) == "acme_fr-expense_reports-20250401T093015.123Z.csv"
    with pytest.raises(ValueError, match="kind 'payslips' must be one of .*'invoices'"):
        entry_file_name(ENTITY, "payslips", "csv", MOMENT)


def test_writing_through_a_filesystem_goes_by_part_and_leaves_none_behind(tmp_path):
    fs = RecordingFileSystem(tmp_path)
    path = write_entry_file(fs, ENTITY, "bills", sample_rows(), directory="acme_fr/entry_files", now=MOMENT)
    assert path == "acme_fr/entry_files/acme_fr-bills-20250401T093015.123Z.csv"
    assert fs.calls == [("write", path + ".part"), ("rename", path + ".part", path)]
    assert os.listdir(tmp_path / "acme_fr/entry_files") == ["acme_fr-bills-20250401T093015.123Z.csv"]
    assert (tmp_path / path).read_bytes() == render_csv(sample_rows())


def test_a_local_folder_is_a_target_too_and_xlsx_is_written_the_same_way(tmp_path):
    folder = tmp_path / "exports"
    path = write_entry_file(str(folder), ENTITY, "journal_entries", sample_rows(), file_format="xlsx", now=MOMENT)
    assert re.fullmatch(r"acme_fr-journal_entries-\d{8}T\d{6}\.\d{3}Z\.xlsx", path)
    assert os.listdir(folder) == [path]
    assert (folder / path).read_bytes()[:2] == b"PK"


def test_a_name_taken_by_another_file_is_never_overwritten(tmp_path):
    fs = LocalFileSystem(tmp_path)
    first = write_entry_file(fs, ENTITY, "bills", sample_rows(), now=MOMENT)
    again = write_entry_file(fs, ENTITY, "bills", sample_rows(), now=MOMENT)
    other = write_entry_file(fs, ENTITY, "bills", sample_rows(), csv_format=CsvFormat.french(), now=MOMENT)
    assert again == first, "the same bytes under the same name: an earlier attempt landed"
    assert other == "acme_fr-bills-20250401T093015.123Z~2.csv"
    assert sorted(os.listdir(tmp_path)) == [first, other]


def test_nothing_to_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="nothing to export"):
        write_entry_file(tmp_path, ENTITY, "bills", [], now=MOMENT)
    assert os.listdir(tmp_path) == []


def test_a_target_that_is_no_filesystem_is_refused():
    with pytest.raises(TypeError, match="neither a folder path nor a file-drop FileSystem"):
        write_entry_file(object(), ENTITY, "bills", sample_rows(), now=MOMENT)
