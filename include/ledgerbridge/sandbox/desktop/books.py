"""What QuickBooks Desktop checks before it records a transaction, and the recording itself.

Each poster checks everything first and changes nothing until every check passed, so a refused
record leaves no trace. A refusal names the field inside the record (a JSON pointer).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from .company import DesktopCompany, fingerprint


class Refused(Exception):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


@dataclass(frozen=True)
class Answer:
    """One record's line in a confirmation file."""

    key: str
    record_index: int
    status: str  # confirmed | duplicate | rejected
    external_id: str | None = None
    error: dict | None = None
    # The rate a foreign document was booked at and its home total (protocol version 5's confirmations).
    exchange_rate: Decimal | None = None
    home_total: Decimal | None = None

    def as_record(self) -> dict:
        record = {"key": self.key, "record_index": self.record_index, "status": self.status}
        if self.external_id:
            record["external_id"] = self.external_id
        if self.error:
            record["error"] = self.error
        if self.exchange_rate is not None:
            record["exchange_rate"], record["home_total"] = self.exchange_rate, self.home_total
        return record

    def with_booked_rate(self, company: DesktopCompany) -> Answer:
        """This answer saying the rate the document it created was booked at (the one sent, or the company's
        own) and its home total; as it is for a refusal, or a document booked with no rate (home currency)."""
        created = company.created_by_key(self.key) if self.external_id else None
        booked = company.transactions[created.txn_type].get(created.txn_id) if created else None
        if not booked or booked.get("exchange_rate") is None:
            return self
        return replace(self, exchange_rate=booked["exchange_rate"], home_total=booked["home_total"])


def rejected(key: str, index: int, field: str, code: str, message: str) -> Answer:
    # Clipped to the confirmation schema's limits: a hostile record must not stop the answer.
    return Answer(key, index, "rejected", error={"field": field[:500], "message": message[:2000], "code": code})


def answer(company: DesktopCompany, kind: str, record: dict, index: int) -> Answer:
    """Create the record once: a key seen before is answered with what it created the first time."""
    key = record["key"]
    created = company.created_by_key(key)
    if created is not None:
        if created.fingerprint == fingerprint(record):
            return Answer(key, index, "duplicate", created.txn_id)
        return rejected(key, index, f"/records/{index}/key", "key_reused",
                        f"key {key!r} already created {created.txn_type} {created.txn_id} from a record with "
                        "different content; a changed record needs a new key")
    try:
        txn_id = POSTERS[kind](company, record)
    except Refused as refused:
        return rejected(key, index, f"/records/{index}{refused.field}", refused.code, refused.message)
    return Answer(key, index, "confirmed", txn_id)


# --- checks ----------------------------------------------------------------------------------

def _describe(ref: dict) -> str:
    return f"ListID {ref['external_id']!r}" if "external_id" in ref else f"named {ref['name']!r}"


def ref_of(entry: dict) -> dict:
    return {"external_id": entry["key"], "name": entry["name"]}


def require(company: DesktopCompany, list_type: str, ref: dict, field: str,
            account_types: tuple[str, ...] | None = None) -> dict:
    entry = company.resolve(list_type, ref)
    if entry is None:
        raise Refused(field, "unknown_reference", f"no {list_type} {_describe(ref)} in the company file")
    if not entry["active"]:
        raise Refused(field, "inactive_reference", f"{list_type} {entry['name']!r} is inactive")
    if account_types and entry.get("account_type") not in account_types:
        raise Refused(field, "wrong_account_type", f"account {entry['name']!r} is {entry.get('account_type')}; "
                      f"this needs {' or '.join(account_types)}")
    return entry


def require_party(company: DesktopCompany, ref: dict, field: str) -> dict:
    """A journal line's name: a vendor or a customer, as QuickBooks Desktop's EntityRef."""
    for list_type in ("vendor", "customer"):
        entry = company.resolve(list_type, ref)
        if entry is not None:
            return require(company, list_type, ref, field)
    raise Refused(field, "unknown_reference", f"no vendor or customer {_describe(ref)} in the company file")


def open_period(company: DesktopCompany, record: dict) -> None:
    if company.in_closed_period(record["txn_date"]):
        raise Refused("/txn_date", "closed_period", f"txn_date {record['txn_date']} is on or before the closing date "
                      f"{company.closing_date}; QuickBooks refuses changes to a closed period")


def same_currency(company: DesktopCompany, record: dict, party: dict) -> None:
    expected = party.get("currency", company.home_currency)
    if record["currency"] != expected:
        raise Refused("/currency", "wrong_currency", f"{party['list_type']} {party['name']!r} deals in {expected}, "
                      f"not {record['currency']}")


CENT = Decimal("0.01")


def booked_rate(company: DesktopCompany, record: dict) -> dict:
    """The rate a document is booked at and its total in home currency (QuickBooks Desktop's ExchangeRate and
    AmountDueInHomeCurrency): the `exchange_rate` sent (protocol version 3), else the company's own for the
    currency (its currency list), else none known. A home-currency document takes no rate but 1."""
    rate = record.get("exchange_rate")
    if record["currency"] == company.home_currency:
        if rate is not None and rate != 1:
            raise Refused("/exchange_rate", "home_currency_rate", f"exchange_rate {rate} on a document in the home "
                          f"currency {company.home_currency}: a home-currency document is booked at 1")
        return {}
    if rate is None:
        rate = company.exchange_rates.get(record["currency"])
    if rate is None:
        return {}
    return {"exchange_rate": rate, "home_total": (record["total"] * rate).quantize(CENT, ROUND_HALF_UP)}


def _optional(company: DesktopCompany, record: dict, field: str, list_type: str, pointer: str,
              account_types: tuple[str, ...] | None = None) -> dict:
    """The record's field with its reference resolved (and normalised to ListID + name), if present."""
    if field not in record:
        return {}
    return {field: ref_of(require(company, list_type, record[field], f"{pointer}/{field}", account_types))}


def _unique_number(company: DesktopCompany, txn_type: str, number_field: str, record: dict,
                   party_field: str | None) -> None:
    """Bill and vendor credit numbers are unique per vendor; invoice, credit memo and sales receipt numbers are
    unique in the company (each transaction type apart)."""
    key = _number_key(record, number_field, party_field)
    holder = _number_index(company, txn_type, number_field, party_field).get(key)
    if holder is not None:
        raise Refused(f"/{number_field}", "duplicate_document_number",
                      f"{number_field.replace('_', ' ')} {record[number_field]!r} is already used by "
                      f"{txn_type} {holder}")


def _number_key(record: dict, number_field: str, party_field: str | None) -> tuple:
    party = record[party_field]["external_id"] if party_field else None
    return party, record[number_field].casefold()


def _number_index(company: DesktopCompany, txn_type: str, number_field: str, party_field: str | None) -> dict:
    """(party, number) -> TxnID of the company's documents, brought up to date with what was added
    since (documents are only ever added): one look-up per new document, not a scan of all of them."""
    indexes = company.__dict__.setdefault("_number_indexes", {})
    index, seen = indexes.setdefault(txn_type, ({}, 0))
    documents = company.transactions[txn_type]
    if seen < len(documents):
        for existing in list(documents.values())[seen:]:
            index.setdefault(_number_key(existing, number_field, party_field), existing["txn_id"])
        indexes[txn_type] = (index, len(documents))
    return index


# --- posters: check everything, then record --------------------------------------------------

def _bill_line(company: DesktopCompany, line: dict, pointer: str) -> dict:
    account = require(company, "account", line["account"], f"{pointer}/account")
    if account["account_type"] in ("AccountsPayable", "NonPosting"):
        # The bill itself credits A/P; an expense line there would cancel it out.
        raise Refused(f"{pointer}/account", "wrong_account_type", f"an expense line cannot post to "
                      f"{account['name']!r} ({account['account_type']})")
    return {**line, "account": ref_of(account), **_optional(company, line, "class", "class", pointer),
            **_optional(company, line, "customer", "customer", pointer)}


def post_bill(company: DesktopCompany, bill: dict, created_from: dict | None = None) -> str:
    """`created_from`: the inbound record whose key the bill takes (an expense report owed), else the bill."""
    open_period(company, bill)
    vendor = require(company, "vendor", bill["vendor"], "/vendor")
    same_currency(company, bill, vendor)
    stored = {**bill, "vendor": ref_of(vendor), "open_balance": bill["total"], **booked_rate(company, bill),
              **_optional(company, bill, "ap_account", "account", "", ("AccountsPayable",)),
              **_optional(company, bill, "terms", "term", ""),
              "lines": [_bill_line(company, line, f"/lines/{j}") for j, line in enumerate(bill["lines"])]}
    _unique_number(company, "bill", "bill_number", stored, "vendor")
    return company.add_transaction("bill", stored, created_from=created_from or bill)


def _invoice_line(company: DesktopCompany, line: dict, pointer: str) -> dict:
    return {**line, "item": ref_of(require(company, "item", line["item"], f"{pointer}/item")),
            **_optional(company, line, "class", "class", pointer)}


def post_invoice(company: DesktopCompany, invoice: dict) -> str:
    open_period(company, invoice)
    customer = require(company, "customer", invoice["customer"], "/customer")
    same_currency(company, invoice, customer)
    stored = {**invoice, "customer": ref_of(customer), "open_balance": invoice["total"],
              **booked_rate(company, invoice),
              **_optional(company, invoice, "ar_account", "account", "", ("AccountsReceivable",)),
              **_optional(company, invoice, "terms", "term", ""),
              "lines": [_invoice_line(company, line, f"/lines/{j}") for j, line in enumerate(invoice["lines"])]}
    _unique_number(company, "invoice", "invoice_number", stored, None)
    return company.add_transaction("invoice", stored, created_from=invoice)


def post_credit_memo(company: DesktopCompany, credit: dict) -> str:
    """QuickBooks Desktop's CreditMemo: item lines as on an invoice; its open balance is credit not yet applied."""
    open_period(company, credit)
    customer = require(company, "customer", credit["customer"], "/customer")
    same_currency(company, credit, customer)
    stored = {**credit, "customer": ref_of(customer), "open_balance": credit["total"], **booked_rate(company, credit),
              **_optional(company, credit, "ar_account", "account", "", ("AccountsReceivable",)),
              "lines": [_invoice_line(company, line, f"/lines/{j}") for j, line in enumerate(credit["lines"])]}
    _unique_number(company, "credit_memo", "credit_note_number", stored, None)
    return company.add_transaction("credit_memo", stored, created_from=credit)


def post_vendor_credit(company: DesktopCompany, credit: dict) -> str:
    """QuickBooks Desktop's VendorCredit: expense lines as on a bill; its open balance is credit not yet applied."""
    open_period(company, credit)
    vendor = require(company, "vendor", credit["vendor"], "/vendor")
    same_currency(company, credit, vendor)
    stored = {**credit, "vendor": ref_of(vendor), "open_balance": credit["total"], **booked_rate(company, credit),
              **_optional(company, credit, "ap_account", "account", "", ("AccountsPayable",)),
              "lines": [_bill_line(company, line, f"/lines/{j}") for j, line in enumerate(credit["lines"])]}
    _unique_number(company, "vendor_credit", "credit_number", stored, "vendor")
    return company.add_transaction("vendor_credit", stored, created_from=credit)


UNDEPOSITED_FUNDS = "Undeposited Funds"


def post_sales_receipt(company: DesktopCompany, receipt: dict) -> str:
    """QuickBooks Desktop's SalesReceipt: item lines, paid on the spot into the deposit account (without one,
    Undeposited Funds, as QuickBooks does); nothing is left open."""
    open_period(company, receipt)
    customer = require(company, "customer", receipt["customer"], "/customer")
    same_currency(company, receipt, customer)
    if "deposit_account" in receipt:
        deposit = require(company, "account", receipt["deposit_account"], "/deposit_account",
                          PAYMENT_RULES["customer_payment"][3])
    else:
        deposit = require(company, "account", {"name": UNDEPOSITED_FUNDS}, "/deposit_account", ("OtherCurrentAsset",))
    stored = {**receipt, "customer": ref_of(customer), "deposit_account": ref_of(deposit),
              **booked_rate(company, receipt),
              "lines": [_invoice_line(company, line, f"/lines/{j}") for j, line in enumerate(receipt["lines"])]}
    _unique_number(company, "sales_receipt", "receipt_number", stored, None)
    return company.add_transaction("sales_receipt", stored, created_from=receipt)


BANK = ("Bank",)
# Money into a bank account is received against these, not deposited from them: a Deposit line on A/R or A/P
# would move a customer's or vendor's balance without the payment that applies it.
NOT_DEPOSITED_FROM = ("AccountsPayable", "AccountsReceivable", "NonPosting")


def _bank_party(company: DesktopCompany, record: dict, field: str) -> dict:
    """The vendor or customer a bank transaction names, checked; {} when it names none."""
    if field not in record:
        return {}
    party = require_party(company, record[field], f"/{field}")
    same_currency(company, record, party)
    return {field: ref_of(party)}


def post_check(company: DesktopCompany, entry: dict) -> str:
    """Money out (a bank entry out): QuickBooks Desktop's Check, from a Bank account, expense lines as on a bill,
    to the payee (`entity`) if named. Paid when written: nothing is left open."""
    open_period(company, entry)
    bank = require(company, "account", entry["bank_account"], "/bank_account", BANK)
    stored = {**entry, "bank_account": ref_of(bank), **_bank_party(company, entry, "entity"),
              **booked_rate(company, entry),
              "lines": [_bill_line(company, line, f"/lines/{j}") for j, line in enumerate(entry["lines"])]}
    return company.add_transaction("check", stored, created_from=entry)


def _deposit_line(company: DesktopCompany, line: dict, pointer: str, bank: dict) -> dict:
    account = require(company, "account", line["account"], f"{pointer}/account")
    if account["account_type"] in NOT_DEPOSITED_FROM or account["key"] == bank["key"]:
        raise Refused(f"{pointer}/account", "wrong_account_type", f"a deposit line cannot come from "
                      f"{account['name']!r} ({account['account_type']})")
    return {**line, "account": ref_of(account), **_optional(company, line, "class", "class", pointer),
            **_optional(company, line, "customer", "customer", pointer)}


def post_deposit(company: DesktopCompany, entry: dict) -> str:
    """Money in (a bank entry in): QuickBooks Desktop's Deposit to a Bank account, one line per counterpart
    account, each naming the entity (the vendor or customer it came from) if the entry names one."""
    open_period(company, entry)
    bank = require(company, "account", entry["bank_account"], "/bank_account", BANK)
    party = _bank_party(company, entry, "entity")
    lines = [_deposit_line(company, line, f"/lines/{j}", bank) for j, line in enumerate(entry["lines"])]
    stored = {**entry, "bank_account": ref_of(bank), **party, **booked_rate(company, entry),
              "lines": [{**line, **party} for line in lines]}
    return company.add_transaction("deposit", stored, created_from=entry)


def post_bank_entry(company: DesktopCompany, entry: dict) -> str:
    return (post_check if entry["direction"] == "out" else post_deposit)(company, entry)


def post_expense_report(company: DesktopCompany, report: dict) -> str:
    """Paid from a bank account: a Check to the payee vendor. Without one it is owed: a Bill to the payee,
    numbered report_number (unique per vendor among its bills), open until a payment applies to it."""
    if "bank_account" not in report:
        bill = {name: value for name, value in report.items() if name not in ("payee", "report_number")}
        try:
            # booked_from: the Bill answers an attachment naming the expense report (version 7), not a bill's.
            return post_bill(company, {**bill, "vendor": report["payee"], "bill_number": report["report_number"],
                                       "booked_from": "expense_report"}, created_from=report)
        except Refused as refused:  # the record's own names for the fields a bill calls otherwise
            field = {"/vendor": "/payee", "/bill_number": "/report_number"}.get(refused.field, refused.field)
            raise Refused(field, refused.code, refused.message.replace("bill number", "report number")) from None
    open_period(company, report)
    bank = require(company, "account", report["bank_account"], "/bank_account", BANK)
    payee = require(company, "vendor", report["payee"], "/payee")
    same_currency(company, report, payee)
    stored = {**report, "bank_account": ref_of(bank), "payee": ref_of(payee), **booked_rate(company, report),
              "lines": [_bill_line(company, line, f"/lines/{j}") for j, line in enumerate(report["lines"])]}
    return company.add_transaction("check", stored, created_from=report)


def _journal_line(company: DesktopCompany, line: dict, pointer: str) -> dict:
    account = require(company, "account", line["account"], f"{pointer}/account")
    resolved = {**line, "account": ref_of(account), **_optional(company, line, "class", "class", pointer)}
    party = require_party(company, line["party"], f"{pointer}/party") if "party" in line else None
    needs = {"AccountsPayable": "vendor", "AccountsReceivable": "customer"}.get(account["account_type"])
    if needs and (party is None or party["list_type"] != needs):
        raise Refused(f"{pointer}/party", "missing_party", f"a line on {account['name']!r} needs a {needs} as its "
                      "party (QuickBooks keeps A/P and A/R per name)")
    return {**resolved, "party": ref_of(party)} if party else resolved


def post_journal_entry(company: DesktopCompany, entry: dict) -> str:
    open_period(company, entry)
    if entry["currency"] != company.home_currency:
        raise Refused("/currency", "wrong_currency", f"journal entries are in the home currency "
                      f"{company.home_currency}, not {entry['currency']}")
    if "exchange_rate" in entry:
        booked_rate(company, {**entry, "total": Decimal(0)})  # only 1 passes: the entry is in the home currency
    stored = {**entry, "lines": [_journal_line(company, line, f"/lines/{j}") for j, line in enumerate(entry["lines"])]}
    return company.add_transaction("journal_entry", stored, created_from=entry)


# payment_type -> (party list, document type, document field, accounts money may come from or go to)
PAYMENT_RULES = {
    "bill_payment": ("vendor", "bill", "bill", ("Bank", "CreditCard")),
    "customer_payment": ("customer", "invoice", "invoice", ("Bank", "OtherCurrentAsset")),
}


def _applied_documents(company: DesktopCompany, payment: dict, party: dict) -> list[tuple[dict, Decimal]]:
    party_type, doc_type, doc_field, _ = PAYMENT_RULES[payment["payment_type"]]
    applied: dict[str, Decimal] = defaultdict(Decimal)
    documents = []
    for j, application in enumerate(payment["applications"]):
        document = company.document(doc_type, application[doc_field])
        if document is None:
            raise Refused(f"/applications/{j}/{doc_field}", "unknown_document",
                          f"no {doc_type} {_describe_document(application[doc_field])} in the company file")
        if document[party_type]["external_id"] != party["key"]:
            raise Refused(f"/applications/{j}/{doc_field}", "wrong_party",
                          f"{doc_type} {document['txn_id']} belongs to {document[party_type]['name']!r}, "
                          f"not {party['name']!r}")
        applied[document["txn_id"]] += application["amount"]
        if applied[document["txn_id"]] > document["open_balance"]:
            raise Refused(f"/applications/{j}/amount", "over_open_balance",
                          f"{application['amount']} is more than the open balance {document['open_balance']} "
                          f"of {doc_type} {document['txn_id']}")
        documents.append((document, application["amount"]))
    return documents


def _describe_document(ref: dict) -> str:
    return f"TxnID {ref['external_id']!r}" if "external_id" in ref else f"created from key {ref['key']!r}"


def post_payment(company: DesktopCompany, payment: dict, created_from: dict | None = None) -> str:
    party_type, _, doc_field, bank_types = PAYMENT_RULES[payment["payment_type"]]
    open_period(company, payment)
    party = require(company, party_type, payment[party_type], f"/{party_type}")
    same_currency(company, payment, party)
    bank = require(company, "account", payment["bank_account"], "/bank_account", bank_types)
    documents = _applied_documents(company, payment, party)
    for document, amount in documents:
        document["open_balance"] -= amount
        company.touch(document)
    stored = {**payment, party_type: ref_of(party), "bank_account": ref_of(bank), "applications": [
        {doc_field: _document_ref(document), "amount": amount} for document, amount in documents]}
    return company.add_transaction(payment["payment_type"], stored, created_from=created_from)


def _document_ref(document: dict) -> dict:
    ref = {"external_id": document["txn_id"]}
    if "key" in document:
        ref["key"] = document["key"]
    return ref


POSTERS = {
    "bills": post_bill,
    "invoices": post_invoice,
    "journal_entries": post_journal_entry,
    "credit_notes": post_credit_memo,
    "vendor_credits": post_vendor_credit,
    "sales_receipts": post_sales_receipt,
    "bank_entries": post_bank_entry,
    "expense_reports": post_expense_report,
    "payments": lambda company, payment: post_payment(company, payment, created_from=payment),
}
