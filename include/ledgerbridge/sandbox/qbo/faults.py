"""Fault injection: the failures a QuickBooks client must survive, at chosen rates.

- throttle_rate: HTTP 429 (the XML body QBO sends) before anything happens;
- error_rate: HTTP 500 SystemFault before anything happens;
- slow_commit_rate: a write is committed, then its answer is held for slow_commit_seconds, so a client
  with a shorter read timeout gives up without knowing it succeeded;
- drop_rate: a write is committed, then the connection is cut after the answer's headers: the
  client is left with a broken answer and no way to know what happened;
- latency_seconds: added to every API request.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    slow_commit_rate: float = 0.0
    slow_commit_seconds: float = 0.0
    drop_rate: float = 0.0
    latency_seconds: float = 0.0
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "error_rate", "slow_commit_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        self._random = random.Random(self.seed)

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    @classmethod
    def from_mapping(cls, raw: dict) -> Faults:
        known = {"throttle_rate", "error_rate", "slow_commit_rate", "slow_commit_seconds", "drop_rate",
                 "latency_seconds", "seed"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        return cls(**raw)
