"""Run the Xero sandbox: in a background thread (tests, demo) or as a command-line server."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from ..serving import SandboxServer, base_url, bind, serve_until_stopped, start_in_thread, uvicorn_server
from .app import create_app
from .sandbox import XeroSandbox

log = logging.getLogger("ledgerbridge.sandbox.xero")

__all__ = ["SandboxServer", "main", "serve_in_thread"]


def _server(sandbox: XeroSandbox) -> uvicorn.Server:
    return uvicorn_server(create_app(sandbox))


def serve_in_thread(sandbox: XeroSandbox, host: str = "127.0.0.1", port: int = 0,
                    startup_timeout: float = 10.0) -> SandboxServer:
    """Start uvicorn in a daemon thread and return once it accepts connections."""
    return start_in_thread(sandbox, _server(sandbox), host, port, startup_timeout, "Xero")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledgerbridge sandbox xero", description="A Xero API sandbox on localhost.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--state", type=Path, help="load state from here at start (if it exists), save it while "
                                                   "running and on shutdown")
    parser.add_argument("--client-id", default="ledgerbridge-demo", help="the OAuth client allowed to connect")
    parser.add_argument("--client-secret", default="demo-secret")
    parser.add_argument("--access-token-ttl", type=int, default=1800, metavar="SECONDS")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not throttle (HTTP 429)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    options = {"clients": {args.client_id: args.client_secret}, "access_token_ttl": args.access_token_ttl,
               "rate_limits": not args.no_rate_limits}
    sandbox = (XeroSandbox.load(args.state, **options) if args.state and args.state.exists()
               else XeroSandbox(**options))
    sock = bind(args.host, args.port)
    log.info("Xero sandbox listening on %s (%d tenants%s)", base_url(sock), len(sandbox.tenants),
             f", state in {args.state}" if args.state else "")
    return serve_until_stopped(sandbox, _server(sandbox), sock, args.state, log, "Xero")
