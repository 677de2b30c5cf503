"""Run the QBO sandbox: in a background thread (tests, demo) or as a command-line server."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from ..serving import (AUTOSAVE_SECONDS, SandboxServer, base_url, bind, serve_until_stopped, start_in_thread,
                       uvicorn_server)
from .app import create_app
from .sandbox import QBOSandbox

log = logging.getLogger("ledgerbridge.sandbox.qbo")

__all__ = ["AUTOSAVE_SECONDS", "SandboxServer", "main", "serve_in_thread"]


def _server(sandbox: QBOSandbox) -> uvicorn.Server:
    return uvicorn_server(create_app(sandbox))


def serve_in_thread(sandbox: QBOSandbox, host: str = "127.0.0.1", port: int = 0,
                    startup_timeout: float = 10.0) -> SandboxServer:
    """Start uvicorn in a daemon thread and return once it accepts connections."""
    return start_in_thread(sandbox, _server(sandbox), host, port, startup_timeout, "QBO")


def _client(text: str) -> tuple[str, str]:
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError(f"expected ID:SECRET, got {text!r}")
    return client_id, secret


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
    sock = bind(args.host, args.port)
    log.info("QBO sandbox listening on %s (%d realms%s)", base_url(sock), len(sandbox.realms),
             f", state in {args.state_file}" if args.state_file else "")
    return serve_until_stopped(sandbox, _server(sandbox), sock, args.state_file, log, "QBO")
