"""`make airflow` (`ledgerbridge demo --airflow`) runs the real `airflow standalone`; Ctrl-C (SIGINT to the
terminal's process group) or SIGTERM must stop it and everything it started: scheduler, dag-processor,
api-server, triggerer, their log servers and the LocalExecutor workers."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

STANDALONE = "import sys; from ledgerbridge.demo import _standalone; sys.exit(_standalone())"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    home, dags = tmp_path_factory.mktemp("airflow-home"), tmp_path_factory.mktemp("dags")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__PARALLELISM": "4",
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True,
                              text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    return env


COMPONENTS = ("scheduler", "dag-processor", "api_server", "triggerer")


def _started(demo: psutil.Process, timeout: float = 120) -> list[psutil.Process]:
    """Everything under the demo once each component and the LocalExecutor workers are up (on a loaded
    machine the API server may come up after the workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = demo.children(recursive=True)
        names = " ".join(" ".join(_cmdline(p)) for p in tree)
        workers = [p for p in tree if "LocalExecutor" in " ".join(_cmdline(p))]
        if len(workers) >= 2 and all(part in names for part in COMPONENTS):
            return tree
        time.sleep(0.5)
    raise AssertionError(f"airflow standalone did not start its workers in {timeout} s: "
                         f"{[' '.join(_cmdline(p)) for p in demo.children(recursive=True)]}")


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_stopping_make_airflow_stops_every_process_it_started(airflow_env, how):
    env = {**airflow_env, "AIRFLOW__API__PORT": str(_free_port())}
    # a session of its own, as a terminal gives `make airflow`: Ctrl-C is SIGINT to this process group
    demo = subprocess.Popen([sys.executable, "-c", STANDALONE], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = _started(psutil.Process(demo.pid))
        if how == "ctrl-c":
            os.killpg(demo.pid, signal.SIGINT)
        else:
            demo.send_signal(signal.SIGTERM)
        output, _ = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:  # the test failed: leave nothing behind either
            for process in psutil.Process(demo.pid).children(recursive=True):
                process.kill()
            demo.kill()
    assert demo.returncode == 0, output[-3000:]
    assert f"{'SIGINT' if how == 'ctrl-c' else 'SIGTERM'}: stopping airflow and everything it started" in output
    assert "airflow stopped" in output
    left = [" ".join(_cmdline(p)) or str(p.pid) for p in started if _alive(p)]
    assert left == [], f"still running after the demo stopped: {left}"
