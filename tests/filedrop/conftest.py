"""What the file-drop tests share: a fake clock, the desktop agent sandbox on its demo company, the drop's root."""
from __future__ import annotations

import pytest
from drop_samples import COMPANY, ENTITY, FakeClock
from ledgerbridge.sandbox.desktop import DesktopAgent, DesktopCompany, seed_demo


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def agent(tmp_path, clock):
    company = seed_demo(DesktopCompany(company_id=COMPANY, entity_id=ENTITY, clock=clock))
    return DesktopAgent(company, state_file=tmp_path / "state.json")


@pytest.fixture
def root(tmp_path):
    return tmp_path / "drop"
