"""SysproSource against the SYSPRO sandbox over real HTTP on loopback: keyset paging of changed rows
(rows changed during a read neither lost nor taken twice), the watermark and its overlap, exact numbers,
write-back in posts of at most 100 (answers matched to their orders, refusals per order and per post,
locks, orders not on file), the look-up after a lost answer, and sessions logged off after every call."""
from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
from ledgerbridge.registry import SourceSystem
from ledgerbridge.sandbox.syspro import DEFAULT_PASSWORD, Faults, SysproSandbox
from ledgerbridge.sources.base import WriteBack, WriteBackStatus
from ledgerbridge.sources.syspro import SysproClient, SysproRequestError
from ledgerbridge.sources.syspro.client import parse_json
from ledgerbridge.sources.syspro.connector import SysproSource
from support import FakeClock, syspro_served

START = 1_800_000_000.0  # 2027-01-15: after every seeded change stamp
PAGE_ROWS = 10
TAX_CODES = {"A": "TAX", "B": "TAX", "E": "NON"}


@pytest.fixture
def erp():
    with syspro_served(seed=5, customers=15, stock_items=30, orders=45, clock=FakeClock(START),
                       max_page_rows=PAGE_ROWS) as server:
        yield server


def source_for(server, session: requests.Session | None = None, page_size: int = PAGE_ROWS) -> SysproSource:
    client = SysproClient(server.url, "ADMIN", DEFAULT_PASSWORD, "STARK", retry_backoff_seconds=0, session=session)
    return SysproSource(client, "stark", SourceSystem(kind="syspro", conn_id="erp_stark", tax_codes=TAX_CODES),
                        page_size=page_size)


def fact(number: str, external_id: str = "131", status: WriteBackStatus = WriteBackStatus.CONFIRMED,
         tag: str = "", **fields) -> WriteBack:
    key = hashlib.sha256(f"{number}/{external_id}/{status}/{tag}".encode()).hexdigest()
    return WriteBack(key, "invoice", number, status, external_id=external_id, external_number=f"10{external_id}",
                     **fields)


def moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def hub_ids(batch, origin: str) -> Counter:
    return Counter(record.data["hub_id"] for record in batch.records if record.origin.source == f"SYSPRO {origin}")


def by_hub_id(batch, origin: str) -> dict:
    return {record.data["hub_id"]: record for record in batch.records if record.origin.source == f"SYSPRO {origin}"}


def purchase_order(record) -> str:
    """The order's CustomerPoNumber as the record carries it (translated: in the memo; held: as given)."""
    return record.data.get("memo") or record.data.get("order", {}).get("CustomerPoNumber") or ""


def notes(sandbox: SysproSandbox, number: str) -> str:
    return " ".join(note["Text"] for note in sandbox.order(number)["Notes"])


def mark(item: WriteBack) -> str:
    return f"LB:{item.key[:16]}"


class ChangesBetweenPages(requests.Session):
    """A real HTTP session that, as soon as the first page of an entity set has been served, changes rows in
    the sandbox: the change lands between two page reads of one fetch, deterministically."""

    def __init__(self, sandbox: SysproSandbox, changes: dict) -> None:
        super().__init__()
        self.sandbox, self.changes = sandbox, dict(changes)

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        for entity_set in list(self.changes):
            if f"/odata/{entity_set}" in url and response.status_code == 200:
                self.changes.pop(entity_set)(self.sandbox)
        return response


class ReversedAnswers(requests.Session):
    """A real HTTP session that hands the client SORTBO's per-order answers in reverse order."""

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        if url.endswith("/Transaction/Post") and response.status_code == 200:
            body = json.loads(response.content)
            body["XmlOut"]["Orders"].reverse()
            response._content = json.dumps(body).encode()
        return response


# -- reading ---------------------------------------------------------------------------------------


def test_rows_changed_between_two_pages_are_neither_lost_nor_taken_twice(erp):
    sandbox = erp.sandbox
    orders = sorted(sandbox.company.rows("SalesOrders").values(), key=lambda r: (r["ChangedAt"], r["SalesOrder"]))
    customers = sorted(sandbox.company.rows("Customers").values(), key=lambda r: (r["ChangedAt"], r["Customer"]))
    on_first_page, further_on = orders[2]["SalesOrder"], orders[31]["SalesOrder"]
    customer = customers[1]["Customer"]

    def change_orders(sandbox):
        sandbox.change_order(on_first_page, CustomerPoNumber="PO-MOVED-1")  # read already: moves to the end
        sandbox.change_order(further_on, CustomerPoNumber="PO-MOVED-2")  # not read yet: moves to the end

    session = ChangesBetweenPages(sandbox, {
        "Customers": lambda sandbox: sandbox.change_customer(customer, Email="moved@example.com"),
        "SalesOrders": change_orders})
    batch = source_for(erp, session).fetch_changes(None)

    assert not session.changes  # both changes were made between page reads
    read = hub_ids(batch, "SalesOrders")
    assert set(read) == set(sandbox.company.rows("SalesOrders")) and set(read.values()) == {1}
    assert "PO-MOVED-1" in purchase_order(by_hub_id(batch, "SalesOrders")[on_first_page])  # its latest version
    assert "PO-MOVED-2" in purchase_order(by_hub_id(batch, "SalesOrders")[further_on])
    read = hub_ids(batch, "Customers")
    assert set(read) == set(sandbox.company.rows("Customers")) and set(read.values()) == {1}
    assert by_hub_id(batch, "Customers")[customer].data["email"] == "moved@example.com"
    positions = [record.origin.position for record in batch.records if record.origin.source == "SYSPRO SalesOrders"]
    assert positions == list(range(1, len(orders) + 1))
    stamps = [row["ChangedAt"] for table in ("Customers", "SalesOrders")
              for row in sandbox.company.rows(table).values()]
    assert batch.as_of == moment(max(stamps)) == moment(sandbox.order(further_on)["ChangedAt"])
    assert sandbox.sessions == {}


def test_the_overlap_re_reads_only_rows_changed_at_or_after_the_watermark_less_the_overlap(erp):
    sandbox, clock = erp.sandbox, erp.clock
    changes = {0: "000010", 180: "000012", 240: "000014", 420: "000016", 540: "000018"}  # seconds after START
    for seconds, number in changes.items():
        clock.now = START + seconds
        sandbox.change_order(number, CustomerPoNumber=f"PO-{seconds}")
        if seconds == 420:
            sandbox.change_customer("BROWN01", Email="nick@example.com")  # (stamped 420.001)
    since = datetime.fromtimestamp(START + 480, UTC)  # the watermark; less the 5-minute overlap: START + 180

    batch = source_for(erp).fetch_changes(since)

    assert hub_ids(batch, "SalesOrders") == Counter({"000012": 1, "000014": 1, "000016": 1, "000018": 1})
    assert hub_ids(batch, "Customers") == Counter({"BROWN01": 1})
    assert batch.as_of == datetime.fromtimestamp(START + 540, UTC)
    # nothing changed since: the same rows again (the overlap), the watermark stays
    again = source_for(erp).fetch_changes(batch.as_of)
    assert hub_ids(again, "SalesOrders") == Counter({"000014": 1, "000016": 1, "000018": 1})
    assert again.as_of == batch.as_of


def test_a_row_without_a_usable_change_date_is_taken_in_but_left_out_of_the_watermark(erp, caplog):
    sandbox = erp.sandbox
    with sandbox.lock:  # what no admin route can make: a change date that is no date-time
        sandbox.company.orders["000003"]["ChangedAt"] = "yesterday"
        for code in sorted(sandbox.company.customers)[:12]:  # more than a page of them: sorted first, as nulls
            sandbox.company.customers[code]["ChangedAt"] = None
    caplog.set_level(logging.WARNING, "ledgerbridge.sources.syspro.connector")

    batch = source_for(erp).fetch_changes(None)

    orders, customers = hub_ids(batch, "SalesOrders"), hub_ids(batch, "Customers")
    assert set(orders) == set(sandbox.company.orders) and set(orders.values()) == {1}
    assert set(customers) == set(sandbox.company.customers) and set(customers.values()) == {1}
    valid = [row["ChangedAt"] for table in ("Customers", "SalesOrders") for row in sandbox.company.rows(table).values()
             if row["ChangedAt"] and row["ChangedAt"] != "yesterday"]
    assert batch.as_of == moment(max(valid))
    warned = [r.getMessage() for r in caplog.records if "not a date-time" in r.getMessage()]
    assert len(warned) == 13 and any("'000003'" in text and "'yesterday'" in text for text in warned)


def test_numbers_sent_as_json_numbers_arrive_exact(erp):
    sandbox = erp.sandbox
    original = sandbox.order("000002")
    with sandbox.lock:  # as real SYSPRO OData sends Edm.Decimal: JSON numbers, not strings
        row = sandbox.company.orders["000002"]
        for name in ("OrderTotal", "TaxTotal"):
            row[name] = float(row[name])
        for line in row["Lines"]:
            for name in ("OrderQty", "Price", "DiscountPct", "LineValue"):
                line[name] = float(line[name])
    client = SysproClient(erp.url, "ADMIN", DEFAULT_PASSWORD, "STARK")
    raw = requests.get(f"{erp.url}/odata/SalesOrders", params={"$filter": "SalesOrder eq '000002'"},
                       headers={"UserId": client.logon()}).text
    assert f'"OrderTotal": {float(original["OrderTotal"])}' in raw  # a JSON number on the wire
    row = client.page("SalesOrders", 1, filter="SalesOrder eq '000002'")[0]
    assert isinstance(row["OrderTotal"], Decimal) and row["OrderTotal"] == Decimal(original["OrderTotal"])
    client.close()

    record = by_hub_id(source_for(erp).fetch_changes(None), "SalesOrders")["000002"]

    assert record.problems == ()
    assert Decimal(record.data["total"]) == Decimal(original["OrderTotal"])
    assert [Decimal(line["amount"]) for line in record.data["lines"]] == \
        [Decimal(line["LineValue"]) for line in original["Lines"]]


def test_parse_json_keeps_numbers_exact():
    assert parse_json(b'{"a": 0.1, "b": 12, "c": 1e-2, "d": "3.30"}') == \
        {"a": Decimal("0.1"), "b": 12, "c": Decimal("0.01"), "d": "3.30"}
    assert isinstance(parse_json("[2.675]")[0], Decimal)


def test_every_call_logs_off_and_the_client_logs_on_again_when_called_later(erp):
    sandbox = erp.sandbox
    source = source_for(erp)
    source.fetch_changes(None)
    assert sandbox.sessions == {}
    item = fact("000002")
    assert set(source.write_back([item], "batch-1")) == {item.key}
    assert sandbox.sessions == {}
    assert set(source.find_written([item])) == {item.key}
    assert sandbox.sessions == {}
    assert source.client.calls["logon"] == source.client.calls["logoff"] == 3
    # a fetch that fails (a page larger than this SYSPRO serves) still logs off
    with pytest.raises(SysproRequestError, match=r"\$top=20"):
        source_for(erp, page_size=20).fetch_changes(None)
    assert sandbox.sessions == {}


# -- writing back ----------------------------------------------------------------------------------


def test_more_than_100_items_go_in_posts_of_at_most_100(erp):
    sandbox = erp.sandbox
    numbers = sorted(sandbox.company.orders)
    items = [fact(numbers[i % len(numbers)], tag=str(i)) for i in range(230)]
    sandbox.reset_stats()

    written = source_for(erp).write_back(items, "batch-230")

    assert set(written) == {item.key for item in items}
    stats = sandbox.stats()
    assert stats["requests"]["post"] == 3 and stats["orders_written"] == 230
    assert all(notes(sandbox, item.hub_id).count(mark(item)) == 1 for item in items)


def test_an_order_not_on_file_is_reported_written_to_nobody_and_the_others_land(erp, caplog):
    caplog.set_level(logging.WARNING, "ledgerbridge.sources.syspro.connector")
    items = [fact("000002"), fact("999999"), fact("000003")]

    written = source_for(erp).write_back(items, "batch-1")

    assert {key: landed.location for key, landed in written.items()} == {
        items[0].key: "SYSPRO sales order 000002",
        items[1].key: "not written: sales order 999999 not on file in SYSPRO",
        items[2].key: "SYSPRO sales order 000003"}
    assert any("999999 is not on file" in r.getMessage() for r in caplog.records)
    assert mark(items[0]) in notes(erp.sandbox, "000002") and mark(items[2]) in notes(erp.sandbox, "000003")


def test_a_locked_order_is_not_marked_written_and_lands_once_unlocked(erp):
    sandbox = erp.sandbox
    locked, other = fact("000004"), fact("000002")
    sandbox.lock_order("000004", operator="JANE")
    source = source_for(erp)

    assert set(source.write_back([locked, other], "batch-1")) == {other.key}
    assert sandbox.order("000004")["Notes"] == [] and sandbox.order("000004")["CustomFields"]["QBOInvoice"] is None

    sandbox.unlock_order("000004")
    assert set(source.write_back([locked], "batch-1")) == {locked.key}
    assert notes(sandbox, "000004").count(mark(locked)) == 1
    assert sandbox.order("000004")["CustomFields"]["QBOInvoice"] == "131"


def test_an_entry_syspro_refuses_fails_alone_and_two_facts_of_one_order_pair_by_position(erp):
    sandbox = erp.sandbox
    created = fact("000002")
    too_long = fact("000003", external_id="X" * 25)  # QBOInvoice holds 20 characters: ValueTooLong
    paid = fact("000002", status=WriteBackStatus.PAID, paid_amount=Decimal("10.00"), currency="USD")
    other = fact("000004")

    written = source_for(erp).write_back([created, too_long, paid, other], "batch-1")

    assert set(written) == {created.key, paid.key, other.key}
    assert sandbox.order("000003")["Notes"] == []
    texts = [note["Text"] for note in sandbox.order("000002")["Notes"]]
    assert texts[0].startswith(mark(created)) and texts[1].startswith(mark(paid))
    assert sandbox.order("000002")["CustomFields"]["QBOPaymentStatus"] == "paid"


def test_an_answer_naming_another_order_is_not_taken_for_its_entry(erp, caplog):
    sandbox = erp.sandbox
    lands, locked = fact("000002"), fact("000005")
    sandbox.lock_order("000005")
    caplog.set_level(logging.WARNING, "ledgerbridge.sources.syspro.connector")

    # answers in the wrong order: [000005 error, 000002 ok]; by position alone 000005 would pass for written
    written = source_for(erp, ReversedAnswers()).write_back([lands, locked], "batch-1")

    assert written == {}
    assert any("sales order 000005 with one for '000002'" in r.getMessage() for r in caplog.records)
    # what landed is found by its note, what did not is not
    assert set(source_for(erp).find_written([lands, locked])) == {lands.key}


def test_a_post_refused_whole_is_logged_and_its_items_wait_while_the_other_posts_land(erp, caplog):
    sandbox = erp.sandbox
    sandbox.max_post_orders = 60  # this SYSPRO takes fewer orders a post than we send: the first post is refused
    numbers = sorted(sandbox.company.orders)
    items = [fact(numbers[i % len(numbers)], tag=str(i)) for i in range(150)]
    caplog.set_level(logging.WARNING, "ledgerbridge.sources.syspro.connector")

    written = source_for(erp).write_back(items, "batch-150")

    assert set(written) == {item.key for item in items[100:]}
    assert sandbox.stats()["posts_refused"] == 1 and sandbox.stats()["orders_written"] == 50
    refused = [r.getMessage() for r in caplog.records if "refused a write-back post of 100" in r.getMessage()]
    assert len(refused) == 1 and "TooManyOrders" in refused[0] and "000001, 000002" in refused[0]
    assert not any(mark(item) in notes(sandbox, item.hub_id) for item in items[:100])
    assert sandbox.sessions == {}
    # next run: looked up (not there), sent again, landed
    source = source_for(erp)
    assert source.find_written(items[:100]) == {}
    sandbox.max_post_orders = 100
    assert set(source.write_back(items[:100], "batch-100")) == {item.key for item in items[:100]}


def test_find_written_after_a_dropped_answer_finds_exactly_the_items_whose_notes_landed(erp):
    sandbox = erp.sandbox
    a, b, locked, gone, unsent = fact("000002"), fact("000003"), fact("000006"), fact("999999"), fact("000007")
    sandbox.lock_order("000006")
    sandbox.set_faults(Faults(drop_rate=1.0, seed=1))

    assert source_for(erp).write_back([a, b, locked, gone], "batch-1") == {}  # applied, the answer cut
    assert sandbox.stats()["answers_dropped"] == 1
    sandbox.set_faults(Faults())
    sandbox.unlock_order("000006")

    found = source_for(erp).find_written([a, b, locked, gone, unsent])

    assert {key: landed.location for key, landed in found.items()} == {
        a.key: "SYSPRO sales order 000002", b.key: "SYSPRO sales order 000003"}
    assert sandbox.sessions == {}


def test_keyset_pages_stay_within_the_page_size_and_stop_at_a_short_page(erp):
    sandbox = erp.sandbox
    sandbox.reset_stats()
    source = source_for(erp)
    batch = source.fetch_changes(None)
    assert len(hub_ids(batch, "SalesOrders")) == 45 and len(hub_ids(batch, "Customers")) == 15
    # 45 orders: pages of 10, 10, 10, 10, 5; 15 customers: 10, 5; 30 stock items by nextLink: 3 pages
    assert sandbox.stats()["requests"]["read"] == 5 + 2 + 3
