"""SYSPRO e.net errors and OData errors, as the sandbox renders them."""
from __future__ import annotations


class ENetError(Exception):
    """An e.net exception: JSON {"ExceptionType": ..., "Message": ...} with an HTTP status."""

    def __init__(self, status: int, exception_type: str, message: str) -> None:
        super().__init__(f"{exception_type}: {message}")
        self.status, self.exception_type, self.message = status, exception_type, message

    def body(self) -> dict:
        return {"ExceptionType": self.exception_type, "Message": self.message}


class ODataError(Exception):
    """An OData read error: JSON {"error": {"code": ..., "message": ...}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class OrderError(Exception):
    """One order of a business-object post failed; the others still apply."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type, self.message = exception_type, message


SESSION_EXPIRED = "SessionExpired"
LOGON_FAILED = "LogonFailed"
SYSTEM_BUSY = "SystemBusy"
INVALID_REQUEST = "InvalidRequest"
