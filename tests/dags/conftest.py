"""What the DAG tests share: Airflow's own metadata database, migrated once, for dag.test() runs."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def airflow_db():
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
