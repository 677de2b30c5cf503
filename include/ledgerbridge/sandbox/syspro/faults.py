"""Fault injection: the failures a SYSPRO client must survive, at chosen rates (the QBO sandbox's pattern).

- error_rate: HTTP 503 e.net "SystemBusy" before anything happens (logon, reads and posts);
- drop_rate: a post is applied, then the connection is cut after the answer's headers: the client
  is left with a broken answer and no way to know what happened (commit-then-drop);
- latency_seconds: added to every API request (not to /sandbox admin routes).
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

KNOBS = ("error_rate", "drop_rate", "latency_seconds", "seed")


@dataclass
class Faults:
    error_rate: float = 0.0
    drop_rate: float = 0.0
    latency_seconds: float = 0.0
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if isinstance(self.latency_seconds, bool) or not isinstance(self.latency_seconds, (int, float)) \
                or self.latency_seconds < 0:
            raise ValueError(f"latency_seconds must be 0 or more, got {self.latency_seconds!r}")
        self._random = random.Random(self.seed)

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def knobs(self) -> dict:
        return {name: getattr(self, name) for name in KNOBS}

    @classmethod
    def from_mapping(cls, raw: dict) -> Faults:
        if not isinstance(raw, dict):
            raise ValueError("faults must be a JSON object")
        unknown = set(raw) - set(KNOBS)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        return cls(**raw)
