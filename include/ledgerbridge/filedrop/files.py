"""Writing and moving files the protocol's way: `.part` then rename, never overwrite, never lose."""
from __future__ import annotations

import posixpath
from collections.abc import Sequence
from datetime import UTC, datetime

from .fs import FileSystem, FileTooLarge, join
from .protocol import (
    ENTITY_DIRECTORIES,
    ERROR_SUFFIX,
    PART_SUFFIX,
    inbox_directory,
    make_file_name,
    utc_timestamp,
)
from .reader import Rejection
from .validation import Problem, validate_message
from .wire import dumps, to_wire


class MessageInvalid(ValueError):
    """A message we were about to write breaks its own schema: a bug on the writing side."""

    def __init__(self, kind: str, problems: list[Problem]) -> None:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{kind} message is invalid: " + "; ".join(p.describe() for p in problems[:5]) + more)
        self.problems = problems


def ensure_layout(fs: FileSystem, entity_root: str) -> None:
    for directory in ENTITY_DIRECTORIES:
        fs.mkdir(join(entity_root, directory))


def encode_message(message: dict) -> bytes:
    """The message's bytes, after checking it against its schema (both sides validate what they write)."""
    wire = to_wire(message)
    problems = validate_message(wire.get("kind", ""), wire)
    if problems:
        raise MessageInvalid(wire.get("kind", "?"), problems)
    return dumps(wire)


def _same_bytes(fs: FileSystem, path: str, data: bytes) -> bool:
    try:
        return fs.read_bytes(path, len(data)) == data
    except (FileTooLarge, OSError):
        return False


def write_atomic(fs: FileSystem, path: str, data: bytes, *, replace: bool = False) -> None:
    """Write `<path>.part`, then rename it to `path`: a reader never sees half a file.

    A target that already holds the same bytes is a retry whose first attempt landed: done. Any
    other existing target raises FileExistsError unless replace=True.
    """
    part = path + PART_SUFFIX
    fs.mkdir(posixpath.dirname(path))
    fs.write_bytes(part, data)  # overwrites a `.part` our own earlier, interrupted attempt left
    if replace and fs.exists(path):
        fs.remove(path)
    try:
        fs.rename(part, path)
    except FileExistsError:
        fs.remove(part)
        if not _same_bytes(fs, path, data):
            raise


def _candidates(path: str):
    """path, then path with ~2, ~3, ... before `.json`: a name collision never overwrites."""
    yield path
    stem, suffix = (path[:-5], ".json") if path.endswith(".json") else (path, "")
    for copy in range(2, 10000):
        yield f"{stem}~{copy}{suffix}"


def free_path(fs: FileSystem, directory: str, name: str) -> str:
    for candidate in _candidates(join(directory, name)):
        if not fs.exists(candidate) and not fs.exists(candidate + PART_SUFFIX):
            return candidate
    raise FileExistsError(f"{directory}/{name}: no free name left")


def write_message(fs: FileSystem, entity_root: str, message: dict) -> str:
    """Validate, encode and upload a message into its kind's inbox; return its path."""
    data = encode_message(message)
    created_at = message["created_at"]
    moment = created_at if isinstance(created_at, datetime) else datetime.fromisoformat(created_at)
    name = make_file_name(message["kind"], message["batch_key"], moment)
    directory = join(entity_root, inbox_directory(message["kind"]))
    for candidate in _candidates(join(directory, name)):
        if fs.exists(candidate) and _same_bytes(fs, candidate, data):
            return candidate  # an earlier attempt of this very upload landed
        if not fs.exists(candidate):
            write_atomic(fs, candidate, data)
            return candidate
    raise FileExistsError(f"{directory}/{name}: no free name left")


def move_to(fs: FileSystem, path: str, directory: str) -> str:
    """Move a consumed file into processed/ (or another directory) under a free name."""
    fs.mkdir(directory)
    target = free_path(fs, directory, posixpath.basename(path))
    fs.rename(path, target)
    return target


def error_report(path: str, problems: Sequence[Problem], now: datetime) -> dict:
    """The `<name>.error.json` beside a rejected file: the headline problem, then all of them (its shape
    is version 1's in every version)."""
    return {"protocol_version": 1, "file": posixpath.basename(path), "from": path,
            "rejected_at": utc_timestamp(now), **problems[0].as_dict(),
            "problems": [problem.as_dict() for problem in problems]}


def reject_file(fs: FileSystem, path: str, rejection: Rejection | Sequence[Problem], rejected_dir: str,
                now: datetime | None = None) -> str:
    """Move a refused file to rejected/ with its `<name>.error.json` beside it; return its new path.

    The report is written first: a crash in between leaves the file in place, read again next time.
    """
    problems = list(rejection.problems if isinstance(rejection, Rejection) else rejection)
    now = now or datetime.now(UTC)
    fs.mkdir(rejected_dir)
    target = free_path(fs, rejected_dir, posixpath.basename(path))
    report = dumps(error_report(path, problems, now))
    write_atomic(fs, target + ERROR_SUFFIX, report, replace=True)
    fs.rename(path, target)
    return target

