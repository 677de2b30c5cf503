"""`[core] hostname_callable` for the topology test: two Celery workers on one machine share a host name, so
each says the name the test gave it (task_instance.hostname tells which worker ran a task)."""
from __future__ import annotations

import os
import socket


def worker_name() -> str:
    return os.environ.get("LEDGERBRIDGE_TEST_HOSTNAME") or socket.getfqdn()
