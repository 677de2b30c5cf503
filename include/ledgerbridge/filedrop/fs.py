"""The small filesystem the protocol needs, and its local-directory implementation.

Paths are relative POSIX strings ("acme_us/to_accounting/bills/x.json") under the filesystem's
root; an SFTP implementation maps the same calls onto an SFTP session rooted at the drop folder.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Protocol, runtime_checkable


class UnsafePath(ValueError):
    """A path that could reach outside the drop root: absolute, `..`, backslashes, control characters."""


class FileTooLarge(OSError):
    def __init__(self, path: str, limit: int, size: int | None = None) -> None:
        seen = f"{size} bytes" if size is not None else "more"
        super().__init__(f"{path}: {seen} is over the limit of {limit} bytes")
        self.path, self.limit, self.size = path, limit, size


class SymlinkRefused(OSError):
    pass


class NotARegularFile(OSError):
    pass


@runtime_checkable
class FileSystem(Protocol):
    def list(self, directory: str) -> list[str]:
        """Names in a directory, sorted; [] when the directory does not exist."""

    def is_symlink(self, path: str) -> bool: ...

    def exists(self, path: str) -> bool:
        """Anything at the path, a dangling symlink included."""

    def read_bytes(self, path: str, max_bytes: int) -> bytes:
        """The file's bytes; FileTooLarge past max_bytes, SymlinkRefused, NotARegularFile."""

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or overwrite a file (callers write `.part` names only, see files.write_atomic)."""

    def rename(self, source: str, target: str) -> None:
        """Atomic; FileExistsError when target exists (SFTP v3 semantics, so both behave alike)."""

    def remove(self, path: str) -> None: ...

    def mkdir(self, path: str) -> None:
        """Create a directory and its parents; nothing when it exists."""


def unsafe_path_reason(path: str) -> str | None:
    """Why a relative drop path is refused, or None when it is safe to join under the root."""
    if not isinstance(path, str) or not path:
        return "empty path"
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        return "path holds a control character"
    if "\\" in path:
        return "path holds a backslash (a Windows separator could hide '..')"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "absolute path; drop paths are relative to the entity's directory"
    segments = path.split("/")
    if ".." in segments:
        return "path climbs out of its directory with '..'"
    if any(segment in ("", ".") for segment in segments):
        return "path has an empty or '.' segment"
    return None


def join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part)


class LocalFileSystem:
    """The protocol's filesystem on a local directory (the sandbox agent, tests, local drops)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def _local(self, path: str) -> Path:
        reason = unsafe_path_reason(path)
        if reason:
            raise UnsafePath(f"{path!r}: {reason}")
        local = self.root / path
        # A symlinked directory on the way could still lead outside: resolve the parent and check.
        if not local.parent.resolve().is_relative_to(self.root):
            raise UnsafePath(f"{path!r}: resolves outside the drop root")
        return local

    def list(self, directory: str) -> list[str]:
        local = self.root if directory in ("", ".") else self._local(directory)
        try:
            return sorted(os.listdir(local))
        except FileNotFoundError:
            return []

    def is_symlink(self, path: str) -> bool:
        return self._local(path).is_symlink()

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._local(path))

    def read_bytes(self, path: str, max_bytes: int) -> bytes:
        local = self._local(path)
        try:
            # O_NOFOLLOW: a symlink swapped in after any earlier check still cannot be followed.
            handle = os.open(local, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SymlinkRefused(f"{path}: is a symbolic link") from None
            raise
        with os.fdopen(handle, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise NotARegularFile(f"{path}: not a regular file")
            if info.st_size > max_bytes:
                raise FileTooLarge(path, max_bytes, info.st_size)
            data = file.read(max_bytes + 1)  # the file may have grown since fstat
        if len(data) > max_bytes:
            raise FileTooLarge(path, max_bytes)
        return data

    def write_bytes(self, path: str, data: bytes) -> None:
        local = self._local(path)
        if local.is_symlink():
            raise SymlinkRefused(f"{path}: is a symbolic link; not writing through it")
        with open(local, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them visible

    def rename(self, source: str, target: str) -> None:
        source_local, target_local = self._local(source), self._local(target)
        if os.path.lexists(target_local):
            raise FileExistsError(errno.EEXIST, "target exists", target)
        os.rename(source_local, target_local)

    def remove(self, path: str) -> None:
        os.unlink(self._local(path))

    def mkdir(self, path: str) -> None:
        local = self.root if path in ("", ".") else self._local(path)
        local.mkdir(parents=True, exist_ok=True)
