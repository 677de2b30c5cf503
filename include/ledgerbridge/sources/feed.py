"""The feed: a source that is files. The hub drops JSON or YAML files (and CSV files of parties) into
a folder or onto an SFTP server; LedgerBridge reads them, and writes a confirmation file back per run.
docs/hub-feed.md is the contract.

```
<root>/<entity_id>/
  inbound/     written by the hub: *.json, *.yaml, *.yml, vendors*.csv, customers*.csv (.part: not yet)
  processed/   files taken in, moved here once the ledger committed their records
  rejected/    files that could not be read, each with <name>.error.json saying why
  outbound/    written by LedgerBridge: writeback-<UTC time>-<batch key>.json, one per run
```

The file drop's conventions hold (ledgerbridge.filedrop): paths checked, no symlink followed, a size
limit, `.part` uploads ignored, writes atomic (`.part`, then rename), nothing overwritten. A file is
refused whole only when it cannot be read as records at all; a bad record is intake's business.
"""
from __future__ import annotations

import csv
import io
import logging
import posixpath
import re
import uuid
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import yaml

from ledgerbridge.filedrop.files import free_path, move_to, reject_file, write_atomic
from ledgerbridge.filedrop.fs import FileSystem, join
from ledgerbridge.filedrop.protocol import PART_SUFFIX, file_stamp
from ledgerbridge.filedrop.reader import (  # the file drop's own checks, so both read files alike
    LEAVE_IN_PLACE,
    MAX_NESTING,
    Refused,
    decode_text,
    list_inbound,
    nesting_depth,
    read_raw,
)
from ledgerbridge.filedrop.validation import Problem
from ledgerbridge.filedrop.wire import DuplicateMember, dumps, loads
from ledgerbridge.sources.base import (
    ChangeBatch,
    Origin,
    RefusedInput,
    SourceCapabilities,
    SourceRecord,
    WriteBack,
    Written,
)
from ledgerbridge.sources.records import JOURNALS, KINDS_BY_KEY

log = logging.getLogger(__name__)

FileSystemOpener = Callable[[], AbstractContextManager[FileSystem]]

FEED_VERSION = 1
INBOUND, PROCESSED, REJECTED, OUTBOUND = "inbound", "processed", "rejected", "outbound"
# Attachments travel inside the files as base64 (25 MB each at most): the limit leaves room for one or two.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
PARTY_CSV = re.compile(r"(?P<kind>vendors|customers)[^/]*\.csv")
PARTY_COLUMNS = ("hub_id", "name", "email", "tax_id", "city", "postcode", "auxiliary_account")
WRITE_BACK_PREFIX = "writeback-"
WRITE_BACK_ITEMS_PER_FILE = 10_000


class FeedSource:
    """A SourceConnector over files: in a local folder or on SFTP (any ledgerbridge.filedrop FileSystem)."""

    kind = "feed"
    identity = None  # the feed's folder is the entity's own directory: nothing to confuse it with
    capabilities = SourceCapabilities(changes_since_watermark=False, write_back=True, attachments=True)

    def __init__(self, open_fs: FileSystemOpener, entity_id: str, max_bytes: int = DEFAULT_MAX_BYTES,
                 where: str = "feed") -> None:
        self.open_fs = open_fs
        self.entity_id = entity_id
        self.max_bytes = max_bytes
        self.where = where  # for logs: the folder or server

    def _dir(self, name: str) -> str:
        return join(self.entity_id, name)

    # -- records in -----------------------------------------------------------------------------

    def fetch_changes(self, since: datetime | None = None) -> ChangeBatch:
        """Every record of the files waiting in inbound/, files in name order (a later file wins).
        `since` is not needed: a file is read until acknowledged, whatever its age."""
        records: list[SourceRecord] = []
        taken: list[str] = []
        refused: list[RefusedInput] = []
        with self.open_fs() as fs:
            for directory in (INBOUND, PROCESSED, REJECTED, OUTBOUND):
                fs.mkdir(self._dir(directory))
            for path in list_inbound(fs, self._dir(INBOUND)):
                try:
                    file_records = read_feed_file(fs, path, self.entity_id, self.max_bytes)
                except Refused as refused_file:
                    refused.append(self._refuse(fs, path, refused_file.problem))
                    continue
                records.extend(file_records)
                taken.append(path)
        return ChangeBatch(tuple(records), tuple(taken), tuple(refused), as_of=datetime.now(UTC))

    def _refuse(self, fs: FileSystem, path: str, problem: Problem) -> RefusedInput:
        """A file that cannot be read as records goes to rejected/ with its reason (the flow logs it)."""
        name = posixpath.basename(path)
        if problem.code in LEAVE_IN_PLACE:
            return RefusedInput(name, problem.describe(), None)
        return RefusedInput(name, problem.describe(), reject_file(fs, path, [problem], self._dir(REJECTED)))

    def acknowledge(self, batch: ChangeBatch) -> int:
        """Move the batch's files to processed/: the ledger has committed what they said."""
        moved = 0
        with self.open_fs() as fs:
            for path in batch.inputs:
                try:
                    move_to(fs, path, self._dir(PROCESSED))
                    moved += 1
                except FileNotFoundError:
                    pass  # another run took it in first: same records, same upserts
        return moved

    # -- write-back out -------------------------------------------------------------------------

    def write_back(self, items: list[WriteBack], batch_key: str) -> dict[str, Written]:
        """One file in outbound/ for the batch (more past WRITE_BACK_ITEMS_PER_FILE items), written atomically."""
        written: dict[str, Written] = {}
        now = datetime.now(UTC)
        with self.open_fs() as fs:
            outbound = self._dir(OUTBOUND)
            fs.mkdir(outbound)
            for part, start in enumerate(range(0, len(items), WRITE_BACK_ITEMS_PER_FILE), start=1):
                chunk = items[start:start + WRITE_BACK_ITEMS_PER_FILE]
                file_key = batch_key if part == 1 else f"{batch_key[:60]}-{part}"
                self._remove_own_leftovers(fs, outbound, file_key)
                name = f"{WRITE_BACK_PREFIX}{file_stamp(now)}-{file_key}.json"
                path = free_path(fs, outbound, name)
                write_atomic(fs, path, dumps(write_back_message(self.entity_id, file_key, now, chunk)))
                written.update((item.key, Written(item.key, path)) for item in chunk)
        return written

    def _remove_own_leftovers(self, fs: FileSystem, outbound: str, file_key: str) -> None:
        """A `.part` an earlier, interrupted attempt of this very batch left: the writer's to remove."""
        for name in fs.list(outbound):
            if name.startswith(WRITE_BACK_PREFIX) and name.endswith(f"-{file_key}.json{PART_SUFFIX}"):
                fs.remove(join(outbound, name))

    def find_written(self, items: Collection[WriteBack]) -> dict[str, Written]:
        """The items of outbound/ files (the hub may have consumed and removed some: then they are
        sent again, and the hub knows their keys)."""
        wanted = {item.key for item in items}
        found: dict[str, Written] = {}
        with self.open_fs() as fs:
            for path in list_inbound(fs, self._dir(OUTBOUND)):
                if not posixpath.basename(path).startswith(WRITE_BACK_PREFIX) or not path.endswith(".json"):
                    continue
                try:
                    message = loads(read_raw(fs, path, self.max_bytes).decode("utf-8"))
                except (Refused, UnicodeDecodeError, ValueError) as exc:
                    log.warning("feed of %s: %s could not be read back (%s); its items count as not written",
                                self.entity_id, path, getattr(exc, "problem", exc))
                    continue
                for record in message.get("records", []) if isinstance(message, dict) else []:
                    key = record.get("key") if isinstance(record, dict) else None
                    if key in wanted:
                        found.setdefault(key, Written(key, path))
        return found


def write_back_message(entity_id: str, batch_key: str, created_at: datetime, items: list[WriteBack]) -> dict:
    return {"feed_version": FEED_VERSION, "kind": "write_back", "entity_id": entity_id, "batch_key": batch_key,
            "created_at": created_at, "records": [item.as_record() for item in items]}


def new_batch_key() -> str:
    return str(uuid.uuid4())


# -- reading one file --------------------------------------------------------------------------------


def read_feed_file(fs: FileSystem, path: str, entity_id: str, max_bytes: int = DEFAULT_MAX_BYTES) -> list[SourceRecord]:
    """The records of one inbound file, not validated yet; raises the reader's Refused for a file that
    cannot be read as records at all (its name, size, encoding, syntax, shape, entity)."""
    name = posixpath.basename(path)
    csv_name = PARTY_CSV.fullmatch(name)
    if not (csv_name or name.endswith((".json", ".yaml", ".yml"))):
        raise Refused("bad_name", f"file name {name!r} is not a feed file: *.json, *.yaml, *.yml, vendors*.csv "
                                   "or customers*.csv")
    text = decode_text(read_raw(fs, path, max_bytes))
    if csv_name:
        return _csv_records(text, csv_name["kind"], name)
    data = _parse_json(text) if name.endswith(".json") else _parse_yaml(text)
    if not isinstance(data, dict):
        raise Refused("not_an_object", f"holds a {type(data).__name__}, not a mapping of record kinds "
                                        f"({', '.join(KINDS_BY_KEY)})", "/")
    if nesting_depth(data) > MAX_NESTING:
        raise Refused("too_deep", f"nests deeper than {MAX_NESTING} levels")
    if "entity_id" in data and data["entity_id"] != entity_id:
        raise Refused("wrong_entity", f"is for entity {data['entity_id']!r} but lies in the feed of entity "
                                       f"{entity_id!r}", "/entity_id")
    unknown = sorted(str(key) for key in data
                     if key not in KINDS_BY_KEY and key not in (JOURNALS, "entity_id", "feed_version"))
    if unknown:
        raise Refused("unknown_kind", f"holds {', '.join(map(repr, unknown))}, which is no record kind; "
                                       f"known: {JOURNALS}, {', '.join(KINDS_BY_KEY)}", f"/{unknown[0]}")
    if data.get("feed_version", FEED_VERSION) != FEED_VERSION:
        raise Refused("feed_version", f"speaks feed_version {data['feed_version']!r}; this reader speaks "
                                       f"{FEED_VERSION}", "/feed_version")
    records = []
    for key in (JOURNALS, *KINDS_BY_KEY):  # the journals a source declares come first: documents name them
        listed = data.get(key)
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise Refused("not_a_list", f"{key!r} holds a {type(listed).__name__}, not a list of records", f"/{key}")
        records.extend(SourceRecord(key, raw, Origin(name, position)) for position, raw in enumerate(listed, start=1))
    return records


def _parse_json(text: str) -> Any:
    try:
        return loads(text)
    except DuplicateMember as exc:
        raise Refused("malformed_json", f"is ambiguous JSON: {exc}") from None
    except RecursionError:
        raise Refused("malformed_json", "nests too deeply to be a feed file") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError, and so is NaN
        raise Refused("malformed_json", f"is not valid JSON: {exc}") from None


class _FeedYamlLoader(yaml.SafeLoader):
    """Safe YAML without what would make a file mean two things or blow up: no aliases, no repeated keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted in a feed file",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping",
                                                        key_node.start_mark)
            if isinstance(key, (str, int, bool)):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FeedYamlLoader)  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise Refused("malformed_yaml", "nests too deeply to be a feed file") from None
    except yaml.YAMLError as exc:
        raise Refused("malformed_yaml", f"is not valid YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar PyYAML cannot build: 2026-02-30, !!int x
        raise Refused("malformed_yaml", f"holds a value YAML cannot read: {' '.join(str(exc).split())}") from None


def _csv_records(text: str, kind: str, name: str) -> list[SourceRecord]:
    """Parties, one per line under a header of PARTY_COLUMNS; an empty cell is no value."""
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = [column.strip() for column in next(rows, [])]
        if not any(header):
            raise Refused("empty", "has no header line")
        unknown = [column for column in header if column not in PARTY_COLUMNS]
        if unknown:
            raise Refused("unknown_column", f"has column(s) {', '.join(map(repr, unknown))}; the columns of a "
                                             f"parties file are {', '.join(PARTY_COLUMNS)}", unknown[0])
        missing = [column for column in ("hub_id", "name") if column not in header]
        if missing or len(set(header)) != len(header):
            raise Refused("bad_header", f"needs the columns hub_id and name, each once (got {', '.join(header)})")
        records = []
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            values: dict[str, Any] = {column: cell for column, cell in zip(header, row) if cell.strip()}
            if len(row) > len(header):
                values[f"column {len(header) + 1}"] = row[len(header)]  # refused by intake, naming it
            records.append(SourceRecord(kind, values, Origin(name, rows.line_num)))
        return records
    except csv.Error as exc:
        raise Refused("malformed_csv", f"is not valid CSV: {exc}") from None
