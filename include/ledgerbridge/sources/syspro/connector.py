"""SYSPRO as a SourceConnector: customers, stock items and sales orders in, incrementally on their change
date; what became of each order written back onto it (docs/erp-source.md).

Reading: customers and sales orders changed since the watermark (less an overlap, so a row committed
late with an earlier stamp is not missed; intake finds what it already has unchanged), the whole stock
master (every order line is converted with it), 5,000 rows a request. Rows changed since are paged by
keyset, never by offset: ordered by (ChangedAt, key), each page asks for the rows after the last one
read, so a row changed during the read (it moves to the end) neither hides the row behind it nor is
lost; read twice, its latest version is kept. The next watermark is the latest change date read (a
row whose ChangedAt is no date-time is taken in, and left out of the watermark with a warning).

Writing back: each fact is one entry of a SORTBO post, up to 100 entries a post (one write for many
orders). The QuickBooks id and number go into the order's custom form fields, the payment status too;
each fact also appends a note line carrying a fingerprint of its idempotency key, which is how
`find_written` recognises, after a lost answer, what SYSPRO already holds. An answer is taken for its
entry only when it names the entry's order; a post refused whole is logged and its items wait.

Every call ends by logging off: a task never leaves an e.net session (a licence) open.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable
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
from ledgerbridge.sources.syspro.errors import (SysproError, SysproOutcomeUnknown, SysproRequestError,
                                                SysproUnavailable)
from ledgerbridge.sources.syspro.translate import CENT, OrderPolicy, StockItem, customer_record, order_record

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
PAGE = 5000  # SYSPRO's OData cap per request
ORDERS_PER_POST = 100  # SORTBO entries per post
NOTE_MAX = 100  # characters of one note line (sandbox: docs/sandbox-syspro.md)
FINGERPRINT = 16  # hex characters of the idempotency key carried in a note: "LB:<16 hex>"
_LOOKUP_CHUNK = 50  # order numbers per `in (...)` read
DOCUMENT_KINDS = frozenset({"invoice", "sales_receipt"})
NOT_ON_FILE = "OrderNotFound"
_SHOWN = 20  # order numbers named in one log line
# An OData datetime literal as SYSPRO writes ChangedAt (7 fraction digits at most, with a zone).
_DATETIME_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?(?:Z|[+-]\d{2}:\d{2})")


class SysproSource:
    kind = "syspro"
    capabilities = SourceCapabilities(changes_since_watermark=True, write_back=True, attachments=False)

    def __init__(self, client: SysproClient, entity_id: str, source: SourceSystem, where: str = "SYSPRO",
                 overlap: timedelta = OVERLAP, page_size: int = PAGE, identity: str | None = None) -> None:
        self.client, self.entity_id, self.where = client, entity_id, where
        self.identity = identity  # pinned per entity (context.pin_source): its server and company
        self.policy = OrderPolicy.of(source)
        self.overlap = overlap
        self.page_size = page_size  # rows per keyset page of changed rows ($top)

    # -- records in -----------------------------------------------------------------------------

    def fetch_changes(self, since: datetime | None) -> ChangeBatch:
        start = since - self.overlap if since else None
        try:
            customers = list(self._changed("Customers", "Customer", start))
            stock = {item.code: item for item in map(StockItem.from_row,
                                                      self.client.read("StockItems", page_size=PAGE))}
            orders = list(self._changed("SalesOrders", "SalesOrder", start))
        finally:
            self.client.logoff()
        records: list[SourceRecord] = []
        latest = since
        for position, row in enumerate(customers, 1):
            records.append(customer_record(row, Origin("SYSPRO Customers", position)))
            latest = _later(latest, row, "Customers", "Customer", position)
        for position, row in enumerate(orders, 1):
            records.append(order_record(row, stock, self.policy, Origin("SYSPRO SalesOrders", position)))
            latest = _later(latest, row, "SalesOrders", "SalesOrder", position)
        log.info("SYSPRO %s: %d customer(s) and %d sales order(s) changed since %s; %d stock item(s) read",
                 self.where, len(customers), len(orders), start.isoformat() if start else "the beginning",
                 len(stock))
        return ChangeBatch(tuple(records), as_of=latest)

    def _changed(self, entity_set: str, key: str, start: datetime | None) -> list[dict[str, Any]]:
        """The rows changed at or after `start`, by keyset pages on (ChangedAt, key); each key once, its
        latest version (a row changed during the read is met again further on)."""
        since = f"ChangedAt ge {_odata_time(start)}" if start else None
        where, rows, pages, repeated = since, {}, 0, 0
        while True:
            page = self.client.page(entity_set, self.page_size, filter=where, orderby=f"ChangedAt asc, {key} asc")
            pages += 1
            for row in page:
                name = row.get(key) if isinstance(row, dict) else None
                if not isinstance(name, str) or not name:
                    rows[("#", len(rows))] = row  # no key: intake refuses it, naming it
                    continue
                earlier = rows.pop(name, None)
                if earlier is not None:
                    repeated += 1
                    if _stamp(earlier) and _stamp(row) and _stamp(earlier) > _stamp(row):
                        row = earlier  # (a conformant server never sends the older version last)
                rows[name] = row
            if len(page) < self.page_size:
                break
            after = _after(page[-1], key, entity_set)
            following = f"({since}) and ({after})" if since else after
            if following == where:
                raise SysproError(f"GET /odata/{entity_set}: the page after {after} starts at the same row again; "
                                  "SYSPRO does not order by (ChangedAt, key)", endpoint=f"GET /odata/{entity_set}")
            where = following
        if repeated:
            log.info("SYSPRO %s: %d row(s) changed while they were being read (met twice in %d pages): the "
                     "latest version of each is taken", entity_set, repeated, pages)
        return list(rows.values())

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
        try:
            for start in range(0, len(entries), ORDERS_PER_POST):
                chunk = entries[start:start + ORDERS_PER_POST]
                try:
                    reply = self.client.post("SORTBO", {"Orders": [entry for _, entry in chunk]})
                except SysproOutcomeUnknown as exc:
                    log.warning("SYSPRO write-back of %d item(s): no usable answer (%s); looked up before any "
                                "re-send", len(chunk), exc)
                    continue
                except SysproUnavailable as exc:
                    log.warning("SYSPRO unavailable (%s): %d item(s) wait for the next run", exc, len(entries) - start)
                    break
                except SysproRequestError as exc:
                    log.error("SYSPRO refused a write-back post of %d item(s) whole (%s); nothing of it was applied: "
                              "sales order(s) %s are looked up and sent again next run", len(chunk), exc,
                              _named(entry["SalesOrder"] for _, entry in chunk))
                    continue
                written.update(self._landed(chunk, reply))
        finally:
            self.client.logoff()
        return written

    def _landed(self, chunk: list[tuple[WriteBack, dict[str, Any]]], reply: dict[str, Any]) -> dict[str, Written]:
        answers = (reply or {}).get("Orders") or []
        landed: dict[str, Written] = {}
        for (item, entry), answer in zip(chunk, answers):
            answer = answer if isinstance(answer, dict) else {}
            if answer.get("SalesOrder") != entry["SalesOrder"]:
                # Answers come in the order of the entries; one naming another order cannot be read as this
                # entry's: looked up (its note) next run.
                log.warning("SYSPRO answered write-back entry for sales order %s with one for %r: %s %s looked up "
                            "next run", entry["SalesOrder"], answer.get("SalesOrder"), item.status.value,
                            item.key[:FINGERPRINT])
                continue
            status = str(answer.get("Status", "")).lower()
            if status == "ok":
                landed[item.key] = Written(item.key, f"SYSPRO sales order {entry['SalesOrder']}")
            elif answer.get("ExceptionType") == NOT_ON_FILE or "not on file" in str(answer.get("Message", "")):
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
        try:
            for start in range(0, len(numbers), _LOOKUP_CHUNK):
                listed = ", ".join(_quote(number) for number in numbers[start:start + _LOOKUP_CHUNK])
                for order in self.client.read("SalesOrders", filter=f"SalesOrder in ({listed})",
                                              select="SalesOrder,Notes", page_size=PAGE):
                    notes = " ".join(str(note.get("Text", "")) for note in order.get("Notes") or ())
                    for item in by_order.get(order.get("SalesOrder"), ()):
                        if _mark(item) in notes:
                            found[item.key] = Written(item.key, f"SYSPRO sales order {order['SalesOrder']}")
        finally:
            self.client.logoff()
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


def _stamp(row: dict[str, Any]) -> datetime | None:
    """The row's ChangedAt as an aware datetime; None when it has none or it is no date-time."""
    stamp = row.get("ChangedAt") if isinstance(row, dict) else None
    if not isinstance(stamp, str) or not stamp.strip():
        return None
    text = stamp.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most 6 fraction digits; SYSPRO (datetime2) may send 7
        digits = re.match(r"\d*", rest).group()
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        changed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return changed if changed.tzinfo else changed.replace(tzinfo=UTC)


def _later(latest: datetime | None, row: dict[str, Any], entity_set: str, key: str, position: int) -> datetime | None:
    changed = _stamp(row)
    if changed is None:
        log.warning("SYSPRO %s #%d (%s %r): ChangedAt %r is not a date-time; the row is taken in, and left out of "
                    "the watermark", entity_set, position, key, row.get(key) if isinstance(row, dict) else None,
                    row.get("ChangedAt") if isinstance(row, dict) else None)
        return latest
    return changed if latest is None or changed > latest else latest


def _after(row: dict[str, Any], key: str, entity_set: str) -> str:
    """The $filter of the rows after `row` in (ChangedAt asc, key asc) order (nulls first, as OData sorts)."""
    name = row.get(key) if isinstance(row, dict) else None
    if not isinstance(name, str) or not name:
        raise SysproError(f"GET /odata/{entity_set}: a row without {key} ends a page: the next page cannot be "
                          "asked for after it", endpoint=f"GET /odata/{entity_set}")
    raw, changed = row.get("ChangedAt"), _stamp(row)
    if changed is None:  # no usable stamp: it sorts with the nulls, first
        return f"(ChangedAt eq null and {key} gt {_quote(name)}) or ChangedAt ne null"
    # The stamp as SYSPRO wrote it (all its digits, so `eq` finds the row's equals), else re-written.
    literal = raw.strip() if _DATETIME_LITERAL.fullmatch(raw.strip()) else _odata_time(changed)
    return f"ChangedAt gt {literal} or (ChangedAt eq {literal} and {key} gt {_quote(name)})"


def _named(numbers: Iterable[str]) -> str:
    numbers = list(numbers)
    return ", ".join(numbers[:_SHOWN]) + (f" and {len(numbers) - _SHOWN} more" if len(numbers) > _SHOWN else "")


def _odata_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
