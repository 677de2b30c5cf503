"""QuickBooks Online Fault bodies parsed into typed errors (codes from the reference doc)."""
from __future__ import annotations

from typing import Any

from ledgerbridge.connectors.errors import (
    ConnectorError,
    ReconnectRequired,
    RecordRejected,
    TransientError,
)


class QBOFault(ConnectorError):
    code = "unknown"

    def __init__(
        self, message: str, detail: str = "", element: str = "", fault_type: str = "", status: int = 0, code: str = ""
    ):
        self.code = code or type(self).code
        text = f"QuickBooks error {self.code}: {message}" + (f" ({detail})" if detail and detail != message else "")
        if element:
            text += f" [field {element}]"
        Exception.__init__(self, text)
        self.message = message
        self.detail = detail
        self.element = element
        self.fault_type = fault_type
        self.status = status


class QBOValidationFault(QBOFault, RecordRejected):
    """A fault about the record itself: permanent for this payload."""


class DuplicateDocNumber(QBOValidationFault):
    code = "6140"


class DuplicateName(QBOValidationFault):
    code = "6240"


class StaleObject(QBOValidationFault):
    code = "5010"


class ObjectNotFound(QBOValidationFault):
    code = "610"


class RequiredParameterMissing(QBOValidationFault):
    code = "2020"


class InvalidReference(QBOValidationFault):
    code = "2500"


class BusinessValidation(QBOValidationFault):
    code = "6000"


class QueryError(QBOFault):
    code = "4000"


class BatchLimitExceeded(QBOFault):
    code = "1040"


class AuthenticationFailed(QBOFault, ReconnectRequired):
    code = "3200"


class Throttled(QBOFault, TransientError):
    code = "3001"


class SystemFault(QBOFault, TransientError):
    code = "10000"


_BY_CODE: dict[str, type[QBOFault]] = {
    cls.code: cls
    for cls in (
        DuplicateDocNumber,
        DuplicateName,
        StaleObject,
        ObjectNotFound,
        RequiredParameterMissing,
        InvalidReference,
        BusinessValidation,
        QueryError,
        BatchLimitExceeded,
        AuthenticationFailed,
        Throttled,
        SystemFault,
    )
}
_BY_CODE["4001"] = QueryError


def fault_from_body(body: dict[str, Any], status: int) -> QBOFault:
    """The first error of a `{"Fault": ...}` body as a typed exception."""
    fault = body.get("Fault") or {}
    errors = fault.get("Error") or [{}]
    first = errors[0]
    code = str(first.get("code", "")).lstrip("0") or "unknown"
    cls = _BY_CODE.get(code)
    if cls is None:
        if status == 401:
            cls = AuthenticationFailed
        elif status >= 500:
            cls = SystemFault
        elif fault.get("type") == "ValidationFault" or status == 400:
            cls = QBOValidationFault
        else:
            cls = QBOFault
    return cls(
        first.get("Message", "no message"),
        first.get("Detail", ""),
        first.get("element", ""),
        fault.get("type", ""),
        status,
        code=code,
    )
