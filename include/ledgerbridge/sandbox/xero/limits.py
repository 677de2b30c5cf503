"""Xero's limits per connection (app x tenant): 5 calls in progress, 60 a minute, 5,000 a day (a rolling
24 hours), and the app's 10,000 a minute across its tenants; sliding windows (sandbox/limits.py) on the
sandbox clock. A refused call does not count."""
from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from ..limits import SlidingWindow

MINUTE, DAY = 60.0, 86400.0


@dataclass
class Admission:
    admitted: bool
    headers: dict[str, str]
    problem: str | None = None  # minute / day / appminute / concurrent
    retry_after: int = 0


class XeroLimiter:
    def __init__(self, clock: Callable[[], float], per_minute: int = 60, per_day: int = 5000, concurrent: int = 5,
                 app_per_minute: int = 10000) -> None:
        self.clock, self.concurrent = clock, concurrent
        self._lock = threading.Lock()
        self._minute = defaultdict(lambda: SlidingWindow(MINUTE, per_minute))
        self._day = defaultdict(lambda: SlidingWindow(DAY, per_day))
        self._app = defaultdict(lambda: SlidingWindow(MINUTE, app_per_minute))
        self._in_flight: dict[tuple[str, str], int] = defaultdict(int)

    def enter(self, app: str, tenant: str) -> Admission:
        """Admit a call (call leave() when it ends) or refuse it (HTTP 429)."""
        with self._lock:
            now, key = self.clock(), (app, tenant)
            minute, day, app_minute = self._minute[key], self._day[key], self._app[app]
            problem, wait = None, 0.0
            if self._in_flight[key] >= self.concurrent:
                problem, wait = "concurrent", 1.0
            else:
                for name, window in (("day", day), ("appminute", app_minute), ("minute", minute)):
                    if window.full(now):
                        problem, wait = name, window.retry_after(now)
                        break
            if problem is None:
                for window in (minute, day, app_minute):
                    window.add(now)
                self._in_flight[key] += 1
            headers = {"X-MinLimit-Remaining": str(minute.remaining(now)),
                       "X-DayLimit-Remaining": str(day.remaining(now)),
                       "X-AppMinLimit-Remaining": str(app_minute.remaining(now))}
            if problem is None:
                return Admission(True, headers)
            retry = max(1, math.ceil(wait))
            return Admission(False, {**headers, "Retry-After": str(retry), "X-Rate-Limit-Problem": problem},
                             problem, retry)

    def leave(self, app: str, tenant: str) -> None:
        with self._lock:
            self._in_flight[(app, tenant)] -= 1
