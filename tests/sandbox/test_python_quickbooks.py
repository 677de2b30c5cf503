"""A QuickBooks Online client written by others (python-quickbooks + intuit-oauth) works against the
sandbox unchanged, but for where it finds the API and the OAuth endpoints."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

CLIENT_ID, CLIENT_SECRET = "third-party-app", "third-party-secret"


@pytest.fixture
def quickbooks(monkeypatch):
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks

    # oauthlib's documented switch for plain-HTTP endpoints on loopback (the sandbox has no TLS).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    server = serve_in_thread(QBOSandbox(clients={CLIENT_ID: CLIENT_SECRET}))
    realm_id, refresh_token = server.sandbox.create_realm(CLIENT_ID, company_name="Library Test Co")
    auth = AuthClient(CLIENT_ID, CLIENT_SECRET, "http://localhost/callback",
                      environment=f"{server.url}/.well-known/openid_configuration")
    client = QuickBooks(auth_client=auth, refresh_token=refresh_token, company_id=realm_id, minorversion=75,
                        use_decimal=True)
    client.api_url_v3 = f"{server.url}/v3"  # the base URL: the one thing changed
    yield client, server
    client._drop()
    server.stop()


def test_vendor_create_read_and_query(quickbooks):
    from quickbooks.objects.vendor import Vendor

    client, _ = quickbooks
    vendor = Vendor()
    vendor.DisplayName = "Dunder Mifflin Paper"
    vendor.save(qb=client)
    stored = Vendor.get(vendor.Id, qb=client)
    assert (stored.DisplayName, stored.SyncToken) == ("Dunder Mifflin Paper", "0")
    assert [v.Id for v in Vendor.filter(DisplayName="Dunder Mifflin Paper", qb=client)] == [vendor.Id]
    assert Vendor.count(qb=client) == 1


def test_bill_with_an_expense_line(quickbooks):
    from quickbooks.objects.account import Account
    from quickbooks.objects.bill import Bill
    from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
    from quickbooks.objects.vendor import Vendor

    client, _ = quickbooks
    vendor = Vendor()
    vendor.DisplayName = "Initech"
    vendor.save(qb=client)
    expense = next(a for a in Account.all(qb=client) if a.AccountType == "Expense")
    line = AccountBasedExpenseLine()
    line.Amount = Decimal("1350.50")
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = expense.to_ref()
    bill = Bill()
    bill.VendorRef = vendor.to_ref()
    bill.DocNumber = "INV-7731"
    bill.Line.append(line)
    bill.save(qb=client)
    stored = Bill.get(bill.Id, qb=client)
    assert Decimal(str(stored.TotalAmt)) == Decimal("1350.50") and stored.VendorRef.value == vendor.Id


def test_batch_create_reports_successes_and_faults(quickbooks):
    from quickbooks.batch import batch_create
    from quickbooks.objects.vendor import Vendor

    client, _ = quickbooks
    vendors = []
    for name in ("Acme Widgets", "Globochem", "Acme Widgets"):  # the third repeats a name: 6240
        vendor = Vendor()
        vendor.DisplayName = name
        vendors.append(vendor)
    results = batch_create(vendors, qb=client)
    assert len(results.successes) == 2
    assert len(results.faults) == 1 and results.faults[0].Error[0].code == "6240"


def test_change_data_capture_reports_changes_and_deletions(quickbooks):
    from datetime import datetime, timedelta, timezone

    from quickbooks.cdc import change_data_capture
    from quickbooks.objects.account import Account
    from quickbooks.objects.bill import Bill
    from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
    from quickbooks.objects.vendor import Vendor

    client, _ = quickbooks
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    vendor = Vendor()
    vendor.DisplayName = "Globochem"
    vendor.save(qb=client)
    line = AccountBasedExpenseLine()
    line.Amount = Decimal("10.00")
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = next(
        a for a in Account.all(qb=client) if a.AccountType == "Expense").to_ref()
    bill = Bill()
    bill.VendorRef = vendor.to_ref()
    bill.Line.append(line)
    bill.save(qb=client)
    Bill.get(bill.Id, qb=client).delete(qb=client)

    changes = change_data_capture([Vendor, Bill], since.strftime("%Y-%m-%dT%H:%M:%SZ"), qb=client)

    assert [v.DisplayName for v in changes.Vendor] == ["Globochem"]
    (deleted,) = changes.Bill
    assert (deleted.Id, deleted.status) == (bill.Id, "Deleted")
