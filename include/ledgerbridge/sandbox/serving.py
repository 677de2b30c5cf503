"""What the HTTP sandboxes (QBO, SYSPRO) share to run: uvicorn on a socket bound up front, in a background
thread (tests, demo) or in the foreground until SIGINT/SIGTERM (command line), the state file saved
atomically while running and on shutdown, and the "apply then drop the connection" fault."""
from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from starlette.responses import JSONResponse, Response

AUTOSAVE_SECONDS = 2.0


class Saving(Protocol):
    revision: int  # goes up on every change

    def save(self, path: str | os.PathLike) -> None: ...


class SandboxServer:
    """A running sandbox: `url` to call it, `stop()` to shut it down."""

    def __init__(self, sandbox: Any, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.sandbox, self._server, self._thread, self.url = sandbox, server, thread, url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen before uvicorn starts: port 0 resolves to a real port we can report, and
    clients that connect early wait in the backlog instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(socket.SOMAXCONN)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_server(app: Any, **config: Any) -> uvicorn.Server:
    """Quiet uvicorn for a sandbox app: warnings only, no access log, no lifespan."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **config))


def start_in_thread(sandbox: Any, server: uvicorn.Server, host: str, port: int, startup_timeout: float,
                    name: str) -> SandboxServer:
    """Start `server` in a daemon thread and return once it accepts connections; `name` says which
    sandbox ("QBO", "SYSPRO") in the thread's name and in the error if it does not start."""
    sock = bind(host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"{name.lower()}-sandbox",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} sandbox server did not start")
        time.sleep(0.01)
    return SandboxServer(sandbox, server, thread, base_url(sock))


def autosave(sandbox: Saving, path: Path, stop: threading.Event) -> None:
    """Save the sandbox every AUTOSAVE_SECONDS while its revision moves, until `stop` is set."""
    saved = sandbox.revision
    while not stop.wait(AUTOSAVE_SECONDS):
        if sandbox.revision != saved:
            saved = sandbox.revision
            sandbox.save(path)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_until_stopped(sandbox: Saving, server: uvicorn.Server, sock: socket.socket, state_file: Path | None,
                        log: logging.Logger, name: str) -> int:
    """The command line's server: serve on `sock` until SIGINT/SIGTERM; with a state file, save it
    while running and once more on shutdown. Returns the exit status (0)."""
    stop_saving = threading.Event()
    if state_file:
        threading.Thread(target=autosave, args=(sandbox, state_file, stop_saving), daemon=True).start()
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully, then re-raises the signal it caught; this handler turns
        # that into an exception so the state is still saved below.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        log.info("%s sandbox stopped", name)
    finally:
        stop_saving.set()
        if state_file:
            sandbox.save(state_file)
    return 0


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it: a reader (or a crash) sees the old
    file or the new one, never half of one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


class DroppedAnswer(Response):
    """The fault "commit then drop the connection": the headers promise a body that never comes (only
    `opening` of it is sent), and the server closes the connection (uvicorn does when the app stops
    mid-answer)."""

    def __init__(self, opening: bytes, reason: str) -> None:
        super().__init__()
        self.opening, self.reason = opening, reason

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": self.opening, "more_body": True})
        raise ConnectionAbortedError(f"sandbox fault: the connection is dropped {self.reason}")


def found_or_404(found: Any, error: str) -> Response:
    """An admin route's answer: what it found as JSON, or a 404 with `error` when that is None."""
    if found is None:
        return JSONResponse({"error": error}, status_code=404)
    return JSONResponse(found)


async def replace_faults(sandbox: Any, faults_class: type, request: Any) -> Response:
    """POST .../faults: the sandbox's fault knobs replaced by the body's ({} turns them off); 400 naming a
    bad knob."""
    import json

    try:
        sandbox.faults = faults_class.from_mapping(json.loads(await request.body() or b"{}"))
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"faults": sandbox.faults.knobs()})
