"""SYSPRO (ERP) as a source: the HTTP client (client), its typed errors (errors).

The names below load on first use (PEP 562): the DAG files' retry policy names
`ledgerbridge.sources.syspro.errors.SysproLogonFailed`, which Airflow imports at parse time, and
importing this package must not cost every DAG file the client and `requests` (a quarter of a second).
"""
from __future__ import annotations

from importlib import import_module

_HOMES = {"SysproClient": "client", "SysproError": "errors", "SysproLogonFailed": "errors",
          "SysproOutcomeUnknown": "errors", "SysproRequestError": "errors", "SysproUnavailable": "errors"}

__all__ = ["SysproClient", "SysproError", "SysproLogonFailed", "SysproOutcomeUnknown", "SysproRequestError",
           "SysproUnavailable"]


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
