"""The safe reader: one inbound file becomes either a parsed message or a rejection with a reason.

Nothing in a file is trusted: its path, its kind of file, its size, its encoding, its JSON, its
protocol version and every record are checked, cheapest first, before any record is used.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from .fs import (
    FileSystem,
    FileTooLarge,
    NotARegularFile,
    SymlinkRefused,
    UnsafePath,
    unsafe_path_reason,
)
from .protocol import (
    DEFAULT_MAX_BYTES,
    INBOX_KINDS,
    KINDS,
    PART_SUFFIX,
    VERSIONS,
    kind_version,
    parse_file_name,
)
from .validation import Problem, json_type, validate_message
from .wire import DuplicateMember, from_wire, loads

MAX_NESTING = 64  # real messages nest 5 deep; the parser's recursion must not be the limit
# Refusals after which the file must stay where it is: it may lie outside the drop, be gone, or
# be readable on the next attempt (an I/O error). Every other refused file goes to rejected/.
LEAVE_IN_PLACE = frozenset({"unsafe_path", "missing", "unreadable"})


@dataclass(frozen=True)
class Rejection:
    """A file refused whole. `problems` lists every reason; the first one is the headline."""

    path: str
    problems: tuple[Problem, ...]

    @property
    def code(self) -> str:
        return self.problems[0].code

    @property
    def reason(self) -> str:
        return self.problems[0].describe()

    @property
    def record_index(self) -> int | None:
        return self.problems[0].record_index

    @property
    def record_key(self) -> str | None:
        return self.problems[0].record_key

    @property
    def field(self) -> str | None:
        return self.problems[0].field

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class InboundMessage:
    """A sound file. `records` have Decimal amounts; `record_problems` is filled only when strict=False."""

    path: str
    kind: str
    entity_id: str
    company_id: str
    batch_key: str
    created_at: str
    records: list[dict]
    envelope: dict[str, Any]
    record_problems: list[Problem] = field(default_factory=list)
    notes: tuple[str, ...] = ()  # what was tolerated in it, for the log (a byte-order mark)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    def problems_of(self, index: int) -> list[Problem]:
        return [problem for problem in self.record_problems if problem.record_index == index]


class Refused(Exception):
    def __init__(self, code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.problem = Problem(code, reason, field)


def list_inbound(fs: FileSystem, directory: str) -> list[str]:
    """Paths of the files ready to read in a directory, oldest name first; `.part` uploads are not ready."""
    return [posixpath.join(directory, name) for name in fs.list(directory) if not name.endswith(PART_SUFFIX)]


def read_inbound(fs: FileSystem, path: str, max_bytes: int = DEFAULT_MAX_BYTES, *,
                 entity_id: str | None = None, company_id: str | None = None,
                 strict: bool = True) -> InboundMessage | Rejection:
    """Read one inbound file. strict=False keeps a sound file whose records have problems, listing
    them in `record_problems` (the agent answers those records one by one); strict=True rejects it."""
    if path.endswith(PART_SUFFIX):
        raise ValueError(f"{path}: an upload in progress is never read (list_inbound leaves it out)")
    try:
        kind = _check_name(path)
        raw = read_raw(fs, path, max_bytes)
        data = _parse(raw)
        _check_envelope(data, kind, path, entity_id, company_id)
    except Refused as refused:
        return Rejection(path, (refused.problem,))
    problems = validate_message(kind, data)
    if problems and (strict or any(problem.record_index is None for problem in problems)):
        return Rejection(path, tuple(problems))
    return InboundMessage(path=path, kind=kind, entity_id=data["entity_id"], company_id=data["company_id"],
                          batch_key=data["batch_key"], created_at=data["created_at"],
                          records=from_wire(data["records"]), envelope=data, record_problems=problems,
                          notes=(BOM_NOTE,) if raw.startswith(UTF8_BOM) else ())


def _check_name(path: str) -> str:
    """The message kind the file's name announces, after the path itself is found safe."""
    reason = unsafe_path_reason(path)
    if reason:
        raise Refused("unsafe_path", f"{path!r}: {reason}")
    name = posixpath.basename(path)
    parsed = parse_file_name(name)
    if parsed is None:
        kind = name.split("-", 1)[0]
        if "-" in name and name.endswith(".json") and kind not in KINDS:
            raise Refused("unknown_kind", f"file name {name!r} announces {kind!r}, which is not a message kind")
        raise Refused("bad_name", f"file name {name!r} does not follow <kind>-<YYYYMMDDTHHMMSS.mmmZ>-<batch key>.json")
    if parsed.kind not in KINDS:
        raise Refused("unknown_kind", f"file name {name!r} announces {parsed.kind!r}, which is not a message kind")
    _check_directory(path, parsed.kind)
    return parsed.kind


def _check_directory(path: str, kind: str) -> None:
    """A file of one kind dropped into another kind's inbox is refused (when the path shows the inbox)."""
    folder = posixpath.dirname(path)
    for inbox, kinds in INBOX_KINDS.items():
        if folder == inbox or folder.endswith("/" + inbox):
            if kind not in kinds:
                raise Refused("wrong_directory", f"a {kind} file does not belong in {inbox}/")
            return


def read_raw(fs: FileSystem, path: str, max_bytes: int) -> bytes:
    try:
        if fs.is_symlink(path):
            raise Refused("symlink", "is a symbolic link; only regular files are read")
        raw = fs.read_bytes(path, max_bytes)
    except FileTooLarge as exc:
        size = f"{exc.size} bytes" if exc.size is not None else "more bytes"
        raise Refused("too_large", f"holds {size}, over the limit of {max_bytes} bytes") from None
    except SymlinkRefused:
        raise Refused("symlink", "is a symbolic link; only regular files are read") from None
    except (NotARegularFile, IsADirectoryError):
        raise Refused("not_a_file", "is not a regular file") from None
    except FileNotFoundError:
        raise Refused("missing", "no such file (moved or deleted while being read)") from None
    except UnsafePath as exc:
        raise Refused("unsafe_path", str(exc)) from None
    except OSError as exc:  # permissions, a dropped share: worth another try, not a verdict on the file
        raise Refused("unreadable", f"could not be read ({exc.strerror or exc}); left in place") from None
    if not raw.strip():
        raise Refused("empty", "is empty" if not raw else "holds only whitespace")
    return raw


UTF8_BOM = b"\xef\xbb\xbf"
BOM_NOTE = "began with a UTF-8 byte-order mark, which carries no data and was ignored"


def decode_text(raw: bytes) -> str:
    """A file's bytes as UTF-8 text, or Refused naming the first bad byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused("not_utf8", f"is not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
    return text.removeprefix("\ufeff")  # a BOM is what Windows editors add; it carries no data


def _parse(raw: bytes) -> Any:
    text = decode_text(raw)
    try:
        data = loads(text)
    except DuplicateMember as exc:
        raise Refused("malformed_json", f"is ambiguous JSON: {exc}") from None
    except RecursionError:
        raise Refused("malformed_json", "nests too deeply to be a message") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError, and so is NaN
        raise Refused("malformed_json", f"is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Refused("not_an_object", f"holds a JSON {json_type(data)}, not a message object", "/")
    if nesting_depth(data) > MAX_NESTING:
        # Validation recurses: a hostile file must not reach the interpreter's recursion limit there.
        raise Refused("malformed_json", f"nests deeper than {MAX_NESTING} levels")
    return data


def nesting_depth(data: Any) -> int:
    deepest, pending = 0, [(data, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _check_envelope(data: dict, kind: str, path: str, entity_id: str | None, company_id: str | None) -> None:
    """The envelope members that decide whether the rest may be read at all."""
    version = data.get("protocol_version")
    if "protocol_version" not in data:
        raise Refused("protocol_version", "has no protocol_version", "/protocol_version")
    if version not in VERSIONS or isinstance(version, bool):
        raise Refused("protocol_version", f"speaks protocol_version {version!r}; this reader speaks "
                       f"{', '.join(map(str, VERSIONS))}", "/protocol_version")
    if version < kind_version(kind):
        raise Refused("protocol_version", f"is a {kind} message, which protocol_version {kind_version(kind)} "
                       f"introduced, but says protocol_version {version}", "/protocol_version")
    if data.get("kind") != kind:
        raise Refused("kind_mismatch", f"kind {data.get('kind')!r} differs from the {kind!r} its name announces",
                       "/kind")
    if entity_id is not None and data.get("entity_id") != entity_id:
        raise Refused("wrong_entity", f"is for entity {data.get('entity_id')!r} but lies in the directory of "
                       f"entity {entity_id!r}", "/entity_id")
    if company_id is not None and data.get("company_id") != company_id:
        raise Refused("wrong_company", f"is for company {data.get('company_id')!r}, not {company_id!r}",
                       "/company_id")
    name_key = parse_file_name(posixpath.basename(path)).batch_key
    if isinstance(data.get("batch_key"), str) and data["batch_key"] != name_key:
        raise Refused("batch_key_mismatch", f"batch_key {data['batch_key']!r} differs from {name_key!r} in "
                       "its name", "/batch_key")
