"""Run the SYSPRO sandbox: in a background thread (tests, demo) or as a command-line server."""
from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path

import uvicorn

from ..qbo.server import _bind, _url
from .app import create_app
from .faults import Faults
from .sandbox import DEFAULT_COMPANY, DEFAULT_OPERATOR, DEFAULT_PASSWORD, SESSION_IDLE_SECONDS, SysproSandbox
from .seed import seed_company

log = logging.getLogger("ledgerbridge.sandbox.syspro")

AUTOSAVE_SECONDS = 2.0


class SandboxServer:
    """A running sandbox: `url` to call it, `stop()` to shut it down."""

    def __init__(self, sandbox: SysproSandbox, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.sandbox, self._server, self._thread, self.url = sandbox, server, thread, url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def _server(sandbox: SysproSandbox) -> uvicorn.Server:
    # date_header=False: the app sends its own Date, from the sandbox clock
    config = uvicorn.Config(create_app(sandbox), log_level="warning", access_log=False, lifespan="off",
                            date_header=False)
    return uvicorn.Server(config)


def serve_in_thread(sandbox: SysproSandbox, host: str = "127.0.0.1", port: int = 0,
                    startup_timeout: float = 10.0) -> SandboxServer:
    """Start uvicorn in a daemon thread and return once it accepts connections."""
    sock = _bind(host, port)
    server = _server(sandbox)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="syspro-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the SYSPRO sandbox server did not start")
        time.sleep(0.01)
    return SandboxServer(sandbox, server, thread, _url(sock))


def _autosave(sandbox: SysproSandbox, path: Path, stop: threading.Event) -> None:
    saved = sandbox.revision
    while not stop.wait(AUTOSAVE_SECONDS):
        if sandbox.revision != saved:
            saved = sandbox.revision
            sandbox.save(path)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
    sock = _bind(args.host, args.port)
    stop_saving = threading.Event()
    if args.state:
        sandbox.save(args.state)
        threading.Thread(target=_autosave, args=(sandbox, args.state, stop_saving), daemon=True).start()
    objects = sandbox.stats()["objects"]
    log.info("SYSPRO sandbox listening on %s (company %s: %d customers, %d stock items, %d sales orders%s)",
             _url(sock), sandbox.company_id, objects["Customers"], objects["StockItems"], objects["SalesOrders"],
             f", state in {args.state}" if args.state else "")
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully, then re-raises the signal it caught; this handler turns
        # that into an exception so the state is still saved below.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
    try:
        _server(sandbox).run(sockets=[sock])
    except KeyboardInterrupt:
        log.info("SYSPRO sandbox stopped")
    finally:
        stop_saving.set()
        if args.state:
            sandbox.save(args.state)
    return 0
