"""The core calls behind LedgerBridge's pages: one function per read or decision, each a few lines.

The ledger comes from the `ledgerbridge_ledger` connection (LedgerHook), else LEDGERBRIDGE_DB_URL; the
entities from the registry file. A decision is recorded as `airflow:<username>`.

Calls marked PLACEHOLDER wait for their core function (issue 14): `NotWired` becomes a 501 in the API
and a note in the pages. Wiring one is replacing its body by the core call named in its docstring.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class NotWired(Exception):
    """The core function behind this call has not landed yet."""


class Refused(Exception):
    """The core refused a person's decision; its message says why (ReviewError, DecisionRefused)."""


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    offset: int
    limit: int


def page_json(page) -> dict[str, Any]:
    """A core Page (items with `as_dict()`) as the API returns it."""
    return {"items": [item.as_dict() for item in page.items], "total": page.total, "offset": page.offset,
            "limit": page.limit}


# -- where the data is ------------------------------------------------------------------------------------

@functools.cache
def ledger():
    from ledgerbridge_airflow.hooks.ledger import LedgerHook

    return LedgerHook().get_conn()


_registry_lock = threading.Lock()
_registry_cache: dict[tuple[str, int], Any] = {}


def registry():
    """The registry, read again when its file changes."""
    from ledgerbridge import settings
    from ledgerbridge.registry import load_registry

    path = Path(settings.registry_path())
    key = (str(path), path.stat().st_mtime_ns)
    with _registry_lock:
        if key not in _registry_cache:
            _registry_cache.clear()
            _registry_cache[key] = load_registry(path)
        return _registry_cache[key]


def entity(entity_id: str):
    """The registry's legal entity, or None."""
    return next((e for e in registry().entities if e.id == entity_id), None)


def _refusals() -> tuple[type[Exception], ...]:
    from ledgerbridge.ledger.quarantine import DecisionRefused
    from ledgerbridge.matching.review import ReviewError

    return DecisionRefused, ReviewError


def _read(call, *args, **kwargs):
    """A core read in its own session (e.g. `_read(status.entities_page, entities, search=search, ...)`)."""
    with ledger().session() as session:
        return call(session, *args, **kwargs)


def _decide(call, *args, **kwargs):
    """Run one decision in its own unit of work; the core's refusal becomes `Refused` (nothing committed)."""
    try:
        with ledger().session() as session:
            return call(session, *args, **kwargs)
    except _refusals() as exc:
        raise Refused(str(exc)) from None


# -- reads ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _EntityRow:
    id: str
    name: str
    base_currency: str
    accounting: str
    source: str | None
    enabled: bool
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def entities_page(entities, *, search: str = "", sort: str = "id", descending: bool = False, offset: int = 0,
                  limit: int = 50):
    """PLACEHOLDER for `ledgerbridge.status.entities_page(session, entities, ...)`: the registry's fields only."""
    rows = [_EntityRow(e.id, e.name, e.base_currency, e.accounting.kind.value, e.source.kind.value if e.source
                       else None, e.enabled) for e in entities]
    needle = search.strip().lower()
    rows = [r for r in rows if needle in r.id.lower() or needle in r.name.lower()]
    key = sort if sort in ("id", "name", "base_currency", "accounting") else "id"
    rows.sort(key=lambda r: getattr(r, key), reverse=descending)
    return Page(rows[offset:offset + limit], len(rows), offset, limit)


def reconciliation(entity_id: str, run_id: str) -> dict | None:
    """PLACEHOLDER for `ledgerbridge.status.reconciliation(session, entity_id, run_id)`."""
    raise NotWired("the reconciliation of a run")


def review_queue(entity_id: str, offset: int, limit: int):
    """PLACEHOLDER for `ledgerbridge.matching.review.queue_page(session, entity_id, offset, limit)`."""
    raise NotWired("the party review queue")


def quarantine_listing(entity_id: str, status: str, dataset: str | None, offset: int, limit: int):
    """PLACEHOLDER for `ledgerbridge.ledger.quarantine.listing(session, entity_id, status, dataset, offset, limit)`."""
    raise NotWired("the quarantine listing")


def rejected_page(entity_id: str, offset: int, limit: int):
    """PLACEHOLDER for `ledgerbridge.flows.outbox.rejected_page(session, entity_id, offset, limit)`."""
    raise NotWired("the rejected records")


# -- decisions: each returns the sentence shown to the person ---------------------------------------------

def review_confirm(entity_id: str, actor: str, hub_id: str, external_id: str, kind: str | None) -> str:
    from ledgerbridge.matching import review

    return _decide(review.confirm, entity_id, hub_id, external_id, actor, kind)


def review_reject(entity_id: str, actor: str, hub_id: str, kind: str | None) -> str:
    from ledgerbridge.matching import review

    return _decide(review.reject, entity_id, hub_id, actor, kind)


def review_create_new(entity_id: str, actor: str, hub_id: str, kind: str | None) -> str:
    """PLACEHOLDER for `ledgerbridge.matching.review.create_new(session, entity_id, hub_id, actor, kind)`."""
    raise NotWired("creating a party in the accounting system")


def quarantine_release(entity_id: str, actor: str, dataset: str, record_key: str, reason: str) -> str:
    from ledgerbridge.ledger import quarantine
    from ledgerbridge.quality import overridable_expectations

    entry = _decide(quarantine.release, entity_id, dataset, record_key, actor, reason, overridable_expectations())
    waived = "; ".join(f"{w['expectation']} ({w['field']} {w['value']})" for w in entry.waived)
    return f"{dataset} {record_key}: released, waived {waived}; it goes out on the next run unless it fails " \
           "something else"


def quarantine_dismiss(entity_id: str, actor: str, dataset: str, record_key: str, reason: str) -> str:
    from ledgerbridge.ledger import quarantine

    _decide(quarantine.dismiss, entity_id, dataset, record_key, actor, reason)
    return f"{dataset} {record_key}: dismissed, never exported (until reopened)"


def quarantine_reopen(entity_id: str, actor: str, dataset: str, record_key: str) -> str:
    from ledgerbridge.ledger import quarantine

    _decide(quarantine.reopen, entity_id, dataset, record_key, actor)
    return f"{dataset} {record_key}: reopened, checked again on the next run"


def outbox_retry(entity_id: str, actor: str, outbox_id: int) -> str:
    """PLACEHOLDER for `ledgerbridge.flows.outbox.retry(session, entity_id, outbox_id, actor)`."""
    raise NotWired("retrying a rejected record")
