"""SysproClient against the SYSPRO sandbox over real HTTP on loopback: logon, re-logon, paging,
filters, posts, typed errors, faults, call counts."""
from __future__ import annotations

import socket
import traceback
from datetime import UTC, datetime

import pytest
from ledgerbridge.sandbox.syspro import DEFAULT_PASSWORD, NICK_BROWN, Faults
from ledgerbridge.sources.syspro import (SysproClient, SysproError, SysproLogonFailed, SysproOutcomeUnknown,
                                         SysproRequestError, SysproUnavailable)
from support import FakeClock, syspro_served

START = 1_790_000_000.0


@pytest.fixture
def erp():
    with syspro_served(seed=4, customers=40, stock_items=50, orders=180, clock=FakeClock(START),
                       session_idle_seconds=1, max_page_rows=50) as server:
        yield server


def client_for(server, password: str = DEFAULT_PASSWORD, **kwargs) -> SysproClient:
    return SysproClient(server.url, "ADMIN", password, "STARK", retry_backoff_seconds=0, **kwargs)


def test_logs_on_lazily_strips_the_padded_user_id_and_learns_the_server_time(erp):
    client = client_for(erp)
    assert client.user_id is None and client.calls == {}
    first = next(client.read("Customers", filter=f"Customer eq '{NICK_BROWN}'"))
    assert first["Name"] == "Nick Brown"
    assert client.user_id == client.user_id.strip() and len(client.user_id) == 36
    assert client.user_id in erp.sandbox.sessions
    assert client.calls == {"logon": 1, "read": 1}
    assert client.server_time == datetime.fromtimestamp(START, UTC)
    client.close()
    assert erp.sandbox.sessions == {} and client.calls["logoff"] == 1


def test_wrong_credentials_are_not_retryable_and_never_show_the_password(erp):
    client = client_for(erp, password="Sup3r&Secret pass")
    with pytest.raises(SysproLogonFailed) as caught:
        list(client.read("Customers"))
    text = str(caught.value) + "".join(traceback.format_exception(caught.value))
    assert "Sup3r" not in text and "401" in text and "ADMIN" in text and "Logon" in text
    assert client.calls == {"logon": 1}
    # unreachable: the logon URL (passwords in it) never reaches the message
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = SysproClient(f"http://127.0.0.1:{port}", "ADMIN", "Sup3r&Secret pass", "STARK",
                           retry_backoff_seconds=0, read_retries=1)
    with pytest.raises(SysproUnavailable) as caught:
        list(nowhere.read("Customers"))
    text = str(caught.value) + "".join(traceback.format_exception(caught.value))
    assert "Sup3r" not in text and "Secret" not in text and "Logon" in text
    assert nowhere.calls == {"logon": 2}


def test_an_expired_session_is_logged_on_again_once_for_reads_and_posts(erp):
    client = client_for(erp)
    assert len(list(client.read("Customers"))) == 40
    erp.clock.advance(5)
    assert len(list(client.read("Customers"))) == 40
    assert client.calls["logon"] == 2 and client.calls["relogon"] == 1
    erp.clock.advance(5)
    out = client.post("SORTBO", {"Orders": [{"SalesOrder": "000001", "AddNote": "after a re-logon"}]})
    assert out["Orders"] == [{"SalesOrder": "000001", "Status": "ok"}]
    assert erp.sandbox.order("000001")["Notes"] == [{"Line": 1, "Text": "after a re-logon"}]
    assert client.calls["logon"] == 3 and client.calls["post"] == 2  # the refused one and the repeat


def test_reads_follow_next_links_lazily_and_page_with_top_and_skip(erp):
    client = client_for(erp)
    rows = client.read("SalesOrders", select=["SalesOrder", "ChangedAt"])
    first = next(rows)
    assert first == {"SalesOrder": "000001", "ChangedAt": erp.sandbox.order("000001")["ChangedAt"]}
    assert client.calls["read"] == 1  # one page asked for so far
    rest = list(rows)
    assert [row["SalesOrder"] for row in [first, *rest]] == [f"{n:06d}" for n in range(1, 181)]
    assert client.calls["read"] == 4  # 50 + 50 + 50 + 30 by the sandbox's cap, through @odata.nextLink
    small = client_for(erp)
    numbers = [row["SalesOrder"] for row in small.read("SalesOrders", orderby="SalesOrder desc", page_size=45,
                                                       select="SalesOrder")]
    assert numbers == [f"{n:06d}" for n in range(180, 0, -1)]
    assert small.calls["read"] == 5  # 4 full pages of 45, then an empty one
    with pytest.raises(ValueError):
        list(small.read("SalesOrders", page_size=5001))


def test_incremental_reads_on_changed_at_and_bad_filters(erp):
    client = client_for(erp)
    orders = list(client.read("SalesOrders"))
    watermark = orders[99]["ChangedAt"]
    after = [o["SalesOrder"] for o in client.read("SalesOrders", filter=f"ChangedAt gt {watermark}")]
    assert after == [o["SalesOrder"] for o in orders[100:]]
    assert len(list(client.read("SalesOrders", filter=f"ChangedAt ge {watermark}"))) == 81
    erp.clock.advance(0.5)
    erp.sandbox.change_order("000003", CustomerPoNumber="PO-CHANGED")
    client.post("SORTBO", {"Orders": [{"SalesOrder": "000004", "CustomFields": {"QBOInvoice": "88"}}]})
    changed = list(client.read("SalesOrders", filter=f"ChangedAt gt {orders[-1]['ChangedAt']}"))
    assert [o["SalesOrder"] for o in changed] == ["000003"]  # write-back does not move ChangedAt
    picked = list(client.read("SalesOrders", filter="SalesOrder in ('000002', '000005') and OrderTotal ge 0"))
    assert [o["SalesOrder"] for o in picked] == ["000002", "000005"]
    with pytest.raises(SysproRequestError) as caught:
        list(client.read("SalesOrders", filter="ChangedAt gt 'yesterday'"))
    assert "400" in str(caught.value) and "ChangedAt is a datetime property" in str(caught.value)
    assert caught.value.status == 400 and caught.value.exception_type == "BadRequest"


def test_posts_report_each_order_and_refusals_are_typed(erp):
    client = client_for(erp)
    erp.sandbox.lock_order("000010", operator="JANE")
    out = client.post("SORTBO", {"Orders": [
        {"SalesOrder": "000009", "CustomFields": {"QBOInvoice": "501", "QBOInvoiceNo": "1501"},
         "AddNote": "QuickBooks invoice 1501"},
        {"SalesOrder": "000010", "CustomFields": {"QBOInvoice": "502"}},
        {"SalesOrder": "099999", "CustomFields": {"QBOInvoice": "503"}},
    ]})
    assert [o["Status"] for o in out["Orders"]] == ["ok", "error", "error"]
    assert out["Orders"][1]["Message"] == "Sales order 000010 is in use by operator JANE"
    assert erp.sandbox.order("000009")["CustomFields"]["QBOInvoiceNo"] == "1501"
    with pytest.raises(SysproRequestError, match="UnknownBusinessObject"):
        client.post("ARSSCS", {"Orders": []})
    with pytest.raises(SysproRequestError, match="too many"):
        client.post("SORTBO", {"Orders": [{"SalesOrder": "000001"}] * 101})
    assert client.calls["post"] == 3


def test_unavailable_reads_are_retried_and_posts_are_not(erp):
    erp.sandbox.set_faults(Faults(error_rate=1.0))
    client = client_for(erp, read_retries=2)
    with pytest.raises(SysproUnavailable, match="503"):
        list(client.read("Customers"))
    assert client.calls == {"logon": 3}  # the logon is part of the read: tried 1 + 2 times
    erp.sandbox.set_faults(Faults())
    client.logon()
    erp.sandbox.set_faults(Faults(error_rate=1.0))
    with pytest.raises(SysproUnavailable, match="SystemBusy"):
        client.post("SORTBO", {"Orders": [{"SalesOrder": "000001", "AddNote": "busy"}]})
    assert client.calls["post"] == 1 and erp.sandbox.order("000001")["Notes"] == []
    erp.sandbox.set_faults(Faults(error_rate=0.5, seed=11))
    flaky = client_for(erp, read_retries=8)
    assert len(list(flaky.read("SalesOrders"))) == 180
    assert erp.sandbox.stats()["busy"] > 0


def test_a_dropped_answer_is_an_unknown_outcome_and_the_write_is_there(erp):
    client = client_for(erp)
    client.logon()
    erp.sandbox.set_faults(Faults(drop_rate=1.0))
    with pytest.raises(SysproOutcomeUnknown) as caught:
        client.post("SORTBO", {"Orders": [{"SalesOrder": "000002", "CustomFields": {"QBOInvoice": "77"},
                                           "AddNote": "QuickBooks invoice 77"}]})
    assert "may have been applied" in str(caught.value) and isinstance(caught.value, SysproError)
    erp.sandbox.set_faults(Faults())
    landed = next(client.read("SalesOrders", filter="SalesOrder eq '000002'"))
    assert landed["CustomFields"]["QBOInvoice"] == "77"
    assert landed["Notes"] == [{"Line": 1, "Text": "QuickBooks invoice 77"}]
    assert client.calls["post"] == 1
