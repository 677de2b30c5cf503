"""A QuickBooks Online client written by others (python-quickbooks + intuit-oauth) works against the
sandbox unchanged, but for where it finds the API and the OAuth endpoints."""
from __future__ import annotations

from datetime import UTC
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
    from quickbooks.objects.detailline import (
        AccountBasedExpenseLine,
        AccountBasedExpenseLineDetail,
    )
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
    from datetime import datetime, timedelta

    from quickbooks.cdc import change_data_capture
    from quickbooks.objects.account import Account
    from quickbooks.objects.bill import Bill
    from quickbooks.objects.detailline import (
        AccountBasedExpenseLine,
        AccountBasedExpenseLineDetail,
    )
    from quickbooks.objects.vendor import Vendor

    client, _ = quickbooks
    since = datetime.now(UTC) - timedelta(minutes=1)
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


def test_credit_memo_create_read_and_query(quickbooks):
    from quickbooks.objects.creditmemo import CreditMemo
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.item import Item

    client, _ = quickbooks
    customer = Customer()
    customer.DisplayName = "Vance Refrigeration"
    customer.save(qb=client)
    line = SalesItemLine()
    line.Amount = Decimal("45.10")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Item.filter(Name="Services", qb=client)[0].to_ref()
    memo = CreditMemo()  # sends TotalAmt, Balance and RemainingCredit 0: computed fields, ignored
    memo.CustomerRef, memo.DocNumber = customer.to_ref(), "CN-17"
    memo.Line.append(line)
    memo.save(qb=client)
    stored = CreditMemo.get(memo.Id, qb=client)
    computed = (stored.TotalAmt, stored.Balance, stored.RemainingCredit)
    assert [Decimal(str(value)) for value in computed] == [Decimal("45.10")] * 3
    assert [m.Id for m in CreditMemo.filter(DocNumber="CN-17", qb=client)] == [memo.Id]


def _bill(client, vendor_name: str, amount: str):
    from quickbooks.objects.account import Account
    from quickbooks.objects.bill import Bill
    from quickbooks.objects.detailline import (
        AccountBasedExpenseLine,
        AccountBasedExpenseLineDetail,
    )
    from quickbooks.objects.vendor import Vendor

    vendor = Vendor()
    vendor.DisplayName = vendor_name
    vendor.save(qb=client)
    line = AccountBasedExpenseLine()
    line.Amount = Decimal(amount)
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = next(
        a for a in Account.all(qb=client) if a.AccountType == "Expense").to_ref()
    bill = Bill()
    bill.VendorRef = vendor.to_ref()
    bill.Line.append(line)
    bill.save(qb=client)
    return vendor, bill


def test_attachable_upload_query_and_note(quickbooks):
    """Attachable.save with _FileBytes posts python-quickbooks' own multipart body (LF line ends,
    base64 content) to /upload; without a file it creates a note with POST /attachable."""
    from quickbooks.objects.attachable import Attachable
    from quickbooks.objects.base import AttachableRef

    client, server = quickbooks
    _, bill = _bill(client, "Initech", "75.00")
    content = b"%PDF-1.4\n" + bytes(range(256))
    attachable = Attachable()
    ref = AttachableRef()
    ref.EntityRef = bill.to_ref()
    attachable.AttachableRef.append(ref)
    attachable.FileName = "invoice-7731.pdf"
    attachable.ContentType = "application/pdf"
    attachable._FileBytes = content
    saved = attachable.save(qb=client)

    assert (saved.FileName, saved.Size, saved.AttachableRef[0].EntityRef.value) == ("invoice-7731.pdf", len(content),
                                                                                    bill.Id)
    assert server.sandbox.realms[client.company_id].files[saved.Id] == content
    assert Attachable.get(saved.Id, qb=client).FileName == "invoice-7731.pdf"
    linked = Attachable.where(f"AttachableRef.EntityRef.Value = '{bill.Id}'", qb=client)
    assert [a.Id for a in linked] == [saved.Id]

    note = Attachable()
    note.Note = "Approved by Pam"
    note.AttachableRef.append(ref)
    created = note.save(qb=client)
    assert Attachable.get(created.Id, qb=client).Note == "Approved by Pam"
    assert Attachable.count(qb=client) == 2
    Attachable.get(created.Id, qb=client).delete(qb=client)
    assert Attachable.count(qb=client) == 1


def test_void_payments_and_invoices(quickbooks):
    from quickbooks.objects.account import Account
    from quickbooks.objects.base import LinkedTxn
    from quickbooks.objects.bill import Bill
    from quickbooks.objects.billpayment import (
        BillPayment,
        BillPaymentLine,
        CheckPayment,
    )
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.invoice import Invoice
    from quickbooks.objects.item import Item
    from quickbooks.objects.payment import Payment, PaymentLine

    client, _ = quickbooks
    vendor, bill = _bill(client, "Initech", "75.00")
    bill_payment = BillPayment()
    bill_payment.VendorRef, bill_payment.PayType, bill_payment.TotalAmt = vendor.to_ref(), "Check", Decimal("75.00")
    bill_payment.CheckPayment = CheckPayment()
    bill_payment.CheckPayment.BankAccountRef = next(
        a for a in Account.all(qb=client) if a.AccountType == "Bank").to_ref()
    paid_bill = BillPaymentLine()
    paid_bill.Amount = Decimal("75.00")
    paid_bill.LinkedTxn.append(LinkedTxn())
    paid_bill.LinkedTxn[0].TxnId, paid_bill.LinkedTxn[0].TxnType = bill.Id, "Bill"
    bill_payment.Line.append(paid_bill)
    bill_payment.save(qb=client)
    assert Decimal(str(Bill.get(bill.Id, qb=client).Balance)) == 0
    BillPayment.get(bill_payment.Id, qb=client).void(qb=client)
    assert Decimal(str(Bill.get(bill.Id, qb=client).Balance)) == Decimal("75.00")
    assert BillPayment.get(bill_payment.Id, qb=client).PrivateNote == "Voided"

    customer = Customer()
    customer.DisplayName = "Brown, Nick"
    customer.save(qb=client)
    line = SalesItemLine()
    line.Amount = Decimal("120.00")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Item.filter(Name="Services", qb=client)[0].to_ref()
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.append(line)
    invoice.save(qb=client)
    received = Payment()
    received.CustomerRef, received.TotalAmt = customer.to_ref(), Decimal("20.00")
    paid_invoice = PaymentLine()
    paid_invoice.Amount = Decimal("20.00")
    paid_invoice.LinkedTxn.append(LinkedTxn())
    paid_invoice.LinkedTxn[0].TxnId, paid_invoice.LinkedTxn[0].TxnType = invoice.Id, "Invoice"
    received.Line.append(paid_invoice)
    received.save(qb=client)
    Payment.get(received.Id, qb=client).void(qb=client)
    Invoice.get(invoice.Id, qb=client).void(qb=client)
    voided = Invoice.get(invoice.Id, qb=client)
    assert (Decimal(str(voided.TotalAmt)), Decimal(str(voided.Balance)), voided.PrivateNote) == (0, 0, "Voided")


def test_closing_the_books_through_preferences_refuses_an_older_bill(quickbooks):
    from quickbooks.exceptions import QuickbooksException
    from quickbooks.objects.account import Account
    from quickbooks.objects.bill import Bill
    from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
    from quickbooks.objects.preferences import Preferences
    from quickbooks.objects.vendor import Vendor

    client, _ = quickbooks
    preferences = Preferences.get(qb=client)
    preferences.AccountingInfoPrefs.BookCloseDate = "2026-03-31"
    saved = preferences.save(qb=client)  # the whole object back, as the library sends it
    assert saved.AccountingInfoPrefs.BookCloseDate == "2026-03-31" and saved.SyncToken == "1"
    vendor = Vendor()
    vendor.DisplayName = "Initech"
    vendor.save(qb=client)
    line = AccountBasedExpenseLine()
    line.Amount = Decimal("10.00")
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = next(
        a for a in Account.all(qb=client) if a.AccountType == "Expense").to_ref()
    bill = Bill()
    bill.VendorRef = vendor.to_ref()
    bill.TxnDate = "2026-03-31"
    bill.Line.append(line)
    with pytest.raises(QuickbooksException) as refused:
        bill.save(qb=client)
    assert refused.value.error_code == 6210 and "2026-03-31" in refused.value.detail


def test_tax_service_creates_a_code_whose_rates_the_library_reads(quickbooks):
    from quickbooks.objects.taxcode import TaxCode
    from quickbooks.objects.taxrate import TaxRate
    from quickbooks.objects.taxservice import TaxRateDetails, TaxService

    client, _ = quickbooks
    service = TaxService()
    service.TaxCode = "GST"
    detail = TaxRateDetails()
    detail.TaxRateName, detail.RateValue, detail.TaxAgencyId, detail.TaxApplicableOn = "GST (purchases)", 10, "1", \
        "Purchase"
    service.TaxRateDetails.append(detail)
    service.save(qb=client)

    [rate] = TaxRate.all(qb=client)
    assert (rate.Name, Decimal(str(rate.RateValue)), rate.Active) == ("GST (purchases)", Decimal(10), True)
    [code] = TaxCode.filter(Name="GST", qb=client)
    assert [d.TaxRateRef.value for d in code.PurchaseTaxRateList.TaxRateDetail] == [rate.Id]
    assert code.SalesTaxRateList.TaxRateDetail == []
