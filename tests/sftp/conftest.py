"""Two real SFTP servers on loopback, one fixture: OpenSSH's sshd and the embedded asyncssh sandbox.

`target` is parametrized over both, so every test proves the same behaviour on each. A test gets
its own drop directory (`drop.local` on disk, `drop.fs` an open SFTPFileSystem rooted there) and
may change the served directory behind the server's back, as an agent would.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import paramiko
import pytest
from ledgerbridge.filedrop.sftp import SFTPFileSystem, open_sftp
from ledgerbridge.sandbox.sftp import SFTPUser, public_key_line, serve_in_thread
from sshd import running_sshd

SANDBOX_USER, SANDBOX_PASSWORD = "ledgerbridge", "sandbox-password"


@dataclass
class Target:
    """One SFTP server as the tests see it: how to log in, where its files lie, how to hurt it."""

    name: str
    host: str
    port: int
    user: str
    credentials: dict
    host_key_line: str
    served: Path  # the local directory a remote path `remote_root` designates
    remote_root: str
    kill_sessions: Callable[[], None]
    restart: Callable[[], None]
    serving_pids: Callable[[], list[int]]  # processes whose open files show how far a transfer got
    client_key: Path | None = None

    def remote(self, local: Path) -> str:
        return self.remote_root.rstrip("/") + "/" + str(local.relative_to(self.served))

    def connect(self, local: Path, **overrides) -> AbstractContextManager[SFTPFileSystem]:
        options = {"host_key": self.host_key_line, "known_hosts": None, "timeout": 10.0,
                   **self.credentials, **overrides}
        return open_sftp(self.host, self.port, self.user, root=self.remote(local), **options)


@pytest.fixture(scope="session")
def sshd_target(tmp_path_factory):
    with running_sshd(tmp_path_factory.mktemp("sshd")) as sshd:
        target = Target(name="sshd", host=sshd.host, port=sshd.port, user=sshd.user,
                        credentials={"private_key": sshd.client_key}, host_key_line=sshd.host_key_line,
                        served=sshd.root, remote_root=str(sshd.root), kill_sessions=sshd.kill_sessions,
                        restart=sshd.restart, serving_pids=sshd.session_pids, client_key=sshd.client_key)
        try:
            with target.connect(sshd.root):
                pass
        except paramiko.AuthenticationException:
            # e.g. a locked account: sshd without PAM refuses even key logins to it
            pytest.fail(f"sshd refused {sshd.user}'s key login; its log ends:\n{sshd.log_tail()}")
        yield target


@pytest.fixture(scope="session")
def embedded_target(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("embedded-sftp")
    served = workdir / "drop"
    served.mkdir()
    client_key = workdir / "client_ed25519"
    key = asyncssh.generate_private_key("ssh-ed25519")  # not ssh-keygen: these tests need no OpenSSH at all
    key.write_private_key(client_key)
    user = SFTPUser(password=SANDBOX_PASSWORD, authorized_keys=(public_key_line(key),))
    server = serve_in_thread(served, users={SANDBOX_USER: user}, host_key_path=workdir / "host_key")
    yield Target(name="embedded", host=server.host, port=server.port, user=SANDBOX_USER,
                 credentials={"password": SANDBOX_PASSWORD}, host_key_line=server.host_key_line, served=served,
                 remote_root="/", kill_sessions=server.drop_connections, restart=server.restart,
                 serving_pids=lambda: [os.getpid()], client_key=client_key)
    server.stop()


@pytest.fixture(params=["sshd", "embedded"])
def target(request) -> Target:
    return request.getfixturevalue(f"{request.param}_target")


@dataclass
class Drop:
    fs: SFTPFileSystem
    local: Path


@pytest.fixture
def drop_dir(target) -> Path:
    """A fresh, empty directory on the server, for one test."""
    local = target.served / f"t-{uuid.uuid4().hex[:10]}"
    local.mkdir()
    return local


@pytest.fixture
def drop(target, drop_dir):
    with target.connect(drop_dir) as fs:
        yield Drop(fs, drop_dir)
