"""What can go wrong when talking to an accounting system, in terms the pipeline acts on.

- RecordRejected: the system refused this record; re-sending it unchanged will not help.
- OutcomeUnknown: the request may or may not have been applied (timeout, dropped connection, 5xx
  after sending); the outbox row becomes `uncertain` and is looked up before any re-send.
- ReconnectRequired: the company's authorisation is gone; a person must reconnect it. Not retried.
- TransientError: nothing was applied (throttled, unavailable before sending); safe to retry.
"""
from __future__ import annotations


class ConnectorError(Exception):
    pass


class RecordRejected(ConnectorError):
    def __init__(self, message: str, code: str | None = None, element: str | None = None):
        super().__init__(message)
        self.code = code
        self.element = element


class OutcomeUnknown(ConnectorError):
    pass


class ReconnectRequired(ConnectorError):
    pass


class TransientError(ConnectorError):
    pass


class CompanyMismatch(ConnectorError):
    """The connection points at a different company than the one this entity was connected to."""
