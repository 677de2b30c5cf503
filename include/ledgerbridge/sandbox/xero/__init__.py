"""A Xero Accounting API sandbox: a real HTTP server on localhost with Xero's shapes, errors, limits,
idempotency and token expiry. See docs/sandbox-xero.md."""
from .app import create_app
from .faults import Faults
from .sandbox import XeroSandbox
from .server import SandboxServer, main, serve_in_thread

__all__ = ["Faults", "SandboxServer", "XeroSandbox", "create_app", "main", "serve_in_thread"]
