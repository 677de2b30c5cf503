"""QuickBooks Fault bodies become typed errors the pipeline can act on."""
from __future__ import annotations

import pytest

from ledgerbridge.connectors.errors import ReconnectRequired, RecordRejected, TransientError
from ledgerbridge.connectors.qbo import faults


def _body(code: str, fault_type: str = "ValidationFault", element: str = "") -> dict:
    return {"Fault": {"Error": [{"Message": "msg", "Detail": "detail", "code": code, "element": element}],
                      "type": fault_type}, "time": "2026-11-21T10:00:00.000-07:00"}


@pytest.mark.parametrize("code, cls, kind", [
    ("6140", faults.DuplicateDocNumber, RecordRejected),
    ("6240", faults.DuplicateName, RecordRejected),
    ("5010", faults.StaleObject, RecordRejected),
    ("610", faults.ObjectNotFound, RecordRejected),
    ("2020", faults.RequiredParameterMissing, RecordRejected),
    ("2500", faults.InvalidReference, RecordRejected),
    ("6000", faults.BusinessValidation, RecordRejected),
    ("3200", faults.AuthenticationFailed, ReconnectRequired),
    ("003200", faults.AuthenticationFailed, ReconnectRequired),
    ("3001", faults.Throttled, TransientError),
    ("10000", faults.SystemFault, TransientError),
])
def test_each_code_maps_to_its_error(code, cls, kind):
    error = faults.fault_from_body(_body(code, element="VendorRef"), 400)
    assert type(error) is cls and isinstance(error, kind)
    assert error.code == code.lstrip("0") and error.element == "VendorRef"
    assert f"QuickBooks error {error.code}: msg (detail) [field VendorRef]" == str(error)


def test_an_unknown_validation_code_is_still_a_rejection_with_its_code():
    error = faults.fault_from_body(_body("6999"), 400)
    assert isinstance(error, RecordRejected) and error.code == "6999"


def test_an_unknown_server_error_is_transient():
    assert isinstance(faults.fault_from_body(_body("9999", "SystemFault"), 503), TransientError)


@pytest.mark.parametrize("status", [400, 200])  # a request's answer, a batch item's
def test_closed_books_6210_is_a_rejection_naming_the_date(status):
    body = {"Fault": {"Error": [{"Message": "Account Period Closed, Cannot Update Through Services API",
                                 "Detail": "The account period has closed ... (The books are closed up to 2026-03-31; "
                                           "this Bill is dated 2026-03-15.)", "code": "6210", "element": "TxnDate"}],
                      "type": "ValidationFault"}}
    error = faults.fault_from_body(body, status)
    assert isinstance(error, RecordRejected) and not isinstance(error, TransientError)
    assert error.code == "6210" and "2026-03-31" in str(error)
