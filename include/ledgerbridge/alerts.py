"""Alerts: what needs a person, per legal entity, said once per problem until it changes (docs/alerts.md).

At the end of every run (and when a run is late), `problems_of_run` reads the ledger: the run's failed
step (a plain failure, a systemic data-quality failure, a company to reconnect, the daily API budget used
up), the daily API budget running short, queues past their thresholds, records the accounting system
refused, a run over its expected time. `due` compares those with what was last said (table alert_states):
a problem is said when it appears, when it changes (another step or error, a queue a threshold bigger, new
refusals) and once when it is gone; never again at each run or retry while it stays the same. The Airflow
side (plugins/ledgerbridge_airflow/alerts.py) sends what is due through the entity's channels, then
`said` records it. Plain Python: no Airflow here.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledgerbridge.connectors.specs import accounting_spec
from ledgerbridge.flows.outbox import CREATE, OutboxState
from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import AlertState, OutboxEntry, RecordType, SyncRun
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.matching import review
from ledgerbridge.registry import LegalEntity, dag_id_for
from ledgerbridge.status import reconnect_needed
from ledgerbridge.steps import REALTIME_RUN_PREFIX, STEP_NAMES

FAILED_RUN = "failed_run"
SYSTEMIC_QUALITY = "systemic_quality"
RECONNECT = "reconnect"
API_BUDGET = "api_budget"
LATE_RUN = "late_run"
QUARANTINE = "quarantine"
REVIEW = "review"
REFUSED = "refused"
# A failed run is one of these, by the error that stopped it (the rest are plain failures).
FAILURE_KINDS = {"ReconnectRequired": RECONNECT, "SystemicQualityFailure": SYSTEMIC_QUALITY,
                 "DayLimitExhausted": API_BUDGET}
RUN_OUTCOME_KINDS = (FAILED_RUN, SYSTEMIC_QUALITY)
# What a step summary carries when its connector told how much of its daily call budget is left: [left, of].
API_CALLS_LEFT = "api_calls_left_today"

GONE = {
    FAILED_RUN: "runs succeed again",
    SYSTEMIC_QUALITY: "the data-quality gates pass again",
    RECONNECT: "the company answers again: reconnected",
    API_BUDGET: "the daily API budget is no longer short",
    LATE_RUN: "runs finish within their expected time again",
    QUARANTINE: "the quarantine is back under its threshold",
    REVIEW: "the review queue is back under its threshold",
    REFUSED: "no refused record waits any more",
}


@dataclass(frozen=True)
class Problem:
    kind: str
    state: str  # which problem it is: a change of state is said again
    title: str  # one line
    facts: tuple[str, ...]  # what happened, with counts
    action: str  # what to do
    link: str  # where to act: a path under Airflow's base URL
    level: int = 0  # how big: said again only when it grows
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    entity_id: str
    entity_name: str
    dag_id: str
    kind: str
    change: str  # new | changed | grew | resolved
    problem: Problem | None  # None once resolved
    run_id: str | None = None

    @property
    def headline(self) -> str:
        if self.problem is None:
            return f"resolved: {GONE[self.kind]}"
        return self.problem.title

    @property
    def subject(self) -> str:
        return f"[LedgerBridge] {self.entity_id}: {self.headline}"

    def links(self, base_url: str) -> list[tuple[str, str]]:
        base = base_url.rstrip("/")
        found = []
        if self.problem is not None:
            found.append(("Act on it", base + self.problem.link))
        if self.run_id:
            found.append(("The run", base + run_path(self.entity_id, self.run_id)))
        found.append(("The entity", f"{base}/ledgerbridge/entities/{quote(self.entity_id)}"))
        return found

    def text(self, base_url: str) -> str:
        lines = [f"{self.entity_name} ({self.entity_id}): {self.headline}", ""]
        if self.problem is not None:
            lines += [f"- {fact}" for fact in self.problem.facts]
            lines += ["", f"What to do: {self.problem.action}"]
        lines += [""] + [f"{label}: {url}" for label, url in self.links(base_url)]
        return "\n".join(lines)

    def html(self, base_url: str) -> str:
        escape = html.escape
        parts = [f"<p><b>{escape(self.entity_name)}</b> ({escape(self.entity_id)}): {escape(self.headline)}</p>"]
        if self.problem is not None:
            parts.append("<ul>" + "".join(f"<li>{escape(fact)}</li>" for fact in self.problem.facts) + "</ul>")
            parts.append(f"<p><b>What to do:</b> {escape(self.problem.action)}</p>")
        parts.append("<p>" + " &middot; ".join(f'<a href="{escape(url)}">{escape(label)}</a>'
                                               for label, url in self.links(base_url)) + "</p>")
        return "\n".join(parts)

    def payload(self, base_url: str) -> dict[str, Any]:
        """A webhook's JSON: `text` for Slack's and Teams' incoming webhooks, the rest for any other receiver."""
        return {"text": f"{self.subject}\n{self.text(base_url)}", "entity_id": self.entity_id, "kind": self.kind,
                "change": self.change, "title": self.headline, "run_id": self.run_id,
                "facts": list(self.problem.facts) if self.problem else [],
                "action": self.problem.action if self.problem else None,
                "counts": dict(self.problem.counts) if self.problem else {},
                "links": {label: url for label, url in self.links(base_url)}}


# --- what is wrong now ----------------------------------------------------------------------------

def problems_of_run(session: Session, entity: LegalEntity, run_id: str, *, failed_tasks: Iterable[str] = (),
                    run_started: datetime | None = None, now: datetime | None = None
                    ) -> tuple[list[Problem], set[str]]:
    """The entity's problems after run `run_id`, and the kinds looked at (a kind looked at and not found is gone).

    `failed_tasks`: the run's tasks Airflow saw fail; a step the ledger has no failure for (its worker was
    lost, or it failed before it started) is a failed run too. `run_started`: when Airflow started the run
    (its tasks may have waited for a pool before the first step)."""
    policy = entity.alerts
    steps = {step.step: step for step in session.scalars(
        select(SyncRun).where(SyncRun.entity_id == entity.id, SyncRun.run_id == run_id))}
    problems: list[Problem] = []
    looked_at: set[str] = {RECONNECT}

    failure = _failure(entity, run_id, steps, set(failed_tasks))
    if failure is not None:
        if failure.kind != RECONNECT:  # said below, from the ledger's latest connected step
            problems.append(failure)
            looked_at.add(failure.kind)
    succeeded = failure is None and bool(steps) and all(step.status == "success" for step in steps.values())
    if succeeded:
        looked_at.update(RUN_OUTCOME_KINDS)
    reconnect = reconnect_needed(session, entity.id)
    if reconnect:
        problems.append(_reconnect(entity, reconnect))

    if policy.api_calls_left_below is not None and not (failure and failure.kind == API_BUDGET):
        budget = _api_calls_left(steps.values())
        if budget is not None:
            looked_at.add(API_BUDGET)
            left, of = budget
            if left < policy.api_calls_left_below * of:
                problems.append(_budget_short(entity, left, of, policy.api_calls_left_below))
    if policy.expected_minutes is not None and steps:
        started = min([step.started_at for step in steps.values()] + ([run_started] if run_started else []))
        ended = max((step.finished_at for step in steps.values() if step.finished_at), default=None) or now or utcnow()
        if ended - started > timedelta(minutes=policy.expected_minutes):
            problems.append(late_run(entity, run_id, ended - started, finished=True))
            looked_at.add(LATE_RUN)
        elif succeeded:
            said_late = session.get(AlertState, (entity.id, LATE_RUN))
            # Said late of this very run (its deadline counts from when it was queued, waiting included): its
            # end does not undo that; the next run finishing in time does. A failed run proves nothing either way.
            if said_late is None or said_late.run_id != run_id:
                looked_at.add(LATE_RUN)
    if run_id.startswith(REALTIME_RUN_PREFIX):
        # A realtime run covers a few steps of a minute: its success does not end a failure or a lateness said
        # of the entity's full run (only the next full run does), or every minute would say it resolved.
        looked_at -= {kind for kind, row in open_problems(session, entity.id).items()
                      if kind in (*RUN_OUTCOME_KINDS, LATE_RUN) and not (row.run_id or "").startswith(REALTIME_RUN_PREFIX)}
    problems += queue_problems(session, entity)
    looked_at.update(kind for kind, on in ((QUARANTINE, policy.quarantine_above), (REVIEW, policy.review_above),
                                           (REFUSED, policy.refused_records)) if on is not None and on is not False)
    return problems, looked_at


def queue_problems(session: Session, entity: LegalEntity) -> list[Problem]:
    policy, found = entity.alerts, []
    if policy.quarantine_above is not None:
        held = quarantine.open_counts(session, [entity.id]).get(entity.id, 0)
        if held > policy.quarantine_above:
            by_dataset = quarantine.open_counts_by_dataset(session, entity.id)
            found.append(Problem(
                QUARANTINE, "over", f"{_plural(held, 'record')} held in quarantine (threshold {policy.quarantine_above})",
                (f"{held} records failed a data-quality check and wait for a person: "
                 + ", ".join(f"{dataset} {count}" for dataset, count in sorted(by_dataset.items())),),
                "Read why each is held, fix it at the source (the next run takes the fix) or release / dismiss it "
                f"(`ledgerbridge quarantine list --entity {entity.id}`)",
                f"/ledgerbridge/entities/{quote(entity.id)}/quarantine", held // max(policy.quarantine_above, 1),
                {"open_quarantine": held}))
    if policy.review_above is not None:
        waiting = review.open_counts(session, [entity.id]).get(entity.id, 0)
        if waiting > policy.review_above:
            found.append(Problem(
                REVIEW, "over", f"{waiting} {'party waits' if waiting == 1 else 'parties wait'} for a matching "
                f"decision (threshold {policy.review_above})",
                (f"{waiting} hub vendors or customers have a close but uncertain match in the accounting system; "
                 "their documents wait until a person decides",),
                "Confirm the right candidate, create a new party, or reject each one "
                f"(`ledgerbridge review list --entity {entity.id}`)",
                f"/ledgerbridge/entities/{quote(entity.id)}/review", waiting // max(policy.review_above, 1),
                {"open_reviews": waiting}))
    if policy.refused_records:
        refused = session.execute(
            select(OutboxEntry.kind, func.count(OutboxEntry.id), func.max(OutboxEntry.id))
            .where(OutboxEntry.entity_id == entity.id, OutboxEntry.state == OutboxState.REJECTED,
                   OutboxEntry.operation == CREATE, OutboxEntry.record_type != RecordType.PARTY)
            .group_by(OutboxEntry.kind)).all()
        if refused:
            total = sum(count for _, count, _ in refused)
            newest = session.scalars(
                select(OutboxEntry).where(OutboxEntry.entity_id == entity.id,
                                          OutboxEntry.state == OutboxState.REJECTED, OutboxEntry.operation == CREATE,
                                          OutboxEntry.record_type != RecordType.PARTY)
                .order_by(OutboxEntry.id.desc()).limit(3)).all()
            system = accounting_spec(entity.accounting.kind.value).label
            found.append(Problem(
                REFUSED, "refused", f"{total} record{'s' * (total != 1)} refused by {system}",
                (f"{system} refused: " + ", ".join(f"{kind} {count}" for kind, count, _ in sorted(refused)),
                 *(f"{row.record_key}: {_first_line(row.error)}" for row in newest)),
                "Fix each record at the source (or the mapping), then Retry it; it is sent once, under a new key "
                f"(`ledgerbridge rejected list --entity {entity.id}`)",
                f"/ledgerbridge/entities/{quote(entity.id)}/rejected", max(newest_id for _, _, newest_id in refused),
                {"refused": total}))
    return found


def run_path(entity_id: str, run_id: str) -> str:
    """The run's page in Airflow. The ledger records a realtime run under its Airflow run id prefixed
    (steps.REALTIME_RUN_PREFIX): a run of the entity's realtime DAG."""
    dag_id = dag_id_for(entity_id)
    if run_id.startswith(REALTIME_RUN_PREFIX):
        dag_id, run_id = dag_id_for(entity_id, "realtime"), run_id.removeprefix(REALTIME_RUN_PREFIX)
    return f"/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def late_run(entity: LegalEntity, run_id: str, took: timedelta, *, finished: bool) -> Problem:
    expected = entity.alerts.expected_minutes
    verb = "took" if finished else "has been going for"
    return Problem(
        LATE_RUN, "late", f"a run {verb} {_duration(took, expected)} (expected under {expected} min)",
        (f"run {run_id} {verb} {_duration(took, expected)}; its runs are expected to finish within "
         f"{_plural(expected, 'minute')}",),
        "See which task is slow or waiting in the run's grid (a pool full of other entities' tasks, an API "
        "limit waited out, a stuck agent); raise alerts.expected_minutes if the work has simply grown",
        run_path(entity.id, run_id))


def _failure(entity: LegalEntity, run_id: str, steps: dict[str, SyncRun], failed_tasks: set[str]) -> Problem | None:
    run_link = run_path(entity.id, run_id)
    for name in STEP_NAMES:
        step = steps.get(name)
        if step is not None and step.status == "failed":
            error_type, _, message = (step.error or "").partition(": ")
            kind = FAILURE_KINDS.get(error_type.rpartition(".")[2], FAILED_RUN)
            done = [f"{other} {', '.join(f'{k} {v}' for k, v in _counts(steps[other].summary))}"
                    for other in STEP_NAMES[:STEP_NAMES.index(name)] if other in steps and _counts(steps[other].summary)]
            facts = (f"step {name} failed: {error_type.rpartition('.')[2]}: {_first_line(message)}",
                     *([f"before it: {'; '.join(done)}"] if done else []))
            if kind == SYSTEMIC_QUALITY:
                return Problem(kind, name, f"systemic data-quality failure in {name}", facts,
                               "Too many records failed at once: a wrong mapping or a half-empty pull, not bad records. "
                               "Fix the mapping or the pull, then clear the task; nothing of the batch went out",
                               f"/ledgerbridge/entities/{quote(entity.id)}/quarantine")
            if kind == API_BUDGET:
                return Problem(kind, "short", "the daily API budget is used up", facts,
                               "Nothing more goes out until the system takes calls again (the error says when); "
                               "the next run catches up. Spread this company's runs if it happens often",
                               run_link, level=2)
            if kind == RECONNECT:
                return _reconnect(entity, message)
            return Problem(FAILED_RUN, f"{name}: {error_type.rpartition('.')[2] or 'error'}", f"the run failed at {name}",
                           facts, "Read the task log, fix the cause, then clear the failed task to run it again "
                           "(what already went out is never sent twice)", run_link)
    for name in STEP_NAMES:
        if name in failed_tasks:
            state = steps[name].status if name in steps else "not started"
            return Problem(FAILED_RUN, f"{name}: stopped", f"the run failed at {name}",
                           (f"task {name} failed without LedgerBridge recording why (its step was {state}): the "
                            "worker was lost or killed, or the task could not start",),
                           "Read the task's log in Airflow, then clear the task to run it again (what already went "
                           "out is never sent twice)", run_link)
    return None


def _reconnect(entity: LegalEntity, refusal: str) -> Problem:
    system = accounting_spec(entity.accounting.kind.value).label
    return Problem(
        RECONNECT, entity.accounting.conn_id, f"the {system} company must be reconnected",
        (f"{system} refused access: {_first_line(refusal)}",
         "nothing goes out or comes in for this entity until it is reconnected"),
        f"Reconnect the app to the company and put the new refresh token in Airflow connection "
        f"'{entity.accounting.conn_id}' (Admin -> Connections), then clear the failed task or trigger a run",
        f"/connections?{urlencode({'search': entity.accounting.conn_id})}")


def _budget_short(entity: LegalEntity, left: int, of: int, below: float) -> Problem:
    system = accounting_spec(entity.accounting.kind.value).label
    used_up = left <= 0  # an export stopped by it goes on to the next run without failing: said here
    return Problem(
        API_BUDGET, "short", "the daily API budget is used up" if used_up else f"only {left} of {of} API calls left today",
        (f"{system} allows {of} calls a day for this company; {left} are left (alert below {below:.0%})",),
        "Nothing to do if the day's work is done; otherwise expect refusals when it is used up, and spread this "
        "company's runs or full refreshes over the day", f"/ledgerbridge/entities/{quote(entity.id)}",
        level=2 if used_up else 1,
        counts={"api_calls_left": left, "api_calls_per_day": of})


def _api_calls_left(steps: Iterable[SyncRun]) -> tuple[int, int] | None:
    told = [(step.finished_at, (step.summary or {}).get(API_CALLS_LEFT)) for step in steps]
    told = [(at, value) for at, value in told if at is not None and isinstance(value, list) and len(value) == 2]
    if not told:
        return None
    left, of = max(told, key=lambda pair: pair[0])[1]
    return int(left), int(of)


def _counts(summary: dict | None) -> list[tuple[str, int]]:
    return [(key, value) for key, value in (summary or {}).items()
            if isinstance(value, int) and not isinstance(value, bool) and value]


def _first_line(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else "(no message)"
    return line if len(line) <= 300 else line[:297] + "..."


def _duration(took: timedelta, limit_minutes: int) -> str:
    """Whole minutes, with the seconds where whole minutes would read as within the limit ("1 min 1 s")."""
    seconds = max(0, int(took.total_seconds()))
    minutes, rest = divmod(seconds, 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    if minutes == 0:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if minutes <= limit_minutes and rest else f"{minutes} min"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


# --- said once ------------------------------------------------------------------------------------

def due(session: Session, entity: LegalEntity, problems: Iterable[Problem], looked_at: Iterable[str],
        run_id: str | None = None) -> list[Alert]:
    """What to say now: problems new, changed or grown since last said, and those looked at and gone.

    A problem that shrank is remembered smaller (its next growth is said) without a message."""
    said = {row.kind: row for row in session.scalars(select(AlertState).where(AlertState.entity_id == entity.id))}
    alerts, present = [], set()
    for problem in problems:
        present.add(problem.kind)
        row = said.get(problem.kind)
        if row is None or row.resolved_at is not None:
            change = "new"
        elif row.state != problem.state:
            change = "changed"
        elif problem.level > row.level:
            change = "grew"
        else:
            row.level = problem.level
            continue
        alerts.append(Alert(entity.id, entity.name, entity.dag_id, problem.kind, change, problem, run_id))
    for kind in sorted(set(looked_at) - present):
        row = said.get(kind)
        if row is not None and row.resolved_at is None:
            alerts.append(Alert(entity.id, entity.name, entity.dag_id, kind, "resolved", None, run_id))
    return alerts


def said(session: Session, alert: Alert) -> None:
    """Record that `alert` reached its people: the same problem is not said again until it changes."""
    row = session.get(AlertState, (alert.entity_id, alert.kind))
    now = utcnow()
    if alert.problem is None:
        if row is not None:
            row.resolved_at, row.said_at, row.run_id = now, now, alert.run_id
        return
    if row is None:
        row = AlertState(entity_id=alert.entity_id, kind=alert.kind, opened_at=now)
        session.add(row)
    elif row.resolved_at is not None:
        row.opened_at = now
    row.state, row.level, row.said_at, row.resolved_at = alert.problem.state, alert.problem.level, now, None
    row.run_id = alert.run_id
    session.flush()


def open_problems(session: Session, entity_id: str) -> dict[str, AlertState]:
    """What was said of the entity and is not resolved, by kind."""
    return {row.kind: row for row in session.scalars(
        select(AlertState).where(AlertState.entity_id == entity_id, AlertState.resolved_at.is_(None)))}
