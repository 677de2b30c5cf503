"""One harness per accounting connector: the real connector against its real sandbox on loopback,
plus what a person sitting at the accounting system's books would do (add a vendor, delete a bill)
and what an asynchronous system needs to answer (`settle`).

The contract tests (test_accounting_contract.py) see a connector only through `ConnectorHarness`;
everything below the protocol (HTTP, files, the sandboxes' objects) stays in here. A new
connector joins the suite with one class implementing `ConnectorHarness` and one entry in
`tests/contract/conftest.py` (see the module docstring of test_accounting_contract.py).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ledgerbridge.connectors.base import AccountingConnector, BillExport
from ledgerbridge.connectors.entryfiles import reference_csv
from ledgerbridge.connectors.factory import ConnectionSettings, entry_files, file_drop, quickbooks_online
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.registry import LegalEntity
from ledgerbridge.sandbox.desktop.agent import DesktopAgent
from ledgerbridge.sandbox.desktop.company import DesktopCompany, seed_demo


@dataclass(frozen=True)
class Refusal:
    """A bill the accounting system refuses, and the field its refusal must name (a word that
    appears in the rejection's `element`, e.g. "account" in "AccountRef" or "/records/1/lines/0/account")."""

    bill: BillExport
    field: str


class ConnectorHarness(Protocol):
    """What the contract suite needs of a connector and its sandbox."""

    name: str
    connector: AccountingConnector
    vendor_id: str  # external id of an active vendor the books hold
    expense_account_id: str  # external id of an expense account a bill line may post to
    currency: str  # the company's home currency
    # Resolution of the system's change times: a change less than this before a watermark may be
    # read again (QuickBooks' timestamps are whole seconds); the suite waits this long when it matters.
    clock_resolution: float

    def refuse(self, bill: BillExport) -> Refusal:
        """`bill` spoiled so that the system refuses it, naming a field (e.g. an unknown account)."""
        ...

    def settle(self) -> None:
        """Let an asynchronous system answer (a file-drop agent's poll); a no-op for an API."""
        ...

    def bills(self) -> dict[str, Decimal]:
        """The bills the books hold: external id -> total, read from the sandbox itself."""
        ...

    def delete(self, kind: str, external_id: str) -> None:
        """Delete an object of reference kind `kind` in the books, as a person would. Raises
        ValueError for a kind the system never deletes (QuickBooks Online deactivates lists)."""
        ...

    def add_vendor(self, name: str) -> str:
        """Enter a vendor in the books, as a person would; its external id."""
        ...

    def enter(self, kind: str) -> str:
        """Enter one object of reference kind `kind` in the books, as a person would; its external
        id. Needed for every kind in `capabilities.deletable_kinds` (the deletion contract)."""
        ...


# -- QuickBooks Online ---------------------------------------------------------------------------

QBO_ENTITIES = {"bill": "Bill", "bill_payment": "BillPayment", "invoice": "Invoice", "credit_note": "CreditMemo",
                "sales_receipt": "SalesReceipt", "payment": "Payment", "purchase_order": "PurchaseOrder",
                "journal_entry": "JournalEntry", "vendor_credit": "VendorCredit", "purchase": "Purchase",
                "deposit": "Deposit"}


@dataclass
class QBOHarness:
    """QuickBooks Online: the connector over HTTP to a company (realm) of the QBO sandbox."""

    server: Any  # the running sandbox (tests/conftest.py `qbo_server`)
    conn: ConnectionSettings
    connector: AccountingConnector
    vendor_id: str = ""
    expense_account_id: str = ""
    bank_account_id: str = ""
    customer_id: str = ""
    item_id: str = ""
    name: str = "quickbooks_online"
    currency: str = "USD"
    clock_resolution: float = 1.0  # the connector asks QuickBooks for changes by whole seconds

    def __post_init__(self) -> None:
        self.vendor_id = self._id("Vendor", "DisplayName", "Nick Brown")
        self.expense_account_id = self._id("Account", "Name", "Supplies")
        self.bank_account_id = self._id("Account", "Name", "Operating Bank")
        self.customer_id = self._id("Customer", "DisplayName", "Vance Refrigeration")
        self.item_id = self._id("Item", "Name", "Services")

    @property
    def company(self):
        return self.server.sandbox.realms[self.conn.schema]

    def _id(self, entity: str, field_name: str, value: str) -> str:
        with self.server.sandbox.lock:
            return next(o["Id"] for o in self.company.objects[entity].values() if o.get(field_name) == value)

    def _write(self, entity: str, body: dict, operation: str | None = None) -> dict:
        with self.server.sandbox.lock:
            return self.company.write(entity.lower(), body, operation=operation)[entity]

    def refuse(self, bill: BillExport) -> Refusal:
        lines = tuple(replace(line, account_id="987654321") for line in bill.lines)  # no such account
        return Refusal(replace(bill, lines=lines), "account")

    def settle(self) -> None:
        pass  # QuickBooks answers every request in its reply

    def bills(self) -> dict[str, Decimal]:
        with self.server.sandbox.lock:
            return {o["Id"]: o["TotalAmt"] for o in self.company.objects["Bill"].values()}

    def delete(self, kind: str, external_id: str) -> None:
        entity = QBO_ENTITIES.get(kind)
        if entity is None:
            raise ValueError(f"QuickBooks Online deletes no {kind}: list objects are made inactive")
        with self.server.sandbox.lock:
            current = self.company.objects[entity][external_id]
            self.company.write(entity.lower(), {"Id": external_id, "SyncToken": current["SyncToken"]}, "delete")

    def add_vendor(self, name: str) -> str:
        return self._write("Vendor", {"DisplayName": name})["Id"]

    def _expense_line(self, amount: str) -> dict:
        return {"Amount": Decimal(amount), "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": {"AccountRef": {"value": self.expense_account_id}}}

    def enter(self, kind: str) -> str:
        vendor, customer = {"value": self.vendor_id}, {"value": self.customer_id}
        if kind == "bill":
            return self._write("Bill", {"VendorRef": vendor, "Line": [self._expense_line("12.34")]})["Id"]
        if kind == "vendor_credit":
            return self._write("VendorCredit", {"VendorRef": vendor, "Line": [self._expense_line("7.89")]})["Id"]
        if kind == "purchase":
            return self._write("Purchase", {"PaymentType": "Cash", "AccountRef": {"value": self.bank_account_id},
                                            "Line": [self._expense_line("4.56")]})["Id"]
        if kind == "deposit":
            return self._write("Deposit", {"DepositToAccountRef": {"value": self.bank_account_id}, "Line": [
                {"Amount": Decimal("3.21"), "DetailType": "DepositLineDetail",
                 "DepositLineDetail": {"AccountRef": {"value": self.expense_account_id}}}]})["Id"]
        if kind == "purchase_order":
            return self._write("PurchaseOrder", {"VendorRef": vendor, "Line": [self._expense_line("56.78")]})["Id"]
        if kind in ("invoice", "credit_note", "sales_receipt"):
            return self._write(QBO_ENTITIES[kind], {"CustomerRef": customer, "Line": [
                {"Amount": Decimal("90.12"), "DetailType": "SalesItemLineDetail",
                 "SalesItemLineDetail": {"ItemRef": {"value": self.item_id}}}]})["Id"]
        if kind == "journal_entry":
            return self._write("JournalEntry", {"Line": [
                {"Amount": Decimal("34.56"), "DetailType": "JournalEntryLineDetail",
                 "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account}}}
                for posting, account in (("Debit", self.expense_account_id), ("Credit", self.bank_account_id))]})["Id"]
        if kind == "bill_payment":
            bill = self.enter("bill")
            return self._write("BillPayment", {
                "VendorRef": vendor, "PayType": "Check", "TotalAmt": Decimal("12.34"),
                "CheckPayment": {"BankAccountRef": {"value": self.bank_account_id}},
                "Line": [{"Amount": Decimal("12.34"), "LinkedTxn": [{"TxnId": bill, "TxnType": "Bill"}]}]})["Id"]
        if kind == "payment":
            invoice = self.enter("invoice")
            return self._write("Payment", {
                "CustomerRef": customer, "TotalAmt": Decimal("90.12"),
                "Line": [{"Amount": Decimal("90.12"), "LinkedTxn": [{"TxnId": invoice, "TxnType": "Invoice"}]}]})["Id"]
        raise ValueError(f"the QuickBooks Online harness cannot enter a {kind}")


@contextmanager
def qbo_harness(server, ledger) -> Iterator[QBOHarness]:
    from support import connect_company, make_entity

    entity = make_entity(f"contract_{uuid.uuid4().hex[:10]}")
    conn = connect_company(server, ledger, entity)  # a new realm with the standard lists, through the API
    yield QBOHarness(server, conn, quickbooks_online(conn, ledger, backoff_seconds=0.01))


# -- Xero ------------------------------------------------------------------------------------------

XERO_CLIENT_ID, XERO_CLIENT_SECRET = "ledgerbridge-test", "test-secret"
# Our reference kind -> (endpoint, id field) of what a person deletes in Xero: Status DELETED, or VOIDED for
# an approved invoice, bill or credit note (Xero deletes only drafts of those; a voided one counts for nothing).
XERO_DELETABLE = {"bill": ("Invoices", "InvoiceID"), "invoice": ("Invoices", "InvoiceID"),
                  "credit_note": ("CreditNotes", "CreditNoteID"), "vendor_credit": ("CreditNotes", "CreditNoteID"),
                  "payment": ("Payments", "PaymentID"),
                  "journal_entry": ("ManualJournals", "ManualJournalID")}


@dataclass
class XeroHarness:
    """Xero: the connector over HTTP to an organisation (tenant) of the Xero sandbox."""

    server: Any  # the running sandbox (tests/conftest.py `xero_server`)
    conn: ConnectionSettings
    connector: AccountingConnector
    vendor_id: str = ""
    customer_id: str = ""
    expense_account_id: str = "429"  # General Expenses: Xero lines name accounts by code
    bank_account_id: str = "090"
    name: str = "xero"
    currency: str = "USD"
    clock_resolution: float = 0.01  # Xero's stamps are in milliseconds

    def __post_init__(self) -> None:
        self.vendor_id = self._write("Contacts", {"Name": "Nick Brown"})["ContactID"]
        self.customer_id = self._write("Contacts", {"Name": "Vance Refrigeration"})["ContactID"]

    @property
    def org(self):
        return self.server.sandbox.tenants[self.conn.schema]

    def _write(self, endpoint: str, element: dict) -> dict:
        with self.server.sandbox.lock:
            return self.org.write(endpoint, element)

    def refuse(self, bill: BillExport) -> Refusal:
        lines = tuple(replace(line, account_id="987654") for line in bill.lines)  # no such account code
        return Refusal(replace(bill, lines=lines), "account")

    def settle(self) -> None:
        pass  # Xero answers every request in its reply

    def bills(self) -> dict[str, Decimal]:
        with self.server.sandbox.lock:
            return {i["InvoiceID"]: i["Total"] for i in self.org.records["Invoices"].values() if i["Type"] == "ACCPAY"}

    def delete(self, kind: str, external_id: str) -> None:
        if kind not in XERO_DELETABLE:
            raise ValueError(f"Xero deletes no {kind}: lists are archived")
        endpoint, id_field = XERO_DELETABLE[kind]
        with self.server.sandbox.lock:
            status = self.org.records[endpoint][external_id].get("Status")
        gone = "VOIDED" if endpoint in ("Invoices", "CreditNotes") and status == "AUTHORISED" else "DELETED"
        self._write(endpoint, {id_field: external_id, "Status": gone})

    def add_vendor(self, name: str) -> str:
        return self._write("Contacts", {"Name": name})["ContactID"]

    def _document(self, endpoint: str, kind: str, contact: str, account: str, amount: str) -> str:
        written = self._write(endpoint, {"Type": kind, "Contact": {"ContactID": contact}, "Status": "AUTHORISED",
                                         "LineAmountTypes": "NoTax", "LineItems": [
                                             {"Description": "entered by hand", "UnitAmount": Decimal(amount),
                                              "AccountCode": account}]})
        return written["InvoiceID" if endpoint == "Invoices" else "CreditNoteID"]

    def enter(self, kind: str) -> str:
        if kind == "bill":
            return self._document("Invoices", "ACCPAY", self.vendor_id, self.expense_account_id, "12.34")
        if kind == "invoice":
            return self._document("Invoices", "ACCREC", self.customer_id, "200", "90.12")
        if kind == "credit_note":
            return self._document("CreditNotes", "ACCRECCREDIT", self.customer_id, "200", "56.78")
        if kind == "vendor_credit":
            return self._document("CreditNotes", "ACCPAYCREDIT", self.vendor_id, self.expense_account_id, "23.45")
        if kind == "journal_entry":
            return self._write("ManualJournals", {"Narration": "entered by hand", "Status": "POSTED", "JournalLines": [
                {"LineAmount": Decimal("34.56"), "AccountCode": self.expense_account_id},
                {"LineAmount": Decimal("-34.56"), "AccountCode": self.bank_account_id}]})["ManualJournalID"]
        if kind == "payment":
            invoice = self.enter("invoice")
            return self._write("Payments", {"Invoice": {"InvoiceID": invoice}, "Account": {"Code": self.bank_account_id},
                                            "Amount": Decimal("90.12")})["PaymentID"]
        raise ValueError(f"the Xero harness cannot enter a {kind}")


@contextmanager
def xero_harness(server, ledger) -> Iterator[XeroHarness]:
    import requests

    from ledgerbridge.connectors.xero.factory import xero

    reply = requests.post(f"{server.url}/_sandbox/tenants", json={
        "client_id": XERO_CLIENT_ID, "name": f"Contract {uuid.uuid4().hex[:8]}"}, timeout=10)
    reply.raise_for_status()
    tenant = reply.json()
    conn = ConnectionSettings(f"xero_{tenant['tenant_id'][:8]}", server.url, XERO_CLIENT_ID, XERO_CLIENT_SECRET,
                              tenant["tenant_id"], {"refresh_token": tenant["refresh_token"],
                                                    "token_url": f"{server.url}/connect/token"})
    yield XeroHarness(server, conn, xero(conn, ledger, backoff_seconds=0.01))


# -- The file drop, with the QuickBooks Desktop agent sandbox answering --------------------------

# Where the desktop company keeps each reference kind.
_DESKTOP_TRANSACTIONS = {"bill": "bill", "bill_payment": "bill_payment", "payment": "customer_payment",
                         "purchase_order": "purchase_order", "invoice": "invoice", "journal_entry": "journal_entry"}
_DESKTOP_LISTS = ("vendor", "customer", "account", "class", "term", "item")


@dataclass
class FileDropHarness:
    """The file drop to QuickBooks Desktop: the connector writes and reads files (a local folder or
    SFTP); the agent sandbox works on the same directory, as it would beside the server."""

    agent: DesktopAgent
    root: Path  # the drop folder on this machine (what the SFTP server serves)
    entity_id: str
    connector: AccountingConnector
    name: str = "file_drop"
    currency: str = "USD"
    clock_resolution: float = 0.0  # changes are files, not timestamps
    vendor_id: str = field(init=False)
    expense_account_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.vendor_id = self.agent.company.find_by_name("vendor", "Nick Brown")["key"]
        self.expense_account_id = self.agent.company.find_by_name("account", "Office Supplies")["key"]

    @property
    def fs(self) -> LocalFileSystem:
        return LocalFileSystem(self.root)

    def refuse(self, bill: BillExport) -> Refusal:
        lines = tuple(replace(line, account_id="8FFFFFFF-1700000000") for line in bill.lines)  # no such ListID
        return Refusal(replace(bill, lines=lines), "account")

    def settle(self) -> None:
        """One poll of the agent: it answers every file, then uploads what changed in its lists."""
        self.agent.process(self.fs, self.entity_id)
        self.agent.publish_lists(self.fs, self.entity_id)

    def bills(self) -> dict[str, Decimal]:
        return {txn_id: bill["total"] for txn_id, bill in self.agent.company.transactions["bill"].items()}

    def delete(self, kind: str, external_id: str) -> None:
        company = self.agent.company
        if kind in _DESKTOP_TRANSACTIONS:
            del company.transactions[_DESKTOP_TRANSACTIONS[kind]][external_id]
        elif kind in _DESKTOP_LISTS:
            del company.lists[kind][external_id]
        else:
            raise ValueError(f"QuickBooks Desktop keeps no {kind}")
        self.agent.save()

    def add_vendor(self, name: str) -> str:
        list_id = self.agent.company.add_list_entry("vendor", name)
        self.agent.save()
        return list_id

    def enter(self, kind: str) -> str:
        raise ValueError("the file drop declares no deletable kinds: nothing to enter for the deletion contract")


def desktop_entity(entity_id: str) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Desktop", "base_currency": "USD",
        "accounting": {"kind": "quickbooks_desktop", "conn_id": f"drop_{entity_id}"},
        "flows": ["reference", "parties", "bills", "bill_payments"]})


@contextmanager
def file_drop_harness(root: Path, state_dir: Path, transport: Callable[[str], ConnectionSettings]
                      ) -> Iterator[FileDropHarness]:
    """`root`: the drop folder; `transport(company_id)`: the connection reaching it (local or SFTP)."""
    entity_id = f"ct_{uuid.uuid4().hex[:10]}"
    company_id = f"QBD-{entity_id}"
    company = seed_demo(DesktopCompany(company_id=company_id, entity_id=entity_id))
    agent = DesktopAgent(company, state_file=state_dir / f"{entity_id}.json")
    agent.publish_lists(LocalFileSystem(root), entity_id, full=True)  # the agent's first upload: everything
    connector = file_drop(desktop_entity(entity_id), transport(company_id))
    yield FileDropHarness(agent, root, entity_id, connector)


# -- Entry files, with a folder standing for the accountant's software ---------------------------

ENTRY_FILE_LISTS = {  # what the accountant's software exported, file by file
    "accounts": [{"number": "401000", "name": "Fournisseurs"}, {"number": "411000", "name": "Clients"},
                 {"number": "606400", "name": "Fournitures administratives"},
                 {"number": "445660", "name": "TVA déductible"}, {"number": "706000", "name": "Prestations"}],
    "journals": [{"code": "HA", "name": "Achats"}, {"code": "VT", "name": "Ventes"}, {"code": "AV", "name": "Avoirs"},
                 {"code": "VC", "name": "Ventes comptant"}, {"code": "OD", "name": "Opérations diverses"}],
    "tax_codes": [{"code": "TVA20D", "name": "TVA déductible 20 %", "rate": "20", "account": "445660"}],
    "items": [{"code": "PRESTA", "name": "Prestation", "income_account": "706000"}],
    "vendors": [{"code": "FBROWN", "name": "Nick Brown"}],
    "customers": [{"code": "CVANCE", "name": "Vance Refrigeration"}],
}
# Reference kind -> the file and the column of its code.
_ENTRY_FILE_KINDS = {"account": ("accounts", "number"), "journal_code": ("journals", "code"),
                     "tax_code": ("tax_codes", "code"), "item": ("items", "code"), "vendor": ("vendors", "code"),
                     "customer": ("customers", "code")}


@dataclass
class EntryFilesHarness:
    """Entry files in a folder (local, or served by SFTP): the connector writes FEC files and reads the
    lists; what the accountant does in the software is done here to the files, as an export would."""

    root: Path
    entity_id: str
    connector: AccountingConnector
    name: str = "entry_files"
    currency: str = "EUR"
    clock_resolution: float = 0.0
    vendor_id: str = "FBROWN"
    expense_account_id: str = "606400"

    def _csv(self, name: str) -> Path:
        return self.root / self.entity_id / "reference" / f"{name}.csv"

    def _rows(self, name: str) -> list[dict]:
        import csv

        with self._csv(name).open(encoding="utf-8", newline="") as text:
            return list(csv.DictReader(text))

    def _save(self, name: str, rows: list[dict]) -> None:
        self._csv(name).write_text(reference_csv(rows), encoding="utf-8")

    def refuse(self, bill: BillExport) -> Refusal:
        lines = tuple(replace(line, account_id="999999") for line in bill.lines)  # no such account in the chart
        return Refusal(replace(bill, lines=lines), "account")

    def settle(self) -> None:
        pass  # a file is written whole or not at all: nothing answers later

    def _entry_files(self) -> list[Path]:
        return sorted((self.root / self.entity_id / "entries").glob("*.txt"))

    def bills(self) -> dict[str, Decimal]:
        """Every purchase entry of the FEC files: its id (journal-number) and the vendor's credit."""
        import csv
        import io

        books = {}
        for path in self._entry_files():
            for line in csv.DictReader(io.StringIO(path.read_bytes().decode("iso-8859-15")), delimiter="\t"):
                if line["JournalCode"] == "HA" and line["CompteNum"] == "401000":
                    books[f"HA-{line['EcritureNum']}"] = Decimal(line["Credit"].replace(",", "."))
        return books

    def delete(self, kind: str, external_id: str) -> None:
        if kind == "bill":  # the accountant deletes the entry: its lines leave the file
            for path in self._entry_files():
                lines = path.read_bytes().decode("iso-8859-15").split("\r\n")
                kept = [line for line in lines if not line.startswith("HA\t") or
                        line.split("\t")[2] != external_id.removeprefix("HA-")]
                path.write_bytes("\r\n".join(kept).encode("iso-8859-15"))
            return
        if kind not in _ENTRY_FILE_KINDS:
            raise ValueError(f"entry files keep no {kind}")
        name, column = _ENTRY_FILE_KINDS[kind]
        rows = self._rows(name)
        self._save(name, [row for row in rows if row[column] != external_id])

    def add_vendor(self, name: str) -> str:
        return self._add("vendor", {"name": name})

    def enter(self, kind: str) -> str:
        tag = uuid.uuid4().hex[:6].upper()
        extra = {"tax_code": {"rate": "5.5", "account": "445660"}, "item": {"income_account": "706000"}}
        return self._add(kind, {"name": f"Contract {kind} {tag}", **extra.get(kind, {})}, f"9{tag}" if kind == "account" else f"X{tag}")

    def _add(self, kind: str, values: dict, code: str | None = None) -> str:
        name, column = _ENTRY_FILE_KINDS[kind]
        code = code or f"F{uuid.uuid4().hex[:8].upper()}"
        rows = self._rows(name)
        self._save(name, [*rows, {**dict.fromkeys(rows[0], ""), column: code, **values}])
        return code


def entry_files_entity(entity_id: str) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} SARL", "base_currency": "EUR",
        "accounting": {"kind": "entry_files", "conn_id": f"files_{entity_id}",
                       "entry_files": {"payables_account": "401000", "receivables_account": "411000"}},
        "flows": ["reference", "parties", "bills"]})


@contextmanager
def entry_files_harness(root: Path, transport: Callable[[str], ConnectionSettings]) -> Iterator[EntryFilesHarness]:
    """`root`: the folder; `transport(entity_id)`: the connection reaching it (local or SFTP)."""
    entity_id = f"ct_{uuid.uuid4().hex[:10]}"
    folder = root / entity_id / "reference"
    folder.mkdir(parents=True)
    for name, rows in ENTRY_FILE_LISTS.items():
        (folder / f"{name}.csv").write_text(reference_csv(rows), encoding="utf-8")
    yield EntryFilesHarness(root, entity_id, entry_files(entry_files_entity(entity_id), transport(entity_id)))
