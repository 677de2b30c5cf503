"""The agent's uploads to from_accounting/: lists, purchase orders and payments, as protocol records."""
from __future__ import annotations

from ledgerbridge.filedrop.wire import build_message

from .company import DesktopCompany

# Published fields per message kind; anything else on a stored record is the agent's own business.
PURCHASE_ORDER_FIELDS = ("po_number", "vendor", "txn_date", "expected_date", "currency", "status", "memo", "lines",
                         "total", "modified_at")
PAYMENT_FIELDS = ("txn_date", "currency", "amount", "bank_account", "method", "reference", "memo", "applications",
                  "modified_at")
PAYMENT_KINDS = {"payments_made": ("bill_payment", "vendor"), "payments_received": ("customer_payment", "customer")}


def _pick(record: dict, fields: tuple[str, ...]) -> dict:
    return {name: record[name] for name in fields if name in record}


def list_record(entry: dict) -> dict:
    return {name: value for name, value in entry.items() if not name.startswith("_")}


def purchase_order_record(order: dict) -> dict:
    return {"key": order["txn_id"], **_pick(order, PURCHASE_ORDER_FIELDS)}


def payment_record(payment: dict, party_field: str) -> dict:
    return {"key": payment["txn_id"], party_field: payment[party_field], **_pick(payment, PAYMENT_FIELDS)}


def _changed(records, since: int) -> list[dict]:
    return [record for record in records if record["_changed"] > since]


def outgoing_records(company: DesktopCompany, since: int) -> dict[str, list[dict]]:
    """Per message kind, the records changed after change number `since` (0: everything)."""
    lists = [entry for list_type in company.lists.values() for entry in list_type.values()]
    outgoing = {
        "lists": [list_record(entry) for entry in _changed(lists, since)],
        "purchase_orders": [purchase_order_record(order)
                            for order in _changed(company.transactions["purchase_order"].values(), since)],
    }
    for kind, (txn_type, party_field) in PAYMENT_KINDS.items():
        outgoing[kind] = [payment_record(payment, party_field)
                          for payment in _changed(company.transactions[txn_type].values(), since)]
    return outgoing


def publish_messages(company: DesktopCompany, full: bool = False) -> list[dict]:
    """The messages of one publication (one batch key for all), empty kinds left out."""
    since = 0 if full else company.published_sequence
    batch_key = f"publish-{company.publish_count + 1:06d}"
    now = company.clock()
    return [build_message(kind, entity_id=company.entity_id, company_id=company.company_id, batch_key=batch_key,
                          records=records, created_at=now)
            for kind, records in outgoing_records(company, since).items() if records]


def mark_published(company: DesktopCompany) -> None:
    company.published_sequence = company.change_sequence
    company.publish_count += 1
