"""The QBO sandbox's fixtures, shared by its test modules here (the Xero and SYSPRO modules define their own):
a fake clock at START, a sandbox on it without rate limits, and that sandbox served on loopback."""
from __future__ import annotations

import pytest
from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread
from support import FakeClock
from test_qbo_sandbox import START


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sandbox(clock) -> QBOSandbox:
    return QBOSandbox(clock=clock, rate_limits=False)


@pytest.fixture
def server(sandbox):
    running = serve_in_thread(sandbox)
    yield running
    running.stop()
