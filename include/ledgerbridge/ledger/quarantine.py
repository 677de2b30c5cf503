"""Holding bad records back with reasons a person can act on, and letting them go once fixed."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledgerbridge import observability
from ledgerbridge.ledger.audit import record
from ledgerbridge.ledger.models import QuarantineEntry, QuarantineStatus
from ledgerbridge.ledger.paging import Page, page_of
from ledgerbridge.ledger.types import utcnow


@dataclass(frozen=True)
class Reason:
    field: str
    problem: str
    value: Any = None
    expectation: str | None = None  # the data-quality expectation that failed (ledgerbridge.quality)

    def __str__(self) -> str:
        return describe(asdict(self))


def describe(reason: Mapping[str, Any]) -> str:
    """'lines[1].account_code: no active account with this number or name (got '9999')'."""
    value = reason.get("value")
    shown = "" if value is None or str(value) in reason["problem"] else f" (got {str(value)!r})"
    return f"{reason['field']}: {reason['problem']}{shown}"


def hold(session: Session, entity_id: str, dataset: str, record_key: str, reasons: list[Reason],
         payload: dict[str, Any]) -> QuarantineEntry:
    """Quarantine (or keep quarantined) one record; a dismissed record stays dismissed."""
    entry = session.scalars(
        select(QuarantineEntry).where(
            QuarantineEntry.entity_id == entity_id,
            QuarantineEntry.dataset == dataset,
            QuarantineEntry.record_key == record_key,
        )
    ).one_or_none()
    now = utcnow()
    if entry is None:
        entry = QuarantineEntry(entity_id=entity_id, dataset=dataset, record_key=record_key, first_seen_at=now)
        session.add(entry)
    if entry.status == QuarantineStatus.RELEASED:  # it fails something the person did not waive
        entry.decided_by = entry.decision_note = None
    if entry.status != QuarantineStatus.DISMISSED:
        entry.status = QuarantineStatus.OPEN
        entry.resolved_at = None
        entry.waived = []
    entry.reasons = [_jsonable(asdict(r)) for r in reasons]
    entry.payload = payload
    entry.last_seen_at = now
    if entry.status == QuarantineStatus.OPEN:
        observability.count("quarantined")
    return entry


def resolve(session: Session, entity_id: str, dataset: str, record_keys: Iterable[str]) -> int:
    """Mark open entries of records that now pass as resolved; returns how many."""
    keys = set(record_keys)
    if not keys:
        return 0
    # The dataset's open entries are few; the keys that passed may be a whole batch (too many for IN).
    entries = [entry for entry in session.scalars(select(QuarantineEntry).where(
        QuarantineEntry.entity_id == entity_id, QuarantineEntry.dataset == dataset,
        QuarantineEntry.status == QuarantineStatus.OPEN)) if entry.record_key in keys]
    for entry in entries:
        entry.status = QuarantineStatus.RESOLVED
        entry.resolved_at = utcnow()
    return len(entries)


def dismissed_keys(session: Session, entity_id: str, dataset: str) -> set[str]:
    return set(session.scalars(select(QuarantineEntry.record_key).where(
        QuarantineEntry.entity_id == entity_id, QuarantineEntry.dataset == dataset,
        QuarantineEntry.status == QuarantineStatus.DISMISSED)))


class DecisionRefused(Exception):
    """A person's decision that cannot apply: a release of what only a fix upstream can cure, a
    dismissal of a record already exported, a decision on a record that was never held, ..."""


def dismiss(session: Session, entity_id: str, dataset: str, record_key: str, actor: str, reason: str) -> QuarantineEntry:
    """A person's decision that the record is never exported (until they reopen it)."""
    entry = _entry(session, entity_id, dataset, record_key)
    if entry.status == QuarantineStatus.RESOLVED:
        raise DecisionRefused(f"{entity_id}: {dataset} {record_key!r} passed its checks since it was held and has "
                              "gone on: there is nothing left to dismiss")
    entry.status, entry.resolved_at = QuarantineStatus.DISMISSED, utcnow()
    entry.decided_by, entry.decision_note, entry.waived = actor, reason, []
    record(session, entity_id, actor, "quarantine_dismissed", dataset, record_key, {"reason": reason})
    return entry


def release(session: Session, entity_id: str, dataset: str, record_key: str, actor: str, note: str,
            overridable: Collection[str]) -> QuarantineEntry:
    """A person's decision to export the record as it is: what it fails now (each expectation, field
    and offending value) is waived for it; any other failure later quarantines it again. Only
    `overridable` expectations can be waived: for the others the accounting system would refuse the
    record or post it wrong."""
    if not (note or "").strip():
        raise DecisionRefused(f"{entity_id}: {dataset} {record_key!r}: a release needs a reason (it is kept in the "
                              "audit log)")
    entry = _entry(session, entity_id, dataset, record_key)
    if entry.status not in (QuarantineStatus.OPEN, QuarantineStatus.RELEASED):
        raise DecisionRefused(f"{entity_id}: {dataset} {record_key!r} is {entry.status}, not held: nothing to release"
                            + (" (reopen it first)" if entry.status == QuarantineStatus.DISMISSED else ""))
    blocking = [reason for reason in entry.reasons if reason.get("expectation") not in overridable]
    if blocking:
        raise DecisionRefused(
            f"{entity_id}: {dataset} {record_key!r} cannot be released: " + "; ".join(map(describe, blocking)) +
            ". The accounting system would refuse it or post it wrong as it is: fix it upstream (it is checked "
            "again on every run and goes out once it passes), or dismiss it.")
    entry.status, entry.resolved_at = QuarantineStatus.RELEASED, utcnow()
    entry.waived = [{"expectation": reason["expectation"], "field": reason["field"],
                     "value": _shown(reason.get("value"))} for reason in entry.reasons]
    entry.decided_by, entry.decision_note = actor, note
    record(session, entity_id, actor, "quarantine_released", dataset, record_key,
           {"reason": note, "waived": entry.waived})
    return entry


DECISIONS = ("release", "dismiss", "reopen")


def decide(session: Session, entity_id: str, dataset: str, record_key: str, decision: str, actor: str,
           reason: str | None, overridable: Collection[str]) -> str:
    """A person's release, dismissal or reopening (the CLI's and the UI's one way in); says what it did."""
    if decision == "release":
        entry = release(session, entity_id, dataset, record_key, actor, reason or "", overridable)
        waived = "; ".join(f"{w['expectation']} ({w['field']} {w['value']})" for w in entry.waived)
        done = f"released: waived {waived}; it goes out on the next run unless it fails something else"
    elif decision == "dismiss":
        dismiss(session, entity_id, dataset, record_key, actor, reason or "")
        done = "dismissed: never exported (until reopened)"
    elif decision == "reopen":
        reopen(session, entity_id, dataset, record_key, actor)
        done = "reopened: checked again on the next run"
    else:
        raise DecisionRefused(f"no decision {decision!r}: one of {', '.join(DECISIONS)}")
    return f"{entity_id} {dataset} {record_key}: {done}"


def waiver(expectation: str, field: str, value: Any) -> tuple[str, str, str | None]:
    """What a release waives, and what a failure must match to be waived."""
    return expectation, field, _shown(value)


def releases(session: Session, entity_id: str, dataset: str) -> dict[str, set[tuple[str, str, str | None]]]:
    """Released records of `dataset`: key -> what a person waived for it (expectation, field, value)."""
    return {key: {waiver(w["expectation"], w["field"], w["value"]) for w in waived or ()}
            for key, waived in session.execute(
                select(QuarantineEntry.record_key, QuarantineEntry.waived).where(
                    QuarantineEntry.entity_id == entity_id, QuarantineEntry.dataset == dataset,
                    QuarantineEntry.status == QuarantineStatus.RELEASED))}


def reopen(session: Session, entity_id: str, dataset: str, record_key: str, actor: str) -> QuarantineEntry:
    """Undo a dismissal or a release: the record is checked again on the next run."""
    entry = _entry(session, entity_id, dataset, record_key)
    if entry.status not in (QuarantineStatus.DISMISSED, QuarantineStatus.RELEASED):
        raise DecisionRefused(f"{entity_id}: {dataset} {record_key!r} is {entry.status}: only a dismissed or "
                              "released record can be reopened")
    entry.status, entry.resolved_at = QuarantineStatus.OPEN, None
    entry.decided_by, entry.decision_note, entry.waived = actor, None, []
    record(session, entity_id, actor, "quarantine_reopened", dataset, record_key, {})
    return entry


def _entry(session: Session, entity_id: str, dataset: str, record_key: str) -> QuarantineEntry:
    entry = session.scalars(select(QuarantineEntry).where(
        QuarantineEntry.entity_id == entity_id, QuarantineEntry.dataset == dataset,
        QuarantineEntry.record_key == record_key)).one_or_none()
    if entry is None:
        raise DecisionRefused(f"{entity_id}: no quarantine entry for {dataset} {record_key!r}")
    return entry


def open_keys(session: Session, entity_id: str, dataset: str) -> set[str]:
    """Records of `dataset` held back by a check and not fixed yet."""
    return set(session.scalars(select(QuarantineEntry.record_key).where(
        QuarantineEntry.entity_id == entity_id, QuarantineEntry.dataset == dataset,
        QuarantineEntry.status == QuarantineStatus.OPEN)))


def held_keys(session: Session, entity_id: str, dataset: str) -> set[str]:
    """Records of `dataset` held back: open, or dismissed for good by a person."""
    return set(session.scalars(
        select(QuarantineEntry.record_key).where(
            QuarantineEntry.entity_id == entity_id, QuarantineEntry.dataset == dataset,
            QuarantineEntry.status.in_((QuarantineStatus.OPEN, QuarantineStatus.DISMISSED)))
    ))


def open_count(session: Session, entity_id: str, dataset: str | None = None) -> int:
    query = select(func.count(QuarantineEntry.id)).where(
        QuarantineEntry.entity_id == entity_id, QuarantineEntry.status == QuarantineStatus.OPEN
    )
    if dataset:
        query = query.where(QuarantineEntry.dataset == dataset)
    return session.scalar(query)


STATUSES = tuple(status.value for status in QuarantineStatus)


@dataclass(frozen=True)
class HeldRecord:
    """A quarantine entry as a person reads it: every reason, and whether each may be waived."""

    entry: QuarantineEntry
    overridable: frozenset[str]

    @property
    def releasable(self) -> bool:
        return self.entry.status in (QuarantineStatus.OPEN, QuarantineStatus.RELEASED) and all(
            reason.get("expectation") in self.overridable for reason in self.entry.reasons)

    def as_dict(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "entity_id": entry.entity_id, "dataset": entry.dataset, "record_key": entry.record_key,
            "status": entry.status, "first_seen_at": entry.first_seen_at.isoformat(),
            "last_seen_at": entry.last_seen_at.isoformat(), "releasable": self.releasable,
            "reasons": [{"field": reason.get("field"), "value": _shown(reason.get("value")),
                         "expectation": reason.get("expectation"), "problem": reason.get("problem"),
                         "message": describe(reason), "overridable": reason.get("expectation") in self.overridable}
                        for reason in entry.reasons],
            "waived": list(entry.waived or ()), "decided_by": entry.decided_by, "decision_note": entry.decision_note,
        }


def listing(session: Session, entity_id: str | None, overridable: frozenset[str], status: str = "open",
            dataset: str | None = None, offset: int = 0, limit: int = 50) -> Page[HeldRecord]:
    """Quarantine entries (`status` one of STATUSES, or "all"), by dataset and record key, a page at a
    time; `overridable`: the expectations a person may waive (ledgerbridge.quality.overridable_expectations)."""
    if status != "all" and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)} or all, not {status!r}")
    query = select(QuarantineEntry)
    if entity_id:
        query = query.where(QuarantineEntry.entity_id == entity_id)
    if status != "all":
        query = query.where(QuarantineEntry.status == status)
    if dataset:
        query = query.where(QuarantineEntry.dataset == dataset)
    query = query.order_by(QuarantineEntry.entity_id, QuarantineEntry.dataset, QuarantineEntry.record_key)
    rows, total = page_of(session, query, offset, limit)
    return Page([HeldRecord(row[0], overridable) for row in rows], total, offset, limit)


def open_counts(session: Session, entity_ids: Collection[str] | None = None) -> dict[str, int]:
    """Open entries per entity (of `entity_ids`, or all), in one query."""
    query = select(QuarantineEntry.entity_id, func.count(QuarantineEntry.id)).where(
        QuarantineEntry.status == QuarantineStatus.OPEN)
    if entity_ids is not None:
        query = query.where(QuarantineEntry.entity_id.in_(list(entity_ids)))
    return dict(session.execute(query.group_by(QuarantineEntry.entity_id)).all())


def open_counts_by_dataset(session: Session, entity_id: str) -> dict[str, int]:
    return dict(session.execute(
        select(QuarantineEntry.dataset, func.count(QuarantineEntry.id)).where(
            QuarantineEntry.entity_id == entity_id, QuarantineEntry.status == QuarantineStatus.OPEN)
        .group_by(QuarantineEntry.dataset).order_by(QuarantineEntry.dataset)).all())


def _shown(value: Any) -> str | None:
    return None if value is None else str(value)


def _jsonable(reason: dict[str, Any]) -> dict[str, Any]:
    value = reason.get("value")
    if value is not None and not isinstance(value, (str, int, bool)) and not hasattr(value, "as_tuple"):
        reason["value"] = str(value)
    return reason
