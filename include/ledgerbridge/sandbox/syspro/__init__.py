"""A SYSPRO ERP sandbox: a real HTTP server on localhost with SYSPRO's e.net REST logon and business-object
posts (JSON instead of XML) and OData reads, sessions that expire, and a seeded company. See
docs/sandbox-syspro.md."""
from .app import create_app
from .company import SysproCompany
from .faults import Faults
from .sandbox import (DEFAULT_COMPANY, DEFAULT_CREDENTIALS, DEFAULT_OPERATOR, DEFAULT_PASSWORD, SysproSandbox)
from .seed import BAD_ORDERS, NICK_BROWN, NICK_BROWN_ORDER, seed_company
from .server import SandboxServer, main, serve_in_thread

__all__ = ["BAD_ORDERS", "DEFAULT_COMPANY", "DEFAULT_CREDENTIALS", "DEFAULT_OPERATOR", "DEFAULT_PASSWORD", "Faults",
           "NICK_BROWN", "NICK_BROWN_ORDER", "SandboxServer", "SysproCompany", "SysproSandbox", "create_app", "main",
           "seed_company", "serve_in_thread"]
