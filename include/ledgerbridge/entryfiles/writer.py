"""Writing entry files to a local folder or any file-drop FileSystem (SFTP included), atomically."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from ledgerbridge import kinds
from ledgerbridge.filedrop.files import write_atomic
from ledgerbridge.filedrop.fs import FileSystem, LocalFileSystem, join
from ledgerbridge.filedrop.protocol import ENTITY_ID, file_stamp

from .csv_format import PLAIN_CSV, CsvFormat, render_csv, validate_csv
from .entries import Entry, EntryRow, entry_rows, rows_for
from .fec import render_fec, validate_fec
from .iif import render_iif, validate_iif
from .sage50 import render_sage50, validate_sage50
from .validation import ValidationReport
from .xlsx_format import render_xlsx, validate_xlsx

# The kinds of a file name: every document kind's dataset (bills, invoices, ..., expense_reports).
ENTRY_KINDS = tuple(kind.dataset for kind in kinds.documents())
# format -> file extension; the first two hold rows of the generic layout, the others need whole entries.
FILE_EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "fec": "txt", "iif": "iif", "sage50": "csv"}
FILE_FORMATS = tuple(FILE_EXTENSIONS)
ROW_FORMATS = ("csv", "xlsx")
MAX_COPIES = 1000


def entry_file_name(entity_id: str, kind: str, file_format: str, moment: datetime) -> str:
    """`<entity>-<kind>-<UTC timestamp>.<extension>`: names sort in creation order, per entity and kind."""
    if not ENTITY_ID.fullmatch(entity_id):
        raise ValueError(f"entity id {entity_id!r} must match {ENTITY_ID.pattern}")
    if kind not in ENTRY_KINDS:
        raise ValueError(f"entry file kind {kind!r} must be one of {ENTRY_KINDS}")
    return f"{entity_id}-{kind}-{file_stamp(moment)}.{_extension(file_format)}"


def _extension(file_format: str) -> str:
    if file_format not in FILE_EXTENSIONS:
        raise ValueError(f"file format {file_format!r} must be one of {FILE_FORMATS}")
    return FILE_EXTENSIONS[file_format]


def _render_csv(entries: Sequence[Entry], csv_format: CsvFormat = PLAIN_CSV) -> bytes:
    return render_csv(rows_for(entries), csv_format)


def _render_xlsx(entries: Sequence[Entry]) -> bytes:
    return render_xlsx(rows_for(entries))


def _validate_csv(data: bytes, csv_format: CsvFormat = PLAIN_CSV, **options) -> ValidationReport:
    return validate_csv(data, csv_format, **options)


RENDERERS: dict[str, Callable[..., bytes]] = {
    "csv": _render_csv, "xlsx": _render_xlsx, "fec": render_fec, "iif": render_iif, "sage50": render_sage50}
VALIDATORS: dict[str, Callable[..., ValidationReport]] = {
    "csv": _validate_csv, "xlsx": validate_xlsx, "fec": validate_fec, "iif": validate_iif,
    "sage50": validate_sage50}


def check_entry(entry: Entry, file_format: str) -> None:
    """What writing the entry in the format would refuse, for the entry alone (EntryError): the checks
    every entry file shares, and what the format adds (FEC labels, a currency IIF or Sage 50 cannot
    carry), so that one bad entry is refused and never stops the file of the others."""
    if file_format in ROW_FORMATS:
        entry_rows(entry)
    else:
        render_entries([entry], file_format)


def render_entries(entries: Iterable[Entry], file_format: str, **options) -> bytes:
    """The file of the entries in the format; each entry is checked first (EntryError names a bad one).

    Options by format: csv `csv_format=CsvFormat(...)`; fec `separator="\t"|"|"`, `encoding=`;
    xlsx, iif and sage50 none. An option the format does not take is a TypeError.
    """
    _extension(file_format)
    return RENDERERS[file_format](list(entries), **options)


def validate(data: bytes, file_format: str, **options) -> ValidationReport:
    """Read a file of the format back and list its problems; `report.ok` when there are none.

    Options by format: csv `csv_format=`; fec `closing_date=`; all `max_problems=`.
    """
    _extension(file_format)
    return VALIDATORS[file_format](data, **options)


def render(rows: Sequence[EntryRow] | Sequence[Entry], file_format: str, csv_format: CsvFormat = PLAIN_CSV,
           **options) -> bytes:
    """Rows (csv, xlsx) or entries (any format) as the bytes of a file.

    The FEC, IIF and Sage 50 layouts need what only an entry holds (its number, labels, where it
    starts and ends), so they take entries; rows for them are refused.
    """
    items = list(rows)
    if items and isinstance(items[0], Entry):
        if file_format == "csv":
            options["csv_format"] = csv_format
        return render_entries(items, file_format, **options)
    if file_format not in ROW_FORMATS:
        _extension(file_format)
        raise ValueError(f"the {file_format} format is written from entries, not rows: pass the Entry objects "
                         "(or call render_entries)")
    if file_format == "xlsx":
        return render_xlsx(items)
    return render_csv(items, csv_format)


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
                     rows: Sequence[EntryRow] | Sequence[Entry], *, file_format: str = "csv",
                     csv_format: CsvFormat = PLAIN_CSV, directory: str = "", now: datetime | None = None,
                     file_name: str | None = None, **options) -> str:
    """Write the rows (or entries: any format) as one entry file under `directory`; return its path
    relative to the target.

    Written as `<name>.part`, then renamed, so a reader (or the accountant's import) never sees half
    a file. Refuses an empty file: a run with nothing to post should leave nothing behind.
    `file_name` replaces the generated name, e.g. `fec_file_name(siren, closing_date)` for a FEC;
    `options` go to the format's renderer (`separator=` for the FEC).
    """
    if not rows:
        raise ValueError(f"no rows to write for {entity_id} {kind}; nothing to export")
    name = file_name or entry_file_name(entity_id, kind, file_format, now or datetime.now(UTC))
    if "/" in name or "." not in name:
        raise ValueError(f"file name {name!r} must be a plain name with an extension")
    data = render(rows, file_format, csv_format, **options)
    fs = as_filesystem(target)
    for path in _copies(join(directory, name)):
        try:
            write_atomic(fs, path, data)  # same bytes already there: an earlier attempt landed
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{join(directory, name)}: no free name left")
