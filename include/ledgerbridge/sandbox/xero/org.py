"""One Xero organisation (tenant): its lists and documents, Xero's validation, totals and payments.
Records are kept in Xero's JSON shape; `_updated` (epoch ms) is the sandbox's own and never sent."""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from ..jsonmoney import to_decimal

CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")  # Xero keeps six decimal places of a CurrencyRate
# The sandbox's "XE.com rate of the day", in units per 1 US dollar, the same every day: a document in a
# foreign currency sent without CurrencyRate is booked at base currency -> its currency through these.
DAILY_RATES_PER_USD = {"USD": Decimal(1), "NZD": Decimal("1.6523"), "AUD": Decimal("1.5270"),
                       "EUR": Decimal("0.9210"), "GBP": Decimal("0.7890"), "CAD": Decimal("1.3610")}
PAGE_SIZE = 100

# endpoint -> (the id field, the singular used in messages)
ENDPOINTS = {
    "Accounts": "AccountID", "Contacts": "ContactID", "TrackingCategories": "TrackingCategoryID",
    "TaxRates": "TaxType", "Items": "ItemID", "Currencies": "Code", "Invoices": "InvoiceID",
    "Payments": "PaymentID", "CreditNotes": "CreditNoteID", "ManualJournals": "ManualJournalID",
    "BankTransactions": "BankTransactionID",
}
WRITABLE = ("Contacts", "Items", "Invoices", "Payments", "CreditNotes", "ManualJournals", "BankTransactions")
ATTACHABLE = ("Invoices", "CreditNotes", "Contacts", "ManualJournals", "BankTransactions")
# Spend money and receive money; the overpayment and prepayment types are not implemented.
BANK_TRANSACTION_TYPES = ("SPEND", "RECEIVE")
MAX_ATTACHMENTS = 10
# Xero answers every date in its "/Date(ms+0000)/" form; the sandbox keeps them as ISO days.
DATE_FIELDS = ("Date", "DueDate", "FullyPaidOnDate")
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


class Invalid(Exception):
    """A record Xero refuses: its ValidationErrors messages."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def xero_date(epoch_ms: int) -> str:
    return f"/Date({epoch_ms}+0000)/"


def day_of(value: object, field: str) -> str:
    """A date as sent ("2026-09-20", "2026-09-20T00:00:00" or "/Date(1789862400000+0000)/") as an ISO day."""
    text = str(value).strip()
    try:
        ms_date = _MS_DATE.fullmatch(text)
        if ms_date:
            return datetime.fromtimestamp(int(ms_date.group(1)) / 1000, timezone.utc).date().isoformat()
        return datetime.fromisoformat(text).date().isoformat()
    except (ValueError, OverflowError, OSError):
        raise Invalid(f"{field} '{value}' is not a valid date") from None


def _dates_out(value: object) -> object:
    """ISO days (nested payments' too) in Xero's /Date()/ form, midnight UTC."""
    if isinstance(value, list):
        return [_dates_out(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: _xero_day(item) if key in DATE_FIELDS and isinstance(item, str) else _dates_out(item)
            for key, item in value.items()}


def _xero_day(day: str) -> str:
    midnight = datetime.combine(date.fromisoformat(day_of(day, "Date")), datetime.min.time(), timezone.utc)
    return xero_date(int(midnight.timestamp() * 1000))


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def public(record: dict) -> dict:
    """A record as Xero sends it: without the sandbox's own keys, UpdatedDateUTC in /Date()/ form."""
    out = _dates_out({k: v for k, v in record.items() if not k.startswith("_")})
    if "_updated" in record:
        out["UpdatedDateUTC"] = xero_date(record["_updated"])
    return out


# What a new organisation starts with: Australia's (country code AU) its GST of 10% and tax types; any
# other country the sandbox's default (a 15% tax on purchases and sales, US and New Zealand dollars).
_EXPENSES = (("400", "Advertising", "EXPENSE"), ("429", "General Expenses", "EXPENSE"))
DEFAULT_CHART = {"base_currency": "USD",
                 "accounts": (("090", "Business Bank Account", "BANK"), ("200", "Sales", "REVENUE"),
                              ("310", "Cost of Goods Sold", "DIRECTCOSTS"), *_EXPENSES,
                              ("610", "Accounts Receivable", "CURRENT"), ("800", "Accounts Payable", "CURRLIAB"),
                              ("820", "Sales Tax", "CURRLIAB")),
                 "tax_rates": (("INPUT", "Tax on Purchases", "15.00"), ("OUTPUT", "Tax on Sales", "15.00"),
                               ("NONE", "No Tax", "0.00")),
                 "currencies": (("USD", "United States Dollar"), ("NZD", "New Zealand Dollar"))}
CHARTS = {
    "AU": {"base_currency": "AUD",
           "accounts": (("090", "Business Bank Account", "BANK"), ("200", "Sales", "REVENUE"),
                        ("310", "Cost of Goods Sold", "DIRECTCOSTS"), *_EXPENSES,
                        ("453", "Office Expenses", "EXPENSE"), ("489", "Telephone & Internet", "EXPENSE"),
                        ("610", "Accounts Receivable", "CURRENT"), ("800", "Accounts Payable", "CURRLIAB"),
                        ("820", "GST", "CURRLIAB")),
           "tax_rates": (("INPUT", "GST on Expenses", "10.00"), ("OUTPUT", "GST on Income", "10.00"),
                         ("EXEMPTEXPENSES", "GST Free Expenses", "0.00"), ("EXEMPTOUTPUT", "GST Free Income", "0.00"),
                         ("BASEXCLUDED", "BAS Excluded", "0.00"), ("NONE", "No Tax", "0.00")),
           "currencies": (("AUD", "Australian Dollar"),)},
}


class Organisation:
    def __init__(self, tenant_id: str, name: str, clock: Callable[[], float], country_code: str = "US",
                 base_currency: str | None = None) -> None:
        self.tenant_id, self.name, self.clock, self.country_code = tenant_id, name, clock, country_code
        self.chart = CHARTS.get(country_code, DEFAULT_CHART)
        self.base_currency = base_currency or self.chart["base_currency"]
        # Xero's short code ("!" and five characters) names the organisation in its web links.
        self.short_code = "!" + uuid.UUID(tenant_id).hex[:5]
        self.records: dict[str, dict[str, dict]] = {endpoint: {} for endpoint in ENDPOINTS}
        self.attachments: dict[str, dict] = {}  # AttachmentID -> {..., "_content": base64}
        self.idempotency: dict[str, dict] = {}  # key -> {status, body, at}
        self.api_requests = 0  # Accounting API calls that reached this organisation (429s included)
        self._last_stamp = 0
        self.created_ms = self._stamp()

    # -- time ---------------------------------------------------------------------------------
    def _stamp(self) -> int:
        return int(self.clock() * 1000)

    def _touch(self, record: dict) -> None:
        """Stamp a change: strictly increasing within the organisation, so If-Modified-Since is exact."""
        stamp = max(self._stamp(), self._last_stamp + 1)
        self._last_stamp = stamp
        record["_updated"] = stamp

    def today(self) -> str:
        return datetime.fromtimestamp(self.clock(), timezone.utc).date().isoformat()

    # -- seed ---------------------------------------------------------------------------------
    def seed(self) -> None:
        """The organisation's chart of accounts, tax rates, currencies and a tracking category, as a new
        Xero organisation of its country has them (the rates and names of its tax system)."""
        chart = self.chart
        for code, name, kind in chart["accounts"]:
            self._put("Accounts", {"AccountID": str(uuid.uuid4()), "Code": code, "Name": name, "Type": kind,
                                   "Status": "ACTIVE", "Class": _account_class(kind),
                                   "EnablePaymentsToAccount": kind == "BANK"})
        for tax_type, name, rate in chart["tax_rates"]:
            self._put("TaxRates", {"TaxType": tax_type, "Name": name, "Status": "ACTIVE",
                                   "EffectiveRate": Decimal(rate), "DisplayTaxRate": Decimal(rate)})
        currencies = dict(chart["currencies"])
        currencies.setdefault(self.base_currency, self.base_currency)
        for code, description in currencies.items():
            self._put("Currencies", {"Code": code, "Description": description})
        self._put("TrackingCategories", {
            "TrackingCategoryID": str(uuid.uuid4()), "Name": "Region", "Status": "ACTIVE",
            "Options": [{"TrackingOptionID": str(uuid.uuid4()), "Name": name, "Status": "ACTIVE"}
                        for name in ("North", "South")]})

    def _put(self, endpoint: str, record: dict) -> dict:
        self._touch(record)
        self.records[endpoint][record[ENDPOINTS[endpoint]]] = record
        return record

    # -- reads --------------------------------------------------------------------------------
    def get(self, endpoint: str, record_id: str | None, since_ms: int | None, page: int | None,
            ids: frozenset[str] | None = None) -> dict:
        """One record, or a list: changed since `since_ms`, only `ids` (lower-case) when given, a page."""
        records = self.records[endpoint]
        if record_id is not None:
            found = records.get(record_id) or self._by_number(endpoint, record_id)
            if found is None:
                return {"_status": 404}
            chosen = [found]
        else:
            chosen = sorted((r for r in records.values() if (since_ms is None or r["_updated"] > since_ms)
                             and (ids is None or str(r[ENDPOINTS[endpoint]]).lower() in ids)),
                            key=lambda r: (r["_updated"], r[ENDPOINTS[endpoint]]))
            if page is not None:
                chosen = chosen[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
        return {endpoint: [public(r) for r in chosen]}

    def organisation(self) -> dict:
        """GET Organisation: the organisation itself, in Xero's shape (a list of one)."""
        return {"Organisations": [{
            "OrganisationID": self.tenant_id, "Name": self.name, "LegalName": self.name,
            "PaysTax": True, "Version": self.country_code, "OrganisationType": "COMPANY",
            "BaseCurrency": self.base_currency, "CountryCode": self.country_code, "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE", "ShortCode": self.short_code, "Edition": "BUSINESS",
            "CreatedDateUTC": xero_date(self.created_ms), "Timezone": "UTC"}]}

    def _by_number(self, endpoint: str, number: str) -> dict | None:
        if endpoint == "Invoices":
            return next((r for r in self.records[endpoint].values() if r.get("InvoiceNumber") == number), None)
        return None

    # -- writes -------------------------------------------------------------------------------
    def write(self, endpoint: str, element: dict) -> dict:
        """Validate one element and apply it (create, or update when it names an existing id);
        raises Invalid without changing anything."""
        if not isinstance(element, dict):
            raise Invalid("An element must be a JSON object")
        id_field = ENDPOINTS[endpoint]
        existing = self.records[endpoint].get(str(element.get(id_field) or "")) if element.get(id_field) else None
        if element.get(id_field) and existing is None:
            raise Invalid(f"{id_field} {element[id_field]} was not found")
        return getattr(self, f"_write_{endpoint.lower()}")(element, existing)

    def _write_contacts(self, element: dict, existing: dict | None) -> dict:
        name = str(element.get("Name", existing["Name"] if existing else "")).strip()
        if not name:
            raise Invalid("The contact name must be specified.")
        for field in ("ContactNumber", "AccountNumber"):
            if len(str(element.get(field) or "")) > 50:
                raise Invalid(f"The {field} must not be more than 50 characters long.")
        clash = self._contact_named(name)
        if clash is not None and clash is not existing:
            raise Invalid(f"The contact name {name} is already assigned to another contact. "
                          "The contact name must be unique across all active contacts.")
        record = dict(existing) if existing else {"ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE",
                                                  "IsSupplier": False, "IsCustomer": False}
        for key, value in element.items():
            if key not in ("ContactID", "IsSupplier", "IsCustomer", "UpdatedDateUTC"):
                record[key] = value
        record["Name"] = name
        return self._put("Contacts", record)

    def _contact_named(self, name: str) -> dict | None:
        folded = name.casefold()
        return next((c for c in self.records["Contacts"].values()
                     if c["Name"].casefold() == folded and c.get("ContactStatus") == "ACTIVE"), None)

    def _write_items(self, element: dict, existing: dict | None) -> dict:
        code = str(element.get("Code", existing["Code"] if existing else "")).strip()
        if not code:
            raise Invalid("Item code must be specified")
        clash = next((i for i in self.records["Items"].values() if i["Code"] == code), None)
        if clash is not None and clash is not existing:
            raise Invalid(f"Item code '{code}' already exists")
        record = dict(existing) if existing else {"ItemID": str(uuid.uuid4())}
        record.update({k: v for k, v in element.items() if k not in ("ItemID", "UpdatedDateUTC")})
        for details in ("PurchaseDetails", "SalesDetails"):
            if isinstance(record.get(details), dict) and record[details].get("UnitPrice") is not None:
                price = to_decimal(record[details]["UnitPrice"])
                if price is None:
                    raise Invalid(f"{details}.UnitPrice must be a number")
                record[details] = {**record[details], "UnitPrice": price}
        return self._put("Items", record)

    def _contact_of(self, element: dict) -> dict:
        given = element.get("Contact")
        if not isinstance(given, dict):
            raise Invalid("A Contact must be specified for this type of transaction")
        if given.get("ContactID"):
            contact = self.records["Contacts"].get(str(given["ContactID"]))
            if contact is None:
                raise Invalid(f"The contact with ContactID {given['ContactID']} could not be found")
            return contact
        if given.get("Name"):
            # Xero creates a contact named on a document when none has that name (after validation).
            return self._contact_named(str(given["Name"])) or {"_new": str(given["Name"])}
        raise Invalid("A Contact must be specified for this type of transaction")

    def _lines(self, raw: object, amount_types: str, tax_default: str, payable: bool = False
               ) -> tuple[list[dict], Decimal, Decimal]:
        """Lines as Xero keeps them; a line naming an item takes what the line leaves out (account,
        tax type, price, description) from the item's purchase or sales details."""
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise Invalid("LineItems must be a list")
        errors, lines, subtotal, total_tax = [], [], Decimal(0), Decimal(0)
        accounts = {a["Code"]: a for a in self.records["Accounts"].values()}
        for number, given in enumerate(raw, 1):
            if not isinstance(given, dict):
                errors.append(f"Line {number} must be a JSON object")
                continue
            item_code = given.get("ItemCode")
            if item_code is not None:
                item = next((i for i in self.records["Items"].values() if i.get("Code") == str(item_code)), None)
                if item is None:
                    errors.append(f"Item code '{item_code}' is not valid")
                    continue
                details = item.get("PurchaseDetails" if payable else "SalesDetails") or {}
                given = {"Description": item.get("Description" if not payable else "PurchaseDescription",
                                                 item.get("Name")),
                         "UnitAmount": details.get("UnitPrice"), "AccountCode": details.get("AccountCode"),
                         "TaxType": details.get("TaxType"),
                         **{key: value for key, value in given.items() if value is not None}}
            line = dict(given)
            quantity = to_decimal(given.get("Quantity", 1))
            unit = to_decimal(given.get("UnitAmount")) if given.get("UnitAmount") is not None else None
            amount = to_decimal(given.get("LineAmount")) if given.get("LineAmount") is not None else None
            if quantity is None or (unit is None and amount is None):
                errors.append(f"Line {number}: a Quantity and a UnitAmount (or a LineAmount) must be numbers")
                continue
            if amount is None:
                amount = money(quantity * unit)
            code = given.get("AccountCode")
            if code is None or str(code) not in accounts:
                errors.append(f"Account code '{code}' is not a valid code for this document." if code is not None
                              else f"Line {number}: an AccountCode must be specified")
            tax_type = "NONE" if amount_types == "NoTax" else str(given.get("TaxType") or tax_default)
            rate = self.records["TaxRates"].get(tax_type)
            if rate is None:
                errors.append(f"The TaxType code {tax_type} does not exist or cannot be used for this type "
                              "of transaction.")
                rate = {"EffectiveRate": Decimal(0)}
            errors.extend(self._tracking_errors(given.get("Tracking")))
            percent = to_decimal(rate["EffectiveRate"]) / 100
            tax = money(amount * percent) if amount_types == "Exclusive" else money(amount - amount / (1 + percent))
            # Xero works a line's TaxAmount out from its rate; one given overrides it (where the rate's is not
            # what the supplier's document says), except on a NoTax document.
            given_tax = given.get("TaxAmount")
            if given_tax is not None and amount_types != "NoTax":
                if to_decimal(given_tax) is None:
                    errors.append(f"Line {number}: the TaxAmount must be a number")
                else:
                    tax = money(to_decimal(given_tax))
            line.update({"LineItemID": given.get("LineItemID") or str(uuid.uuid4()), "Quantity": quantity,
                         "LineAmount": money(amount), "TaxType": tax_type, "TaxAmount": tax,
                         "Tracking": given.get("Tracking") or []})
            if unit is not None:
                line["UnitAmount"] = unit
            lines.append(line)
            subtotal += money(amount) - (tax if amount_types == "Inclusive" else 0)
            total_tax += tax
        if errors:
            raise Invalid(*errors)
        return lines, subtotal, total_tax

    def _tracking_errors(self, tracking: object) -> list[str]:
        if not tracking:
            return []
        if not isinstance(tracking, list) or len(tracking) > 2:
            return ["A line may have up to 2 tracking categories"]
        errors = []
        for given in tracking:
            name, option = (given or {}).get("Name"), (given or {}).get("Option")
            category = next((c for c in self.records["TrackingCategories"].values() if c["Name"] == name), None)
            if category is None or option not in {o["Name"] for o in category["Options"]}:
                errors.append(f"The TrackingOption '{option}' for TrackingCategory '{name}' does not exist.")
        return errors

    def _document(self, endpoint: str, element: dict, existing: dict | None, types: tuple[str, ...]) -> dict:
        record = dict(existing) if existing else {}
        kind = element.get("Type", record.get("Type"))
        if kind not in types:
            raise Invalid(f"Type must be one of {', '.join(types)}")
        status = element.get("Status", record.get("Status", "DRAFT"))
        if status not in _STATUSES:
            raise Invalid(f"Status {status} is not valid for a new or updated document")
        if existing:
            self._check_change(endpoint, existing, element, status)
        elif status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            raise Invalid(f"Status {status} is not valid for a new document")
        contact = self._contact_of(element) if "Contact" in element or not existing else None
        amount_types = element.get("LineAmountTypes", record.get("LineAmountTypes", "Exclusive"))
        if amount_types not in ("Exclusive", "Inclusive", "NoTax"):
            raise Invalid("LineAmountTypes must be Exclusive, Inclusive or NoTax")
        payable = kind in ("ACCPAY", "ACCPAYCREDIT")
        lines, subtotal, tax = self._lines(element.get("LineItems", record.get("LineItems")), amount_types,
                                           "INPUT" if payable else "OUTPUT", payable)
        if status in ("SUBMITTED", "AUTHORISED") and not lines:
            raise Invalid("Documents must have at least one line item to be approved")
        currency = element.get("CurrencyCode", record.get("CurrencyCode", self.base_currency))
        if currency not in self.records["Currencies"]:
            raise Invalid(f"The currency code {currency} is not enabled for this organisation")
        rate = self._currency_rate(currency, element.get("CurrencyRate"),
                                   record.get("CurrencyRate") if record.get("CurrencyCode") == currency else None)
        number = element.get("InvoiceNumber" if endpoint == "Invoices" else "CreditNoteNumber")
        number_field = "InvoiceNumber" if endpoint == "Invoices" else "CreditNoteNumber"
        if kind in ("ACCREC", "ACCRECCREDIT"):
            number = number or record.get(number_field) or self._next_number(endpoint, number_field)
            clash = next((d for d in self.records[endpoint].values() if d.get(number_field) == number
                          and d.get("Type") == kind and d["Status"] != "DELETED"), None)
            if clash is not None and clash is not existing:
                raise Invalid(f"{'Invoice' if endpoint == 'Invoices' else 'Credit Note'} # must be unique.")
        elif number is None:
            number = record.get(number_field, "")
        days = {field: day_of(element[field], field) for field in ("Date", "DueDate") if element.get(field)}
        for key, value in element.items():
            if key not in ("UpdatedDateUTC", "Payments", "AmountPaid", "AmountDue", "Total", "SubTotal", "TotalTax"):
                record[key] = value
        record.update(days)
        if kind in ("ACCPAY", "ACCPAYCREDIT"):
            record.pop("Reference", None)  # Xero keeps a Reference on sales documents only ("ACCREC only")
        if contact is not None and "_new" in contact:
            contact = self._write_contacts({"Name": contact["_new"]}, None)
        if contact is not None:
            record["Contact"] = {"ContactID": contact["ContactID"], "Name": contact["Name"]}
            flag = "IsSupplier" if payable else "IsCustomer"
            if not contact[flag]:
                contact[flag] = True
                self._touch(contact)
        total = subtotal + tax
        paid = record.get("AmountPaid", Decimal(0)) if endpoint == "Invoices" else Decimal(0)
        record.update({"Type": kind, "Status": status, "LineAmountTypes": amount_types, "LineItems": lines,
                       "CurrencyCode": currency, "CurrencyRate": rate, number_field: number,
                       "SubTotal": money(subtotal),
                       "TotalTax": money(tax), "Total": money(total), "Date": record.get("Date") or self.today()})
        if endpoint == "Invoices":
            record.update({"AmountPaid": paid, "AmountDue": Decimal(0) if status == "VOIDED" else money(total - paid),
                           "Payments": record.get("Payments", [])})
        else:
            record["RemainingCredit"] = Decimal(0) if status == "VOIDED" else money(total)
        record.setdefault(ENDPOINTS[endpoint], str(uuid.uuid4()))
        return self._put(endpoint, record)

    def _currency_rate(self, currency: str, given: object, booked: Decimal | None) -> Decimal:
        """The CurrencyRate a document is booked at: units of its currency per 1 of the base currency;
        1 in the base currency; the one given (six places), else the one it was booked at, else the day's."""
        if currency == self.base_currency:
            return Decimal(1)
        if given is not None:
            rate = to_decimal(given)
            if rate is None or rate <= 0:
                raise Invalid("The currency rate must be a number greater than zero")
            return rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
        if booked is not None:
            return booked
        if currency not in DAILY_RATES_PER_USD or self.base_currency not in DAILY_RATES_PER_USD:
            raise Invalid(f"No exchange rate is available for {currency}")
        return (DAILY_RATES_PER_USD[currency] / DAILY_RATES_PER_USD[self.base_currency]).quantize(
            RATE_PLACES, rounding=ROUND_HALF_UP)

    @staticmethod
    def _check_change(endpoint: str, existing: dict, element: dict, status: str) -> None:
        """Xero's rules for changing a document: its status moves only along _NEXT_STATUSES, and one
        with money applied (payments, allocated credit) cannot be voided nor have its lines changed."""
        noun = "Invoice" if endpoint == "Invoices" else "Credit Note"
        if status != existing["Status"] and status not in _NEXT_STATUSES[existing["Status"]] \
                or existing["Status"] in ("PAID", "VOIDED", "DELETED"):
            messages = [f"{noun} not of valid status for modification"]
            if _applied(existing):
                messages.append(_APPLIED_MESSAGE)
            raise Invalid(*messages)
        if _applied(existing) and (status in ("VOIDED", "DELETED") or (
                "LineItems" in element and _line_facts(element["LineItems"]) != _line_facts(existing["LineItems"]))):
            raise Invalid(_APPLIED_MESSAGE)

    def _next_number(self, endpoint: str, field: str) -> str:
        prefix = "INV-" if endpoint == "Invoices" else "CN-"
        taken = {d.get(field) for d in self.records[endpoint].values()}
        n = len(self.records[endpoint]) + 1
        while f"{prefix}{n:04d}" in taken:
            n += 1
        return f"{prefix}{n:04d}"

    def _write_invoices(self, element: dict, existing: dict | None) -> dict:
        return self._document("Invoices", element, existing, ("ACCPAY", "ACCREC"))

    def _write_creditnotes(self, element: dict, existing: dict | None) -> dict:
        return self._document("CreditNotes", element, existing, ("ACCPAYCREDIT", "ACCRECCREDIT"))

    def _write_payments(self, element: dict, existing: dict | None) -> dict:
        if existing is not None:
            if element.get("Status") != "DELETED" or existing["Status"] == "DELETED":
                raise Invalid("A payment can only be deleted (Status DELETED)")
            invoice = self.records["Invoices"][existing["Invoice"]["InvoiceID"]]
            self._apply_payment(invoice, -existing["Amount"], existing["PaymentID"])
            return self._put("Payments", {**existing, "Status": "DELETED"})
        given = element.get("Invoice") or {}
        invoice = (self.records["Invoices"].get(str(given.get("InvoiceID") or ""))
                   or (self._by_number("Invoices", given["InvoiceNumber"]) if given.get("InvoiceNumber") else None))
        errors = []
        if invoice is None:
            errors.append("Invoice could not be found")
        elif invoice["Status"] != "AUTHORISED":
            errors.append(f"Payment can only be applied to an AUTHORISED invoice (this one is {invoice['Status']})")
        account_given = element.get("Account") or {}
        account = next((a for a in self.records["Accounts"].values()
                        if a["AccountID"] == account_given.get("AccountID") or a["Code"] == account_given.get("Code")),
                       None)
        if account is None:
            errors.append("Account could not be found")
        elif not (account["Type"] == "BANK" or account.get("EnablePaymentsToAccount")):
            errors.append("Payments can only be made to a bank account or one with EnablePaymentsToAccount")
        amount = to_decimal(element.get("Amount"))
        try:
            day = day_of(element["Date"], "Date") if element.get("Date") else self.today()
        except Invalid as invalid:
            errors.extend(invalid.messages)
        if amount is None or amount <= 0:
            errors.append("Payment amount must be a positive number")
        elif invoice is not None and invoice["Status"] == "AUTHORISED" and money(amount) > invoice["AmountDue"]:
            errors.append("Payment amount exceeds the amount outstanding on this document")
        rate = Decimal(1)
        if invoice is not None:
            # Only a foreign invoice's payment has a rate of its own: the one given, else the day's (the exchange
            # difference against the invoice's rate is Xero's to book).
            try:
                rate = self._currency_rate(invoice["CurrencyCode"], element.get("CurrencyRate"), None)
            except Invalid as invalid:
                errors.extend(invalid.messages)
        if errors:
            raise Invalid(*errors)
        payment = {"PaymentID": str(uuid.uuid4()), "Date": day, "Amount": money(amount), "CurrencyRate": rate,
                   "Reference": element.get("Reference", ""), "Status": "AUTHORISED",
                   "PaymentType": "ACCPAYPAYMENT" if invoice["Type"] == "ACCPAY" else "ACCRECPAYMENT",
                   "Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
                   "Invoice": {"InvoiceID": invoice["InvoiceID"], "InvoiceNumber": invoice.get("InvoiceNumber", ""),
                               "Type": invoice["Type"]}}
        self._apply_payment(invoice, payment["Amount"], payment["PaymentID"], payment)
        return self._put("Payments", payment)

    def _apply_payment(self, invoice: dict, amount: Decimal, payment_id: str, payment: dict | None = None) -> None:
        invoice["AmountPaid"] = money(invoice["AmountPaid"] + amount)
        invoice["AmountDue"] = money(invoice["Total"] - invoice["AmountPaid"])
        invoice["Status"] = "PAID" if invoice["AmountDue"] == 0 else "AUTHORISED"
        payments = [p for p in invoice.get("Payments", []) if p["PaymentID"] != payment_id]
        if payment is not None:
            payments.append({"PaymentID": payment_id, "Date": payment["Date"], "Amount": payment["Amount"]})
        invoice["Payments"] = payments
        if invoice["Status"] == "PAID":
            invoice["FullyPaidOnDate"] = payment["Date"] if payment else self.today()
        else:
            invoice.pop("FullyPaidOnDate", None)
        self._touch(invoice)

    def _write_manualjournals(self, element: dict, existing: dict | None) -> dict:
        narration = element.get("Narration", existing.get("Narration") if existing else None)
        if not narration:
            raise Invalid("Narration must be specified")
        raw = element.get("JournalLines", existing.get("JournalLines") if existing else None)
        if not isinstance(raw, list) or len(raw) < 2:
            raise Invalid("A manual journal must have at least two journal lines")
        accounts = {a["Code"] for a in self.records["Accounts"].values()}
        errors, lines, total = [], [], Decimal(0)
        for number, given in enumerate(raw, 1):
            amount = to_decimal((given or {}).get("LineAmount"))
            if amount is None:
                errors.append(f"Journal line {number}: LineAmount must be a number")
                continue
            if str(given.get("AccountCode")) not in accounts:
                errors.append(f"Account code '{given.get('AccountCode')}' is not a valid code for this document.")
            errors.extend(self._tracking_errors(given.get("Tracking")))
            lines.append({**given, "LineAmount": money(amount)})
            total += money(amount)
        if not errors and total != 0:
            debits = sum((line["LineAmount"] for line in lines if line["LineAmount"] > 0), Decimal(0))
            credits = -sum((line["LineAmount"] for line in lines if line["LineAmount"] < 0), Decimal(0))
            errors.append(f"The total debits ({money(debits)}) must equal total credits ({money(credits)})")
        given_day = element.get("Date")
        try:
            day = day_of(given_day, "Date") if given_day else (existing or {}).get("Date") or self.today()
        except Invalid as invalid:
            errors.extend(invalid.messages)
        if errors:
            raise Invalid(*errors)
        record = dict(existing) if existing else {"ManualJournalID": str(uuid.uuid4())}
        record.update({k: v for k, v in element.items() if k != "UpdatedDateUTC"})
        record.update({"Narration": narration, "JournalLines": lines, "Status": element.get(
            "Status", record.get("Status", "DRAFT")), "Date": day})
        return self._put("ManualJournals", record)

    def _write_banktransactions(self, element: dict, existing: dict | None) -> dict:
        """Spend money (SPEND) or receive money (RECEIVE) through a BANK account: Status AUTHORISED, or
        DELETED to delete it; every problem of the element is answered at once, as Xero does."""
        record = dict(existing) if existing else {}
        if existing is not None and existing["Status"] == "DELETED":
            raise Invalid("This Bank Transaction cannot be edited as it has been deleted.")
        kind = element.get("Type", record.get("Type"))
        if kind not in BANK_TRANSACTION_TYPES:
            raise Invalid(f"Type must be one of {', '.join(BANK_TRANSACTION_TYPES)}")
        status = element.get("Status", record.get("Status", "AUTHORISED"))
        if status not in ("AUTHORISED", "DELETED") or (existing is None and status != "AUTHORISED"):
            raise Invalid(f"Status {status} is not valid for {'a new' if existing is None else 'this'} bank transaction")
        if existing is not None and status == "DELETED":
            return self._put("BankTransactions", {**existing, "Status": "DELETED"})
        errors: list[str] = []
        contact = None
        if "Contact" in element or existing is None:
            try:
                contact = self._contact_of(element)
            except Invalid as invalid:
                errors.extend(invalid.messages)
        bank = None
        try:
            bank = self._bank_account_of(element.get("BankAccount", record.get("BankAccount")))
        except Invalid as invalid:
            errors.extend(invalid.messages)
        amount_types = element.get("LineAmountTypes", record.get("LineAmountTypes", "Exclusive"))
        lines, subtotal, tax = [], Decimal(0), Decimal(0)
        if amount_types not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax")
        else:
            raw = element.get("LineItems", record.get("LineItems"))
            try:
                lines, subtotal, tax = self._lines(raw, amount_types, "INPUT" if kind == "SPEND" else "OUTPUT",
                                                   payable=kind == "SPEND")
            except Invalid as invalid:
                errors.extend(invalid.messages)
            banks = {a["Code"] for a in self.records["Accounts"].values() if a["Type"] == "BANK"}
            for line in raw if isinstance(raw, list) else []:
                if isinstance(line, dict) and str(line.get("AccountCode")) in banks:
                    errors.append(f"Account code '{line['AccountCode']}' cannot be used on a line item of a bank "
                                  "transaction: it is of Type BANK.")
            if not errors and not lines:
                errors.append("A bank transaction must have at least one line item")
        currency = element.get("CurrencyCode", record.get("CurrencyCode", self.base_currency))
        rate = None
        if currency not in self.records["Currencies"]:
            errors.append(f"The currency code {currency} is not enabled for this organisation")
        else:
            try:
                rate = self._currency_rate(currency, element.get("CurrencyRate"),
                                           record.get("CurrencyRate") if record.get("CurrencyCode") == currency
                                           else None)
            except Invalid as invalid:
                errors.extend(invalid.messages)
        day = record.get("Date") or self.today()
        if element.get("Date"):
            try:
                day = day_of(element["Date"], "Date")
            except Invalid as invalid:
                errors.extend(invalid.messages)
        if errors:
            raise Invalid(*errors)
        for key, value in element.items():
            if key not in ("UpdatedDateUTC", "SubTotal", "TotalTax", "Total", "IsReconciled", "BankTransactionID"):
                record[key] = value
        if contact is not None and "_new" in contact:
            contact = self._write_contacts({"Name": contact["_new"]}, None)
        if contact is not None:
            record["Contact"] = {"ContactID": contact["ContactID"], "Name": contact["Name"]}
        record.update({"Type": kind, "Status": status, "LineAmountTypes": amount_types, "LineItems": lines,
                       "BankAccount": {"AccountID": bank["AccountID"], "Code": bank["Code"], "Name": bank["Name"]},
                       "CurrencyCode": currency, "CurrencyRate": rate, "Date": day,
                       "Reference": str(element.get("Reference", record.get("Reference", ""))),
                       "SubTotal": money(subtotal), "TotalTax": money(tax), "Total": money(subtotal + tax),
                       "IsReconciled": False, "HasAttachments": record.get("HasAttachments", False)})
        record.setdefault("BankTransactionID", str(uuid.uuid4()))
        return self._put("BankTransactions", record)

    def _bank_account_of(self, given: object) -> dict:
        """A bank transaction's BankAccount, by AccountID or Code: it must be of Type BANK."""
        if not isinstance(given, dict) or not (given.get("AccountID") or given.get("Code")):
            raise Invalid("The BankAccount must be specified (by AccountID or Code)")
        account = next((a for a in self.records["Accounts"].values()
                        if (given.get("AccountID") and a["AccountID"] == given["AccountID"])
                        or (given.get("Code") and a["Code"] == str(given["Code"]))), None)
        named = f"AccountID {given['AccountID']}" if given.get("AccountID") else f"Code '{given['Code']}'"
        if account is None:
            raise Invalid(f"The BankAccount with {named} could not be found")
        if account["Type"] != "BANK":
            raise Invalid(f"The BankAccount with {named} ({account['Name']}) is of Type {account['Type']}: "
                          "a bank transaction's BankAccount must be of Type BANK")
        return account

    # -- attachments --------------------------------------------------------------------------
    def attach(self, endpoint: str, record_id: str, file_name: str, content_b64: str, size: int,
               mime_type: str) -> dict:
        record = self.records[endpoint].get(record_id)
        if record is None:
            return {"_status": 404}
        mine = [a for a in self.attachments.values() if a["_owner"] == record_id]
        same = next((a for a in mine if a["FileName"] == file_name), None)
        if same is None and len(mine) >= MAX_ATTACHMENTS:
            raise Invalid(f"A document can have at most {MAX_ATTACHMENTS} attachments")
        attachment = {"AttachmentID": same["AttachmentID"] if same else str(uuid.uuid4()), "FileName": file_name,
                      "Url": f"/api.xro/2.0/{endpoint}/{record_id}/Attachments/{file_name}",
                      "MimeType": mime_type, "ContentLength": size, "_owner": record_id, "_content": content_b64}
        self.attachments[attachment["AttachmentID"]] = attachment
        record["HasAttachments"] = True
        self._touch(record)
        return {"Attachments": [public(attachment)]}

    def attachments_of(self, record_id: str) -> list[dict]:
        return [a for a in self.attachments.values() if a["_owner"] == record_id]

    # -- state --------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"tenant_id": self.tenant_id, "name": self.name, "created_ms": self.created_ms,
                "base_currency": self.base_currency, "country_code": self.country_code,
                "records": self.records, "attachments": self.attachments, "idempotency": self.idempotency,
                "last_stamp": self._last_stamp}

    @classmethod
    def from_state(cls, state: dict, clock: Callable[[], float]) -> Organisation:
        org = cls(state["tenant_id"], state["name"], clock, state.get("country_code", "US"),
                  state.get("base_currency", "USD"))
        org.created_ms, org.records = state["created_ms"], state["records"]
        for endpoint in ENDPOINTS:  # a state saved before the endpoint existed
            org.records.setdefault(endpoint, {})
        org.attachments, org.idempotency = state["attachments"], state["idempotency"]
        org._last_stamp = state["last_stamp"]
        for records in org.records.values():  # money comes back from JSON as Decimal or int
            for record in records.values():
                _decimals(record)
        return org

    def stats(self) -> dict:
        return {"tenant_id": self.tenant_id, "name": self.name,
                **{endpoint: len(records) for endpoint, records in self.records.items()},
                "Attachments": len(self.attachments), "api_requests": self.api_requests}


_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "VOIDED", "DELETED")
# Where a document's status may go by an update (PAID comes from payments; VOIDED and DELETED are final).
_NEXT_STATUSES = {"DRAFT": {"SUBMITTED", "AUTHORISED", "DELETED"}, "SUBMITTED": {"DRAFT", "AUTHORISED", "DELETED"},
                  "AUTHORISED": {"VOIDED"}, "PAID": set(), "VOIDED": set(), "DELETED": set()}
_APPLIED_MESSAGE = "This document cannot be edited as it has a payment or credit note allocated to it."


def _applied(document: dict) -> Decimal:
    """Money applied to a document: an invoice's payments, or a credit note's allocated credit."""
    if "AmountPaid" in document:
        return document["AmountPaid"] + document.get("AmountCredited", Decimal(0))
    return document["Total"] - document.get("RemainingCredit", document["Total"])


def _line_facts(lines: object) -> list[tuple]:
    """What a change of lines is judged on: text, account or item, quantity and amount (Xero's own ids
    and computed tax aside)."""
    facts = []
    for line in lines if isinstance(lines, list) else []:
        if not isinstance(line, dict):
            continue
        quantity = to_decimal(line.get("Quantity", 1))
        unit, amount = to_decimal(line.get("UnitAmount")), to_decimal(line.get("LineAmount"))
        if amount is None and quantity is not None and unit is not None:
            amount = quantity * unit
        facts.append((line.get("Description") or "", line.get("AccountCode"), line.get("ItemCode"),
                      quantity.normalize() if quantity is not None else None,
                      money(amount) if amount is not None else None))
    return facts


_MONEY_KEYS = {"SubTotal", "TotalTax", "Total", "AmountDue", "AmountPaid", "Amount", "LineAmount", "TaxAmount",
               "RemainingCredit"}


def _decimals(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _MONEY_KEYS and isinstance(item, int) and not isinstance(item, bool):
                value[key] = Decimal(item)
            else:
                _decimals(item)
    elif isinstance(value, list):
        for item in value:
            _decimals(item)


def _account_class(kind: str) -> str:
    return {"BANK": "ASSET", "CURRENT": "ASSET", "REVENUE": "REVENUE", "DIRECTCOSTS": "EXPENSE",
            "EXPENSE": "EXPENSE", "CURRLIAB": "LIABILITY"}[kind]
