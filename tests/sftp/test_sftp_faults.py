"""A connection dropped mid-transfer (session killed, server restarted) never leaves a complete-looking
file behind, never hands out part of a file, and the next attempt succeeds.

The fault is timed by watching the server side: the `.part` file growing on disk (upload), or the
serving process's read offset in the file (download, from /proc/<pid>/fdinfo).
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from ledgerbridge.filedrop import LocalFileSystem, list_inbound, write_atomic
from ledgerbridge.filedrop.sftp import SFTPConnectionLost

SIZE = 16 << 20  # big enough that the fault lands mid-transfer on a fast loopback
STARTED = 1 << 20  # bytes moved before the fault: the transfer is surely under way, far from done
FAULTS = ["kill_session", "restart"]
pytestmark = pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux /proc to time the fault")


def wait_until_under_way(transfer: threading.Thread, progress, timeout: float = 20.0) -> None:
    """Until the server has moved STARTED bytes of the transfer; fails if it ended first (no fault to time)."""
    deadline = time.monotonic() + timeout
    while progress() < STARTED:
        assert transfer.is_alive(), "the transfer ended before the fault could be timed; make SIZE larger"
        assert time.monotonic() < deadline, "the transfer did not start"
        time.sleep(0.0005)


def read_offset(pids: list[int], path: Path) -> int:
    """How far the serving processes have read `path` (0 while nobody has it open)."""
    offsets = [0]
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # the process ended
        for fd in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                    offsets.append(int(info.split("pos:", 1)[1].split()[0]))
            except OSError:
                continue  # closed while we looked (listdir's own descriptor, for one)
    return max(offsets)


def in_background(call) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which checks it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def inflict(target, fault: str) -> None:
    target.kill_sessions() if fault == "kill_session" else target.restart()


@pytest.mark.parametrize("fault", FAULTS)
def test_a_dropped_upload_leaves_only_a_part_file_and_the_next_attempt_succeeds(target, drop_dir, fault):
    data = os.urandom(SIZE)
    inbox, name = drop_dir / "to_accounting" / "bills", "bills-20250201T093015.123Z-b1.json"
    with target.connect(drop_dir) as fs:
        fs.mkdir("to_accounting/bills")
        thread, outcome = in_background(lambda: write_atomic(fs, f"to_accounting/bills/{name}", data))
        part = inbox / (name + ".part")
        wait_until_under_way(thread, lambda: part.stat().st_size if part.exists() else 0)
        inflict(target, fault)
        thread.join(30)

    assert isinstance(outcome.get("error"), SFTPConnectionLost), outcome
    assert "connection lost during write_bytes" in str(outcome["error"])
    assert os.listdir(inbox) == [name + ".part"]  # never a complete-looking file
    assert part.stat().st_size < SIZE
    assert list_inbound(LocalFileSystem(drop_dir), "to_accounting/bills") == []  # readers do not see it

    with target.connect(drop_dir) as fs:
        write_atomic(fs, f"to_accounting/bills/{name}", data)
    assert os.listdir(inbox) == [name]
    assert (inbox / name).read_bytes() == data


# paramiko's prefetch thread (it sends the read requests) may die with the connection and report it
# on its own; what matters is what read_bytes tells its caller, checked below.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("fault", FAULTS)
def test_a_dropped_download_raises_and_hands_out_no_bytes(target, drop_dir, fault):
    data = os.urandom(SIZE)
    (drop_dir / "big.json").write_bytes(data)
    with target.connect(drop_dir) as fs:
        thread, outcome = in_background(lambda: fs.read_bytes("big.json", 2 * SIZE))
        wait_until_under_way(thread, lambda: read_offset(target.serving_pids(), drop_dir / "big.json"))
        inflict(target, fault)
        thread.join(30)

    assert "value" not in outcome, "a dropped download returned bytes"
    assert isinstance(outcome.get("error"), SFTPConnectionLost), outcome
    assert "connection lost during read_bytes of 'big.json'" in str(outcome["error"])

    with target.connect(drop_dir) as fs:
        assert fs.read_bytes("big.json", 2 * SIZE) == data
