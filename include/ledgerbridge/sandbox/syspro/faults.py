"""Fault injection: the failures a SYSPRO client must survive, at chosen rates (the QBO sandbox's pattern,
and its validation, rolling and from_mapping: sandbox/faults.py).

- error_rate: HTTP 503 e.net "SystemBusy" before anything happens (logon, reads and posts);
- drop_rate: a post is applied, then the connection is cut after the answer's headers: the client
  is left with a broken answer and no way to know what happened (commit-then-drop);
- latency_seconds: added to every API request (not to /sandbox admin routes).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..faults import SandboxFaults


@dataclass
class Faults(SandboxFaults):
    error_rate: float = 0.0
    drop_rate: float = 0.0
    latency_seconds: float = 0.0
    seed: int | None = None


KNOBS = Faults.knob_names()
