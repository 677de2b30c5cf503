"""Run the QBO sandbox: in a background thread (tests, demo) or as a command-line server."""
from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
import time
from pathlib import Path

import uvicorn

from .app import create_app
from .sandbox import QBOSandbox

log = logging.getLogger("ledgerbridge.sandbox.qbo")

AUTOSAVE_SECONDS = 2.0


class SandboxServer:
    """A running sandbox: `url` to call it, `stop()` to shut it down."""

    def __init__(self, sandbox: QBOSandbox, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.sandbox, self._server, self._thread, self.url = sandbox, server, thread, url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def _bind(host: str, port: int) -> socket.socket:
    """Bind and listen before uvicorn starts: port 0 resolves to a real port we can report, and
    clients that connect early wait in the backlog instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(socket.SOMAXCONN)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(sandbox: QBOSandbox) -> uvicorn.Server:
    config = uvicorn.Config(create_app(sandbox), log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve_in_thread(sandbox: QBOSandbox, host: str = "127.0.0.1", port: int = 0,
                    startup_timeout: float = 10.0) -> SandboxServer:
    """Start uvicorn in a daemon thread and return once it accepts connections."""
    sock = _bind(host, port)
    server = _server(sandbox)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="qbo-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the QBO sandbox server did not start")
        time.sleep(0.01)
    return SandboxServer(sandbox, server, thread, _url(sock))


def _autosave(sandbox: QBOSandbox, path: Path, stop: threading.Event) -> None:
    saved = sandbox.revision
    while not stop.wait(AUTOSAVE_SECONDS):
        if sandbox.revision != saved:
            saved = sandbox.revision
            sandbox.save(path)


def _client(text: str) -> tuple[str, str]:
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError(f"expected ID:SECRET, got {text!r}")
    return client_id, secret


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qbo-sandbox", description="A QuickBooks Online API sandbox on localhost.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--state-file", type=Path, help="load state from here at start (if it exists), save it "
                                                         "while running and on shutdown")
    parser.add_argument("--client", type=_client, action="append", metavar="ID:SECRET",
                        help="an OAuth client allowed to connect (repeatable; default ledgerbridge-demo:demo-secret)")
    parser.add_argument("--access-token-ttl", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not throttle (HTTP 429)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    options = {"clients": dict(args.client) if args.client else None,
               "access_token_ttl": args.access_token_ttl, "rate_limits": not args.no_rate_limits}
    if args.state_file and args.state_file.exists():
        sandbox = QBOSandbox.load(args.state_file, **options)
    else:
        sandbox = QBOSandbox(**options)
    sock = _bind(args.host, args.port)
    stop_saving = threading.Event()
    if args.state_file:
        threading.Thread(target=_autosave, args=(sandbox, args.state_file, stop_saving), daemon=True).start()
    log.info("QBO sandbox listening on %s (%d realms%s)", _url(sock), len(sandbox.realms),
             f", state in {args.state_file}" if args.state_file else "")
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully, then re-raises the signal it caught; this handler turns
        # that into an exception so the state is still saved below.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
    try:
        _server(sandbox).run(sockets=[sock])
    except KeyboardInterrupt:
        log.info("QBO sandbox stopped")
    finally:
        stop_saving.set()
        if args.state_file:
            sandbox.save(args.state_file)
    return 0
