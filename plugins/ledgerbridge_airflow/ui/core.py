"""The core calls behind LedgerBridge's pages: the same functions the CLI calls, one line each.

The ledger comes from the `ledgerbridge_ledger` connection (LedgerHook), else LEDGERBRIDGE_DB_URL; the
entities from the registry file (read again when it changes). A decision is recorded as `airflow:<username>`.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any


class Refused(Exception):
    """The core refused a person's decision; its message says why (ReviewError, DecisionRefused, RetryRefused)."""


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
    from ledgerbridge.flows.outbox import RetryRefused
    from ledgerbridge.ledger.quarantine import DecisionRefused
    from ledgerbridge.matching.review import ReviewError

    return DecisionRefused, ReviewError, RetryRefused


def _read(call, *args, **kwargs):
    with ledger().session() as session:
        return call(session, *args, **kwargs)


def _decide(call, *args, **kwargs):
    """Run one decision in its own unit of work; the core's refusal becomes `Refused` (nothing committed)."""
    try:
        with ledger().session() as session:
            return call(session, *args, **kwargs)
    except _refusals() as exc:
        raise Refused(str(exc)) from None


# -- reads: each a Page of items with as_dict(), or a dict --------------------------------------------------

def entities_page(entities, *, search: str = "", show: str = "all", sort: str = "id", descending: bool = False,
                  offset: int = 0, limit: int = 50):
    from ledgerbridge import status

    return _read(status.entities_page, entities, search=search, show=show, sort=sort, descending=descending,
                 offset=offset, limit=limit)


def entity_status(entity):
    from ledgerbridge import status

    return _read(status.entity_status, entity)


def reconciliation(entity_id: str, run_id: str | None) -> dict | None:
    from ledgerbridge import status

    return _read(status.reconciliation, entity_id, run_id)


def review_queue(entity_id: str, offset: int, limit: int):
    from ledgerbridge.matching import review

    return _read(review.queue_page, entity_id, offset, limit)


def quarantine_listing(entity_id: str, status: str, dataset: str | None, offset: int, limit: int):
    from ledgerbridge.ledger import quarantine
    from ledgerbridge.quality import overridable_expectations

    return _read(quarantine.listing, entity_id, overridable_expectations(), status, dataset, offset, limit)


def quarantine_datasets(entity_id: str) -> dict[str, int]:
    from ledgerbridge.ledger import quarantine

    return _read(quarantine.open_counts_by_dataset, entity_id)


def rejected_page(entity_id: str, offset: int, limit: int):
    from ledgerbridge.flows import outbox

    return _read(outbox.rejected_page, entity_id, offset, limit)


# -- decisions: each returns the sentence shown to the person ---------------------------------------------

def review_confirm(entity_id: str, actor: str, hub_id: str, external_id: str, kind: str | None) -> str:
    from ledgerbridge.matching import review

    return _decide(review.confirm, entity_id, hub_id, external_id, actor, kind)


def review_reject(entity_id: str, actor: str, hub_id: str, kind: str | None) -> str:
    from ledgerbridge.matching import review

    return _decide(review.reject, entity_id, hub_id, actor, kind)


def review_create_new(entity_id: str, actor: str, hub_id: str, kind: str | None) -> str:
    from ledgerbridge.matching import review

    return _decide(review.create_new, entity_id, hub_id, actor, kind, creates_parties=entity(entity_id).creates_parties)


def quarantine_decide(entity_id: str, actor: str, decision: str, dataset: str, record_key: str,
                      reason: str | None) -> str:
    from ledgerbridge.ledger import quarantine
    from ledgerbridge.quality import overridable_expectations

    return _decide(quarantine.decide, entity_id, dataset, record_key, decision, actor, reason,
                   overridable_expectations())


def outbox_retry(entity_id: str, actor: str, outbox_id: int) -> str:
    from ledgerbridge.flows import outbox

    return _decide(outbox.retry, entity_id, outbox_id, actor)
