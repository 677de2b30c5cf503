"""An SSH server that speaks only SFTP, confined to one local directory (asyncssh, no root needed).

For the demo and for trying the desktop file drop without a system sshd. It is a real SSH server:
its own persisted host key, password or public-key login, real SFTP over TCP; clients verify its
host key like any other server's.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncssh

log = logging.getLogger("ledgerbridge.sandbox.sftp")


@dataclass(frozen=True)
class SFTPUser:
    """Who may log in: a password, OpenSSH public key lines ("ssh-ed25519 AAAA..."), or both."""

    password: str | None = None
    authorized_keys: tuple[str, ...] = ()


def load_or_create_host_key(path: str | os.PathLike | None) -> asyncssh.SSHKey:
    """The server's identity: read from `path`, or generated there on first start (None: in memory only)."""
    if path is not None and Path(path).exists():
        return asyncssh.read_private_key(os.fspath(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: a private key must never be readable by others, not even briefly.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
            file.write(key.export_private_key())
        log.info("generated SFTP sandbox host key %s", path)
    return key


def public_key_line(key: asyncssh.SSHKey) -> str:
    """"ssh-ed25519 AAAA...": what a client puts in its connection's host_key."""
    return " ".join(key.export_public_key().decode().split()[:2])


class _Login(asyncssh.SSHServer):
    """Password or public-key authentication against the users given; every other request is refused."""

    def __init__(self, users: Mapping[str, SFTPUser], connections: set) -> None:
        self._users, self._connections = users, connections
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # nobody gets in without a credential

    def password_auth_supported(self) -> bool:
        return any(user.password is not None for user in self._users.values())

    def validate_password(self, username: str, password: str) -> bool:
        user = self._users.get(username)
        return bool(user and user.password is not None and hmac.compare_digest(user.password, password))

    def public_key_auth_supported(self) -> bool:
        return any(user.authorized_keys for user in self._users.values())

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self._users.get(username)
        allowed = [asyncssh.import_public_key(line).public_data for line in user.authorized_keys] if user else []
        return key.public_data in allowed


def _inside(local: bytes, root: bytes) -> bool:
    real = os.path.realpath(local)
    return real == root or real.startswith(root.rstrip(b"/") + b"/")


class _ConfinedSFTP(asyncssh.SFTPServer):
    """SFTP confined to the root. asyncssh's chroot maps `..` and absolute paths inside it; on top of
    that a symlink that leads outside is never followed, and rename never replaces a file."""

    def __init__(self, chan: asyncssh.SSHServerChannel, root: bytes) -> None:
        super().__init__(chan, chroot=root)
        self._real_root = os.path.realpath(root)

    def map_path(self, path: bytes) -> bytes:
        local = super().map_path(path).rstrip(b"/") or b"/"
        if local != self._real_root and not _inside(os.path.dirname(local), self._real_root):
            raise asyncssh.SFTPPermissionDenied("path leads outside the SFTP root")
        return local

    def _followed(self, path: bytes) -> bytes:
        """For requests that follow a final symlink: its target must be inside the root too."""
        local = self.map_path(path)
        if not _inside(local, self._real_root):
            raise asyncssh.SFTPPermissionDenied("path leads outside the SFTP root")
        return path

    def open(self, path, pflags, attrs):
        return super().open(self._followed(path), pflags, attrs)

    def stat(self, path):
        return super().stat(self._followed(path))

    def setstat(self, path, attrs):
        return super().setstat(self._followed(path), attrs)

    def statvfs(self, path):
        return super().statvfs(self._followed(path))

    def scandir(self, path):
        return super().scandir(self._followed(path))

    def symlink(self, oldpath, newpath):
        raise asyncssh.SFTPPermissionDenied("links are not allowed in the drop")

    def link(self, oldpath, newpath):
        raise asyncssh.SFTPPermissionDenied("links are not allowed in the drop")

    def rename(self, oldpath, newpath):
        source, target = self.map_path(oldpath), self.map_path(newpath)
        if os.path.lexists(target):  # asyncssh's own check follows symlinks; a dangling one would be replaced
            raise asyncssh.SFTPFileAlreadyExists("target exists")
        os.rename(source, target)


class SFTPSandboxServer:
    """A running server: `host`, `port`, `host_key_line`; `stop()`, `restart()` (same port) and
    `drop_connections()` (as if the network failed) for fault tests."""

    def __init__(self, root: str | os.PathLike, users: Mapping[str, SFTPUser | str], host: str = "127.0.0.1",
                 port: int = 0, host_key_path: str | os.PathLike | None = None) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"SFTP root {self.root} is not a directory")
        self.users = {name: SFTPUser(password=user) if isinstance(user, str) else user for name, user in users.items()}
        self.host, self.port = host, port
        self._host_key = load_or_create_host_key(host_key_path)
        self.host_key_line = public_key_line(self._host_key)
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _listen(self) -> asyncssh.SSHAcceptor:
        root = os.fsencode(self.root)
        return await asyncssh.create_server(
            lambda: _Login(self.users, self._connections), self.host, self.port,
            server_host_keys=[self._host_key], sftp_factory=lambda chan: _ConfinedSFTP(chan, root),
            reuse_address=True)  # restart() binds the same port again at once

    def start(self, timeout: float = 10.0) -> SFTPSandboxServer:
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(started, failure), name="sftp-sandbox", daemon=True)
        self._thread.start()
        if not started.wait(timeout) or failure:
            raise RuntimeError(f"the SFTP sandbox did not start on {self.host}:{self.port}") from (failure or [None])[0]
        return self

    def _run(self, started: threading.Event, failure: list) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            acceptor = self._loop.run_until_complete(self._listen())
        except BaseException as exc:  # noqa: BLE001 - reported to start(), which is waiting for us
            failure.append(exc)
            started.set()
            return
        self.port = acceptor.get_port()
        started.set()
        try:
            self._loop.run_forever()
        finally:
            acceptor.close()
            self._abort_connections()
            self._loop.run_until_complete(acceptor.wait_closed())
            self._loop.close()

    def _abort_connections(self) -> None:
        for conn in list(self._connections):
            conn.abort()

    def drop_connections(self) -> None:
        """Cut every open session at once, mid-transfer included: the client sees the TCP connection die."""
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._abort_connections)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout)
        self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()


def serve_in_thread(root: str | os.PathLike, host: str = "127.0.0.1", port: int = 0,
                    users: Mapping[str, SFTPUser | str] | None = None,
                    host_key_path: str | os.PathLike | None = None) -> SFTPSandboxServer:
    """Serve `root` over SFTP from a daemon thread; returns once the port accepts connections.
    `users` maps a login to a password or an SFTPUser."""
    if not users:
        raise ValueError("give at least one user: the sandbox never lets anyone in without a credential")
    return SFTPSandboxServer(root, users, host, port, host_key_path).start()
