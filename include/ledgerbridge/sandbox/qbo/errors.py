"""QuickBooks Online faults: the error codes and body shapes of the real API."""
from __future__ import annotations


class QBOFault(Exception):
    """One QBO error; rendered as {"Fault": {"Error": [...], "type": ...}} with an HTTP status."""

    def __init__(self, code: str, message: str, detail: str = "", element: str = "", *,
                 status: int = 400, fault_type: str = "ValidationFault") -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code, self.message, self.detail, self.element = code, message, detail, element
        self.status, self.fault_type = status, fault_type

    def fault(self) -> dict:
        return {"Error": [{"Message": self.message, "Detail": self.detail, "code": self.code,
                           "element": self.element}], "type": self.fault_type}


def required(element: str) -> QBOFault:
    return QBOFault("2020", "Required param missing, need to supply the required value for the API",
                    f"Required parameter {element} is missing in the request", element)


def business(detail: str, element: str = "") -> QBOFault:
    return QBOFault("6000", "A business validation error has occurred while processing your request",
                    f"Business Validation Error: {detail}", element)


def invalid_reference(element: str, entity: str, value: object) -> QBOFault:
    return QBOFault("2500", "Invalid Reference Id",
                    f"Invalid Reference Id : {entity} with Id={value} does not exist", element)


def inactive_reference(element: str, entity: str, value: object) -> QBOFault:
    return QBOFault("610", "Object Not Found",
                    f"Object Not Found : Something you're trying to use has been made inactive. "
                    f"{element} refers to inactive {entity} Id={value}", element)


def not_found(entity: str, object_id: object) -> QBOFault:
    return QBOFault("610", "Object Not Found",
                    f"Object Not Found : Another user has deleted this transaction. "
                    f"{entity} Id={object_id} does not exist")


def stale_object(entity: str, object_id: str, sent: object, current: str) -> QBOFault:
    return QBOFault("5010", "Stale Object Error",
                    f"Stale Object Error : You and another user were working on the same thing. "
                    f"{entity} Id={object_id} has SyncToken={current}, the request sent {sent}.")


def duplicate_name(other_id: str) -> QBOFault:
    return QBOFault("6240", "Duplicate Name Exists Error",
                    f"The name supplied already exists. : Id={other_id}")


def duplicate_doc_number(doc_number: str, txn_type: str, txn_id: str) -> QBOFault:
    return QBOFault("6140", "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={doc_number} is assigned to "
                    f"TxnType={txn_type} with TxnId={txn_id}")


def amount_calculation(line: int, amount: object, qty: object, unit_price: object, expected: object) -> QBOFault:
    """Intuit's 6070 (its published error-code table: "Amount calculation incorrect in the request",
    "Amount is not equal to Qty * UnitPrice. Supplied value:XXX"); the detail also names the line."""
    return QBOFault("6070", "Amount calculation incorrect in the request",
                    f"Amount is not equal to Qty * UnitPrice. Supplied value:{amount} (Line {line}: Qty {qty} x "
                    f"UnitPrice {unit_price} = {expected})", "Line.Amount")


def unrecognized_property(name: str, owner: str) -> QBOFault:
    """What QBO's JSON parser answers for a property its schema lacks there (python-quickbooks issue #80:
    'Property Name:Unrecognized field "PurchaseTaxInclusive" (class com.intuit.schema.finance.v3.Item),
    not marked as ignorable ...')."""
    return QBOFault("2010", "Request has invalid or unsupported property",
                    f'Property Name:Unrecognized field "{name}" (class com.intuit.schema.finance.v3.{owner}), '
                    "not marked as ignorable specified is unsupported or invalid", name)


def account_period_closed(close_date: str, entity: str, txn_date: str) -> QBOFault:
    """Closed books, as QBO answers them: code 6210 (Intuit's developer blog, "Top QuickBooks Online API
    errors", 2017-06-08), Message and Detail as integrators quote them (fylein/fyle-qbo-api's tests; Invoiced's
    and Recurly's help pages) - "through through" included. The sandbox adds the dates."""
    return QBOFault("6210", "Account Period Closed, Cannot Update Through Services API",
                    "The account period has closed and the account books cannot be updated through through the "
                    "QBO Services API. Please use the QBO website to make these changes. "
                    f"(The books are closed up to {close_date}; this {entity} is dated {txn_date}.)", "TxnDate")


def query_parse_error(detail: str) -> QBOFault:
    return QBOFault("4000", "Invalid query", f"QueryParserError: {detail}")


def query_invalid(detail: str) -> QBOFault:
    return QBOFault("4001", "Invalid query", f"QueryValidationError: {detail}")


def unsupported(detail: str) -> QBOFault:
    return QBOFault("500", "Unsupported Operation", detail)


def malformed_request(detail: str) -> QBOFault:
    return QBOFault("2010", "Request has invalid or unsupported property", detail)


def authentication_failed(detail: str) -> QBOFault:
    return QBOFault("3200", "message=AuthenticationFailed; errorCode=003200; statusCode=401", detail,
                    status=401, fault_type="AUTHENTICATION")


def authorization_failed(detail: str) -> QBOFault:
    return QBOFault("3100", "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    detail, status=403, fault_type="AuthorizationFault")


THROTTLED_XML = ('<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; '
                 'errorCode=003001; statusCode=429</Message><Detail>The request limit was reached.  '
                 'Try again later</Detail></Error></Fault>')
