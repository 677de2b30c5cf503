"""Sliding-window call counting on a sandbox's clock, shared by the QBO and Xero limiters."""
from __future__ import annotations

from collections import deque


class SlidingWindow:
    """The calls of the last `seconds` (times on the sandbox clock); not thread-safe: the limiter
    that holds it locks."""

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds, self.limit = seconds, limit
        self._calls: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - self.seconds:
            self._calls.popleft()

    def full(self, now: float) -> bool:
        self._expire(now)
        return len(self._calls) >= self.limit

    def add(self, now: float) -> None:
        self._calls.append(now)

    def remaining(self, now: float) -> int:
        self._expire(now)
        return max(0, self.limit - len(self._calls))

    def retry_after(self, now: float) -> float:
        """Seconds until one more call fits (0 when one fits now)."""
        self._expire(now)
        if len(self._calls) < self.limit:
            return 0.0
        return self._calls[len(self._calls) - self.limit] + self.seconds - now
