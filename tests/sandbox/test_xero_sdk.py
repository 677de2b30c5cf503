"""Xero's official Python SDK (xero-python) works against the sandbox unchanged, but for its base URLs:
the Accounting API's, the Identity API's and the token endpoint's."""
from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import requests
from ledgerbridge.sandbox.xero import XeroSandbox, serve_in_thread
from support import FakeClock

CLIENT_ID, CLIENT_SECRET = "third-party-app", "third-party-secret"
START = 1_790_000_000.0  # 2026-09-21
SCOPES = ["offline_access", "accounting.transactions", "accounting.contacts", "accounting.settings",
          "accounting.attachments"]


class Xero:
    """xero-python's clients pointed at a served sandbox with one connected organisation; the token
    store is what an app keeps between calls (the SDK reads and saves it through two callbacks)."""

    def __init__(self, monkeypatch) -> None:
        from xero_python.accounting import AccountingApi
        from xero_python.api_client import ApiClient
        from xero_python.api_client.configuration import Configuration
        from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
        from xero_python.identity import IdentityApi

        self.clock = FakeClock(START)
        self.server = serve_in_thread(XeroSandbox(clients={CLIENT_ID: CLIENT_SECRET}, clock=self.clock,
                                                  rate_limits=False))
        self.tenant, refresh_token = self.server.sandbox.create_tenant(CLIENT_ID, "SDK Test Ltd")
        # As an app loads it from storage: the access token long expired, so the first call refreshes.
        self.token = {"access_token": "stale", "refresh_token": refresh_token, "scope": SCOPES,
                      "expires_in": 1800, "expires_at": time.time() - 3600, "token_type": "Bearer"}
        self.first_refresh_token = refresh_token
        monkeypatch.setattr(TokenApi, "refresh_token_url", f"{self.server.url}/connect/token")
        self.api_client = ApiClient(Configuration(oauth2_token=OAuth2Token(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET)), pool_threads=1)
        self.api_client.oauth2_token_getter(lambda: self.token)
        self.api_client.oauth2_token_saver(self.save_token)
        self.accounting = AccountingApi(self.api_client, base_url=f"{self.server.url}/api.xro/2.0")
        self.identity = IdentityApi(self.api_client, base_url=self.server.url)

    def save_token(self, token: dict) -> None:
        self.token = dict(token)


@pytest.fixture
def xero(monkeypatch):
    served = Xero(monkeypatch)
    yield served
    served.server.stop()


def bill(contact_id: str, reference: str, *lines: tuple[int, str]):
    from xero_python.accounting import Contact, Invoice, LineAmountTypes, LineItem, LineItemTracking

    return Invoice(type="ACCPAY", contact=Contact(contact_id=contact_id), invoice_number=reference,
                   reference=reference, status="AUTHORISED", date=date(2026, 9, 20), due_date=date(2026, 10, 20),
                   line_amount_types=LineAmountTypes.EXCLUSIVE,
                   line_items=[LineItem(description=f"line {n}", quantity=Decimal(quantity),
                                        unit_amount=Decimal(unit), account_code="429", tax_type="INPUT",
                                        tracking=[LineItemTracking(name="Region", option="North")])
                               for n, (quantity, unit) in enumerate(lines, 1)])


def supplier(xero: Xero, name: str = "Dunder Mifflin Paper") -> str:
    from xero_python.accounting import Contact, Contacts

    created = xero.accounting.create_contacts(xero.tenant, Contacts(contacts=[Contact(name=name,
                                                                                      contact_number="V-1")]))
    return created.contacts[0].contact_id


def test_the_sdk_refreshes_through_connect_token_keeps_the_rotated_token_and_lists_connections(xero):
    from xero_python.exceptions import HTTPStatusException

    connections = xero.identity.get_connections()
    assert [(c.tenant_id, c.tenant_type, c.tenant_name) for c in connections] == [
        (xero.tenant, "ORGANISATION", "SDK Test Ltd")]
    assert xero.token["refresh_token"] != xero.first_refresh_token and xero.token["access_token"] != "stale"
    assert xero.token["scope"] == SCOPES and xero.token["expires_at"] > time.time() + 1700
    reused = requests.post(f"{xero.server.url}/connect/token", auth=(CLIENT_ID, CLIENT_SECRET), timeout=10,
                           data={"grant_type": "refresh_token", "refresh_token": xero.first_refresh_token})
    assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant"}

    xero.clock.advance(1801)  # the sandbox expires the token; the SDK, on the wall clock, still trusts it
    with pytest.raises(HTTPStatusException) as refused:
        xero.accounting.get_contacts(xero.tenant)
    assert refused.value.status == 401 and b"TokenExpired" in refused.value.body
    rotated = xero.token["refresh_token"]
    xero.api_client.refresh_oauth2_token()
    assert xero.token["refresh_token"] != rotated
    assert xero.accounting.get_contacts(xero.tenant).contacts == []


def test_a_bill_with_tracking_is_created_once_per_idempotency_key_with_exact_decimal_money(xero):
    from xero_python.accounting import Invoices

    contact_id = supplier(xero)
    batch = Invoices(invoices=[bill(contact_id, "DM-1001", (3, "10.10"), (1, "100.05"))])
    first = xero.accounting.create_invoices(xero.tenant, batch, summarize_errors=False,
                                            idempotency_key="bill-DM-1001")
    again = xero.accounting.create_invoices(xero.tenant, batch, summarize_errors=False,
                                            idempotency_key="bill-DM-1001")
    created = first.invoices[0]
    assert created.status_attribute_string == "OK" and again.invoices[0].invoice_id == created.invoice_id
    assert [i.invoice_id for i in xero.accounting.get_invoices(xero.tenant).invoices] == [created.invoice_id]

    read = xero.accounting.get_invoice(xero.tenant, created.invoice_id).invoices[0]
    amounts = (read.sub_total, read.total_tax, read.total, read.amount_due)
    assert all(type(amount) is Decimal for amount in amounts)
    assert amounts == (Decimal("130.35"), Decimal("19.56"), Decimal("149.91"), Decimal("149.91"))
    assert [(line.line_amount, line.tax_amount) for line in read.line_items] == [
        (Decimal("30.30"), Decimal("4.55")), (Decimal("100.05"), Decimal("15.01"))]
    assert [(t.name, t.option) for t in read.line_items[0].tracking] == [("Region", "North")]
    assert (read.type, read.status, read.contact.contact_id) == ("ACCPAY", "AUTHORISED", contact_id)
    assert (read.date, read.due_date) == (date(2026, 9, 20), date(2026, 10, 20))
    assert read.updated_date_utc.tzinfo is not None and abs(read.updated_date_utc.timestamp() - START) < 1


def test_validation_errors_and_429s_reach_the_sdk_as_its_own_exceptions(xero):
    from xero_python.accounting import Invoices
    from xero_python.exceptions import AccountingBadRequestException, RateLimitException

    contact_id = supplier(xero)
    bad = bill(contact_id, "BAD", (1, "5"))
    bad.line_items[0].account_code = "999"
    answered = xero.accounting.create_invoices(
        xero.tenant, Invoices(invoices=[bill(contact_id, "G1", (1, "5")), bad]), summarize_errors=False).invoices
    assert [a.status_attribute_string for a in answered] == ["OK", "ERROR"]
    assert [e.message for e in answered[1].validation_errors] == [
        "Account code '999' is not a valid code for this document."]

    with pytest.raises(AccountingBadRequestException) as refused:
        xero.accounting.create_invoices(xero.tenant, Invoices(invoices=[bill(contact_id, "G2", (1, "5")), bad]))
    assert refused.value.reason == "Account code '999' is not a valid code for this document."
    assert refused.value.error_data["Type"] == "ValidationException"
    # urllib3 under the SDK honours Retry-After (1 s here) and retries 3 times before the SDK raises: ~3 s.
    requests.post(f"{xero.server.url}/_sandbox/faults", json={"throttle_rate": 1.0}, timeout=10).raise_for_status()
    with pytest.raises(RateLimitException) as throttled:
        xero.accounting.get_invoices(xero.tenant)
    assert throttled.value.rate_limit == "minute" and throttled.value.headers["Retry-After"] == "1"


def test_payment_journal_attachment_and_if_modified_since_through_the_sdk(xero):
    from xero_python.accounting import (
        Account,
        Invoice,
        Invoices,
        ManualJournal,
        ManualJournalLine,
        ManualJournals,
        Payment,
    )

    contact_id = supplier(xero)
    paid, unpaid = xero.accounting.create_invoices(xero.tenant, Invoices(invoices=[
        bill(contact_id, "P-1", (1, "100")), bill(contact_id, "P-2", (1, "20"))])).invoices
    xero.clock.advance(60)
    moment = datetime.fromtimestamp(xero.clock.now, UTC)
    xero.clock.advance(1)

    payment = xero.accounting.create_payment(xero.tenant, Payment(
        invoice=Invoice(invoice_id=paid.invoice_id), account=Account(code="090"), amount=Decimal("40.01"),
        date=date(2026, 9, 22), reference="part one"), idempotency_key="pay-P-1").payments[0]
    assert (payment.amount, payment.date, payment.status) == (Decimal("40.01"), date(2026, 9, 22), "AUTHORISED")
    assert payment.payment_type == "ACCPAYPAYMENT" and payment.invoice.invoice_id == paid.invoice_id

    changed = xero.accounting.get_invoices(xero.tenant, if_modified_since=moment).invoices
    assert [i.invoice_id for i in changed] == [paid.invoice_id]
    assert (changed[0].amount_paid, changed[0].amount_due) == (Decimal("40.01"), Decimal("74.99"))
    assert [(p.payment_id, p.amount) for p in changed[0].payments] == [(payment.payment_id, Decimal("40.01"))]
    assert unpaid.invoice_id in {i.invoice_id for i in xero.accounting.get_invoices(xero.tenant).invoices}

    journal = xero.accounting.create_manual_journals(xero.tenant, ManualJournals(manual_journals=[ManualJournal(
        narration="Accrual", date=date(2026, 9, 30), journal_lines=[
            ManualJournalLine(account_code="429", line_amount=Decimal("250.75"), description="accrued"),
            ManualJournalLine(account_code="800", line_amount=Decimal("-250.75"))])]),
        summarize_errors=False, idempotency_key="journal-1").manual_journals[0]
    assert journal.status_attribute_string == "OK" and journal.status == "DRAFT"
    assert [line.line_amount for line in journal.journal_lines] == [Decimal("250.75"), Decimal("-250.75")]
    assert journal.date == date(2026, 9, 30)

    stored = xero.accounting.create_invoice_attachment_by_file_name(
        xero.tenant, paid.invoice_id, "receipt.pdf", b"%PDF-1.4 receipt", idempotency_key="attach-P-1")
    attachment = stored.attachments[0]
    assert (attachment.file_name, attachment.content_length) == ("receipt.pdf", 16)
    assert xero.accounting.get_invoice(xero.tenant, paid.invoice_id).invoices[0].has_attachments is True
    listed = xero.accounting.get_invoice_attachments(xero.tenant, paid.invoice_id).attachments
    assert [a.attachment_id for a in listed] == [attachment.attachment_id]


def test_a_bill_sent_with_iso_dates_reads_back_through_the_sdk(xero):
    """Xero takes "2026-09-20" or "2026-09-20T00:00:00" and answers "/Date(ms+0000)/", which is all the
    SDK can read."""
    xero.identity.get_connections()  # the SDK's refresh: a valid access token in the store
    contact_id = supplier(xero)
    reply = requests.put(f"{xero.server.url}/api.xro/2.0/Invoices", timeout=10, json={
        "Type": "ACCPAY", "Contact": {"ContactID": contact_id}, "Date": "2026-09-20T00:00:00", "DueDate": "2026-10-20",
        "LineItems": [{"Description": "paper", "Quantity": 1, "UnitAmount": "12.34", "AccountCode": "429"}]},
        headers={"Authorization": f"Bearer {xero.token['access_token']}", "xero-tenant-id": xero.tenant})
    assert reply.status_code == 200, reply.text
    assert reply.json()["Invoices"][0]["Date"] == "/Date(1789862400000+0000)/"
    read = xero.accounting.get_invoice(xero.tenant, reply.json()["Invoices"][0]["InvoiceID"]).invoices[0]
    assert (read.date, read.due_date, read.total) == (date(2026, 9, 20), date(2026, 10, 20), Decimal("14.19"))


def test_a_bank_transaction_is_created_read_and_refused_through_the_sdk(xero):
    from xero_python.accounting import (
        Account,
        BankTransaction,
        BankTransactions,
        Contact,
        LineAmountTypes,
        LineItem,
    )

    contact_id = supplier(xero)

    def spend(reference: str, bank_code: str) -> BankTransaction:
        return BankTransaction(type="SPEND", contact=Contact(contact_id=contact_id),
                               bank_account=Account(code=bank_code), reference=reference, date=date(2026, 9, 20),
                               line_amount_types=LineAmountTypes.EXCLUSIVE,
                               line_items=[LineItem(description="bank fees", quantity=Decimal(1),
                                                    unit_amount=Decimal("40.10"), account_code="429",
                                                    tax_type="INPUT")])

    batch = BankTransactions(bank_transactions=[spend("BQ-1", "090"), spend("BQ-2", "429")])
    first = xero.accounting.create_bank_transactions(xero.tenant, batch, summarize_errors=False,
                                                     idempotency_key="bank-BQ-1")
    again = xero.accounting.create_bank_transactions(xero.tenant, batch, summarize_errors=False,
                                                     idempotency_key="bank-BQ-1")
    made, refused = first.bank_transactions
    assert (made.status_attribute_string, refused.status_attribute_string) == ("OK", "ERROR")
    assert again.bank_transactions[0].bank_transaction_id == made.bank_transaction_id
    assert [e.message for e in refused.validation_errors] == [
        "The BankAccount with Code '429' (General Expenses) is of Type EXPENSE: a bank transaction's BankAccount "
        "must be of Type BANK"]

    read = xero.accounting.get_bank_transaction(xero.tenant, made.bank_transaction_id).bank_transactions[0]
    assert (read.type, read.status, read.reference, read.is_reconciled) == ("SPEND", "AUTHORISED", "BQ-1", False)
    assert (read.bank_account.code, read.contact.contact_id, read.date) == ("090", contact_id, date(2026, 9, 20))
    amounts = (read.sub_total, read.total_tax, read.total)
    assert all(type(amount) is Decimal for amount in amounts)
    assert amounts == (Decimal("40.10"), Decimal("6.02"), Decimal("46.12"))
    listed = xero.accounting.get_bank_transactions(xero.tenant, if_modified_since=datetime(2026, 9, 1, tzinfo=UTC))
    assert [t.bank_transaction_id for t in listed.bank_transactions] == [made.bank_transaction_id]
