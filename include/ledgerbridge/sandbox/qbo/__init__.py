"""A QuickBooks Online API sandbox: a real HTTP server on localhost with QBO's shapes, errors,
limits, idempotency and token expiry. See docs/sandbox-qbo.md."""
from .app import create_app
from .errors import QBOFault
from .faults import Faults
from .sandbox import QBOSandbox
from .server import SandboxServer, main, serve_in_thread

__all__ = ["Faults", "QBOFault", "QBOSandbox", "SandboxServer", "create_app", "main", "serve_in_thread"]
