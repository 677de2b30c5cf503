"""Consume an inbox directory: each ready file is handled and moved to processed/, or rejected.

For LedgerBridge's side (from_accounting/ and confirmations/). `handle` runs before the move, so
a crash in between hands the same file to `handle` again: it must be idempotent (upsert by key).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .files import move_to, reject_file
from .fs import FileSystem, join
from .protocol import DEFAULT_MAX_BYTES, PROCESSED, REJECTED
from .reader import (
    LEAVE_IN_PLACE,
    InboundMessage,
    Rejection,
    list_inbound,
    read_inbound,
)


@dataclass(frozen=True)
class Consumed:
    path: str
    status: str  # processed | rejected | skipped
    moved_to: str | None = None
    rejection: Rejection | None = None
    result: Any = None


def consume_inbox(fs: FileSystem, entity_root: str, directory: str, handle: Callable[[InboundMessage], Any], *,
                  entity_id: str, company_id: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                  now: datetime | None = None) -> list[Consumed]:
    """Read every ready file of `<entity_root>/<directory>` strictly; a bad file never blocks the others."""
    outcomes = []
    for path in list_inbound(fs, join(entity_root, directory)):
        result = read_inbound(fs, path, max_bytes, entity_id=entity_id, company_id=company_id)
        if isinstance(result, Rejection):
            outcomes.append(_reject(fs, entity_root, path, result, now))
            continue
        handled = handle(result)
        outcomes.append(Consumed(path, "processed", move_to(fs, path, join(entity_root, PROCESSED)), result=handled))
    return outcomes


def _reject(fs: FileSystem, entity_root: str, path: str, rejection: Rejection, now: datetime | None) -> Consumed:
    if rejection.code in LEAVE_IN_PLACE:
        return Consumed(path, "skipped", rejection=rejection)
    moved = reject_file(fs, path, rejection, join(entity_root, REJECTED), now)
    return Consumed(path, "rejected", moved, rejection)
