"""Suite `documents`: bills, invoices, credit notes, journal entries and the other documents (ledgerbridge.kinds)
about to go to the accounting system.

Records are dicts, one per document, with what the caller resolved against the mirror already
computed (the suite looks at data; it does not query the ledger)::

    {"hub_id": "B-1", "kind": "bill",            # bill | invoice | credit_note | journal_entry
     "doc_number": "INV-1", "doc_date": date, "due_date": date | None,
     "currency": "USD", "total": Decimal("120.00"),
     "party": "V-7",                              # hub id of the vendor/customer (for messages)
     "party_ref": "56",                           # its id in the accounting system, when linked
     "party_linked": True,                        # all but journal entries: linked to an accounting party
     "party_problem": None,                       # optional: why not ("in review", ...), shown as is
     "journal_code": None, "journal_resolved": None,  # optional: the journal it goes to, by code
     "journal_declared": None,                    # optional: where the source declares its journals, whether
                                                  # it declared this one, active (None: it declares none)
     "journal_inactive": False,                   # optional: declared, but retired (`active: false`)
     "rate_problem": None,                        # optional: why a foreign document has no exchange rate
     "bank_account": None, "bank_account_resolved": None,  # bank entries, expense reports: the bank account
     "bank_account_type": None,                   # its account type in the mirror ("Bank")
     "party_kind": None,                          # bank entries: vendor | customer, when one is named
     "lines": [{"line_no": 1, "amount": Decimal("120.00"),
                "account_code": "6000", "account_resolved": True,     # bills, journal entries
                "item_code": None, "item_resolved": None,             # invoices, credit notes
                "class_code": None, "class_resolved": None,           # when the line has a class
                "tax_code": None, "tax_code_resolved": None,          # lines with a tax code
                "tax_amount": None, "tax_rate": None,                 # the source's tax; the code's rate (%)
                "item_problem": None,                                 # optional: why the item does not resolve
                "quantity": None, "unit_price": None,                 # invoices, credit notes: optional
                "posting_type": None}]}                               # journal entries: debit/credit

`amounts_include_tax` (record, optional): the source's line amounts include their tax. `tax_rate` is the
rate (percent) of the line's tax code on the document's side, None when the mirror does not know it.

`*_resolved` is True when the code names an active account/item/class of the entity's mirror
(``ledger.mirror.CodeIndex``); a missing flag counts as not resolved. The key is `hub_id`.

Params (`DocumentParams`): the entity's `currency` and `allowed_currencies`, the target's
`doc_number_limit` (21 QuickBooks Online, 20 Desktop), whether the target needs a number
(`doc_number_required`) and refuses a vendor's bill number twice (`unique_bill_numbers`), and
`taken_numbers`: (vendor ref, doc number) pairs already in the accounting system or on their way,
a set or a mapping to a description of the holder ("bill 130 in the accounting system");
`enabled_currencies`: what the accounting company takes, where its connector mirrors currencies (Xero),
else None (not checked).
"""
from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ledgerbridge.money import shown
from ledgerbridge.quality.currencies import CurrencyParams, currency_problem
from ledgerbridge.quality.spec import (
    BOOL,
    DATE,
    INT,
    KEY,
    MONEY,
    MONEY_PLACES,
    RECORD,
    STR,
    Expectation,
    Suite,
    decimal_places,
    money_sum,
    text,
)

NAME = "documents"
SUITE_VERSION = "1.11.0"
MAX_FAILURE_RATE = 0.10  # more than 10% of a batch failing: a wrong mapping, not ten bad bills
DOC_NUMBER_LIMITS = {"quickbooks_online": 21, "quickbooks_desktop": 20}
KINDS = ("bill", "invoice", "credit_note", "sales_receipt", "journal_entry", "vendor_credit", "bank_entry",
         "expense_report")
PARTY_OF = {"bill": "vendor", "invoice": "customer", "credit_note": "customer", "sales_receipt": "customer",
            "vendor_credit": "vendor", "expense_report": "vendor"}
OPTIONAL_PARTY = frozenset({"bank_entry"})  # a vendor or a customer, where the bank transaction names one
BANK_KINDS = frozenset({"bank_entry", "expense_report"})  # money through a bank account of the chart
BANK_REQUIRED = frozenset({"bank_entry"})  # an expense report without one is owed to its payee
BANK_ACCOUNT_TYPES = frozenset({"Bank"})
ITEM_LINES = frozenset({"invoice", "credit_note", "sales_receipt"})  # lines sell (or credit back) a product or service
ACCOUNT_LINES = frozenset({"bill", "journal_entry", "vendor_credit", "bank_entry", "expense_report"})  # lines post to an account of the chart
_SEP = "\x1f"
CENT = Decimal("0.01")
TAX_TOLERANCE = CENT  # a source rounding each line its own way may differ from the rate by a cent, not more


@dataclass(frozen=True)
class DocumentParams(CurrencyParams):
    doc_number_limit: int = DOC_NUMBER_LIMITS["quickbooks_online"]
    doc_number_required: bool = False  # the target needs a number on bills and invoices
    unique_bill_numbers: bool = True  # the target refuses a vendor's bill number twice
    taken_numbers: AbstractSet[tuple[str, str]] | Mapping[tuple[str, str], str] = field(default_factory=frozenset)
    positive_lines: bool = True
    max_failure_rate: float = MAX_FAILURE_RATE
    # The currencies the accounting system takes, where it lists them (its mirrored currencies); None: not known.
    enabled_currencies: AbstractSet[str] | None = None
    single_currency: bool = False  # the company takes its home currency only (QuickBooks, multicurrency off)


def key(record: dict, position: int) -> str:
    return text(record.get("hub_id")) or f"#{position}"


def number_key(vendor: str, doc_number: str) -> str:
    return f"{vendor}{_SEP}{doc_number}"


def build(records: list[dict], params: DocumentParams) -> dict[str, list[dict]]:
    documents, lines = [], []
    first_with_number: dict[str, str] = {}
    for position, record in enumerate(records):
        record_key = key(record, position)
        kind = str(record.get("kind") or "")
        what = kind.replace("_", " ") or "document"
        doc_lines = list(record.get("lines") or ())
        amounts = [line.get("amount") for line in doc_lines]
        total = record.get("total")
        debits = credits = None
        if kind == "journal_entry":
            debits = money_sum(line.get("amount") for line in doc_lines if line.get("posting_type") == "debit")
            credits = money_sum(line.get("amount") for line in doc_lines if line.get("posting_type") == "credit")
            lines_total = debits if doc_lines else None
        else:
            lines_total = money_sum(amounts) if doc_lines else None
        includes_tax = bool(record.get("amounts_include_tax"))
        doc_number = record.get("doc_number") or None  # as sent: its length is what the target sees
        party_kind = PARTY_OF.get(kind) or (text(record.get("party_kind")) or None if kind in OPTIONAL_PARTY
                                            and record.get("party") else None)
        party = text(record.get("party"))
        vendor = text(record.get("party_ref")) or party
        earlier = taken_by = None
        if kind == "bill" and params.unique_bill_numbers and doc_number and vendor:
            earlier = first_with_number.setdefault(number_key(vendor, doc_number), record_key)
            earlier = None if earlier == record_key else earlier
            taken_by = _holder(params.taken_numbers, vendor, doc_number)
        documents.append({
            KEY: record_key, RECORD: position, "kind": kind, "what": what, "party_kind": party_kind or "party",
            "doc_number": doc_number, "doc_date": record.get("doc_date"), "due_date": record.get("due_date"),
            "currency": text(record.get("currency")), "total": total, "total_places": decimal_places(total),
            "currency_enabled": (text(record.get("currency")) in params.enabled_currencies
                                 if params.enabled_currencies is not None and text(record.get("currency")) else None),
            "lines_total": lines_total, "debits": debits, "credits": credits,
            "imbalance": debits - credits if debits is not None and credits is not None else None,
            "line_count": len(doc_lines), "party": party,
            "party_linked": bool(record.get("party_linked")) if party_kind else None,
            # Entries a bank statement or the books number themselves need none.
            "doc_number_given": doc_number is not None if kind not in ("journal_entry", "bank_entry") else None,
            "party_problem": text(record.get("party_problem")),
            "earlier_same_number": earlier, "taken_by": taken_by, "journal_code": text(record.get("journal_code")),
            "journal_resolved": bool(record.get("journal_resolved")) if text(record.get("journal_code")) else None,
            "journal_declared": bool(record.get("journal_declared"))
            if text(record.get("journal_code")) and record.get("journal_declared") is not None else None,
            "journal_inactive": bool(record.get("journal_inactive")),
            "rate_problem": text(record.get("rate_problem")), **_bank_account(kind, record),
        })
        for index, line in enumerate(doc_lines, 1):
            amount = line.get("amount")
            quantity, unit_price = line.get("quantity"), line.get("unit_price")
            extended = None
            if kind in ITEM_LINES and quantity is not None and unit_price is not None:
                try:
                    extended = (Decimal(str(quantity)) * Decimal(str(unit_price))).quantize(Decimal("0.01"))
                except ArithmeticError:
                    extended = None
            account_code, class_code, item_code = (text(line.get(f)) for f in ("account_code", "class_code",
                                                                                  "item_code"))
            lines.append({
                KEY: record_key, RECORD: position, "what": what, "line_no": line.get("line_no", index),
                "amount": amount, "amount_places": decimal_places(amount),
                "account_code": account_code, "class_code": class_code, "item_code": item_code,
                "account_resolved": bool(line.get("account_resolved")) if kind in ACCOUNT_LINES else None,
                "item_resolved": bool(line.get("item_resolved")) if kind in ITEM_LINES else None,
                "class_resolved": bool(line.get("class_resolved")) if class_code else None,
                "item_problem": text(line.get("item_problem")),
                "tax_code": text(line.get("tax_code")),
                "tax_code_resolved": bool(line.get("tax_code_resolved")) if text(line.get("tax_code")) else None,
                "quantity": quantity if kind in ITEM_LINES else None, "unit_price": unit_price,
                "extended": extended, **_tax_check(line, includes_tax),
                "posting_type": (text(line.get("posting_type")) or "") if kind == "journal_entry" else None,
            })
    return {"documents": documents, "lines": lines}


def _bank_account(kind: str, record: dict) -> dict:
    """The bank account the money moves through: whether it resolves and is a Bank account (None: no
    account to check, for kinds without one or an expense report owed to its payee)."""
    code = text(record.get("bank_account"))
    if kind not in BANK_KINDS or (not code and kind not in BANK_REQUIRED):
        return {"bank_account": code, "bank_account_resolved": None, "bank_account_is_bank": None,
                "bank_account_type": None}
    resolved = bool(code) and bool(record.get("bank_account_resolved"))
    account_type = text(record.get("bank_account_type"))
    return {"bank_account": code, "bank_account_resolved": resolved, "bank_account_type": account_type,
            "bank_account_is_bank": account_type in BANK_ACCOUNT_TYPES if resolved else None}


def tax_of(amount: Decimal, rate: Decimal, includes_tax: bool) -> Decimal:
    """The tax a rate (percent) makes on a line's amount: on top of it, or inside it (amount x rate /
    (100 + rate)); rounded half up to the cent."""
    tax = amount * rate / (100 + rate) if includes_tax else amount * rate / 100
    return tax.quantize(CENT, ROUND_HALF_UP)


def _tax_check(line: dict, includes_tax: bool) -> dict:
    """A line's tax amount against its code's rate: `tax_agrees` False when the source's amount differs by
    more than a cent from what the rate makes, or is not zero on a line without a tax code; None (not
    checked) without a tax amount, with a code that does not resolve (its own expectation holds it) or
    whose rate the mirror does not know (the accounting system computes the tax, as for a line without one)."""
    given, code, rate, amount = line.get("tax_amount"), text(line.get("tax_code")), line.get("tax_rate"), \
        line.get("amount")
    checked = {"tax_amount": given, "tax_expected": None, "tax_agrees": None, "tax_rate": rate,
               "tax_includes": includes_tax}
    if given is None or amount is None:
        return checked
    try:
        given = Decimal(str(given))
        if not code:
            return {**checked, "tax_agrees": given == 0}
        if rate is None or not line.get("tax_code_resolved"):
            return checked
        expected = tax_of(Decimal(str(amount)), Decimal(str(rate)), includes_tax)
    except ArithmeticError:
        return checked
    return {**checked, "tax_expected": expected, "tax_agrees": abs(given - expected) <= TAX_TOLERANCE}


def _percent(rate) -> str:
    text_rate = format(Decimal(str(rate)), "f")
    return text_rate.rstrip("0").rstrip(".") if "." in text_rate else text_rate


def _tax(row: dict, params) -> str:
    given = shown(row["tax_amount"])
    if not row.get("tax_code"):
        return f"the source says {given} of tax but the line has no tax code: the accounting system would book none"
    amount = shown(row["amount"])
    inside = f" (inside {amount})" if row.get("tax_includes") else f" of {amount}"
    return (f"the source says {given}, {row['tax_code']} at {_percent(row['tax_rate'])}%{inside} "
            f"makes {shown(row['tax_expected'])}")


def _holder(taken, vendor: str, doc_number: str) -> str | None:
    """Who already holds (vendor, number): the mapping's description, or a generic one for a set."""
    if (vendor, doc_number) not in taken:
        return None
    if isinstance(taken, Mapping):
        return str(taken[(vendor, doc_number)] or "in the accounting system or on its way")
    return "in the accounting system or on its way"


def _party(row: dict, params) -> str:
    if row.get("party_problem"):
        return row["party_problem"]
    kind = row["party_kind"]
    if not row.get("party"):
        return f"the {row['what']} has no {kind}"
    return (f"{kind} {row['party']} is not linked to a {kind} of the accounting system: link it, or allow "
            f"create_missing_{kind}s")


def _total(row: dict, params) -> str:
    if row["kind"] == "journal_entry":
        return f"{row['total']} differs from the total of its debits {row['lines_total']}"
    return f"{row['total']} differs from the sum of its lines {row['lines_total']}"


def _taken(row: dict, params) -> str:
    return (f"the vendor already has a bill with this number ({row['taken_by']}); the company refuses duplicate "
            "bill numbers")


def _code(what: str):
    def problem(row: dict, params) -> str:
        if not row.get(what if what.endswith("_code") else f"{what}_code"):
            return "missing"
        if row.get(f"{what}_problem"):
            return row[f"{what}_problem"]
        return {"account": "no active account with this number or name",
                "item": "no active product or service with this SKU or name",
                "class": "no active class with this name",
                "tax_code": "no active tax code with this name"}[what]
    return problem


def _extended(row: dict, params) -> str:
    return f"differs from quantity x unit price {row['quantity']} x {row['unit_price']} = {row['extended']}"


_POSITIVE = {"min_value": 0, "strict_min": True}
_PAIR = {"ignore_row_if": "either_value_is_missing"}

EXPECTATIONS = (
    Expectation("kind_known", "documents", "ExpectColumnValuesToBeInSet", {"column": "kind", "value_set": list(KINDS)},
                "kind", "not a document kind the suite knows", "kind",
                why="The suite knows bills, invoices, credit notes, sales receipts, journal entries, vendor "
                    "credits, bank entries and expense reports; anything else is a caller bug."),
    Expectation("doc_date_present", "documents", "ExpectColumnValuesToNotBeNull", {"column": "doc_date"},
                "doc_date", "missing", why="The accounting system posts by date."),
    Expectation("party_linked", "documents", "ExpectColumnValuesToBeInSet",
                {"column": "party_linked", "value_set": [True]}, "{party_kind}", _party, "party",
                in_failure_rate=False,  # a party awaiting review has its own queue: not a systemic signal
                why="A bill needs its vendor, an invoice or credit note its customer, in the accounting system."),
    Expectation("has_lines", "documents", "ExpectColumnValuesToBeBetween", {"column": "line_count", "min_value": 1},
                "lines", "the {what} has no lines", why="A document without lines has nothing to post."),
    Expectation("total_present", "documents", "ExpectColumnValuesToNotBeNull", {"column": "total"},
                "total", lambda row, params: "missing" if row["total"] is None else
                "not an exact amount (at most 4 decimal places)", "total",
                why="The total is what the accounting system shows and what payments pay."),
    Expectation("total_positive", "documents", "ExpectColumnValuesToBeBetween", {"column": "total", **_POSITIVE},
                "total", "must be positive", "total",
                why="A zero or negative document is a mistake (or a credit note sent as a bill or invoice); a "
                    "credit note itself carries what it credits as a positive total."),
    Expectation("total_precision", "documents", "ExpectColumnValuesToBeBetween",
                {"column": "total_places", "max_value": MONEY_PLACES},
                "total", f"more than {MONEY_PLACES} decimal places", "total",
                why="QuickBooks keeps cents; more places would be rounded there and no longer add up."),
    Expectation("total_equals_lines", "documents", "ExpectColumnPairValuesToBeEqual",
                {"column_A": "total", "column_B": "lines_total", **_PAIR}, "total", _total, "total",
                why="The total must be the sum of the lines (of the debits, for a journal entry)."),
    Expectation("journal_entry_balances", "documents", "ExpectColumnPairValuesToBeEqual",
                {"column_A": "debits", "column_B": "credits", **_PAIR},
                "lines", "debits {debits} and credits {credits} do not balance", "imbalance",
                why="A journal entry whose debits and credits differ is refused."),
    Expectation("currency_present", "documents", "ExpectColumnValuesToNotBeNull", {"column": "currency"},
                "currency", "missing", why="Money is never without its currency."),
    Expectation("currency_allowed", "documents", "ExpectColumnValuesToBeInSet",
                lambda params: {"column": "currency", "value_set": params.currencies()},
                "currency", currency_problem, "currency",
                why="A document in another currency would be booked at the wrong amount."),
    Expectation("currency_enabled", "documents", "ExpectColumnValuesToBeInSet",
                {"column": "currency_enabled", "value_set": [True]}, "currency",
                lambda row, params: (
                    f"{row['currency']} is a foreign currency and multicurrency is off in the accounting company, "
                    f"which takes {', '.join(sorted(params.enabled_currencies or ()))} only: turn multicurrency on "
                    "there, or enter the document in the home currency" if params.single_currency else
                    f"{row['currency']} is not enabled in the accounting system (enabled: "
                    f"{', '.join(sorted(params.enabled_currencies or ()))})"), "currency",
                why="The accounting system refuses a document in a currency its company has not enabled."),
    Expectation("exchange_rate_known", "documents", "ExpectColumnValuesToBeNull", {"column": "rate_problem"},
                "exchange_rate", lambda row, params: row["rate_problem"],
                why="A foreign document goes with a rate (the source's or the accounting system's for its date), so "
                    "the home-currency amounts booked are known; entry files have no rates of their own."),
    Expectation("journal_code_resolves", "documents", "ExpectColumnValuesToBeInSet",
                {"column": "journal_resolved", "value_set": [True]}, "journal_code",
                lambda row, params: f"no active journal {row['journal_code']!r} in the accounting system's journals",
                "journal_code",
                why="An entry named for a journal the books do not have would be refused, or land in the wrong one."),
    Expectation("journal_declared_by_source", "documents", "ExpectColumnValuesToBeInSet",
                {"column": "journal_declared", "value_set": [True]}, "journal_code",
                lambda row, params: f"journal {row['journal_code']!r} is " + (
                    "inactive among the journals the source declared (active: false)" if row["journal_inactive"]
                    else "not among the journals the source declared") + ": declare it in the feed's `journals`, "
                "or name a declared one",
                "journal_code",
                why="Where the source declares its journals, a document naming another one has its journal wrong."),
    Expectation("bank_account_resolves", "documents", "ExpectColumnValuesToBeInSet",
                {"column": "bank_account_resolved", "value_set": [True]}, "bank_account",
                lambda row, params: "missing" if not row.get("bank_account") else
                "no active account with this number or name in the accounting system's chart", "bank_account",
                why="A bank entry, or an expense report the company paid, moves money through an account of the "
                    "chart; one the books do not have would be refused."),
    Expectation("bank_account_is_bank", "documents", "ExpectColumnValuesToBeInSet",
                {"column": "bank_account_is_bank", "value_set": [True]}, "bank_account",
                lambda row, params: f"account {row['bank_account']} is of type {row.get('bank_account_type') or 'unknown'}"
                                    ", not Bank: money is paid from and deposited to a bank account", "bank_account",
                why="QuickBooks pays a purchase from, and deposits to, a Bank account only (6000); an expense "
                    "account there would book the money on the wrong side of the books."),
    Expectation("doc_number_length", "documents", "ExpectColumnValueLengthsToBeBetween",
                lambda params: {"column": "doc_number", "max_value": params.doc_number_limit},
                "doc_number", lambda row, params: f"longer than {params.doc_number_limit} characters", "doc_number",
                why="QuickBooks Online takes 21 characters, Desktop 20; a longer number is refused or cut."),
    Expectation("doc_number_present", "documents", "ExpectColumnValuesToBeInSet",
                {"column": "doc_number_given", "value_set": [True]}, "doc_number",
                "missing; the accounting system needs a document number",
                when=lambda params: params.doc_number_required,
                why="Some targets (the desktop file drop) need a number on bills and invoices."),
    Expectation("due_date_not_before_doc_date", "documents", "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "due_date", "column_B": "doc_date", "or_equal": True, **_PAIR},
                "due_date", "before the document date {doc_date}", "due_date", overridable=True,
                why="A due date before the document date is a typo that would show the document overdue."),
    Expectation("doc_number_unique_in_batch", "documents", "ExpectColumnValuesToBeNull",
                {"column": "earlier_same_number"}, "doc_number",
                "the vendor already has a bill with this number ({earlier_same_number}, in this batch); the "
                "company refuses duplicate bill numbers", "doc_number",
                when=lambda params: params.unique_bill_numbers,
                why="The first bill of a batch keeps a (vendor, number); the next is refused by QuickBooks (6140)."),
    # A lookup in the caller's set, not ExpectColumnValuesToNotBeInSet(value_set=taken): GX 1.24 spends
    # about 18 s on a value set of 100,000 numbers (it serialises it per metric), the lookup 10 ms.
    Expectation("doc_number_not_taken", "documents", "ExpectColumnValuesToBeNull", {"column": "taken_by"},
                "doc_number", _taken, "doc_number",
                when=lambda params: params.unique_bill_numbers,
                why="A (vendor, number) already in the accounting system or on its way is refused (6140)."),
    # -- lines
    Expectation("line_amount_present", "lines", "ExpectColumnValuesToNotBeNull", {"column": "amount"},
                "lines[{line_no}].amount", lambda row, params: "missing" if row["amount"] is None else
                "not an exact amount (at most 4 decimal places)", "amount",
                why="Every line carries an amount."),
    Expectation("line_amount_positive", "lines", "ExpectColumnValuesToBeBetween", {"column": "amount", **_POSITIVE},
                "lines[{line_no}].amount", "must be positive", "amount", when=lambda params: params.positive_lines,
                why="Lines of every document are positive; the kind (credit note) or posting type carries the sign."),
    Expectation("line_amount_precision", "lines", "ExpectColumnValuesToBeBetween",
                {"column": "amount_places", "max_value": MONEY_PLACES},
                "lines[{line_no}].amount", f"more than {MONEY_PLACES} decimal places", "amount",
                why="QuickBooks keeps cents; more places would be rounded there."),
    Expectation("line_account_resolves", "lines", "ExpectColumnValuesToBeInSet",
                {"column": "account_resolved", "value_set": [True]},
                "lines[{line_no}].account_code", _code("account"), "account_code",
                why="A bill or journal line posts to an account that exists and is active."),
    Expectation("line_item_resolves", "lines", "ExpectColumnValuesToBeInSet",
                {"column": "item_resolved", "value_set": [True]},
                "lines[{line_no}].item_code", _code("item"), "item_code",
                why="An invoice or credit note line names a product or service that exists and is active."),
    Expectation("line_class_resolves", "lines", "ExpectColumnValuesToBeInSet",
                {"column": "class_resolved", "value_set": [True]},
                "lines[{line_no}].class_code", _code("class"), "class_code",
                why="A class named on a line must exist and be active."),
    Expectation("line_tax_code_resolves", "lines", "ExpectColumnValuesToBeInSet",
                {"column": "tax_code_resolved", "value_set": [True]},
                "lines[{line_no}].tax_code", _code("tax_code"), "tax_code",
                why="A tax code named on a line must be one of the accounting company's, or tax is computed wrong."),
    Expectation("line_tax_amount_matches_rate", "lines", "ExpectColumnValuesToBeInSet",
                {"column": "tax_agrees", "value_set": [True]},
                "lines[{line_no}].tax_amount", _tax, "tax_amount", overridable=True,
                why="The tax the source computed must be what the tax code's rate makes of the line (within a "
                    "cent), or the books and the source's document disagree on the tax; a tax amount without a "
                    "tax code would be booked as no tax."),
    Expectation("line_posting_type", "lines", "ExpectColumnValuesToBeInSet",
                {"column": "posting_type", "value_set": ["debit", "credit"]},
                "lines[{line_no}].posting_type", "must be debit or credit", "posting_type",
                why="Each journal line is a debit or a credit."),
    Expectation("line_quantity_positive", "lines", "ExpectColumnValuesToBeBetween",
                {"column": "quantity", **_POSITIVE}, "lines[{line_no}].quantity", "must be positive", "quantity",
                why="An invoice or credit note line has a positive quantity."),
    Expectation("line_amount_equals_quantity_times_price", "lines", "ExpectColumnPairValuesToBeEqual",
                {"column_A": "amount", "column_B": "extended", **_PAIR},
                "lines[{line_no}].amount", _extended, "amount",
                why="QuickBooks recomputes quantity x unit price; a line that differs is refused or changed."),
)

COLUMNS = {
    "documents": {"kind": STR, "doc_date": DATE, "due_date": DATE, "party_linked": BOOL, "line_count": INT,
                  "total": MONEY, "total_places": INT, "lines_total": MONEY, "debits": MONEY, "credits": MONEY,
                  "currency": STR, "currency_enabled": BOOL, "doc_number": STR, "doc_number_given": BOOL,
                  "earlier_same_number": STR,
                  "taken_by": STR, "journal_code": STR, "journal_resolved": BOOL, "journal_declared": BOOL,
                  "journal_inactive": BOOL, "rate_problem": STR,
                  "bank_account": STR, "bank_account_resolved": BOOL, "bank_account_is_bank": BOOL,
                  "bank_account_type": STR},
    "lines": {"amount": MONEY, "amount_places": INT, "account_resolved": BOOL, "item_resolved": BOOL,
              "class_resolved": BOOL, "tax_code_resolved": BOOL, "posting_type": STR, "quantity": MONEY, "extended": MONEY,
              "tax_amount": MONEY, "tax_agrees": BOOL},
}

SUITE = Suite(NAME, SUITE_VERSION, MAX_FAILURE_RATE, DocumentParams, build, EXPECTATIONS, COLUMNS, key,
              group=lambda record: str(record.get("kind") or ""))
