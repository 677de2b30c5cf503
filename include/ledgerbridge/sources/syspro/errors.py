"""What can go wrong talking to SYSPRO, by what the caller should do about it.

- SysproLogonFailed: wrong operator, password or company: not retryable, fix the connection.
- SysproUnavailable: SYSPRO was busy (HTTP 503) or could not be reached before any work: nothing was
  applied, try again later.
- SysproOutcomeUnknown: a post was sent and no usable answer came back: it may have been applied;
  read the orders back before sending again.
- SysproRequestError: SYSPRO refused the request as such (HTTP 400: a bad $filter, $top over the
  cap, an unknown business object, too many orders): nothing was applied, retrying will not help.
Messages name the endpoint, the HTTP status and SYSPRO's own message; never a password.
"""
from __future__ import annotations


class SysproError(Exception):
    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None,
                 exception_type: str = "", syspro_message: str = "") -> None:
        super().__init__(message)
        self.endpoint, self.status = endpoint, status
        self.exception_type, self.syspro_message = exception_type, syspro_message


class SysproLogonFailed(SysproError):
    pass


class SysproUnavailable(SysproError):
    pass


class SysproOutcomeUnknown(SysproError):
    pass


class SysproRequestError(SysproError):
    pass
