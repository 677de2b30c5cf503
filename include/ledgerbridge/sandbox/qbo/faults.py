"""Fault injection: the failures a QuickBooks client must survive, at chosen rates.

- throttle_rate: HTTP 429 (the XML body QBO sends) before anything happens;
- error_rate: HTTP 500 SystemFault before anything happens;
- slow_commit_rate: a write is committed, then its answer is held for slow_commit_seconds, so a client
  with a shorter read timeout gives up without knowing it succeeded;
- drop_rate: a write is committed, then the connection is cut after the answer's headers: the
  client is left with a broken answer and no way to know what happened;
- latency_seconds: added to every API request.

Validation, rolling and from_mapping are the shared ones (sandbox/faults.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..faults import ApiFaults


@dataclass
class Faults(ApiFaults):
    """The shared REST API knobs (sandbox/faults.py ApiFaults)."""
