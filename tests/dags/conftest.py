"""What the DAG tests share: Airflow's own metadata database, migrated once, for dag.test() runs; an alert
channel's receiver."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture(scope="session")
def airflow_db():
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture
def webhook(monkeypatch):
    """A webhook alert channel's receiver on loopback (connection hook_ops): what it received, and the status it
    answers (set status["code"])."""
    received, status = [], {"code": 200}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_HOOK_OPS", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": server.server_port, "schema": "http"}))
    yield received, status
    server.shutdown()
