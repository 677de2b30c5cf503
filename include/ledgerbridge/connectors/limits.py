"""Client-side throttling per company (a QuickBooks realm, a Xero tenant), so that the system's limits
are met before it answers 429. Shared by the QuickBooks Online and Xero clients.

QuickBooks allows per realm 500 requests a minute, 10 at a time, and a number of batch requests a
minute (40 in its sandbox, 120 in production since 2025-10-31). Windows slide over one minute. A
request is entered in the window when its answer arrives, which is never before QuickBooks counted
it, so a window that has room here has room there too; requests still in flight count as well.

The limiter is shared by every client of a realm in this process; tasks of the same realm in other
processes are kept apart by an Airflow pool (see docs/operations.md).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RealmLimits:
    requests_per_minute: int = 500
    concurrent_requests: int = 10
    batch_requests_per_minute: int = 40


class RealmRateLimiter:
    def __init__(self, limits: RealmLimits = RealmLimits(), clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.clock = clock
        self._condition = threading.Condition()
        self._requests: deque[float] = deque()
        self._batches: deque[float] = deque()
        self._in_flight = 0
        self._batches_in_flight = 0
        self.waited_seconds = 0.0

    @contextmanager
    def slot(self, batch: bool = False) -> Iterator[float]:
        """Wait until one more request (a batch request if `batch`) fits every limit, then hold it;
        gives the seconds waited."""
        waited = self._enter(batch)
        try:
            yield waited
        finally:
            self._leave(batch)

    def _enter(self, batch: bool) -> float:
        started = self.clock()
        with self._condition:
            while True:
                wait = self._wait_needed(batch)
                if wait <= 0:
                    break
                self._condition.wait(timeout=wait)
            self._in_flight += 1
            self._batches_in_flight += batch
            waited = self.clock() - started
            self.waited_seconds += waited
            return waited

    def _wait_needed(self, batch: bool) -> float:
        """Seconds until a slot may free up; 0 when the request may go now."""
        now = self.clock()
        for window in (self._requests, self._batches):
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
        waits = []
        if self._in_flight >= self.limits.concurrent_requests:
            waits.append(WINDOW_SECONDS)  # woken by _leave
        if len(self._requests) + self._in_flight >= self.limits.requests_per_minute:
            waits.append(self._until_expiry(self._requests, now))
        if batch and len(self._batches) + self._batches_in_flight >= self.limits.batch_requests_per_minute:
            waits.append(self._until_expiry(self._batches, now))
        return max(waits, default=0.0)

    @staticmethod
    def _until_expiry(window: deque[float], now: float) -> float:
        # Empty window: the slots are held by requests in flight; their end wakes us.
        return window[0] + WINDOW_SECONDS - now + 0.001 if window else WINDOW_SECONDS

    def _leave(self, batch: bool) -> None:
        with self._condition:
            now = self.clock()
            self._in_flight -= 1
            self._batches_in_flight -= batch
            self._requests.append(now)
            if batch:
                self._batches.append(now)
            self._condition.notify_all()


_LIMITERS: dict[str, RealmRateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(realm_id: str, limits: RealmLimits) -> RealmRateLimiter:
    """The process-wide limiter of a realm. QuickBooks counts per realm, so every client of a realm
    shares one, with the limits of the latest connection built for it."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(realm_id)
        if limiter is None:
            limiter = _LIMITERS[realm_id] = RealmRateLimiter(limits)
        limiter.limits = limits
        return limiter
