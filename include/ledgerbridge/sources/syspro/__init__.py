"""SYSPRO (ERP) as a source: the HTTP client (client), its typed errors (errors)."""
from .client import SysproClient
from .errors import (SysproError, SysproLogonFailed, SysproOutcomeUnknown, SysproRequestError,
                     SysproUnavailable)

__all__ = ["SysproClient", "SysproError", "SysproLogonFailed", "SysproOutcomeUnknown", "SysproRequestError",
           "SysproUnavailable"]
