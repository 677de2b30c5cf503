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

from ..faults import ApiFaults


@dataclass
class Faults(ApiFaults):
    """The shared REST API knobs (sandbox/faults.py ApiFaults)."""
