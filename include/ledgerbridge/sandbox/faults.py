"""Fault injection shared by the HTTP sandboxes (QBO, SYSPRO): a dataclass of knobs, each `*_rate` a
chance from 0 to 1 and each `*_seconds` a delay of 0 or more, rolled from the faults' own random sequence
(`seed`), so a test is repeatable. A sandbox subclasses it with its own knobs (see qbo/faults.py,
syspro/faults.py)."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields
from typing import Self


@dataclass
class SandboxFaults:
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name in self.knob_names():
            value = getattr(self, name)
            if name.endswith("_rate") and not (_number(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
            if name.endswith("_seconds") and not (_number(value) and value >= 0):
                raise ValueError(f"{name} must be 0 or more, got {value!r}")
        self._random = random.Random(getattr(self, "seed", None))

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.init)

    def knobs(self) -> dict:
        return {name: getattr(self, name) for name in self.knob_names()}

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    @classmethod
    def from_mapping(cls, raw: dict) -> Self:
        if not isinstance(raw, dict):
            raise ValueError("faults must be a JSON object")
        unknown = set(raw) - set(cls.knob_names())
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        return cls(**raw)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class ApiFaults(SandboxFaults):
    """The knobs of a REST accounting API (QBO, Xero): throttle_rate (a 429 before anything happens),
    error_rate (a 500 before anything happens), slow_commit_rate / slow_commit_seconds (a write is
    committed, then its answer held), drop_rate (a write is committed, then the connection cut after
    the answer's headers), latency_seconds (added to every API request). Each sandbox says what its
    429 and 500 look like."""
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    slow_commit_rate: float = 0.0
    slow_commit_seconds: float = 0.0
    drop_rate: float = 0.0
    latency_seconds: float = 0.0
    seed: int | None = None
