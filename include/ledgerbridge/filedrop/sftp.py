"""The protocol's FileSystem on an SFTP session (paramiko), and `open_sftp`, the one way to get one.

`open_sftp` refuses to talk to a server whose host key is not the one configured: the drop carries
bills, payments and bank details, so a man in the middle must not be able to pose as the server.
Skipping the check (`no_host_key_check=True`) exists for the local sandbox only and says so in the log.
"""
from __future__ import annotations

import base64
import binascii
import errno
import functools
import io
import ipaddress
import logging
import os
import posixpath
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import paramiko
from paramiko.pkey import UnknownKeyType
from paramiko.sftp import CMD_EXTENDED

from .fs import (
    FileTooLarge,
    NotARegularFile,
    SymlinkRefused,
    UnsafePath,
    unsafe_path_reason,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds: to connect, and for any one SFTP reply once connected
KEEPALIVE_SECONDS = 15  # NAT gateways and firewalls forget idle sessions; a batch may pause between files


class HostKeyRefused(Exception):
    """The server's host key is not the expected one (or none was given): no connection is made."""


class SFTPConnectionLost(ConnectionError):
    """The SFTP session died (dropped, killed, timed out) in the middle of an operation."""


# -- host keys ----------------------------------------------------------------------------------


def parse_host_key(text: str) -> paramiko.PKey:
    """A public host key from base64 alone, "ssh-ed25519 AAAA...", or an ssh-keyscan / known_hosts line."""
    tokens = text.split()
    for index, token in enumerate(tokens):
        if not token.startswith("AAAA"):  # every SSH key blob starts with a 4-byte length: "AAAA" in base64
            continue
        blob = _decode_blob(token)
        key_type = _blob_type(blob)
        declared = tokens[index - 1] if index else key_type
        if declared != key_type:
            raise ValueError(f"host key says {declared!r} but its data is a {key_type!r} key")
        try:
            return paramiko.PKey.from_type_string(key_type, blob)
        except (paramiko.SSHException, UnknownKeyType, ValueError) as exc:
            raise ValueError(f"host key of type {key_type!r} is not usable: {exc}") from None
    raise ValueError(f"{text[:40]!r} is not an SSH public key (expected e.g. 'ssh-ed25519 AAAA...')")


def _decode_blob(token: str) -> bytes:
    try:
        return base64.b64decode(token, validate=True)
    except binascii.Error:
        raise ValueError(f"host key data {token[:16]!r}... is not valid base64") from None


def _blob_type(blob: bytes) -> str:
    """The key type written at the start of a public key blob (so bare base64 needs no type beside it)."""
    try:
        return paramiko.Message(blob).get_text()
    except UnicodeDecodeError:
        raise ValueError("host key data is not an SSH public key") from None


def host_key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


class _RefuseUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, with an error that tells the reader what to fix."""

    def __init__(self, known_hosts: str | None) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        where = f"the known_hosts file {self.known_hosts}" if self.known_hosts else "the connection's host_key"
        raise HostKeyRefused(f"host key of {hostname} ({key.get_name()} {key.fingerprint}) is not in {where}: "
                             "refusing to connect")


# -- connecting ---------------------------------------------------------------------------------


def _known_host_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"  # how known_hosts (and paramiko) name a host


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ssh_client(host: str, port: int, host_key: str | None, known_hosts: str | None,
                no_host_key_check: bool) -> paramiko.SSHClient:
    client = paramiko.SSHClient()  # loads no system known_hosts: only what this connection names counts
    if no_host_key_check:
        if host_key or known_hosts:
            raise ValueError("no_host_key_check contradicts the host_key / known_hosts given; choose one")
        if not _is_loopback(host):
            raise HostKeyRefused(f"sftp {host}:{port}: no_host_key_check is for a sandbox on this machine only "
                                 "(127.0.0.1, ::1, localhost); give the server's host_key: refusing to connect")
        log.warning("sftp %s:%s: host key NOT verified (no_host_key_check); acceptable for the local sandbox only, "
                    "anyone between here and the server could read and change the files", host, port)
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        return client
    if host_key:
        key = parse_host_key(host_key)
        client.get_host_keys().add(_known_host_name(host, port), key.get_name(), key)
    elif known_hosts:
        client.get_host_keys().load(os.path.expanduser(known_hosts))  # read only: never written back
    else:
        raise HostKeyRefused(f"sftp {host}:{port}: no host_key and no known_hosts given; the host key must be "
                             f"verified (get it with `ssh-keyscan -p {port} -t ed25519 {host}`): refusing to connect")
    client.set_missing_host_key_policy(_RefuseUnknownHost(None if host_key else known_hosts))
    return client


def load_private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    """A client key from its text (OpenSSH or PEM format; Ed25519, ECDSA or RSA), as a connection holds it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    data, password = text.encode(), passphrase.encode() if passphrase else None
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password)
    except (ValueError, TypeError) as exc:  # TypeError: a passphrase missing, or given for a plain key
        raise ValueError(f"not a readable private key ({exc})") from None
    for key_type, key_class in ((ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
                                (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey), (rsa.RSAPrivateKey, paramiko.RSAKey)):
        if isinstance(loaded, key_type):
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
    raise ValueError(f"{type(loaded).__name__} keys are not supported (use Ed25519, ECDSA or RSA)")


def _auth(password: str | None, private_key: paramiko.PKey | str | os.PathLike | None) -> dict:
    """Only the credentials given: no keys picked up from the worker's ~/.ssh or an agent."""
    options: dict = {"look_for_keys": False, "allow_agent": False}
    if password:
        options["password"] = password
    if isinstance(private_key, paramiko.PKey):
        options["pkey"] = private_key
    elif private_key:
        options["key_filename"] = os.fspath(private_key)
    return options


def _connect(client: paramiko.SSHClient, host: str, port: int, username: str, auth: dict,
             timeout: float, expected: str) -> None:
    try:
        client.connect(host, port, username, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout, **auth)
    except paramiko.BadHostKeyException as exc:
        raise HostKeyRefused(f"host key of {host}:{port} does not match {expected}: refusing to connect "
                             f"(the server offered {exc.key.get_name()} {exc.key.fingerprint})") from None


@contextmanager
def open_sftp(host: str, port: int, username: str, *, password: str | None = None,
              private_key: paramiko.PKey | str | os.PathLike | None = None,
              host_key: str | None, known_hosts: str | None, no_host_key_check: bool = False,
              root: str = "", timeout: float = DEFAULT_TIMEOUT) -> Iterator[SFTPFileSystem]:
    """One SFTP session for a batch of work, as a `SFTPFileSystem` rooted at `root`; closed on exit.

    The server must present `host_key` (base64, "ssh-ed25519 AAAA..." or an ssh-keyscan line), or a
    key listed for it in the `known_hosts` file; anything else raises HostKeyRefused before a single
    credential is sent. `private_key` is a paramiko key or the path of a key file.
    """
    client = _ssh_client(host, port, host_key, known_hosts, no_host_key_check)
    expected = "the connection's host_key" if host_key else f"the known_hosts file {known_hosts}"
    try:
        _connect(client, host, port, username, _auth(password, private_key), timeout, expected)
        client.get_transport().set_keepalive(KEEPALIVE_SECONDS)
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(timeout)
        log.info("sftp %s@%s:%s: connected%s", username, host, port,
                 "" if no_host_key_check else ", host key verified")
        yield SFTPFileSystem(sftp, root, where=f"{username}@{host}:{port}")
    finally:
        client.close()


# -- the filesystem -----------------------------------------------------------------------------


def _over_session(operation):
    """A failure on a dead session says so (SFTPConnectionLost), instead of paramiko's assorted errors."""

    @functools.wraps(operation)
    def run(self: SFTPFileSystem, path: str, *args):
        try:
            return operation(self, path, *args)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if isinstance(exc, socket.timeout):
                self._sftp.close()  # a reply may still be on its way: the session is out of step for good
            elif isinstance(exc, OSError) and self._answered(exc):
                raise  # an answer from the server (no such file, permission denied, ...)
            raise SFTPConnectionLost(f"sftp {self.where}: connection lost during {operation.__name__} of {path!r} "
                                     f"({type(exc).__name__}: {exc})") from exc

    return run


def _is_link(info: paramiko.SFTPAttributes) -> bool:
    return stat.S_ISLNK(info.st_mode or 0)


class SFTPFileSystem:
    """The protocol's FileSystem (filedrop.fs) on a paramiko SFTP session, rooted at a drop directory.

    Same behaviour and exceptions as LocalFileSystem: relative paths only (unsafe_path_reason), no
    symlink followed, size cap checked before reading, rename never overwrites.
    """

    def __init__(self, sftp: paramiko.SFTPClient, root: str = "", *, where: str = "server") -> None:
        self._sftp, self.where = sftp, where
        try:
            # The server's canonical form, symlinks resolved: every containment check compares with it.
            self.root = sftp.normalize(root or ".")
            is_directory = stat.S_ISDIR(sftp.stat(self.root).st_mode or 0)
        except FileNotFoundError:
            is_directory = False
        if not is_directory:
            raise FileNotFoundError(errno.ENOENT, f"sftp {where}: the drop root is not a directory", root)

    def _answered(self, exc: OSError) -> bool:
        """Whether an OSError is the server's own answer rather than a session dying under us. A killed
        session may fail an operation before the transport notices: unless the error is one the server
        sends (no such file, permission denied), one more round trip tells."""
        if not self._alive():
            return False
        if exc.errno in (errno.ENOENT, errno.EACCES):
            return True
        try:
            self._sftp.normalize(".")
        except (paramiko.SSHException, EOFError, OSError):
            return False
        return True

    def _alive(self) -> bool:
        channel = self._sftp.get_channel()
        transport = channel.get_transport() if channel else None
        return bool(transport and transport.is_active() and not channel.closed)

    def _remote(self, path: str) -> str:
        reason = unsafe_path_reason(path)
        if reason:
            raise UnsafePath(f"{path!r}: {reason}")
        return posixpath.join(self.root, path)

    def _check_inside(self, remote: str, path: str) -> None:
        """A symlinked directory on the way could lead outside the drop: ask the server where it leads."""
        if remote == self.root:
            return
        try:
            real = self._sftp.normalize(remote)
        except FileNotFoundError:
            return  # nothing there yet, so nothing to follow; the operation itself will say what is missing
        if real != self.root and not real.startswith(self.root.rstrip("/") + "/"):
            raise UnsafePath(f"{path!r}: resolves outside the drop root")

    def _checked(self, path: str) -> str:
        remote = self._remote(path)
        self._check_inside(posixpath.dirname(remote), path)
        return remote

    def _lstat(self, remote: str) -> paramiko.SFTPAttributes | None:
        try:
            return self._sftp.lstat(remote)
        except FileNotFoundError:
            return None

    @_over_session
    def list(self, directory: str) -> list[str]:
        remote = self.root if directory in ("", ".") else self._remote(directory)
        self._check_inside(remote, directory)
        try:
            return sorted(self._sftp.listdir(remote))
        except FileNotFoundError:
            return []

    @_over_session
    def is_symlink(self, path: str) -> bool:
        info = self._lstat(self._checked(path))
        return bool(info and _is_link(info))

    @_over_session
    def exists(self, path: str) -> bool:
        return self._lstat(self._checked(path)) is not None

    @_over_session
    def read_bytes(self, path: str, max_bytes: int) -> bytes:
        remote = self._checked(path)
        checked = self._sftp.lstat(remote)
        self._require_small_regular_file(path, checked, max_bytes)
        with self._sftp.open(remote, "rb") as file:
            opened = file.stat()
            # SFTP v3 has no O_NOFOLLOW: make sure what was opened is the file just checked.
            self._require_small_regular_file(path, opened, max_bytes)
            if (opened.st_size, opened.st_mtime) != (checked.st_size, checked.st_mtime):
                raise OSError(errno.EAGAIN, "changed between check and open; try again", path)
            # Pipelined reads, not one round trip per 32 KiB. Unbounded: paramiko's prefetch thread then
            # only sends the small requests and ends, instead of polling (and failing) beside us.
            file.prefetch(opened.st_size)
            data = file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FileTooLarge(path, max_bytes)
        if len(data) != opened.st_size:  # never hand out part of a file as if it were the whole
            raise OSError(errno.EIO, f"read {len(data)} of {opened.st_size} bytes", path)
        return data

    @staticmethod
    def _require_small_regular_file(path: str, info: paramiko.SFTPAttributes, max_bytes: int) -> None:
        if _is_link(info):
            raise SymlinkRefused(f"{path}: is a symbolic link")
        if not stat.S_ISREG(info.st_mode or 0):
            raise NotARegularFile(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise FileTooLarge(path, max_bytes, info.st_size)

    @_over_session
    def write_bytes(self, path: str, data: bytes) -> None:
        remote = self._checked(path)
        existing = self._lstat(remote)
        if existing and _is_link(existing):
            raise SymlinkRefused(f"{path}: is a symbolic link; not writing through it")
        with self._sftp.open(remote, "wb") as file:
            file.set_pipelined(True)
            file.write(data)
            file.flush()
            self._fsync(file)
        # close() swallows late errors of pipelined writes: ask the server what actually landed.
        landed = self._sftp.lstat(remote).st_size
        if landed != len(data):
            raise OSError(errno.EIO, f"the server holds {landed} of {len(data)} bytes written", path)

    def _fsync(self, file: paramiko.SFTPFile) -> None:
        """The bytes on the server's disk before a rename makes them visible (OpenSSH's fsync extension;
        paramiko has no public call for it)."""
        try:
            self._sftp._request(CMD_EXTENDED, "fsync@openssh.com", file.handle)
        except OSError as exc:  # a server without the extension: the bytes are written, just not forced out
            log.debug("sftp %s: fsync@openssh.com not available (%s)", self.where, exc)

    @_over_session
    def rename(self, source: str, target: str) -> None:
        source_remote, target_remote = self._checked(source), self._checked(target)
        if self._lstat(target_remote) is not None:
            raise FileExistsError(errno.EEXIST, "target exists", target)
        try:
            self._sftp.rename(source_remote, target_remote)  # SFTP v3 RENAME: never replaces the target
        except OSError:
            # v3 reports an existing target as a bare "Failure": tell it apart by looking.
            if self._lstat(target_remote) is not None:
                raise FileExistsError(errno.EEXIST, "target exists", target) from None
            raise

    @_over_session
    def remove(self, path: str) -> None:
        self._sftp.remove(self._checked(path))

    @_over_session
    def mkdir(self, path: str) -> None:
        if path in ("", "."):
            return
        remote = self._remote(path)
        if not self._is_dir(remote):
            self._make_parents(path)
        self._check_inside(remote, path)

    def _is_dir(self, remote: str) -> bool:
        try:
            return stat.S_ISDIR(self._sftp.stat(remote).st_mode or 0)
        except FileNotFoundError:
            return False

    def _make_parents(self, path: str) -> None:
        current = self.root
        for segment in path.split("/"):
            self._check_inside(current, path)  # never create anything below a link leading outside
            current = posixpath.join(current, segment)
            try:
                self._sftp.mkdir(current)
            except OSError:
                if not self._is_dir(current):  # a file in the way, or no permission
                    raise
