"""SYSPRO as a SourceConnector: customers, stock items and sales orders in, incrementally on their change
date; what became of each order written back onto it (docs/erp-source.md).

Reading: customers and sales orders changed since the watermark (less an overlap, so a row committed
late with an earlier stamp is not missed; intake finds what it already has unchanged), the whole stock
master (every order line is converted with it), 5,000 rows a request. The next watermark is the latest
change date read.

Writing back: each fact is one entry of a SORTBO post, up to 100 entries a post (one write for many
orders). The QuickBooks id and number go into the order's custom form fields, the payment status too;
each fact also appends a note line carrying a fingerprint of its idempotency key, which is how
`find_written` recognises, after a lost answer, what SYSPRO already holds.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ledgerbridge.registry import SourceSystem
from ledgerbridge.sources.base import (
    ChangeBatch,
    Origin,
    SourceCapabilities,
    SourceRecord,
    WriteBack,
    WriteBackStatus,
    Written,
)
from ledgerbridge.sources.syspro.client import SysproClient
from ledgerbridge.sources.syspro.errors import SysproOutcomeUnknown, SysproUnavailable
from ledgerbridge.sources.syspro.translate import CENT, OrderPolicy, StockItem, customer_record, order_record

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
PAGE = 5000  # SYSPRO's OData cap per request
ORDERS_PER_POST = 100  # SORTBO entries per post
NOTE_MAX = 100  # characters of one note line (sandbox: docs/sandbox-syspro.md)
FINGERPRINT = 16  # hex characters of the idempotency key carried in a note: "LB:<16 hex>"
_LOOKUP_CHUNK = 50  # order numbers per `in (...)` read
DOCUMENT_KINDS = frozenset({"invoice", "sales_receipt"})


class SysproSource:
    kind = "syspro"
    capabilities = SourceCapabilities(changes_since_watermark=True, write_back=True, attachments=False)

    def __init__(self, client: SysproClient, entity_id: str, source: SourceSystem, where: str = "SYSPRO",
                 overlap: timedelta = OVERLAP) -> None:
        self.client, self.entity_id, self.where = client, entity_id, where
        self.policy = OrderPolicy.of(source)
        self.overlap = overlap

    # -- records in -----------------------------------------------------------------------------

    def fetch_changes(self, since: datetime | None) -> ChangeBatch:
        start = since - self.overlap if since else None
        latest = since
        records: list[SourceRecord] = []
        for position, row in enumerate(self._changed("Customers", "Customer", start), 1):
            records.append(customer_record(row, Origin("SYSPRO Customers", position)))
            latest = _later(latest, row)
        stock = {item.code: item for item in map(StockItem.from_row, self.client.read("StockItems", page_size=PAGE))}
        orders = 0
        for position, row in enumerate(self._changed("SalesOrders", "SalesOrder", start), 1):
            records.append(order_record(row, stock, self.policy, Origin("SYSPRO SalesOrders", position)))
            latest = _later(latest, row)
            orders = position
        log.info("SYSPRO %s: %d customer(s) and %d sales order(s) changed since %s; %d stock item(s) read",
                 self.where, len(records) - orders, orders, start.isoformat() if start else "the beginning",
                 len(stock))
        return ChangeBatch(tuple(records), as_of=latest)

    def _changed(self, entity_set: str, key: str, start: datetime | None) -> Iterator[dict[str, Any]]:
        where = f"ChangedAt ge {_odata_time(start)}" if start else None
        return self.client.read(entity_set, filter=where, orderby=f"ChangedAt asc, {key} asc", page_size=PAGE)

    def acknowledge(self, batch: ChangeBatch) -> int:
        return 0  # read by watermark: nothing to consume

    # -- write-back -----------------------------------------------------------------------------

    def write_back(self, items: list[WriteBack], batch_key: str) -> dict[str, Written]:
        """Each item onto its sales order; items no order can take are reported written (to nobody), with
        why in their location, so they are not tried again forever."""
        written: dict[str, Written] = {}
        entries: list[tuple[WriteBack, dict[str, Any]]] = []
        for item in items:
            if item.record_kind not in DOCUMENT_KINDS or not item.hub_id:
                what = "no sales order" if item.record_kind in DOCUMENT_KINDS else f"a {item.record_kind.replace('_', ' ')}"
                written[item.key] = Written(item.key, f"not written: {what} takes no write-back in SYSPRO")
                continue
            entries.append((item, _entry(item)))
        for start in range(0, len(entries), ORDERS_PER_POST):
            chunk = entries[start:start + ORDERS_PER_POST]
            try:
                reply = self.client.post("SORTBO", {"Orders": [entry for _, entry in chunk]})
            except SysproOutcomeUnknown as exc:
                log.warning("SYSPRO write-back of %d item(s): no usable answer (%s); looked up before any re-send",
                            len(chunk), exc)
                continue
            except SysproUnavailable as exc:
                log.warning("SYSPRO unavailable (%s): %d item(s) wait for the next run", exc, len(entries) - start)
                break
            written.update(self._landed(chunk, reply))
        return written

    def _landed(self, chunk: list[tuple[WriteBack, dict[str, Any]]], reply: dict[str, Any]) -> dict[str, Written]:
        answers = (reply or {}).get("Orders") or []
        landed: dict[str, Written] = {}
        for (item, entry), answer in zip(chunk, answers):
            status = str(answer.get("Status", "")).lower()
            if status == "ok":
                landed[item.key] = Written(item.key, f"SYSPRO sales order {entry['SalesOrder']}")
            elif "not on file" in str(answer.get("Message", "")):
                log.warning("sales order %s is not on file in SYSPRO: %s %s not written back", item.hub_id,
                            item.status.value, item.key[:FINGERPRINT])
                landed[item.key] = Written(item.key, f"not written: sales order {item.hub_id} not on file in SYSPRO")
            else:  # locked, or refused for now: tried again next run
                log.warning("SYSPRO refused the write-back to sales order %s (%s: %s): tried again next run",
                            item.hub_id, answer.get("ExceptionType"), answer.get("Message"))
        if len(answers) < len(chunk):
            log.warning("SYSPRO answered %d of %d write-back entries: the rest are looked up next run",
                        len(answers), len(chunk))
        return landed

    def find_written(self, items: Collection[WriteBack]) -> dict[str, Written]:
        """Items whose note (its key's fingerprint) is on their sales order already."""
        by_order: dict[str, list[WriteBack]] = {}
        for item in items:
            if item.record_kind in DOCUMENT_KINDS and item.hub_id:
                by_order.setdefault(item.hub_id, []).append(item)
        found: dict[str, Written] = {}
        numbers = sorted(by_order)
        for start in range(0, len(numbers), _LOOKUP_CHUNK):
            listed = ", ".join(_quote(number) for number in numbers[start:start + _LOOKUP_CHUNK])
            for order in self.client.read("SalesOrders", filter=f"SalesOrder in ({listed})",
                                          select="SalesOrder,Notes", page_size=PAGE):
                notes = " ".join(str(note.get("Text", "")) for note in order.get("Notes") or ())
                for item in by_order.get(order.get("SalesOrder"), ()):
                    if _mark(item) in notes:
                        found[item.key] = Written(item.key, f"SYSPRO sales order {order['SalesOrder']}")
        return found


def _entry(item: WriteBack) -> dict[str, Any]:
    """The SORTBO entry telling one fact: custom form fields where the fact has a value, and a note."""
    fields: dict[str, str] = {}
    what = "QuickBooks invoice" if item.record_kind == "invoice" else "QuickBooks sales receipt"
    if item.status == WriteBackStatus.CONFIRMED:
        fields = {"QBOInvoice": item.external_id or "", "QBOInvoiceNo": item.external_number or ""}
        if item.record_kind == "sales_receipt":
            fields["QBOPaymentStatus"] = "paid"  # a cash sale: paid at order
        text = f"{what} {item.external_id}" + (f" no. {item.external_number}" if item.external_number else "")
    elif item.status in (WriteBackStatus.PAID, WriteBackStatus.PARTIALLY_PAID):
        paid = "paid" if item.status == WriteBackStatus.PAID else "partially paid"
        fields = {"QBOPaymentStatus": paid, "QBOPaidAmount": format(item.paid_amount.quantize(CENT), "f")
                  if item.paid_amount is not None else "", "QBOPaidDate": item.paid_date.isoformat() if item.paid_date else ""}
        text = f"{what} {item.external_id} {paid}: {item.paid_amount} {item.currency or ''}".rstrip()
        if item.paid_date:
            text += f" on {item.paid_date.isoformat()}"
    elif item.status == WriteBackStatus.UPDATED:
        text = f"{what} {item.external_id} updated to this order"
    elif item.status == WriteBackStatus.VOIDED:
        fields = {"QBOPaymentStatus": "voided"}
        text = f"{what} {item.external_id} voided"
    else:  # rejected, quarantined, changed after export and held
        text = f"{item.status.value.replace('_', ' ')}: {item.reason or ''}"
    entry: dict[str, Any] = {"SalesOrder": item.hub_id, "AddNote": f"{_mark(item)} {text}"[:NOTE_MAX]}
    if fields:
        entry["CustomFields"] = {name: value for name, value in fields.items() if value}
    return entry


def _mark(item: WriteBack) -> str:
    return f"LB:{item.key[:FINGERPRINT]}"


def _later(latest: datetime | None, row: dict[str, Any]) -> datetime | None:
    stamp = row.get("ChangedAt")
    if not stamp:
        return latest
    changed = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    changed = changed if changed.tzinfo else changed.replace(tzinfo=UTC)
    return changed if latest is None or changed > latest else latest


def _odata_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
