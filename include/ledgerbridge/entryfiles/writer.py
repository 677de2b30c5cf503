"""Writing entry files to a local folder or any file-drop FileSystem (SFTP included), atomically."""
from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime

from ledgerbridge.filedrop.files import write_atomic
from ledgerbridge.filedrop.fs import FileSystem, LocalFileSystem, join
from ledgerbridge.filedrop.protocol import ENTITY_ID, file_stamp

from .csv_format import PLAIN_CSV, CsvFormat, render_csv
from .entries import EntryRow
from .xlsx_format import render_xlsx

ENTRY_KINDS = ("bills", "journal_entries")
FILE_FORMATS = ("csv", "xlsx")
MAX_COPIES = 1000


def entry_file_name(entity_id: str, kind: str, file_format: str, moment: datetime) -> str:
    """`<entity>-<kind>-<UTC timestamp>.<format>`: names sort in creation order, per entity and kind."""
    if not ENTITY_ID.fullmatch(entity_id):
        raise ValueError(f"entity id {entity_id!r} must match {ENTITY_ID.pattern}")
    if kind not in ENTRY_KINDS:
        raise ValueError(f"entry file kind {kind!r} must be one of {ENTRY_KINDS}")
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file format {file_format!r} must be one of {FILE_FORMATS}")
    return f"{entity_id}-{kind}-{file_stamp(moment)}.{file_format}"


def render(rows: Sequence[EntryRow], file_format: str, csv_format: CsvFormat = PLAIN_CSV) -> bytes:
    if file_format == "xlsx":
        return render_xlsx(rows)
    return render_csv(rows, csv_format)


def as_filesystem(target: FileSystem | str | os.PathLike) -> FileSystem:
    """A local folder becomes a LocalFileSystem rooted there; a FileSystem (SFTP, ...) is used as is."""
    if isinstance(target, (str, os.PathLike)):
        return LocalFileSystem(target)
    if not isinstance(target, FileSystem):
        raise TypeError(f"{target!r} is neither a folder path nor a file-drop FileSystem")
    return target


def _copies(path: str):
    """path, then `~2`, `~3`, ... before the extension: a name collision never overwrites a file."""
    yield path
    stem, extension = path.rsplit(".", 1)
    for copy in range(2, MAX_COPIES):
        yield f"{stem}~{copy}.{extension}"


def write_entry_file(target: FileSystem | str | os.PathLike, entity_id: str, kind: str,
                     rows: Sequence[EntryRow], *, file_format: str = "csv", csv_format: CsvFormat = PLAIN_CSV,
                     directory: str = "", now: datetime | None = None) -> str:
    """Write the rows as one entry file under `directory`; return its path relative to the target.

    Written as `<name>.part`, then renamed, so a reader (or the accountant's import) never sees half
    a file. Refuses an empty file: a run with nothing to post should leave nothing behind.
    """
    if not rows:
        raise ValueError(f"no rows to write for {entity_id} {kind}; nothing to export")
    name = entry_file_name(entity_id, kind, file_format, now or datetime.now(UTC))
    data = render(rows, file_format, csv_format)
    fs = as_filesystem(target)
    for path in _copies(join(directory, name)):
        try:
            write_atomic(fs, path, data)  # same bytes already there: an earlier attempt landed
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{join(directory, name)}: no free name left")
