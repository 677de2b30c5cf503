"""Run the SYSPRO sandbox: in a background thread (tests, demo) or as a command-line server."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from ..serving import (AUTOSAVE_SECONDS, SandboxServer, base_url, bind, serve_until_stopped, start_in_thread,
                       uvicorn_server)
from .app import create_app
from .faults import Faults
from .sandbox import DEFAULT_COMPANY, DEFAULT_OPERATOR, DEFAULT_PASSWORD, SESSION_IDLE_SECONDS, SysproSandbox
from .seed import seed_company

log = logging.getLogger("ledgerbridge.sandbox.syspro")

__all__ = ["AUTOSAVE_SECONDS", "SandboxServer", "main", "serve_in_thread"]


def _server(sandbox: SysproSandbox) -> uvicorn.Server:
    # date_header=False: the app sends its own Date, from the sandbox clock
    return uvicorn_server(create_app(sandbox), date_header=False)


def serve_in_thread(sandbox: SysproSandbox, host: str = "127.0.0.1", port: int = 0,
                    startup_timeout: float = 10.0) -> SandboxServer:
    """Start uvicorn in a daemon thread and return once it accepts connections."""
    return start_in_thread(sandbox, _server(sandbox), host, port, startup_timeout, "SYSPRO")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledgerbridge sandbox syspro",
                                     description="A SYSPRO ERP sandbox (e.net REST + OData) on localhost.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767, help="default 8767; 0 picks a free port")
    parser.add_argument("--state", "--state-file", dest="state", type=Path,
                        help="load state from here at start (if it exists, no seeding then), save it while "
                             "running and on shutdown")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated company (default 1)")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--stock-items", type=int, default=300)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--operator", default=DEFAULT_OPERATOR)
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help="the operator's password")
    parser.add_argument("--company", default=DEFAULT_COMPANY, help="the company id")
    parser.add_argument("--company-password", default="")
    parser.add_argument("--session-idle-seconds", type=float, default=SESSION_IDLE_SECONDS)
    parser.add_argument("--error-rate", type=float, default=0.0, help="fault: HTTP 503 before any work")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="fault: posts applied, then the answer cut")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    options = {"operator": args.operator, "operator_password": args.password, "company_id": args.company,
               "company_password": args.company_password, "session_idle_seconds": args.session_idle_seconds,
               "faults": Faults(error_rate=args.error_rate, drop_rate=args.drop_rate)}
    if args.state and args.state.exists():
        sandbox = SysproSandbox.load(args.state, **options)
    else:
        sandbox = SysproSandbox(**options)
        seed_company(sandbox, seed=args.seed, customers=args.customers, stock_items=args.stock_items,
                     orders=args.orders)
    sock = bind(args.host, args.port)
    if args.state:
        sandbox.save(args.state)
    objects = sandbox.stats()["objects"]
    log.info("SYSPRO sandbox listening on %s (company %s: %d customers, %d stock items, %d sales orders%s)",
             base_url(sock), sandbox.company_id, objects["Customers"], objects["StockItems"], objects["SalesOrders"],
             f", state in {args.state}" if args.state else "")
    return serve_until_stopped(sandbox, _server(sandbox), sock, args.state, log, "SYSPRO")
