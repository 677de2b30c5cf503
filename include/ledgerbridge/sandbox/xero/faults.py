"""Fault injection: the failures a Xero client must survive, at chosen rates.

- throttle_rate: HTTP 429 (X-Rate-Limit-Problem: minute) before anything happens;
- error_rate: HTTP 500 before anything happens;
- slow_commit_rate: a write is committed, then its answer is held for slow_commit_seconds;
- drop_rate: a write is committed, then the connection is cut after the answer's headers;
- latency_seconds: added to every API request.

Validation, rolling and from_mapping are the shared ones (sandbox/faults.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..faults import SandboxFaults


@dataclass
class Faults(SandboxFaults):
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    slow_commit_rate: float = 0.0
    slow_commit_seconds: float = 0.0
    drop_rate: float = 0.0
    latency_seconds: float = 0.0
    seed: int | None = None
