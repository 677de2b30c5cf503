"""One QuickBooks Online company (realm): its objects and the rules QBO enforces on them.

Every method runs under the sandbox lock and either completes or raises a QBOFault before it
changes anything, so a failed request or batch item leaves no trace.
"""
from __future__ import annotations

import base64
import copy
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from . import errors
from .codec import company_today, format_ms, parse_instant, to_decimal
from .errors import QBOFault
from .query import Condition, parse, run
from .rates import market_rate
from .upload import UploadedFile

LIST_ENTITIES = ("Account", "Vendor", "Customer", "Employee", "Class", "Department", "Term",
                 "TaxCode", "TaxRate", "Item", "JournalCode")
TXN_ENTITIES = ("Bill", "BillPayment", "Invoice", "CreditMemo", "SalesReceipt", "Payment", "PurchaseOrder",
                "JournalEntry", "VendorCredit", "Purchase", "Deposit")
DELETABLE_ENTITIES = TXN_ENTITIES + ("Attachable",)
ENTITIES = LIST_ENTITIES + DELETABLE_ENTITIES
VOIDABLE_ENTITIES = ("Invoice", "SalesReceipt", "Payment", "BillPayment")
ENTITY_BY_PATH = {name.lower(): name for name in ENTITIES}
# Entities a company has only in some countries: Intuit's SDK samples say "This entity is supported
# only for France" of JournalCode, and its schema (Finance.xsd) calls JournalCodeRef "applicable only for FR".
COUNTRY_ENTITIES = {"JournalCode": ("FR",)}
# Read-only lists: TaxService (POST /taxservice/taxcode) creates a TaxCode with its TaxRates.
TAX_ENTITIES = ("TaxCode", "TaxRate")
TAX_APPLICABLE_ON = {"Sales": "SalesTaxRateList", "Purchase": "PurchaseTaxRateList"}
# Transactions whose lines' tax codes become tax (TxnTaxDetail), and the codes' rate list each one takes.
TAX_SIDES = {"Bill": "PurchaseTaxRateList", "VendorCredit": "PurchaseTaxRateList",
             "PurchaseOrder": "PurchaseTaxRateList", "Invoice": "SalesTaxRateList",
             "CreditMemo": "SalesTaxRateList", "SalesReceipt": "SalesTaxRateList",
             "Purchase": "PurchaseTaxRateList", "Deposit": "SalesTaxRateList"}
TAX_LINE_ELEMENT = "TxnTaxDetail.TaxLine.TaxLineDetail.TaxRateRef"
CDC_MAX_DAYS = 30
CDC_MAX_OBJECTS = 1000
PARTIES = ("Customer", "Vendor", "Employee")

BATCH_MAX_ITEMS = 30
BATCH_REQUESTID_MAX = 36
BATCH_ID_MAX = 10
DOC_NUMBER_MAX = 21
ATTACHABLE_TEXT_MAX = {"FileName": 1000, "Note": 2000}
ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
UNIT_PRICE_PLACES = Decimal("0.0000001")  # a derived UnitPrice (Amount / Qty) keeps 7 decimal places
UNDEPOSITED_FUNDS = "Undeposited Funds"
# Where a sales receipt's money may be deposited (QBO: a bank or the Undeposited Funds asset account).
DEPOSIT_ACCOUNT_TYPES = ("Bank", "Other Current Asset")
# Purchase.PaymentType -> the account type its AccountRef must be (Intuit: "Check must specify bank account,
# CreditCard must specify credit card account"; cash is paid from a bank account too).
PURCHASE_ACCOUNT_TYPES = {"Cash": "Bank", "Check": "Bank", "CreditCard": "Credit Card"}
DEPOSIT_DETAILS = {"DepositLineDetail": "AccountRef"}

# Which entity a reference field points to, wherever it appears in an object.
REF_TARGETS = {
    "VendorRef": "Vendor", "CustomerRef": "Customer", "EmployeeRef": "Employee",
    "AccountRef": "Account", "APAccountRef": "Account", "ARAccountRef": "Account",
    "BankAccountRef": "Account", "CCAccountRef": "Account", "DepositToAccountRef": "Account",
    "IncomeAccountRef": "Account", "ExpenseAccountRef": "Account", "AssetAccountRef": "Account",
    "ItemRef": "Item", "ClassRef": "Class", "DepartmentRef": "Department",
    "SalesTermRef": "Term", "TermRef": "Term", "TaxCodeRef": "TaxCode",
}

SERVER_FIELDS = {"Id", "SyncToken", "domain", "sparse", "MetaData", "status"}
COMPUTED_FIELDS = {
    "Vendor": {"Balance"}, "Customer": {"Balance"},
    "Account": {"Classification", "FullyQualifiedName", "CurrentBalance", "SubAccount", "JournalCodeRef"},
    "Class": {"FullyQualifiedName", "SubClass"}, "Department": {"FullyQualifiedName", "SubDepartment"},
    "Item": {"FullyQualifiedName"},
    "Bill": {"TotalAmt", "Balance", "HomeTotalAmt"}, "Invoice": {"TotalAmt", "Balance", "HomeTotalAmt"},
    "CreditMemo": {"TotalAmt", "Balance", "RemainingCredit", "HomeTotalAmt"},
    "VendorCredit": {"TotalAmt", "Balance", "HomeTotalAmt"},
    "Purchase": {"TotalAmt", "HomeTotalAmt"}, "Deposit": {"TotalAmt", "HomeTotalAmt"},
    "SalesReceipt": {"TotalAmt", "Balance", "HomeTotalAmt"}, "PurchaseOrder": {"TotalAmt", "HomeTotalAmt"},
    "JournalEntry": {"TotalAmt", "HomeTotalAmt"}, "Payment": {"UnappliedAmt", "HomeTotalAmt"},
    "BillPayment": {"HomeTotalAmt"},
    "Attachable": {"Size", "FileAccessUri", "TempDownloadUri", "ThumbnailFileAccessUri", "ThumbnailTempDownloadUri"},
}

ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset", "Accounts Receivable": "Asset", "Other Current Asset": "Asset",
    "Fixed Asset": "Asset", "Other Asset": "Asset",
    "Accounts Payable": "Liability", "Credit Card": "Liability", "Other Current Liability": "Liability",
    "Long Term Liability": "Liability", "Equity": "Equity",
    "Income": "Revenue", "Other Income": "Revenue",
    "Expense": "Expense", "Other Expense": "Expense", "Cost of Goods Sold": "Expense",
}

EXPENSE_DETAILS = {"AccountBasedExpenseLineDetail": "AccountRef", "ItemBasedExpenseLineDetail": "ItemRef"}
SALES_DETAILS = {"SalesItemLineDetail": "ItemRef"}
JOURNAL_DETAILS = {"JournalEntryLineDetail": "AccountRef"}
NON_POSTING_DETAILS = frozenset({"SubTotalLineDetail", "DescriptionOnly"})

# Payments: (party reference, the document entity its lines pay).
PAYMENT_RULES = {"BillPayment": ("VendorRef", "Bill"), "Payment": ("CustomerRef", "Invoice")}
# Open documents and whose read-only Balance they add up to; a credit memo's unapplied credit counts against it.
DOCUMENT_PARTIES = {"Bill": "Vendor", "Invoice": "Customer", "CreditMemo": "Customer", "VendorCredit": "Vendor"}
CREDITS = frozenset({"CreditMemo", "VendorCredit"})
PAYMENT_LINK_TYPES = {"BillPaymentCheck", "BillPaymentCreditCard", "Payment"}

# JournalCode.Type: Intuit's JournalCodeTypeEnum (Finance.xsd, the .NET SDK's enum).
JOURNAL_CODE_TYPES = ("Expenses", "Sales", "Bank", "Nouveaux", "Wages", "Cash", "Others")
JOURNAL_CODE_NAME_MAX = 20
# What a new French company starts with: the conventional French journals (QBO France's own defaults
# are not published; see docs/sandbox-qbo.md).
FRENCH_JOURNAL_CODES = (("ACH", "Expenses", "Achats"), ("VTE", "Sales", "Ventes"), ("BQ", "Bank", "Banque"),
                        ("CAI", "Cash", "Caisse"), ("SAL", "Wages", "Salaires"), ("AN", "Nouveaux", "A nouveaux"),
                        ("OD", "Others", "Opérations diverses"))

# A company's home currency when the seeding call does not name one.
HOME_CURRENCY_BY_COUNTRY = {"US": "USD", "FR": "EUR", "GB": "GBP", "CA": "CAD", "AU": "AUD", "IN": "INR"}
CURRENCY_NAMES = {"USD": "United States Dollar", "EUR": "Euro", "GBP": "British Pound Sterling",
                  "CAD": "Canadian Dollar", "AUD": "Australian Dollar", "INR": "Indian Rupee",
                  "CHF": "Swiss Franc", "JPY": "Japanese Yen"}


class Company:
    def __init__(self, realm_id: str, company_name: str, clock: Callable[[], float], country: str = "US",
                 home_currency: str | None = None) -> None:
        self.realm_id, self.company_name, self.clock = realm_id, company_name, clock
        self.country = country_code(country)
        self.home_currency = currency_code(home_currency or HOME_CURRENCY_BY_COUNTRY.get(self.country, ""),
                                           "home_currency")
        # Preferences the sandbox lets change: AccountingInfoPrefs.BookCloseDate, CurrencyPrefs.MultiCurrencyEnabled.
        self.book_close_date: str | None = None
        self.multicurrency = False
        # The company's own rates (ExchangeRate objects set through the API): currency -> {AsOfDate: Rate}.
        self.own_rates: dict[str, dict[str, str]] = {}
        self.preferences_version = 0
        self.objects: dict[str, dict[str, dict]] = {name: {} for name in ENTITIES}
        # Deleted transactions and attachables, as Change Data Capture reports them: {Id, status, MetaData}.
        self.deleted: dict[str, dict[str, dict]] = {name: {} for name in DELETABLE_ENTITIES}
        self.files: dict[str, bytes] = {}  # Attachable Id -> the uploaded file's bytes
        self.voided: set[str] = set()      # Ids of voided transactions
        self.next_id = 1
        self.last_stamp_ms = 0
        self.created = format_ms(int(clock() * 1000))
        self.preferences_updated = self.created
        self.responses: dict[str, dict] = {}        # requestid -> {"status", "body" (exact text)}
        self.batch_responses: dict[str, dict] = {}  # "requestid/bId" -> the item's response
        self.api_requests = 0
        self.requestid_replays = 0
        self.answers_dropped = 0  # fault injection: commits whose answer was cut off (not persisted)
        self._batch_created: set[str] | None = None  # ids created by the running batch

    # -- persistence ---------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"realm_id": self.realm_id, "company_name": self.company_name, "created": self.created,
                "country": self.country, "home_currency": self.home_currency,
                "book_close_date": self.book_close_date, "multicurrency": self.multicurrency,
                "own_rates": self.own_rates, "preferences_version": self.preferences_version, "preferences_updated": self.preferences_updated,
                "objects": self.objects, "deleted": self.deleted, "next_id": self.next_id,
                "last_stamp_ms": self.last_stamp_ms, "voided": sorted(self.voided, key=int),
                "files": {object_id: base64.b64encode(data).decode("ascii") for object_id, data in self.files.items()},
                "responses": self.responses, "batch_responses": self.batch_responses,
                "api_requests": self.api_requests, "requestid_replays": self.requestid_replays}

    @classmethod
    def from_state(cls, state: dict, clock: Callable[[], float]) -> Company:
        # Country, currency and preferences are absent in state files written before them: a US company.
        company = cls(state["realm_id"], state["company_name"], clock, state.get("country", "US"),
                      state.get("home_currency"))
        company.book_close_date = state.get("book_close_date")
        # A company saved before the sandbox knew currencies took every currency: it keeps doing so
        # (multicurrency on), or an older demo's GBP company would refuse its own GBP bills.
        company.multicurrency = bool(state.get("multicurrency", "home_currency" not in state))
        company.own_rates = state.get("own_rates", {})  # absent in state files written before exchange rates
        company.preferences_version = int(state.get("preferences_version", 0))
        company.preferences_updated = state.get("preferences_updated", state["created"])
        company.objects.update(state["objects"])
        company.deleted.update(state.get("deleted", {}))  # absent in state files written before CDC
        # Absent in state files written before void and attachments.
        company.voided = set(state.get("voided", []))
        company.files = {object_id: base64.b64decode(text) for object_id, text in state.get("files", {}).items()}
        for key in ("created", "next_id", "last_stamp_ms", "responses", "batch_responses",
                    "api_requests", "requestid_replays"):
            setattr(company, key, state[key])
        company.undeposited_funds()  # state files written before sales receipts lack it
        return company

    def seed(self) -> None:
        """The starting data of a new QBO company: a small chart of accounts, terms, tax codes, items."""
        accounts = {}
        for name, account_type, sub_type in (
                ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
                ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
                ("Checking", "Bank", "Checking"),
                ("Mastercard", "Credit Card", "CreditCard"),
                ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses"),
                ("Rent or Lease", "Expense", "RentOrLeaseOfBuildings"),
                ("Legal & Professional Fees", "Expense", "LegalProfessionalFees"),
                ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
                ("Services", "Income", "ServiceFeeIncome"),
                ("Sales of Product Income", "Income", "SalesOfProductIncome")):
            accounts[name] = self._create("Account", {"Name": name, "AccountType": account_type,
                                                      "AccountSubType": sub_type})["Id"]
        self._create("Term", {"Name": "Net 30", "DueDays": 30})
        self._create("Term", {"Name": "Due on receipt", "DueDays": 0})
        for code, name, taxable in (("TAX", "Taxable", True), ("NON", "Non-taxable", False)):
            object_id = self._new_id()
            stamp = self._stamp()
            self.objects["TaxCode"][object_id] = {
                "Name": code, "Description": name, "Taxable": taxable, "Active": True,
                "Id": object_id, "SyncToken": "0", "domain": "QBO", "sparse": False,
                "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}}
        self._create("Item", {"Name": "Services", "Type": "Service",
                              "IncomeAccountRef": {"value": accounts["Services"]}})
        self._create("Item", {"Name": "Materials", "Type": "NonInventory",
                              "IncomeAccountRef": {"value": accounts["Sales of Product Income"]},
                              "ExpenseAccountRef": {"value": accounts["Cost of Goods Sold"]}})
        self.undeposited_funds()
        if self.has_entity("JournalCode"):
            for name, journal_type, description in FRENCH_JOURNAL_CODES:
                self._create("JournalCode", {"Name": name, "Type": journal_type, "Description": description})

    def tax_service(self, body: object) -> dict:
        """TaxService: a new TaxCode and its TaxRates, as non-US companies create them. Each of
        `TaxRateDetails` names an existing rate (TaxRateId) or a new one (TaxRateName, RateValue 0-100,
        TaxAgencyId) and the side it applies on (TaxApplicableOn Sales, the default, or Purchase)."""
        if not isinstance(body, dict):
            raise errors.malformed_request("TaxService must be a JSON object")
        name = str(body.get("TaxCode") or "").strip()
        if not name:
            raise errors.required("TaxCode")
        if any(str(code.get("Name", "")).casefold() == name.casefold() for code in self.objects["TaxCode"].values()):
            raise errors.business(f"Duplicate TaxCode Name {name!r}", "TaxCode")
        details = body.get("TaxRateDetails")
        if not isinstance(details, list) or not details:
            raise errors.required("TaxRateDetails")
        planned = []  # (detail, existing rate or None, side) -- everything checked before anything is written
        for index, detail in enumerate(details):
            where = f"TaxRateDetails[{index}]"
            if not isinstance(detail, dict):
                raise errors.malformed_request(f"{where} must be a JSON object")
            side = str(detail.get("TaxApplicableOn") or "Sales")
            if side not in TAX_APPLICABLE_ON:
                raise errors.business(f"TaxApplicableOn must be Sales or Purchase, not {side!r}", where)
            if detail.get("TaxRateId") not in (None, ""):
                rate = self.objects["TaxRate"].get(str(detail["TaxRateId"]))
                if rate is None:
                    raise errors.invalid_reference(f"{where}.TaxRateId", "TaxRate", detail["TaxRateId"])
                planned.append((detail, rate, side))
                continue
            for field_name in ("TaxRateName", "RateValue", "TaxAgencyId"):
                if detail.get(field_name) in (None, ""):
                    raise errors.required(f"{where}.{field_name}")
            value = to_decimal(detail["RateValue"])
            if value is None or not ZERO <= value <= 100:
                raise errors.business(f"RateValue must be a number from 0 to 100, not {detail['RateValue']!r}",
                                      f"{where}.RateValue")
            planned.append((detail, None, side))
        code = {"Name": name, "Description": name, "Active": True, "Taxable": True, "TaxGroup": True,
                "SalesTaxRateList": {"TaxRateDetail": []}, "PurchaseTaxRateList": {"TaxRateDetail": []}}
        answered = []
        for detail, rate, side in planned:
            if rate is None:
                rate = self._insert_read_only("TaxRate", {
                    "Name": str(detail["TaxRateName"]), "Description": str(detail["TaxRateName"]),
                    "RateValue": to_decimal(detail["RateValue"]), "Active": True,
                    "AgencyRef": {"value": str(detail["TaxAgencyId"])}, "SpecialTaxType": "NONE",
                    "DisplayType": "ReadOnly"})
            rate_list = code[TAX_APPLICABLE_ON[side]]["TaxRateDetail"]
            rate_list.append({"TaxRateRef": {"value": rate["Id"], "name": rate["Name"]},
                              "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": len(rate_list)})
            answered.append({"TaxRateName": rate["Name"], "TaxRateId": rate["Id"], "RateValue": rate["RateValue"],
                             "TaxAgencyId": rate["AgencyRef"]["value"], "TaxApplicableOn": side})
        code = self._insert_read_only("TaxCode", code)
        return {"TaxCode": code["Name"], "TaxCodeId": code["Id"], "TaxRateDetails": answered}

    def _insert_read_only(self, entity: str, obj: dict) -> dict:
        """Store a list object the API does not create directly (TaxCode, TaxRate) under a new Id."""
        stamp = self._stamp()
        obj.update(Id=self._new_id(), SyncToken="0", domain="QBO", sparse=False,
                   MetaData={"CreateTime": stamp, "LastUpdatedTime": stamp})
        self.objects[entity][obj["Id"]] = obj
        return obj

    def has_entity(self, entity: str) -> bool:
        """Whether this company's country has the entity (JournalCode: France only)."""
        return self.country in COUNTRY_ENTITIES.get(entity, (self.country,))

    def undeposited_funds(self) -> str:
        """The Id of the company's Undeposited Funds account (where a sales receipt's money waits for
        a bank deposit), created the first time it is needed when the company lacks one."""
        for account in self.objects["Account"].values():
            if account.get("AccountSubType") == "UndepositedFunds" and account.get("Active", True):
                return account["Id"]
        name = UNDEPOSITED_FUNDS
        while any(a["FullyQualifiedName"].casefold() == name.casefold() for a in self.objects["Account"].values()):
            name += " (system)"
        account = {"Name": name, "AccountType": "Other Current Asset", "AccountSubType": "UndepositedFunds"}
        self._prepare_named("Account", account, None)
        # A system account, visible at once even to the batch item that needed it.
        running_batch, self._batch_created = self._batch_created, None
        try:
            return self._insert("Account", account)["Id"]
        finally:
            self._batch_created = running_batch

    # -- clock ---------------------------------------------------------------------------------
    def now(self) -> str:
        return format_ms(int(self.clock() * 1000))

    def _stamp(self) -> str:
        """A LastUpdatedTime strictly after every earlier one, so watermark queries never miss."""
        self.last_stamp_ms = max(int(self.clock() * 1000), self.last_stamp_ms + 1)
        return format_ms(self.last_stamp_ms)

    def _new_id(self) -> str:
        object_id = str(self.next_id)
        self.next_id += 1
        return object_id

    # -- reads ---------------------------------------------------------------------------------
    def read(self, path_entity: str, object_id: str) -> dict:
        if path_entity.lower() == "companyinfo":
            return {"CompanyInfo": self.company_info()}
        entity = self._entity(path_entity)
        obj = self._visible(entity, object_id)
        if obj is None:
            raise errors.not_found(entity, object_id)
        return {entity: obj}

    def company_info(self) -> dict:
        return {"CompanyName": self.company_name, "LegalName": self.company_name, "Country": self.country,
                "Id": "1", "SyncToken": "0", "domain": "QBO", "sparse": False,
                "MetaData": {"CreateTime": self.created, "LastUpdatedTime": self.created}}

    def query(self, text: str | None) -> dict:
        if not text or not text.strip():
            raise errors.required("query")
        query = parse(text)
        entity = ENTITY_BY_PATH.get(query.entity.lower())
        if entity is None:
            raise errors.query_invalid(f"{query.entity} is not a queryable entity")
        if not self.has_entity(entity):
            raise errors.query_invalid(f"{entity} is not a queryable entity for this company: "
                                       f"{self._country_note(entity)}")
        query.entity = entity
        # Like QBO, name lists hide inactive objects unless the query filters on Active itself.
        if entity in LIST_ENTITIES and not query.mentions("Active"):
            query.conditions.append(Condition(("active",), "=", (True,)))
        visible = [obj for object_id, obj in self.objects[entity].items()
                   if self._visible(entity, object_id) is not None]
        return {"QueryResponse": run(query, visible)}

    def cdc(self, entities: str | None, changed_since: str | None) -> dict:
        """Change Data Capture: what changed since a moment, deletions included, at most 30 days
        back and 1000 objects (the oldest changes first when there are more)."""
        if not entities:
            raise errors.required("entities")
        if not changed_since:
            raise errors.required("changedSince")
        names = []
        for raw in entities.split(","):
            entity = ENTITY_BY_PATH.get(raw.strip().lower())
            if entity is None or not self.has_entity(entity):
                raise errors.business(f"{raw.strip()!r} is not an entity Change Data Capture covers", "entities")
            names.append(entity)
        since = parse_instant(changed_since)
        if since is None:
            raise errors.business(f"changedSince {changed_since!r} is not a timestamp", "changedSince")
        if since.timestamp() < self.clock() - CDC_MAX_DAYS * 86400:
            raise errors.business(f"changedSince {changed_since!r} is more than {CDC_MAX_DAYS} days ago: "
                                  "query by Metadata.LastUpdatedTime instead", "changedSince")
        changed = []
        for entity in names:
            pool = list(self.objects[entity].values()) + list(self.deleted.get(entity, {}).values())
            for obj in pool:
                stamp = parse_instant(obj["MetaData"]["LastUpdatedTime"])
                if stamp is not None and stamp >= since:
                    changed.append((stamp, entity, obj))
        changed.sort(key=lambda item: item[0])
        by_entity: dict[str, list[dict]] = {entity: [] for entity in names}
        for _, entity, obj in changed[:CDC_MAX_OBJECTS]:
            by_entity[entity].append(obj)
        responses = [{entity: objects, "startPosition": 1, "maxResults": len(objects), "totalCount": len(objects)}
                     for entity, objects in by_entity.items() if objects]
        return {"CDCResponse": [{"QueryResponse": responses}]}

    def preferences(self) -> dict:
        net30 = next((o["Id"] for o in self.objects["Term"].values() if o["Name"] == "Net 30"), None)
        other = {"WarnDuplicateBillNumber": "true", "WarnDuplicateCheckNumber": "true",
                 "SalesFormsPrefs.DefaultCustomerMessage": "", "VendorAndPurchasesPrefs.UseItemsOnPurchaseForms": "true"}
        accounting = {"TrackDepartments": True, "DepartmentTerminology": "Department",
                      "ClassTrackingPerTxn": True, "ClassTrackingPerTxnLine": True, "CustomerTerminology": "Customers"}
        if self.book_close_date:  # QBO leaves out what is not set
            accounting["BookCloseDate"] = self.book_close_date
        return {"Preferences": {
            "AccountingInfoPrefs": accounting,
            "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True},
            "SalesFormsPrefs": {"CustomTxnNumbers": True, "AllowDiscount": True},
            "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True,
                                        **({"DefaultTerms": {"value": net30}} if net30 else {})},
            "CurrencyPrefs": {"MultiCurrencyEnabled": self.multicurrency,
                              "HomeCurrency": {"value": self.home_currency}},
            "OtherPrefs": {"NameValue": [{"Name": k, "Value": v} for k, v in other.items()]},
            "Id": "1", "SyncToken": str(self.preferences_version), "domain": "QBO", "sparse": False,
            "MetaData": {"CreateTime": self.created, "LastUpdatedTime": self.preferences_updated}}}

    def update_preferences(self, body: object) -> dict:
        """POST /preferences: QBO's update of the company preferences (SyncToken checked; sparse or full).
        Of what it sends, only AccountingInfoPrefs.BookCloseDate changes anything: a full update without it
        reopens the books. CurrencyPrefs.MultiCurrencyEnabled may be sent unchanged; Intuit says multicurrency
        is turned on in QuickBooks' settings only, never through the API, and never off again."""
        if not isinstance(body, dict):
            raise errors.malformed_request("the request body must be a JSON object with the Preferences")
        sync_token = body.get("SyncToken")
        if sync_token in (None, ""):
            raise errors.required("SyncToken")
        if str(sync_token) != str(self.preferences_version):
            raise errors.stale_object("Preferences", "1", sync_token, str(self.preferences_version))
        accounting = body.get("AccountingInfoPrefs")
        if accounting is not None and not isinstance(accounting, dict):
            raise errors.malformed_request("AccountingInfoPrefs must be a JSON object")
        currency = body.get("CurrencyPrefs")
        wanted = currency.get("MultiCurrencyEnabled") if isinstance(currency, dict) else None
        if isinstance(wanted, str) and wanted:
            wanted = wanted.strip().lower() == "true"
        if wanted not in (None, "") and bool(wanted) != self.multicurrency:
            raise errors.business("multicurrency is turned on in QuickBooks Online's settings, not through the "
                                  "API, and cannot be turned off once on", "CurrencyPrefs.MultiCurrencyEnabled")
        if body.get("sparse") is True and (accounting is None or "BookCloseDate" not in accounting):
            close_date = self.book_close_date
        else:
            close_date = book_close_date((accounting or {}).get("BookCloseDate"))
        self.book_close_date = close_date
        self.preferences_version += 1
        self.preferences_updated = self._stamp()
        return self.preferences()

    # -- exchange rates -------------------------------------------------------------------------
    def exchange_rate(self, source_code: object, as_of: object) -> dict:
        """GET /exchangerate?sourcecurrencycode=&asofdate=: the rate of one currency into the home currency on a
        day (today without asofdate): the company's own rate for that day, else the market's."""
        code, day = self._rate_key(source_code, as_of)
        return {"ExchangeRate": self._rate_object(code, day, self._rate_on(code, day))}

    def set_exchange_rate(self, body: object) -> dict:
        """POST /exchangerate: the company's own rate for a currency and day (it has no Id: the pair is its key)."""
        if not isinstance(body, dict):
            raise errors.malformed_request("the request body must be a JSON ExchangeRate object")
        for element in ("SourceCurrencyCode", "Rate"):
            if body.get(element) in (None, ""):
                raise errors.required(element)
        code, day = self._rate_key(body["SourceCurrencyCode"], body.get("AsOfDate"))
        target = body.get("TargetCurrencyCode")
        if target not in (None, "", self.home_currency):
            raise errors.business(f"TargetCurrencyCode must be the home currency {self.home_currency}, not "
                                  f"{target!r}", "TargetCurrencyCode")
        rate = to_decimal(body["Rate"])
        if rate is None or rate <= 0:
            raise errors.business(f"Rate {body['Rate']!r} must be a positive number: {self.home_currency} per 1 "
                                  f"{code}", "Rate")
        self.own_rates.setdefault(code, {})[day] = str(rate)
        return {"ExchangeRate": self._rate_object(code, day, rate)}

    def _rate_key(self, source_code: object, as_of: object) -> tuple[str, str]:
        if not self.multicurrency:
            raise errors.business("exchange rates exist only in companies with multicurrency on; this company's "
                                  f"currency is {self.home_currency}", "SourceCurrencyCode")
        if not isinstance(source_code, str) or not _is_code(source_code, 3):
            raise errors.business(f"SourceCurrencyCode must be an ISO 4217 code; got {source_code!r}",
                                  "SourceCurrencyCode")
        code = source_code.upper()
        if code == self.home_currency:
            raise errors.business(f"{code} is the home currency: it has no exchange rate", "SourceCurrencyCode")
        day = as_of or company_today(self.clock())
        try:
            day = date.fromisoformat(str(day)).isoformat()
        except ValueError:
            raise errors.business(f"AsOfDate must be a date YYYY-MM-DD; got {as_of!r}", "AsOfDate") from None
        return code, day

    def _rate_on(self, code: str, day: str) -> Decimal:
        own = self.own_rates.get(code, {}).get(day)
        rate = Decimal(own) if own is not None else market_rate(code, self.home_currency)
        if rate is None:
            raise errors.business(f"no exchange rate for {code} on {day}: QuickBooks has no market rate for it; set "
                                  "the company's rate for that day", "ExchangeRate")
        return rate

    def _rate_object(self, code: str, day: str, rate: Decimal) -> dict:
        return {"SourceCurrencyCode": code, "TargetCurrencyCode": self.home_currency, "Rate": rate,
                "AsOfDate": day, "domain": "QBO", "sparse": False,
                "MetaData": {"LastUpdatedTime": self.preferences_updated}}

    def set_preferences(self, multicurrency: bool | None = None, close_date: object = ...) -> None:
        """The sandbox's stand-in for QBO's settings page: turn multicurrency on (never off again, as in
        QBO) and set or clear the closing date. Raises ValueError."""
        if multicurrency is not None:
            if self.multicurrency and not multicurrency:
                raise ValueError("multicurrency cannot be turned off once on (as in QuickBooks Online)")
            self.multicurrency = bool(multicurrency)
        if close_date is not ...:
            try:
                self.book_close_date = book_close_date(close_date)
            except QBOFault as fault:
                raise ValueError(fault.detail) from None
        self.preferences_version += 1
        self.preferences_updated = self._stamp()

    def stats(self) -> dict:
        return {"realm_id": self.realm_id, "company_name": self.company_name,
                "objects": {name: len(items) for name, items in self.objects.items()},
                "api_requests": self.api_requests, "requestid_replays": self.requestid_replays,
                "answers_dropped": self.answers_dropped}

    # -- writes --------------------------------------------------------------------------------
    def write(self, path_entity: str, body: object, operation: str | None = None,
              allow_duplicate_doc_number: bool = False, include_void: bool = False) -> dict:
        """POST /{entity}: create, update (Id + SyncToken), delete (operation=delete) or void
        (operation=void, or operation=update with include=void)."""
        entity = self._entity(path_entity)
        if not isinstance(body, dict):
            raise errors.malformed_request(f"the request body must be a JSON object with the {entity}")
        if operation == "delete":
            return {entity: self._delete(entity, body)}
        if operation == "void" or (include_void and operation in (None, "update")):
            return {entity: self._void(entity, body)}
        if operation not in (None, "create", "update"):
            raise errors.unsupported(f"Operation {operation} is not supported by the sandbox for {entity}")
        if body.get("Id") not in (None, ""):
            return {entity: self._update(entity, body, allow_duplicate_doc_number)}
        return {entity: self._create(entity, body, allow_duplicate_doc_number)}

    def _create(self, entity: str, body: dict, allow_duplicate_doc_number: bool = False) -> dict:
        if entity in TAX_ENTITIES:
            raise errors.unsupported(f"Operation Create is not supported for {entity} (read-only; TaxService "
                                     "creates tax codes and rates)")
        return self._insert(entity, self._prepare(entity, _writable(entity, body), None, allow_duplicate_doc_number))

    def _insert(self, entity: str, obj: dict) -> dict:
        """Store a prepared new object under a new Id."""
        stamp = self._stamp()
        obj.update(Id=self._new_id(), SyncToken="0", domain="QBO", sparse=False,
                   MetaData={"CreateTime": stamp, "LastUpdatedTime": stamp})
        self.objects[entity][obj["Id"]] = obj
        if self._batch_created is not None:
            self._batch_created.add(obj["Id"])
        self._after_write(entity, None, obj)
        return obj

    def _update(self, entity: str, body: dict, allow_duplicate_doc_number: bool) -> dict:
        current = self._current(entity, body)
        if entity in TAX_ENTITIES:
            raise errors.unsupported(f"Operation Update is not supported for {entity} (read-only)")
        if current["Id"] in self.voided:
            raise errors.business(f"{entity} {current['Id']} is voided and cannot be changed")
        incoming = _writable(entity, body)
        if body.get("sparse") is True:  # a sparse update changes only the top-level fields sent
            incoming = {**_writable(entity, current), **incoming}
            if "Line" in body and "TxnTaxDetail" not in body:
                incoming.pop("TxnTaxDetail", None)  # new lines without a tax of their own: worked out again
        return self._replace(entity, current, self._prepare(entity, incoming, current, allow_duplicate_doc_number))

    def _replace(self, entity: str, current: dict, obj: dict) -> dict:
        """Store the next version of an object: same Id, SyncToken + 1, a new LastUpdatedTime."""
        obj.update(Id=current["Id"], SyncToken=str(int(current["SyncToken"]) + 1), domain="QBO",
                   sparse=False, MetaData={"CreateTime": current["MetaData"]["CreateTime"],
                                           "LastUpdatedTime": self._stamp()})
        self.objects[entity][obj["Id"]] = obj
        self._after_write(entity, current, obj)
        return obj

    def _void(self, entity: str, body: dict) -> dict:
        """Void an Invoice, Payment or BillPayment: the object stays, with every amount zeroed."""
        if entity not in VOIDABLE_ENTITIES:
            raise errors.unsupported(f"Operation Void is not supported for {entity} "
                                     f"(only {', '.join(VOIDABLE_ENTITIES)})")
        current = self._current(entity, body)
        if current["Id"] in self.voided:
            raise errors.business(f"{entity} {current['Id']} is already voided")
        self._check_books_open(entity, None, current)
        payments = _payment_links(current)
        if payments:
            # The sandbox keeps no unapplied credit, so the payments would have nowhere to go.
            raise errors.business(f"{entity} {current['Id']} has payments applied "
                                  f"(TxnId {', '.join(payments)}); void or delete them first")
        voided = self._replace(entity, current, _voided(entity, current))
        self.voided.add(voided["Id"])
        return voided

    def _delete(self, entity: str, body: dict) -> dict:
        if entity in LIST_ENTITIES:
            raise errors.unsupported(f"Operation Delete is not supported for {entity}: "
                                     "make it inactive with Active=false")
        current = self._current(entity, body)
        if entity in TXN_ENTITIES:
            self._check_books_open(entity, None, current)
        payments = _payment_links(current)
        if payments:
            raise errors.business(f"{entity} {current['Id']} has payments applied "
                                  f"(TxnId {', '.join(payments)}); delete them first")
        del self.objects[entity][current["Id"]]
        self.voided.discard(current["Id"])
        self.files.pop(current["Id"], None)
        self.deleted[entity][current["Id"]] = {"Id": current["Id"], "status": "Deleted", "domain": "QBO",
                                               "MetaData": {"LastUpdatedTime": self._stamp()}}
        self._after_write(entity, current, None)
        return {"status": "Deleted", "Id": current["Id"], "domain": "QBO"}

    def _current(self, entity: str, body: dict) -> dict:
        """The stored object an update/delete names, checking its SyncToken is the latest."""
        object_id = str(body.get("Id") or "")
        if not object_id:
            raise errors.required("Id")
        current = self._visible(entity, object_id)
        if current is None:
            raise errors.not_found(entity, object_id)
        sync_token = body.get("SyncToken")
        if sync_token in (None, ""):
            raise errors.required("SyncToken")
        if str(sync_token) != current["SyncToken"]:
            raise errors.stale_object(entity, object_id, sync_token, current["SyncToken"])
        return current

    # -- batch ---------------------------------------------------------------------------------
    def batch(self, body: object, requestid: str | None) -> dict:
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise errors.required("BatchItemRequest")
        if len(items) > BATCH_MAX_ITEMS:
            raise QBOFault("1040", "Batch request exceeds the maximum number of items",
                           f"The batch has {len(items)} BatchItemRequest items; the limit is "
                           f"{BATCH_MAX_ITEMS}", "BatchItemRequest")
        if requestid is not None and len(requestid) > BATCH_REQUESTID_MAX:
            raise errors.business(f"requestid is longer than {BATCH_REQUESTID_MAX} characters on a batch",
                                  "requestid")
        batch_ids = [item.get("bId") if isinstance(item, dict) else None for item in items]
        if not all(isinstance(b, str) and b for b in batch_ids):
            raise errors.required("bId")
        if len(set(batch_ids)) != len(batch_ids):
            raise errors.business("every bId must be unique in the batch", "bId")
        # The 10-character limit belongs to idempotent batches (requestid + bId keys the item);
        # without a requestid, clients such as python-quickbooks send 36-character uuid bIds.
        if requestid is not None and any(len(b) > BATCH_ID_MAX for b in batch_ids):
            raise errors.business(f"with a requestid, every bId must be at most {BATCH_ID_MAX} characters", "bId")
        # QBO runs items in order but a later item cannot see an object an earlier one created:
        # objects created by this batch stay invisible to its reads, references and queries.
        self._batch_created = set()
        try:
            return {"BatchItemResponse": [self._batch_item(item, requestid) for item in items]}
        finally:
            self._batch_created = None

    def _batch_item(self, item: dict, requestid: str | None) -> dict:
        key = f"{requestid}/{item['bId']}" if requestid is not None else None
        if key in self.batch_responses:
            self.requestid_replays += 1
            return copy.deepcopy(self.batch_responses[key])
        try:
            if "Query" in item:
                return {"bId": item["bId"], **self.query(item["Query"])}
            names = [name for name in item if name in ENTITIES]
            if len(names) != 1:
                raise errors.malformed_request("a BatchItemRequest needs exactly one entity or a Query")
            entity = names[0]
            self._check_available(entity)
            body = item[entity]
            if not isinstance(body, dict):
                raise errors.malformed_request(f"{entity} must be a JSON object")
            response = {"bId": item["bId"], entity: self._batch_write(entity, item, body)}
        except QBOFault as fault:
            response = {"bId": item["bId"], "Fault": fault.fault()}
        if key is not None:
            self.batch_responses[key] = copy.deepcopy(response)
        return response

    def _batch_write(self, entity: str, item: dict, body: dict) -> dict:
        """One batch item's create, update, delete or void (operation update + optionsData void)."""
        operation, options = item.get("operation"), item.get("optionsData")
        if operation is None:
            raise errors.required("operation")
        if operation == "update" and options == "void":
            return self._void(entity, body)
        if options or operation not in ("create", "update", "delete"):
            raise errors.unsupported(f"batch operation {operation!r} with optionsData {options!r} is not "
                                     "supported by the sandbox")
        if operation == "create":
            return self._create(entity, body)
        if operation == "update":
            return self._update(entity, body, False)
        return self._delete(entity, body)

    # -- attachments ---------------------------------------------------------------------------
    def upload(self, files: list[UploadedFile]) -> dict:
        """POST /upload: one Attachable per file. Every file is checked before any is stored."""
        prepared = [(self._prepare_upload(upload), upload.data) for upload in files]
        created = []
        for obj, data in prepared:
            attachable = self._insert("Attachable", obj)
            self.files[attachable["Id"]] = data
            created.append({"Attachable": attachable})
        return {"AttachableResponse": created}

    def _prepare_upload(self, upload: UploadedFile) -> dict:
        if upload.metadata.get("Id") not in (None, ""):
            raise errors.unsupported("an upload creates new attachables; change one with "
                                     "POST /attachable (Id and SyncToken)")
        obj = _writable("Attachable", upload.metadata)
        obj["FileName"] = str(obj.get("FileName") or upload.file_name or "")
        if not obj["FileName"]:
            raise errors.required("FileName")
        obj["ContentType"] = obj.get("ContentType") or upload.content_type or "application/octet-stream"
        obj = self._prepare("Attachable", obj, None, False)
        obj["Size"] = len(upload.data)
        return obj

    def _prepare_attachable(self, obj: dict, current: dict | None) -> None:
        refs = obj.get("AttachableRef")
        if refs is not None and not isinstance(refs, list):
            raise errors.malformed_request("AttachableRef must be a list")
        for ref in refs or []:
            self._check_attachable_ref(ref)
        if current is not None and current["Id"] in self.files:  # the uploaded file keeps its name, type, size
            for key in ("FileName", "ContentType"):
                obj[key] = obj.get(key) or current.get(key)
            obj["Size"] = current["Size"]
        if not obj.get("FileName") and not obj.get("Note"):
            raise errors.required("Note")
        for key, limit in ATTACHABLE_TEXT_MAX.items():
            if len(str(obj.get(key) or "")) > limit:
                raise errors.business(f"{key} is longer than {limit} characters", key)

    def _check_attachable_ref(self, ref: object) -> None:
        """AttachableRef.EntityRef {type, value} must name an existing object of a sandbox entity."""
        entity_ref = ref.get("EntityRef") if isinstance(ref, dict) else None
        if not isinstance(entity_ref, dict):
            raise errors.required("AttachableRef.EntityRef")
        type_name, value = str(entity_ref.get("type") or ""), entity_ref.get("value")
        if not type_name:
            raise errors.required("AttachableRef.EntityRef.type")
        if value in (None, ""):
            raise errors.required("AttachableRef.EntityRef.value")
        target = ENTITY_BY_PATH.get(type_name.lower())
        if target in (None, "Attachable") or self._visible(target, str(value)) is None:
            raise errors.invalid_reference("AttachableRef.EntityRef", target or type_name, value)
        entity_ref.update(type=target, value=str(value))
        ref.setdefault("IncludeOnSend", False)

    # -- validation ----------------------------------------------------------------------------
    def _entity(self, path_entity: str) -> str:
        entity = ENTITY_BY_PATH.get(path_entity.lower())
        if entity is None:
            raise errors.unsupported(f"the sandbox does not implement the {path_entity} entity")
        self._check_available(entity)
        return entity

    def _check_available(self, entity: str) -> None:
        # A country-only entity is, elsewhere, what any entity the company lacks is: unsupported.
        if not self.has_entity(entity):
            raise errors.unsupported(f"the {entity} entity is not available to this company: "
                                     f"{self._country_note(entity)}")

    def _country_note(self, entity: str) -> str:
        return (f"{entity} exists only for companies in {' or '.join(COUNTRY_ENTITIES[entity])}; "
                f"this company's country is {self.country}")

    def _visible(self, entity: str, object_id: str) -> dict | None:
        if self._batch_created and object_id in self._batch_created:
            return None
        return self.objects[entity].get(object_id)

    def _prepare(self, entity: str, obj: dict, current: dict | None, allow_duplicate_doc_number: bool) -> dict:
        if entity in PARTIES:
            self._prepare_party(entity, obj, current)
        elif entity == "JournalCode":
            self._prepare_journal_code(obj, current)
        elif entity in LIST_ENTITIES:
            self._prepare_named(entity, obj, current)
        elif entity in PAYMENT_RULES:
            self._prepare_payment(entity, obj, current)
        elif entity == "JournalEntry":
            self._prepare_journal_entry(obj)
        elif entity == "CreditMemo":
            self._prepare_credit_memo(obj)
        elif entity == "SalesReceipt":
            self._prepare_sales_receipt(obj)
        elif entity == "VendorCredit":
            self._prepare_vendor_credit(obj)
        elif entity == "Purchase":
            self._prepare_purchase(obj)
        elif entity == "Deposit":
            self._prepare_deposit(obj)
        elif entity == "Attachable":
            self._prepare_attachable(obj, current)
        else:
            self._prepare_document(entity, obj, current, allow_duplicate_doc_number)
        if entity in TAX_SIDES:
            self._apply_tax(entity, obj)
        if entity in TXN_ENTITIES:
            self._check_journal_code_refs(entity, obj)
            self._apply_currency(entity, obj)
            self._check_books_open(entity, obj, current)
        self._check_refs(entity, obj)
        self._check_payables_receivables_refs(obj)
        return obj

    def _check_payables_receivables_refs(self, obj: dict) -> None:
        """APAccountRef (a bill, vendor credit, bill payment, or a French vendor's own) must be an Accounts
        Payable account, ARAccountRef (a French customer's own) an Accounts Receivable one (Finance.xsd: "the
        account must be a Liability account ... of type Payables"): 6000 naming the field otherwise."""
        for field, wanted in (("APAccountRef", "Accounts Payable"), ("ARAccountRef", "Accounts Receivable")):
            ref = obj.get(field)
            if not isinstance(ref, dict) or ref.get("value") in (None, ""):
                continue
            account = self._resolve_ref("Account", ref, field)
            if account.get("AccountType") != wanted:
                raise errors.business(f"{field} must be an {wanted} account; Account {account['Id']} "
                                      f"({account.get('Name')}) is {account.get('AccountType')}", field)

    def _prepare_journal_code(self, obj: dict, current: dict | None) -> None:
        """A French journal (ACH, VTE, BQ, ...): Name unique (6240), Type from JournalCodeTypeEnum and, as
        the CData/Intuit column notes say, fixed once created; Description optional."""
        name = str(obj.get("Name") or "").strip()
        if not name:
            raise errors.required("Name")
        if len(name) > JOURNAL_CODE_NAME_MAX or any(c in name for c in ":\t\n\r"):
            raise errors.business(f"JournalCode Name must be at most {JOURNAL_CODE_NAME_MAX} characters "
                                  "without colons, tabs or newlines", "Name")
        own_id = current["Id"] if current else None
        for other in self.objects["JournalCode"].values():
            if other["Name"].casefold() == name.casefold() and other["Id"] != own_id:
                raise errors.duplicate_name(other["Id"])
        journal_type = obj.get("Type") or (current or {}).get("Type") or "Others"
        if journal_type not in JOURNAL_CODE_TYPES:
            raise errors.business(f"Type {journal_type!r} must be one of {', '.join(JOURNAL_CODE_TYPES)}", "Type")
        if current and journal_type != current["Type"]:
            raise errors.business(f"the Type of a journal code cannot change once created (it is "
                                  f"{current['Type']})", "Type")
        obj.update(Name=name, Type=journal_type)
        obj.setdefault("Active", True)

    def _check_journal_code_refs(self, entity: str, obj: dict) -> None:
        """JournalCodeRef exists only on a journal entry line's JournalEntryLineDetail (Finance.xsd), and
        only in France; elsewhere QBO's parser refuses the unknown property (2010)."""
        if "JournalCodeRef" in obj:
            raise errors.unrecognized_property("JournalCodeRef", entity)
        for line in obj.get("Line") or []:
            if not isinstance(line, dict):
                continue
            for key, detail in line.items():
                if isinstance(detail, dict) and "JournalCodeRef" in detail:
                    if key != "JournalEntryLineDetail" or entity != "JournalEntry":
                        raise errors.unrecognized_property("JournalCodeRef", key)
                    if not self.has_entity("JournalCode"):
                        raise errors.business(f"JournalCodeRef can only be used by {self._country_note('JournalCode')}",
                                              "Line.JournalEntryLineDetail.JournalCodeRef")
                    ref = detail["JournalCodeRef"]
                    if not isinstance(ref, dict):
                        raise errors.malformed_request("JournalCodeRef must be a reference object {\"value\": Id}")
                    self._resolve_ref("JournalCode", ref, "JournalCodeRef")

    def _apply_currency(self, entity: str, obj: dict) -> None:
        """CurrencyRef defaults to the home currency. Multicurrency off: only the home currency, and no
        ExchangeRate/HomeTotalAmt (single-currency companies do not have them). On: a foreign document needs a
        positive ExchangeRate (home units per foreign unit), a home one has 1; HomeTotalAmt = TotalAmt x rate."""
        ref = obj.get("CurrencyRef")
        if ref in (None, {}):
            ref = {"value": self.home_currency}
        if not isinstance(ref, dict) or not isinstance(ref.get("value"), str) or not _is_code(ref["value"], 3):
            raise errors.business(f"CurrencyRef must name a currency by its ISO 4217 code, e.g. "
                                  f"{{\"value\": \"{self.home_currency}\"}}; got {ref!r}", "CurrencyRef")
        code = ref["value"].upper()
        obj["CurrencyRef"] = {"value": code, "name": CURRENCY_NAMES.get(code, code)}
        foreign = code != self.home_currency
        if foreign and not self.multicurrency:
            raise errors.business(f"CurrencyRef {code} is not the home currency {self.home_currency}, and "
                                  "multicurrency is off for this company", "CurrencyRef")
        if entity in PAYMENT_RULES:  # a payment is in the currency of what it pays
            doc_entity = PAYMENT_RULES[entity][1]
            for doc_id in _applications(obj):
                doc_code = self.objects[doc_entity][doc_id]["CurrencyRef"]["value"]
                if doc_code != code:
                    raise errors.business(f"the payment is in {code} but {doc_entity} {doc_id} is in {doc_code}",
                                          "CurrencyRef")
        if not self.multicurrency:
            obj.pop("ExchangeRate", None)
            return
        rate = ONE
        if foreign:
            if obj.get("ExchangeRate") in (None, ""):
                # As QuickBooks does: without a rate on the transaction, the company's rate for its date.
                obj["ExchangeRate"] = self._rate_on(code, str(obj.get("TxnDate") or company_today(self.clock())))
            rate = to_decimal(obj["ExchangeRate"])
            if rate is None or rate <= 0:
                raise errors.business(f"ExchangeRate {obj['ExchangeRate']!r} must be a positive number: "
                                      f"{self.home_currency} per 1 {code}", "ExchangeRate")
        obj["ExchangeRate"] = rate
        obj["HomeTotalAmt"] = (obj["TotalAmt"] * rate).quantize(CENT, rounding=ROUND_HALF_UP)

    def _check_books_open(self, entity: str, obj: dict | None, current: dict | None) -> None:
        """Closed books: nothing dated on or before BookCloseDate is created, changed, voided or deleted,
        and nothing is moved into the closed period (6210)."""
        if not self.book_close_date:
            return
        for doc in (current, obj):
            if doc is not None and str(doc.get("TxnDate", "")) <= self.book_close_date:
                raise errors.account_period_closed(self.book_close_date, entity, str(doc["TxnDate"]))

    def _prepare_party(self, entity: str, obj: dict, current: dict | None) -> None:
        given = " ".join(str(obj[k]) for k in ("GivenName", "MiddleName", "FamilyName") if obj.get(k))
        name = str(obj.get("DisplayName") or obj.get("CompanyName") or given).strip()
        if not name:
            raise errors.required("DisplayName")
        if any(c in name for c in ":\t\n\r"):
            raise errors.business("DisplayName cannot contain a colon (:), a tab or a newline", "DisplayName")
        if len(name) > 500:
            raise errors.business("DisplayName is longer than 500 characters", "DisplayName")
        own_id = current["Id"] if current else None
        for party in PARTIES:  # inactive parties keep their names too
            for other in self.objects[party].values():
                if other["DisplayName"].casefold() == name.casefold() and not (party == entity and other["Id"] == own_id):
                    raise errors.duplicate_name(other["Id"])
        obj["DisplayName"] = name
        obj.setdefault("Active", True)
        if entity != "Employee":
            obj["Balance"] = current.get("Balance", ZERO) if current else ZERO

    def _prepare_named(self, entity: str, obj: dict, current: dict | None) -> None:
        name = str(obj.get("Name") or "").strip()
        if not name:
            raise errors.required("Name")
        forbidden = ':"' if entity == "Account" else ":"
        if any(c in name for c in forbidden + "\t\n\r") or len(name) > 100:
            raise errors.business(f"{entity} Name must be at most 100 characters without "
                                  f"{' or '.join(forbidden)}, tabs or newlines", "Name")
        full_name = name
        if entity in ("Account", "Class", "Department", "Item") and obj.get("ParentRef"):
            parent = self._resolve_ref(entity, obj["ParentRef"], "ParentRef")
            if current and parent["Id"] == current["Id"]:
                raise errors.business(f"a {entity} cannot be its own parent", "ParentRef")
            full_name = f"{parent['FullyQualifiedName']}:{name}"
            if full_name.count(":") > 4:
                raise errors.business(f"{entity} hierarchy is deeper than 5 levels", "ParentRef")
        if entity in ("Account", "Class", "Department", "Item"):
            own_id = current["Id"] if current else None
            for other in self.objects[entity].values():
                if other["FullyQualifiedName"].casefold() == full_name.casefold() and other["Id"] != own_id:
                    raise errors.duplicate_name(other["Id"])
            obj["FullyQualifiedName"] = full_name
            sub_flag = {"Account": "SubAccount", "Class": "SubClass", "Department": "SubDepartment"}.get(entity)
            if sub_flag:
                obj[sub_flag] = bool(obj.get("ParentRef"))
        elif entity == "Term":
            own_id = current["Id"] if current else None
            for other in self.objects["Term"].values():
                if other["Name"].casefold() == name.casefold() and other["Id"] != own_id:
                    raise errors.duplicate_name(other["Id"])
            obj.setdefault("Type", "STANDARD")
        obj["Name"] = name
        obj.setdefault("Active", True)
        if entity == "Account":
            account_type = obj.get("AccountType")
            if not account_type:
                raise errors.required("AccountType")
            if account_type not in ACCOUNT_CLASSIFICATION:
                raise errors.business(f"AccountType {account_type!r} is not a QBO account type", "AccountType")
            obj["Classification"] = ACCOUNT_CLASSIFICATION[account_type]
            obj["CurrentBalance"] = current.get("CurrentBalance", ZERO) if current else ZERO
        elif entity == "Item":
            obj.setdefault("Type", "Service")

    def _prepare_document(self, entity: str, obj: dict, current: dict | None,
                          allow_duplicate_doc_number: bool) -> None:
        """Bill, Invoice, PurchaseOrder: totals from the lines, balance net of applied payments."""
        party_key = "CustomerRef" if entity == "Invoice" else "VendorRef"
        _require_ref(obj, party_key)
        total = _sum_lines(obj, SALES_DETAILS if entity == "Invoice" else EXPENSE_DETAILS)
        _check_doc_number(obj)
        if entity == "Bill" and obj.get("DocNumber") and not allow_duplicate_doc_number:
            for other in self.objects["Bill"].values():
                if (other.get("DocNumber") == obj["DocNumber"] and other["Id"] != (current or {}).get("Id")
                        and other["VendorRef"]["value"] == str(obj["VendorRef"]["value"])):
                    raise errors.duplicate_doc_number(obj["DocNumber"], "Bill", other["Id"])
        obj["TotalAmt"] = total
        if entity == "PurchaseOrder":
            _default_dates(obj, self.clock())
            obj.setdefault("POStatus", "Open")
            if obj["POStatus"] not in ("Open", "Closed"):
                raise errors.business("POStatus must be Open or Closed", "POStatus")
            return
        _default_dates(obj, self.clock(), self._term_days(obj.get("SalesTermRef")))
        # Payment links are written by the payments themselves; a client may only link a PurchaseOrder.
        payment_links = [l for l in (current or {}).get("LinkedTxn", []) if l["TxnType"] in PAYMENT_LINK_TYPES]
        client_links = [l for l in obj.get("LinkedTxn") or [] if isinstance(l, dict) and l.get("TxnType") == "PurchaseOrder"]
        for link in client_links:
            if self._visible("PurchaseOrder", str(link.get("TxnId"))) is None:
                raise errors.invalid_reference("LinkedTxn", "PurchaseOrder", link.get("TxnId"))
        paid = current["TotalAmt"] - current["Balance"] if current else ZERO
        if total < paid:
            raise errors.business(f"TotalAmt {total} would be less than the {paid} already paid", "Line.Amount")
        obj["Balance"] = total - paid
        if client_links or payment_links:
            obj["LinkedTxn"] = client_links + payment_links
        else:
            obj.pop("LinkedTxn", None)

    def _apply_tax(self, entity: str, obj: dict) -> None:
        """Tax as a non-US company books it. Each line's TaxCodeRef names TaxRates on the document's side
        (TAX_SIDES); the tax is worked out per line and rate (the net amount x RateValue / 100, the net being
        the amount less the tax inside it under GlobalTaxCalculation TaxInclusive), rounded half up to the
        cent, and added up per rate into TxnTaxDetail (TotalTax, one TaxLine per rate with NetAmountTaxable).
        A TxnTaxDetail the request supplies is kept instead: each TaxLine's Amount replaces the worked-out
        tax of its TaxRateRef (which must exist, 2500, and be a rate of a line's code on this side, 6000;
        OverrideDeltaAmount holds the difference), its TotalTax stays as given. TaxExcluded (the default):
        TotalAmt and Balance add TotalTax; TaxInclusive: the tax is inside the lines. Codes without rates
        (the US TAX and NON) give no TxnTaxDetail, as before; NotApplicable computes none."""
        supplied = obj.pop("TxnTaxDetail", None)
        mode = obj.get("GlobalTaxCalculation") or "TaxExcluded"
        if mode == "NotApplicable":
            return
        computed: dict[str, list] = {}  # rate Id -> [tax, net amount taxable, the TaxRate]
        for line in obj["Line"]:
            detail = line.get(line.get("DetailType"))
            code_ref = detail.get("TaxCodeRef") if isinstance(detail, dict) else None
            code = self._visible("TaxCode", str(code_ref.get("value"))) if isinstance(code_ref, dict) else None
            if code is None or line.get("DetailType") in NON_POSTING_DETAILS:
                continue  # an unknown code is refused by _check_refs (2500)
            rates = [self.objects["TaxRate"][str(d["TaxRateRef"]["value"])]
                     for d in (code.get(TAX_SIDES[entity]) or {}).get("TaxRateDetail") or []]
            whole = sum((rate["RateValue"] for rate in rates), ZERO)
            net = line["Amount"] / (1 + whole / 100) if mode == "TaxInclusive" else line["Amount"]
            for rate in rates:
                totals = computed.setdefault(rate["Id"], [ZERO, ZERO, rate])
                totals[0] += (net * rate["RateValue"] / 100).quantize(CENT, rounding=ROUND_HALF_UP)
                totals[1] += net.quantize(CENT, rounding=ROUND_HALF_UP)
        overrides, total_tax = self._supplied_tax(entity, supplied, computed)
        if not computed:
            return
        tax_lines = []
        for rate_id, (tax, net, rate) in computed.items():
            amount = overrides.get(rate_id, tax)
            detail = {"TaxRateRef": {"value": rate_id, "name": rate["Name"]}, "PercentBased": True,
                      "TaxPercent": rate["RateValue"], "NetAmountTaxable": net}
            if amount != tax:
                detail["OverrideDeltaAmount"] = amount - tax
            tax_lines.append({"Amount": amount, "DetailType": "TaxLineDetail", "TaxLineDetail": detail})
        if total_tax is None:
            total_tax = sum((line["Amount"] for line in tax_lines), ZERO)
        obj["TxnTaxDetail"] = {"TotalTax": total_tax, "TaxLine": tax_lines}
        if mode != "TaxInclusive":
            obj["TotalAmt"] += total_tax
            for key in ("Balance", "RemainingCredit"):
                if key in obj and entity != "SalesReceipt":
                    obj[key] += total_tax

    def _supplied_tax(self, entity: str, supplied: object, computed: dict[str, list]
                      ) -> tuple[dict[str, Decimal], Decimal | None]:
        """A supplied TxnTaxDetail checked: (tax by rate Id from its TaxLines, its TotalTax or None)."""
        if supplied is None:
            return {}, None
        if not isinstance(supplied, dict) or not isinstance(supplied.get("TaxLine") or [], list):
            raise errors.malformed_request("TxnTaxDetail must be an object whose TaxLine is a list")
        overrides: dict[str, Decimal] = {}
        for number, tax_line in enumerate(supplied.get("TaxLine") or [], 1):
            detail = tax_line.get("TaxLineDetail") if isinstance(tax_line, dict) else None
            if not isinstance(detail, dict) or tax_line.get("DetailType") != "TaxLineDetail":
                raise errors.business(f"TaxLine {number} must have DetailType TaxLineDetail and a TaxLineDetail",
                                      "TxnTaxDetail.TaxLine.DetailType")
            ref = detail.get("TaxRateRef")
            if not isinstance(ref, dict) or ref.get("value") in (None, ""):
                raise errors.required(TAX_LINE_ELEMENT)
            rate = self._visible("TaxRate", str(ref["value"]))
            if rate is None:
                raise errors.invalid_reference(TAX_LINE_ELEMENT, "TaxRate", ref["value"])
            if rate["Id"] not in computed:
                raise errors.business(f"TaxRate {rate['Id']} ({rate['Name']}) is not a rate of the tax code of any "
                                      f"line of this {entity}", TAX_LINE_ELEMENT)
            amount = to_decimal(tax_line.get("Amount"))
            if amount is None:
                raise errors.required("TxnTaxDetail.TaxLine.Amount")
            overrides[rate["Id"]] = overrides.get(rate["Id"], ZERO) + amount
        total_tax = supplied.get("TotalTax")
        if total_tax is not None and to_decimal(total_tax) is None:
            raise errors.business(f"TotalTax {total_tax!r} is not a number", "TxnTaxDetail.TotalTax")
        return overrides, to_decimal(total_tax) if total_tax is not None else None

    def _prepare_credit_memo(self, obj: dict) -> None:
        """A customer's credit, lines by item as on an Invoice, no DueDate. Nothing here applies a credit
        memo to an invoice, so all of it remains: Balance = RemainingCredit = TotalAmt."""
        _require_ref(obj, "CustomerRef")
        total = _sum_lines(obj, SALES_DETAILS)
        _check_doc_number(obj)
        obj["TotalAmt"] = obj["Balance"] = obj["RemainingCredit"] = total
        _default_dates(obj, self.clock())

    def _prepare_vendor_credit(self, obj: dict) -> None:
        """A vendor's credit, lines by account or item as on a Bill, no DueDate. Nothing here applies it to
        a bill, so all of it remains (Balance = TotalAmt) and lowers what the vendor is owed."""
        _require_ref(obj, "VendorRef")
        total = _sum_lines(obj, EXPENSE_DETAILS)
        _check_doc_number(obj)
        obj["TotalAmt"] = obj["Balance"] = total
        _default_dates(obj, self.clock())

    def _prepare_purchase(self, obj: dict) -> None:
        """Money spent (an expense, a check, a card charge): PaymentType and the AccountRef it is paid from, of
        the type the payment type takes (6000 otherwise); the payee, optional, as EntityRef {value, type}; lines
        by account or item as on a Bill. Nothing is left to pay on it: no Balance."""
        payment_type = obj.get("PaymentType")
        if not payment_type:
            raise errors.required("PaymentType")
        if payment_type not in PURCHASE_ACCOUNT_TYPES:
            raise errors.business(f"PaymentType {payment_type!r} must be Cash, Check or CreditCard", "PaymentType")
        ref = obj.get("AccountRef")
        if not isinstance(ref, dict) or ref.get("value") in (None, ""):
            raise errors.required("AccountRef")
        account = self._resolve_ref("Account", ref, "AccountRef")
        wanted = PURCHASE_ACCOUNT_TYPES[payment_type]
        if account.get("AccountType") != wanted:
            raise errors.business(f"AccountRef of a {payment_type} purchase must be a {wanted} account; Account "
                                  f"{account['Id']} ({account.get('Name')}) is {account.get('AccountType')}",
                                  "AccountRef")
        self._check_entity_ref(obj.get("EntityRef"), "EntityRef")
        total = _sum_lines(obj, EXPENSE_DETAILS)
        _check_doc_number(obj)
        obj["TotalAmt"] = total
        obj.pop("Balance", None)
        _default_dates(obj, self.clock())

    def _prepare_deposit(self, obj: dict) -> None:
        """Money deposited to DepositToAccountRef (a Bank or Other Current Asset account, 6000 otherwise), each
        line crediting the account of its DepositLineDetail, with the payer as the detail's Entity {value, type}."""
        ref = obj.get("DepositToAccountRef")
        if not isinstance(ref, dict) or ref.get("value") in (None, ""):
            raise errors.required("DepositToAccountRef")
        account = self._resolve_ref("Account", ref, "DepositToAccountRef")
        if account.get("AccountType") not in DEPOSIT_ACCOUNT_TYPES:
            raise errors.business(f"DepositToAccountRef must be a Bank or Other Current Asset account; Account "
                                  f"{account['Id']} ({account.get('Name')}) is {account.get('AccountType')}",
                                  "DepositToAccountRef")
        total = _sum_lines(obj, DEPOSIT_DETAILS)
        for line in obj["Line"]:
            detail = line.get("DepositLineDetail")
            if isinstance(detail, dict):
                self._check_entity_ref(detail.get("Entity"), "Line.DepositLineDetail.Entity")
        _check_doc_number(obj)
        obj["TotalAmt"] = total
        _default_dates(obj, self.clock())

    def _check_entity_ref(self, ref: object, element: str) -> None:
        """An optional party reference {value, type}: type Vendor, Customer or Employee, naming one that exists."""
        if ref is None:
            return
        if not isinstance(ref, dict):
            raise errors.malformed_request(f"{element} must be a reference object {{\"value\": Id, \"type\": ...}}")
        party = str(ref.get("type") or "")
        if not party:
            raise errors.required(f"{element}.type")
        if party not in PARTIES:
            raise errors.business(f"{element}.type must be Vendor, Customer or Employee; got {party!r}",
                                  f"{element}.type")
        self._resolve_ref(party, ref, element)

    def _prepare_sales_receipt(self, obj: dict) -> None:
        """A sale paid on the spot: lines by item as on an Invoice, nothing left to pay (Balance 0), the
        money deposited to DepositToAccountRef (a Bank or Other Current Asset account), by default the
        company's Undeposited Funds."""
        _require_ref(obj, "CustomerRef")
        total = _sum_lines(obj, SALES_DETAILS)
        _check_doc_number(obj)
        deposit = obj.get("DepositToAccountRef")
        if deposit in (None, {}):
            obj["DepositToAccountRef"] = {"value": self.undeposited_funds()}
        elif not isinstance(deposit, dict):
            raise errors.malformed_request("DepositToAccountRef must be a reference object")
        else:
            account = self._resolve_ref("Account", deposit, "DepositToAccountRef")
            if account.get("AccountType") not in DEPOSIT_ACCOUNT_TYPES:
                raise errors.business(f"DepositToAccountRef must be a Bank or Other Current Asset account; "
                                      f"Account {account['Id']} ({account.get('Name')}) is "
                                      f"{account.get('AccountType')}", "DepositToAccountRef")
        obj["TotalAmt"], obj["Balance"] = total, ZERO
        _default_dates(obj, self.clock())

    def _prepare_journal_entry(self, obj: dict) -> None:
        _sum_lines(obj, JOURNAL_DETAILS, frozenset())
        totals = {"Debit": ZERO, "Credit": ZERO}
        for line in obj["Line"]:
            posting = line["JournalEntryLineDetail"].get("PostingType")
            if not posting:
                raise errors.required("Line.JournalEntryLineDetail.PostingType")
            if posting not in totals:
                raise errors.business(f"PostingType {posting!r} must be Debit or Credit", "PostingType")
            totals[posting] += line["Amount"]
            entity_ref = line["JournalEntryLineDetail"].get("Entity")
            if isinstance(entity_ref, dict) and entity_ref.get("Type") not in PARTIES:
                raise errors.business("Entity.Type must be Customer, Vendor or Employee", "Entity.Type")
        if totals["Debit"] != totals["Credit"]:
            raise errors.business(f"Journal entry does not balance: debits {totals['Debit']} and "
                                  f"credits {totals['Credit']} must be equal", "Line")
        _check_doc_number(obj)
        obj["TotalAmt"] = totals["Debit"]
        _default_dates(obj, self.clock())

    def _prepare_payment(self, entity: str, obj: dict, current: dict | None) -> None:
        """BillPayment / Payment: every line applies its Amount to one open Bill / Invoice of the party."""
        party_key, doc_entity = PAYMENT_RULES[entity]
        party_id = _require_ref(obj, party_key)
        total = to_decimal(obj.get("TotalAmt"))
        if total is None:
            raise errors.required("TotalAmt")
        if entity == "BillPayment":
            self._check_pay_type(obj)
        lines = obj.get("Line")
        if not isinstance(lines, list) or not lines:
            raise errors.required("Line")
        applied: dict[str, Decimal] = defaultdict(Decimal)
        for number, line in enumerate(lines, 1):
            amount = to_decimal(line.get("Amount")) if isinstance(line, dict) else None
            if amount is None:
                raise errors.required("Line.Amount")
            if amount <= 0:
                raise errors.business(f"Line {number} Amount must be more than zero", "Line.Amount")
            links = line.get("LinkedTxn")
            if not isinstance(links, list) or not links or not isinstance(links[0], dict):
                raise errors.required("Line.LinkedTxn")
            if len(links) != 1 or links[0].get("TxnType") != doc_entity:
                raise errors.business(f"Line {number} must link exactly one {doc_entity} "
                                      f"(TxnType {doc_entity})", "Line.LinkedTxn")
            doc_id = str(links[0].get("TxnId") or "")
            if not doc_id:
                raise errors.required("Line.LinkedTxn.TxnId")
            doc = self._visible(doc_entity, doc_id)
            if doc is None:
                raise errors.invalid_reference("LinkedTxn.TxnId", doc_entity, doc_id)
            if doc[party_key]["value"] != party_id:
                raise errors.business(f"{doc_entity} {doc_id} belongs to another {party_key[:-3]}", party_key)
            line.update(Amount=amount, LinkedTxn=[{"TxnId": doc_id, "TxnType": doc_entity}])
            applied[doc_id] += amount
        if sum(applied.values()) != total:
            raise errors.business(f"the line amounts ({sum(applied.values())}) must add up to "
                                  f"TotalAmt ({total})", "TotalAmt")
        already = _applications(current) if current else {}
        for doc_id, amount in applied.items():
            open_balance = self.objects[doc_entity][doc_id]["Balance"] + already.get(doc_id, ZERO)
            if amount > open_balance:
                raise errors.business(f"the payment applies {amount} to {doc_entity} {doc_id}, more than "
                                      f"its open balance of {open_balance}", "Line.Amount")
        obj["TotalAmt"] = total
        if entity == "Payment":
            obj["UnappliedAmt"] = ZERO
        _default_dates(obj, self.clock())

    def _check_pay_type(self, obj: dict) -> None:
        pay_type = obj.get("PayType")
        if not pay_type:
            raise errors.required("PayType")
        detail_key, ref_key, account_type = {
            "Check": ("CheckPayment", "BankAccountRef", "Bank"),
            "CreditCard": ("CreditCardPayment", "CCAccountRef", "Credit Card"),
        }.get(pay_type, (None, None, None))
        if detail_key is None:
            raise errors.business("PayType must be Check or CreditCard", "PayType")
        element = f"{detail_key}.{ref_key}"
        ref = (obj.get(detail_key) or {}).get(ref_key)
        if not isinstance(ref, dict) or not ref.get("value"):
            raise errors.required(element)
        if self._resolve_ref("Account", ref, element).get("AccountType") != account_type:
            raise errors.business(f"{element} must be a {account_type} account", element)

    def _term_days(self, term_ref: object) -> int:
        term = self._visible("Term", str(term_ref.get("value"))) if isinstance(term_ref, dict) else None
        return int(term.get("DueDays") or 0) if term else 0

    def _check_refs(self, owner: str, node: object) -> None:
        """Every reference must name an existing (2500), active (610) object; fill in its name."""
        if isinstance(node, list):
            for item in node:
                self._check_refs(owner, item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            target = REF_TARGETS.get(key) or (owner if key == "ParentRef" else None)
            if key == "EntityRef" and node.get("Type") in PARTIES:
                target = node["Type"]
            if target and isinstance(value, dict):
                self._resolve_ref(target, value, key)
            else:
                self._check_refs(owner, value)

    def _resolve_ref(self, entity: str, ref: dict, element: str) -> dict:
        value = ref.get("value")
        if value in (None, ""):
            raise errors.required(element)
        target = self._visible(entity, str(value))
        if target is None:
            raise errors.invalid_reference(element, entity, value)
        if target.get("Active") is False:
            raise errors.inactive_reference(element, entity, value)
        ref["value"] = str(value)
        ref["name"] = target.get("DisplayName") or target.get("FullyQualifiedName") or target.get("Name")
        return target

    # -- side effects --------------------------------------------------------------------------
    def _after_write(self, entity: str, old: dict | None, new: dict | None) -> None:
        """Apply payments to their documents and keep the parties' read-only Balance current."""
        if entity in PAYMENT_RULES:
            if old:
                self._apply_payment(entity, old, -1)
            if new:
                self._apply_payment(entity, new, +1)
        elif entity in DOCUMENT_PARTIES:
            owed = -1 if entity in CREDITS else +1
            for doc, sign in ((old, -1), (new, +1)):
                if doc:
                    self._adjust_party_balance(entity, doc, owed * sign * doc["Balance"])

    def _apply_payment(self, entity: str, payment: dict, sign: int) -> None:
        doc_entity = PAYMENT_RULES[entity][1]
        link_type = {"Payment": "Payment", "Check": "BillPaymentCheck", "CreditCard": "BillPaymentCreditCard"}[
            "Payment" if entity == "Payment" else payment["PayType"]]
        for doc_id, amount in _applications(payment).items():
            doc = self.objects[doc_entity][doc_id]
            links = [l for l in doc.get("LinkedTxn", []) if l["TxnId"] != payment["Id"]]
            if sign > 0:
                links.append({"TxnId": payment["Id"], "TxnType": link_type})
            doc["LinkedTxn"] = links
            if not links:
                del doc["LinkedTxn"]
            doc["Balance"] -= sign * amount
            self._adjust_party_balance(doc_entity, doc, -sign * amount)
            # The document changed, so incremental pulls must see it again.
            doc["SyncToken"] = str(int(doc["SyncToken"]) + 1)
            doc["MetaData"] = {**doc["MetaData"], "LastUpdatedTime": self._stamp()}

    def _adjust_party_balance(self, doc_entity: str, doc: dict, delta: Decimal) -> None:
        """A party's Balance is the sum of its documents' open balances, kept by deltas."""
        party_entity = DOCUMENT_PARTIES[doc_entity]
        party = self.objects[party_entity].get(doc[f"{party_entity}Ref"]["value"])
        if party is not None:
            party["Balance"] += delta


def _writable(entity: str, obj: dict) -> dict:
    """A deep copy without the fields QBO owns (ids, metadata) or computes (totals, balances)."""
    dropped = SERVER_FIELDS | COMPUTED_FIELDS.get(entity, set())
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in dropped}


def _payment_links(doc: dict) -> list[str]:
    """Ids of the payments applied to a Bill or Invoice."""
    return [link["TxnId"] for link in doc.get("LinkedTxn", []) if link.get("TxnType") in PAYMENT_LINK_TYPES]


def _voided(entity: str, current: dict) -> dict:
    """What QBO makes of a voided transaction: every amount and quantity zeroed (a payment loses its
    lines, an invoice keeps them), "Voided" prepended to PrivateNote."""
    obj = copy.deepcopy(current)
    if entity in PAYMENT_RULES:
        obj["Line"] = []
    for line in obj.get("Line", []):
        if "Amount" in line:
            line["Amount"] = ZERO
        detail = line.get(line.get("DetailType"))
        if isinstance(detail, dict) and "Qty" in detail:
            detail["Qty"] = ZERO
    for key in ("TotalAmt", "Balance", "UnappliedAmt", "HomeTotalAmt"):
        if key in obj:
            obj[key] = ZERO
    note = obj.get("PrivateNote")
    obj["PrivateNote"] = f"Voided - {note}" if note else "Voided"
    return obj


def _require_ref(obj: dict, key: str) -> str:
    ref = obj.get(key)
    if not isinstance(ref, dict) or ref.get("value") in (None, ""):
        raise errors.required(key)
    return str(ref["value"])


def _sum_lines(obj: dict, details: dict[str, str], non_posting: frozenset[str] = NON_POSTING_DETAILS) -> Decimal:
    """Validate the lines and return the sum of their posting Amounts (exact Decimal)."""
    lines = obj.get("Line")
    if not isinstance(lines, list) or not lines:
        raise errors.required("Line")
    total = ZERO
    for number, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            raise errors.malformed_request(f"Line {number} must be a JSON object")
        detail_type = line.get("DetailType")
        if not detail_type:
            raise errors.required("Line.DetailType")
        if detail_type not in details and detail_type not in non_posting:
            raise errors.business(f"Line {number} DetailType {detail_type} is not valid here "
                                  f"(use {', '.join(details)})", "Line.DetailType")
        line.setdefault("Id", str(number))
        line["LineNum"] = number
        if detail_type in non_posting:
            continue
        amount = to_decimal(line.get("Amount"))
        if amount is None:
            raise errors.required("Line.Amount")
        detail = line.get(detail_type)
        if not isinstance(detail, dict):
            raise errors.required(f"Line.{detail_type}")
        _require_ref(detail, details[detail_type])
        if detail_type == "SalesItemLineDetail":
            _check_sales_amount(number, amount, detail)
        line["Amount"] = amount
        total += amount
    if total < 0:
        raise errors.business(f"the total {total} cannot be negative", "Line.Amount")
    return total


def _check_sales_amount(number: int, amount: Decimal, detail: dict) -> None:
    """QBO's rule for an item line: with both Qty and UnitPrice, Amount must be Qty x UnitPrice rounded
    half-up to the cent (6070); with Qty alone, UnitPrice is derived as Amount / Qty. A zero Qty counts
    as no quantity: python-quickbooks sends Qty 0 and UnitPrice 0 on every line it builds with only an
    Amount, and QuickBooks takes such lines."""
    qty, unit_price = to_decimal(detail.get("Qty")), to_decimal(detail.get("UnitPrice"))
    if "Qty" in detail and detail["Qty"] is not None and qty is None:
        raise errors.business(f"Line {number} Qty {detail['Qty']!r} is not a number", "Line.SalesItemLineDetail.Qty")
    if "UnitPrice" in detail and detail["UnitPrice"] is not None and unit_price is None:
        raise errors.business(f"Line {number} UnitPrice {detail['UnitPrice']!r} is not a number",
                              "Line.SalesItemLineDetail.UnitPrice")
    if qty is not None and qty != 0 and unit_price is not None:
        expected = (qty * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        if amount != expected:
            raise errors.amount_calculation(number, amount, qty, unit_price, expected)
    elif qty is not None and qty != 0:
        derived = (amount / qty).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
        detail["UnitPrice"] = _trimmed(derived)


def _trimmed(value: Decimal) -> Decimal:
    """The same number without trailing zeros after the point (50.0000000 -> 50, 12.3450000 -> 12.345)."""
    text = format(value, "f")
    return Decimal(text.rstrip("0").rstrip(".") if "." in text else text)


def _check_doc_number(obj: dict) -> None:
    doc_number = obj.get("DocNumber")
    if doc_number is not None and len(str(doc_number)) > DOC_NUMBER_MAX:
        raise errors.business(f"DocNumber {doc_number} is longer than {DOC_NUMBER_MAX} characters", "DocNumber")


def _default_dates(obj: dict, now: float, due_days: int | None = None) -> None:
    """TxnDate defaults to today in company time; DueDate, where the entity has one, to TxnDate
    plus the term's days. An empty string counts as absent (python-quickbooks sends "" for unset dates)."""
    for key in ("TxnDate", "DueDate"):
        if obj.get(key) == "":
            del obj[key]
    obj.setdefault("TxnDate", company_today(now))
    try:
        txn_date = date.fromisoformat(str(obj["TxnDate"]))
    except ValueError:
        raise errors.business(f"TxnDate {obj['TxnDate']!r} is not a date (YYYY-MM-DD)", "TxnDate") from None
    if due_days is not None:
        obj.setdefault("DueDate", (txn_date + timedelta(days=due_days)).isoformat())


def _applications(payment: dict) -> dict[str, Decimal]:
    """How much a (validated) payment applies to each document Id."""
    applied: dict[str, Decimal] = defaultdict(Decimal)
    for line in payment.get("Line", []):
        applied[line["LinkedTxn"][0]["TxnId"]] += line["Amount"]
    return applied


def _is_code(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isalpha()


def country_code(value: object) -> str:
    """A company's country: an ISO 3166 two-letter code (US, FR, ...). Raises ValueError."""
    text = str(value or "").strip().upper()
    if not _is_code(text, 2):
        raise ValueError(f"country must be a two-letter ISO 3166 code such as US or FR, got {value!r}")
    return text


def currency_code(value: object, what: str) -> str:
    """An ISO 4217 three-letter currency code. Raises ValueError."""
    text = str(value or "").strip().upper()
    if not _is_code(text, 3):
        raise ValueError(f"{what} must be a three-letter ISO 4217 code such as USD or EUR, got {value!r}")
    return text


def book_close_date(value: object) -> str | None:
    """AccountingInfoPrefs.BookCloseDate as sent: a date, or null / "" for books that are open."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise errors.business(f"BookCloseDate {value!r} is not a date (YYYY-MM-DD)",
                              "AccountingInfoPrefs.BookCloseDate") from None
