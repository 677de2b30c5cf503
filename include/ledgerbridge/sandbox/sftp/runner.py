"""`python -m ledgerbridge.sandbox.sftp --root DIR --port N`: the SFTP sandbox as a command-line server."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path

from ledgerbridge.settings import data_dir

from .server import SFTPUser, serve_in_thread

log = logging.getLogger("ledgerbridge.sandbox.sftp")

DEFAULT_USER = "ledgerbridge"


def _login(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD, got {text!r}")
    return name, password


def _key_file(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {text!r}")
    return name, Path(path)


def _users(logins: list[tuple[str, str]], key_files: list[tuple[str, Path]]) -> dict[str, SFTPUser]:
    passwords = dict(logins)
    keys: dict[str, list[str]] = {}
    for name, path in key_files:
        lines = [line.strip() for line in path.read_text().splitlines()]
        keys.setdefault(name, []).extend(line for line in lines if line and not line.startswith("#"))
    return {name: SFTPUser(password=passwords.get(name), authorized_keys=tuple(keys.get(name, ())))
            for name in passwords.keys() | keys.keys()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sftp-sandbox", description="An SFTP server on localhost serving one "
                                                                       "directory (the desktop file drop's sandbox).")
    parser.add_argument("--root", type=Path, required=True, help="the directory served as the SFTP root")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--user", type=_login, action="append", default=[], metavar="NAME:PASSWORD",
                        help=f"a password login (repeatable; default {DEFAULT_USER}:{DEFAULT_USER} when no "
                             "--user or --authorized-keys is given)")
    parser.add_argument("--authorized-keys", type=_key_file, action="append", default=[], metavar="NAME=FILE",
                        help="an OpenSSH authorized_keys file for a login (repeatable)")
    parser.add_argument("--host-key", type=Path, default=None, metavar="FILE",
                        help="the server's private host key, generated there on first start "
                             "(default: <data dir>/sftp-sandbox/ssh_host_ed25519_key)")
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)  # one line per packet otherwise
    args.root.mkdir(parents=True, exist_ok=True)
    users = _users(args.user, args.authorized_keys) or {DEFAULT_USER: SFTPUser(password=DEFAULT_USER)}
    host_key = args.host_key or data_dir() / "sftp-sandbox" / "ssh_host_ed25519_key"
    server = serve_in_thread(args.root, args.host, args.port, users, host_key_path=host_key)
    extra = {"host_key": server.host_key_line, "root": "/"}
    log.info("SFTP sandbox on %s:%d serving %s (logins: %s)", server.host, server.port, server.root,
             ", ".join(sorted(users)))
    log.info("host key: %s", server.host_key_line)
    log.info("an Airflow connection for it: conn_type sftp, host %s, port %d, login and password as given, "
             "extra %s", server.host, server.port, json.dumps(extra))
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        threading.Event().wait()  # the server runs in its thread until a signal arrives
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal (e.g. to the process group) must not cut the shutdown
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    server.stop()
    log.info("SFTP sandbox stopped")
    return 0
