"""A real OpenSSH sshd for tests: a free loopback port, the current user, throw-away keys and config.

    with running_sshd(tmp_path) as sshd:
        sshd.host, sshd.port, sshd.user, sshd.client_key, sshd.host_key_line, sshd.root
        sshd.kill_sessions()   # every open session dies at once, as if the server crashed
        sshd.restart()         # listener and sessions stopped, then started again on the same port

Nothing on the machine is touched except /run/sshd, which sshd insists on when it runs as root
(the privilege separation directory that the openssh-server package would create). Without
/usr/sbin/sshd the tests that need it are skipped, saying why (.ci/run installs openssh-server).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")  # sshd re-executes itself, so it must be started by its absolute path
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0


def missing_reason() -> str | None:
    """Why sshd cannot run here, or None."""
    if not SSHD.exists():
        return f"OpenSSH's sshd is not installed ({SSHD} missing; apt-get install openssh-server)"
    if not shutil.which("ssh-keygen"):
        return "ssh-keygen is not installed (it comes with openssh-client)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path) -> str:
    """A new ed25519 key pair at `path` (and `path`.pub); returns the "ssh-ed25519 AAAA..." public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True)
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (sshd's per-connection processes and their children), from /proc."""
    parents: dict[int, int] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command name) state ppid ...": the name may hold spaces and parentheses.
            parents[int(stat_file.parent.name)] = int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


class SSHDServer:
    """One sshd: its keys, config, log and drop directory live in `workdir`."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.root = workdir / "drop"
        self.root.mkdir(parents=True)
        self.host_key_path = workdir / "ssh_host_ed25519_key"
        self.host_key_line = keygen(self.host_key_path)
        self.client_key = workdir / "client_ed25519"
        (workdir / "authorized_keys").write_text(keygen(self.client_key) + "\n")
        self.log = workdir / "sshd.log"
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    def _write_config(self) -> Path:
        config = self.workdir / "sshd_config"
        config.write_text(f"""\
Port {self.port}
ListenAddress {self.host}
HostKey {self.host_key_path}
PidFile {self.workdir / 'sshd.pid'}
AuthorizedKeysFile {self.workdir / 'authorized_keys'}
AllowUsers {self.user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
""")
        return config

    def start(self) -> None:
        if os.geteuid() == 0:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # sshd refuses to start as root without it
        with self.log.open("ab") as log:
            self._process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self._write_config())],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self._wait_until_accepting()

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd did not accept connections on {self.host}:{self.port} within {START_TIMEOUT} s")

    def log_tail(self, characters: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-characters:]

    def session_pids(self) -> list[int]:
        return descendants(self._process.pid) if self._process else []

    def kill_sessions(self) -> None:
        """SIGKILL every connection's processes: clients see their TCP connection die mid-transfer."""
        for pid in self.session_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if not self._process:
            return
        self.kill_sessions()  # a stopped listener alone leaves open sessions running, as with any sshd
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def running_sshd(workdir: Path) -> Iterator[SSHDServer]:
    """An sshd for the duration of the block; skips the calling test when sshd cannot run here."""
    reason = missing_reason()
    if reason:
        import pytest

        pytest.skip(reason)
    server = SSHDServer(workdir)
    for attempt in range(3):
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
            server.port = free_port()  # another process took the free port between our look and sshd's bind
    try:
        yield server
    finally:
        server.stop()
