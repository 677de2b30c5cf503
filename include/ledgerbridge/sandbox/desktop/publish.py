"""The agent's uploads to from_accounting/: lists, purchase orders and payments, as protocol records."""
from __future__ import annotations

from ledgerbridge.filedrop.protocol import FIELD_VERSIONS, PROTOCOL_VERSION, value_version
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


def list_record(entry: dict, version: int = PROTOCOL_VERSION) -> dict | None:
    """A list entry as an agent speaking `version` publishes it: None for a list type a later version added (a
    journal code before 8), without the fields a later version added (a party's auxiliary account before 8)."""
    record = {name: value for name, value in entry.items() if not name.startswith("_")}
    if value_version("lists", record) > version:
        return None
    return {name: value for name, value in record.items() if FIELD_VERSIONS.get(name, {}).get("lists", 1) <= version}


def purchase_order_record(order: dict) -> dict:
    return {"key": order["txn_id"], **_pick(order, PURCHASE_ORDER_FIELDS)}


def payment_record(payment: dict, party_field: str) -> dict:
    return {"key": payment["txn_id"], party_field: payment[party_field], **_pick(payment, PAYMENT_FIELDS)}


def _changed(records, since: int) -> list[dict]:
    return [record for record in records if record["_changed"] > since]


def outgoing_records(company: DesktopCompany, since: int, version: int = PROTOCOL_VERSION) -> dict[str, list[dict]]:
    """Per message kind, the records changed after change number `since` (0: everything), as an agent speaking
    protocol `version` publishes them."""
    lists = [entry for list_type in company.lists.values() for entry in list_type.values()]
    outgoing = {
        "lists": [record for record in (list_record(entry, version) for entry in _changed(lists, since))
                  if record is not None],
        "purchase_orders": [purchase_order_record(order)
                            for order in _changed(company.transactions["purchase_order"].values(), since)],
    }
    for kind, (txn_type, party_field) in PAYMENT_KINDS.items():
        outgoing[kind] = [payment_record(payment, party_field)
                          for payment in _changed(company.transactions[txn_type].values(), since)]
    return outgoing


def publish_messages(company: DesktopCompany, full: bool = False, version: int = PROTOCOL_VERSION) -> list[dict]:
    """The messages of one publication (one batch key for all), empty kinds left out; each file in the oldest
    version its records need (a lists file holding a journal code or an auxiliary account is version 8).
    An agent upgraded since its last publication publishes everything again: what its older version left out
    (journal codes, auxiliary accounts) goes then."""
    upgraded = company.published_version is not None and company.published_version < version
    since = 0 if full or upgraded else company.published_sequence
    batch_key = f"publish-{company.publish_count + 1:06d}"
    now = company.clock()
    return [build_message(kind, entity_id=company.entity_id, company_id=company.company_id, batch_key=batch_key,
                          records=records, created_at=now)
            for kind, records in outgoing_records(company, since, version).items() if records]


def mark_published(company: DesktopCompany, version: int = PROTOCOL_VERSION) -> None:
    company.published_sequence = company.change_sequence
    company.publish_count += 1
    company.published_version = version
