"""The check-then-queue gate every kind of export goes through.

The gate runs a data-quality suite (Great Expectations, ledgerbridge.quality) over a batch of
records about to be queued: a record that passes gets its single outbox row; one that fails goes to
quarantine with every failed expectation; one waiting on something that is not its fault (its party
is being created, the document it pays is on its way) simply waits for a later run. When too many
fail at once the batch is systemic: nothing of it is queued or quarantined, and the step fails.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete

from ledgerbridge.connectors.base import CREATE
from ledgerbridge.context import RunContext
from ledgerbridge.flows import outbox
from ledgerbridge.kinds import RecordKind, Waiting
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import QualityResult
from ledgerbridge.ledger.quarantine import Reason

STORED_FAILURES = 200  # per suite result in the ledger; every failure of a held record is on its entry


@dataclass(frozen=True)
class Gate:
    """One kind's batch through one suite, inside one step."""

    step: str  # the step running it, e.g. "prepare_exports"
    suite: str  # "documents" | "payments"
    kind: RecordKind  # what is checked: its quarantine dataset, its outbox kind
    params: Any  # the suite's params
    # For changes after export: record -> (operation, target id) of its outbox row; None: a creation.
    operation_of: Callable[[Any], tuple[str, str | None]] | None = None


def check_and_queue(ctx: RunContext, session, gate: Gate, records: Iterable[Any],
                    prepare: Callable[[Any], tuple[dict, Callable[[], Any]]],
                    snapshot: Callable[[Any], dict]) -> tuple[Counter, str | None]:
    """Check `records` with the gate's suite; queue what passes, quarantine what fails, skip what waits.

    `prepare(record)` returns the suite's record (a dict) and a function building the export, called
    only for a record that passed (it may still raise Waiting); it raises Waiting itself when the
    record cannot be checked yet. Returns the counts and, for a systemic failure, its message (the
    caller fails the step once the ledger has the result).
    """
    from ledgerbridge.quality import check, format_table

    counts: Counter = Counter()
    dismissed = quarantine.dismissed_keys(session, ctx.entity.id, gate.kind.dataset)
    # The source sent a newer version intake could not take: the ledger's older one must not go out meanwhile.
    held_at_source = quarantine.open_keys(session, ctx.entity.id, f"source.{gate.kind.dataset}")
    releases = quarantine.releases(session, ctx.entity.id, gate.kind.dataset)
    held_before = quarantine.open_keys(session, ctx.entity.id, gate.kind.dataset) | set(releases)
    candidates = []
    for record in records:
        if record.hub_id in dismissed:
            counts["dismissed"] += 1  # a person decided it is never exported
            continue
        if record.hub_id in held_at_source:
            counts["held_at_source"] += 1
            ctx.log.warning("%s %s waits: the source sent a newer version that is quarantined (source.%s); the "
                            "version in the ledger is not exported meanwhile", gate.kind.label, record.hub_id, gate.kind.dataset)
            continue
        try:
            checked, build = prepare(record)
        except Waiting as wait:
            counts["waiting"] += 1
            ctx.log.info("%s %s waits: %s", gate.kind.label, record.hub_id, wait)
            continue
        candidates.append((record, checked, build))
    plural = gate.kind.plural
    if not candidates:
        ctx.log.info("%s: nothing to check (%d waiting, %d dismissed by a person)", plural, counts["waiting"],
                     counts["dismissed"])
        return counts, None

    result = check(gate.suite, [checked for _, checked, _ in candidates], gate.params,
                   carried_over=held_before)
    ctx.log.info("%s, %s:\n%s", gate.suite, plural, format_table(result, only_failed=True))
    counts["checked"] = result.checked
    if result.systemic:
        counts["failed"] = result.failed
        store_result(session, ctx, gate.step, f"{gate.suite}.{gate.kind.dataset}", result, counts)
        ctx.log.error("%s: %s Nothing of this batch is queued or quarantined.", plural, result.message)
        return counts, f"{plural}: {result.message}"

    passed = []
    has = outbox.queued(session, ctx.entity.id, gate.kind.record_type, [record.id for record, _, _ in candidates])
    for record, _, build in candidates:
        failures = result.failures.get(record.hub_id, [])
        failed = {quarantine.waiver(failure.expectation, failure.field, failure.value) for failure in failures}
        if failures and not failed <= releases.get(record.hub_id, set()):
            quarantine.hold(session, ctx.entity.id, gate.kind.dataset, record.hub_id,
                            [Reason(**failure.reason()) for failure in failures], snapshot(record))
            counts["quarantined"] += 1
            ctx.log.warning("%s %s quarantined: %s", gate.kind.label, record.hub_id,
                            "; ".join(failure.message() for failure in failures))
            continue
        try:
            export = build()
        except Waiting as wait:
            counts["waiting"] += 1
            ctx.log.info("%s %s waits: %s", gate.kind.label, record.hub_id, wait)
            continue
        if failures:
            counts["released_by_a_person"] += 1
            ctx.log.warning("%s %s goes out as released by a person, who waived: %s", gate.kind.label, record.hub_id,
                            "; ".join(failure.message() for failure in failures))
        operation = gate.operation_of(record) if gate.operation_of else (CREATE, None)
        outbox.enqueue(session, ctx, gate.kind, record.id, gate.kind.record_key(record.hub_id), export, *operation,
                       known_new=(record.id, operation[0]) not in has)
        passed.append(record.hub_id)
        counts["queued"] += 1
    counts["released_from_quarantine"] = quarantine.resolve(session, ctx.entity.id, gate.kind.dataset, passed)
    store_result(session, ctx, gate.step, f"{gate.suite}.{gate.kind.dataset}", result, counts)
    ctx.log.info("%s: %d queued for export, %d quarantined, %d waiting, %d fixed since last quarantined, "
                 "%d released by a person, %d dismissed by a person", plural, counts["queued"],
                 counts["quarantined"], counts["waiting"], counts["released_from_quarantine"],
                 counts["released_by_a_person"], counts["dismissed"])
    return counts, None


def store_result(session, ctx, step: str, suite: str, result, outcome: Counter | dict | None = None) -> None:
    """The suite's result for this run and step (a retried step replaces its earlier result), with what
    the step then did with the records (`outcome`: queued, quarantined, waiting, ...)."""
    session.execute(delete(QualityResult).where(
        QualityResult.entity_id == ctx.entity.id, QualityResult.run_id == ctx.run_id, QualityResult.step == step,
        QualityResult.suite == suite))
    stored = result.as_dict()
    failures = stored.pop("failures")
    stored["failures"] = dict(list(failures.items())[:STORED_FAILURES])
    stored["failures_not_stored"] = max(0, len(failures) - STORED_FAILURES)
    stored["outcome"] = dict(outcome or {})
    session.add(QualityResult(entity_id=ctx.entity.id, run_id=ctx.run_id, step=step, suite=suite,
                              suite_version=result.version, checked=result.checked, failed=result.failed,
                              systemic=result.systemic, message=result.message, result=stored))
