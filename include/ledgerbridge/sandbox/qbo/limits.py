"""QBO throttling per realm: requests per minute, concurrent requests, batch requests per minute."""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

from ..limits import SlidingWindow

WINDOW_SECONDS = 60.0


class RealmLimiter:
    """Sliding one-minute windows (sandbox/limits.py) on the sandbox clock; a throttled request does not count."""

    def __init__(self, clock: Callable[[], float], requests_per_minute: int, concurrent_requests: int,
                 batch_requests_per_minute: int) -> None:
        self.clock = clock
        self.requests_per_minute = requests_per_minute
        self.concurrent_requests = concurrent_requests
        self.batch_requests_per_minute = batch_requests_per_minute
        self._lock = threading.Lock()
        self._requests: dict[str, SlidingWindow] = defaultdict(lambda: SlidingWindow(WINDOW_SECONDS,
                                                                                     requests_per_minute))
        self._batches: dict[str, SlidingWindow] = defaultdict(lambda: SlidingWindow(WINDOW_SECONDS,
                                                                                    batch_requests_per_minute))
        self._in_flight: dict[str, int] = defaultdict(int)

    def enter(self, realm_id: str, batch: bool) -> bool:
        """Admit a request (call leave() when it ends) or refuse it: False means HTTP 429."""
        with self._lock:
            now = self.clock()
            requests, batches = self._requests[realm_id], self._batches[realm_id]
            if (self._in_flight[realm_id] >= self.concurrent_requests or requests.full(now)
                    or (batch and batches.full(now))):
                return False
            requests.add(now)
            if batch:
                batches.add(now)
            self._in_flight[realm_id] += 1
            return True

    def leave(self, realm_id: str) -> None:
        with self._lock:
            self._in_flight[realm_id] -= 1
