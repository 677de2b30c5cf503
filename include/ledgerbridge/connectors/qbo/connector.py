"""QuickBooks Online as an AccountingConnector: hub exports to QBO objects and back."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ledgerbridge.connectors.base import (
    BillExport,
    Created,
    BillPaymentExport,
    PartyExport,
    ReferenceData,
    RemoteDocument,
)
from ledgerbridge.connectors.qbo.client import QBOClient
from ledgerbridge.connectors.qbo.faults import DuplicateDocNumber

# Our key goes into the object's private note, so that an uncertain create can be found again.
KEY_PREFIX = "LedgerBridge key:"

_REFERENCE_ENTITIES = {
    "account": "Account",
    "vendor": "Vendor",
    "customer": "Customer",
    "class": "Class",
    "term": "Term",
}
_PARTY_ENTITIES = {"vendor": "Vendor", "customer": "Customer"}
_ID_CHUNK = 100  # ids per `Id IN (...)` query
PRIVATE_NOTE_MAX = 4000
# How far QuickBooks' clock may be behind ours when judging "created after we queued it".
CLOCK_SKEW = timedelta(minutes=5)


class QuickBooksOnlineConnector:
    kind = "quickbooks_online"
    reference_kinds = tuple(_REFERENCE_ENTITIES)

    def __init__(self, client: QBOClient):
        self.client = client
        self.company_id = client.realm_id

    # -- reference data in ----------------------------------------------------------------------

    def fetch_reference(self, kind: str, since: datetime | None) -> Iterator[ReferenceData]:
        entity = _REFERENCE_ENTITIES[kind]
        # Inactive objects too: a deactivation must reach the mirror.
        where = "Active IN (true, false)"
        if since is not None:
            where += f" AND Metadata.LastUpdatedTime >= '{_qbo_time(since)}'"
        for obj in self.client.query_all(entity, where=where, order_by="Metadata.LastUpdatedTime"):
            yield _reference(kind, obj)

    # -- documents out --------------------------------------------------------------------------

    def payload(self, record: PartyExport | BillExport | BillPaymentExport, key: str) -> tuple[str, dict[str, Any]]:
        if isinstance(record, PartyExport):
            return _PARTY_ENTITIES[record.kind], _party(record, key)
        if isinstance(record, BillExport):
            return "Bill", _bill(record, key)
        if isinstance(record, BillPaymentExport):
            return "BillPayment", _bill_payment(record, key)
        raise TypeError(f"QuickBooks Online cannot export {type(record).__name__}")

    def create(self, target: str, payload: dict[str, Any], key: str) -> Created:
        try:
            return Created(str(self.client.create(target, payload, request_id=key)["Id"]))
        except DuplicateDocNumber:
            # Ours from an earlier attempt whose answer was lost? Adopt it; otherwise it is a real clash.
            existing = self.find_existing(target, payload, key, queued_at=None)
            if existing is None:
                raise
            return Created(existing, adopted=True)

    def find_existing(self, target: str, payload: dict[str, Any], key: str, queued_at: datetime | None) -> str | None:
        if target in ("Vendor", "Customer"):
            # A party carries no key of ours: adopt only an active one of that exact name created
            # after the record was queued; an older one is somebody else's and goes to review.
            name = _quote(payload["DisplayName"])
            for obj in self.client.query_all(target, where=f"DisplayName = '{name}'"):
                created = _created_at(obj)
                if queued_at is None or (created is not None and created >= queued_at - CLOCK_SKEW):
                    return str(obj["Id"])
            return None
        if target == "Bill" and payload.get("DocNumber"):
            where = f"DocNumber = '{_quote(payload['DocNumber'])}'"
        else:
            where = f"TxnDate = '{payload['TxnDate']}'"
        vendor = payload["VendorRef"]["value"]
        for obj in self.client.query_all(target, where=where):
            if obj.get("VendorRef", {}).get("value") == vendor and key in (obj.get("PrivateNote") or ""):
                return str(obj["Id"])
        return None

    def fetch_documents(self, target: str, external_ids: list[str]) -> dict[str, RemoteDocument]:
        found: dict[str, RemoteDocument] = {}
        for start in range(0, len(external_ids), _ID_CHUNK):
            ids = ", ".join(f"'{_quote(i)}'" for i in external_ids[start : start + _ID_CHUNK])
            for obj in self.client.query_all(target, where=f"Id IN ({ids})"):
                total = _money(obj["TotalAmt"])
                balance = _money(obj["Balance"]) if "Balance" in obj else total
                found[str(obj["Id"])] = RemoteDocument(str(obj["Id"]), total, balance)
        return found


def _money(value: Any) -> Decimal:
    # JSON numbers without a decimal point ("Balance": 0) arrive as int.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _created_at(obj: dict[str, Any]) -> datetime | None:
    created = (obj.get("MetaData") or {}).get("CreateTime")
    return datetime.fromisoformat(created).astimezone(timezone.utc) if created else None


def _reference(kind: str, obj: dict[str, Any]) -> ReferenceData:
    meta = obj.get("MetaData") or {}
    updated = meta.get("LastUpdatedTime")
    return ReferenceData(
        external_id=str(obj["Id"]),
        name=obj.get("DisplayName") or obj.get("FullyQualifiedName") or obj.get("Name"),
        active=bool(obj.get("Active", True)),
        updated_at=datetime.fromisoformat(updated).astimezone(timezone.utc) if updated else None,
        number=obj.get("AcctNum"),
        account_type=obj.get("AccountType"),
        email=(obj.get("PrimaryEmailAddr") or {}).get("Address"),
        tax_id=obj.get("TaxIdentifier"),
        city=(obj.get("BillAddr") or {}).get("City"),
        postcode=(obj.get("BillAddr") or {}).get("PostalCode"),
        currency=(obj.get("CurrencyRef") or {}).get("value"),
        raw=obj,
    )


def _party(party: PartyExport, key: str) -> dict[str, Any]:
    body: dict[str, Any] = {"DisplayName": party.name, "CompanyName": party.name}
    if party.email:
        body["PrimaryEmailAddr"] = {"Address": party.email}
    if party.currency:
        body["CurrencyRef"] = {"value": party.currency}
    return body


def _bill(bill: BillExport, key: str) -> dict[str, Any]:
    lines = []
    for line in bill.lines:
        detail: dict[str, Any] = {"AccountRef": {"value": line.account_id}}
        if line.class_id:
            detail["ClassRef"] = {"value": line.class_id}
        entry: dict[str, Any] = {
            "Amount": line.amount,
            "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": detail,
        }
        if line.description:
            entry["Description"] = line.description
        lines.append(entry)
    body: dict[str, Any] = {
        "VendorRef": {"value": bill.vendor_id},
        "TxnDate": bill.doc_date.isoformat(),
        "CurrencyRef": {"value": bill.currency},
        "Line": lines,
        "PrivateNote": _note(key, f"hub bill {bill.hub_id}", bill.memo),
    }
    if bill.doc_number:
        body["DocNumber"] = bill.doc_number
    if bill.due_date:
        body["DueDate"] = bill.due_date.isoformat()
    return body


def _bill_payment(payment: BillPaymentExport, key: str) -> dict[str, Any]:
    return {
        "VendorRef": {"value": payment.vendor_id},
        "TxnDate": payment.payment_date.isoformat(),
        "CurrencyRef": {"value": payment.currency},
        "PayType": "Check",
        "CheckPayment": {"BankAccountRef": {"value": payment.bank_account_id}},
        "TotalAmt": payment.amount,
        "Line": [
            {"Amount": applied.amount, "LinkedTxn": [{"TxnId": applied.document_external_id, "TxnType": "Bill"}]}
            for applied in payment.applied
        ],
        "PrivateNote": _note(key, f"hub payment {payment.hub_id}", payment.reference),
    }


def _note(key: str, origin: str, memo: str | None) -> str:
    """Our key first, so a long memo can never push it out of QuickBooks' 4000 characters."""
    note = f"{KEY_PREFIX} {key} ({origin})"
    return f"{note}\n{memo}"[:PRIVATE_NOTE_MAX] if memo else note


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _qbo_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
