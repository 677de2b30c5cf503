"""Suite `reference`: the mirrored lists (accounts, vendors, customers, classes, ...) after a pull.

Records are dicts, one per list object::

    {"kind": "account", "external_id": "33", "name": "Checking", "active": True,
     "account_type": "Bank", "currency": "USD"}

`account_type` matters for accounts and journal codes (the journal's type), `currency` when the object
carries one; vendors and customers may carry `auxiliary_account` (their sub-ledger account) and
`collective_account` (the external id of the payables/receivables account they roll up to). The key of a
record is ``"<kind>:<external_id>"`` (``"<kind>:#<position>"`` when the id is missing), so the
caller quarantines it under dataset ``reference.<kind>`` and record key ``<external_id>``.

Params (`ReferenceParams`): `last_counts` (rows per kind in the last run) for the row-count-drop
check, which is about the batch: it fails no record but makes the result systemic.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ledgerbridge.quality.currencies import ISO_4217
from ledgerbridge.quality.spec import (
    BOOL,
    INT,
    KEY,
    RECORD,
    STR,
    Expectation,
    Suite,
    text,
)

NAME = "reference"
SUITE_VERSION = "1.2.0"
MAX_FAILURE_RATE = 0.05  # more than 5% of a list failing is a mapping or pull problem, not bad records
MAX_ROW_DROP = 0.5  # a kind with less than half its last run's rows: a half-empty pull
MIN_ROWS_FOR_DROP = 10  # below this many rows last time, a drop says nothing

# QuickBooks Online account types (Account.AccountType): the default. Another system's come from its
# connector spec (connectors/specs.py `account_types`), through the params.
KNOWN_ACCOUNT_TYPES = frozenset({
    "Bank", "Other Current Asset", "Fixed Asset", "Other Asset", "Accounts Receivable", "Equity", "Expense",
    "Other Expense", "Cost of Goods Sold", "Accounts Payable", "Credit Card", "Long Term Liability",
    "Other Current Liability", "Income", "Other Income",
})
PARTY_KINDS = ("vendor", "customer")
# Journal types: QuickBooks France's JournalCode.Type, then the file drop's `journal_type`.
KNOWN_JOURNAL_TYPES = frozenset({
    "Expenses", "Sales", "Bank", "Nouveaux", "Wages", "Cash", "Others",
    "purchases", "sales", "bank", "cash", "payroll", "opening", "general",
})
# The account types a vendor's (customer's) collective account may have, spaces and case aside:
# QuickBooks Online's "Accounts Payable", QuickBooks Desktop's "AccountsPayable".
COLLECTIVE_TYPES = {"vendor": "accountspayable", "customer": "accountsreceivable"}
_SEP = "\x1f"  # joins the parts of a compound key; cannot occur in an id or a name


@dataclass(frozen=True)
class ReferenceParams:
    last_counts: Mapping[str, int] = field(default_factory=dict)  # kind -> rows in the last run
    max_drop: float = MAX_ROW_DROP
    min_rows_for_drop: int = MIN_ROWS_FOR_DROP
    max_failure_rate: float = MAX_FAILURE_RATE
    account_types: frozenset[str] = KNOWN_ACCOUNT_TYPES
    account_system: str = "QuickBooks"  # whose account types they are, for the reason


def key(record: dict, position: int) -> str:
    external_id = text(record.get("external_id"))
    return f"{record.get('kind')}:{external_id if external_id else f'#{position}'}"


def _folded_type(account: dict) -> str:
    return (text(account.get("account_type")) or "").replace(" ", "").casefold()


def _collective_problem(kind: str, record: dict, accounts: dict[str, dict]) -> str | None:
    """Why a party's collective account cannot hold its balance, or None."""
    collective = text(record.get("collective_account"))
    if kind not in PARTY_KINDS or not collective:
        return None
    account = accounts.get(collective)
    if account is None:
        return f"its collective account {collective} is not in the chart of accounts"
    wanted = "payables" if kind == "vendor" else "receivables"
    if _folded_type(account) != COLLECTIVE_TYPES[kind]:
        return (f"its collective account {collective} ({text(account.get('name'))}) is of type "
                f"{text(account.get('account_type')) or '(none)'}, not a {wanted} account")
    if account.get("active", True) is False:
        return f"its collective account {collective} ({text(account.get('name'))}) is inactive"
    return None


def _auxiliary(kind: str, record: dict) -> str | None:
    """An active party's auxiliary account, uppercased: Sage keeps one table of tiers for both kinds."""
    auxiliary = text(record.get("auxiliary_account")) if kind in PARTY_KINDS else None
    return auxiliary.upper() if auxiliary and record.get("active", True) is not False else None


def _auxiliary_holders(records: list[dict]) -> dict[str, dict[tuple, list[str]]]:
    """Auxiliary account -> the parties holding it -> their keys. A party is its id and name: a Xero contact that is
    both supplier and customer is mirrored under both kinds with one id, and is one holder."""
    holders: dict[str, dict[tuple, list[str]]] = {}
    for position, record in enumerate(records):
        auxiliary = _auxiliary(str(record.get("kind") or ""), record)
        if auxiliary:
            party = (text(record.get("external_id")), (text(record.get("name")) or "").casefold())
            holders.setdefault(auxiliary, {}).setdefault(party, []).append(key(record, position))
    return holders


def _auxiliary_problem(auxiliary: str | None, own_key: str, holders: dict[str, dict[tuple, list[str]]]) -> str | None:
    parties = holders.get(auxiliary) if auxiliary else None
    if not parties or len(parties) < 2:
        return None
    others = [k for keys in parties.values() if own_key not in keys for k in keys]
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return f"another active vendor or customer has this auxiliary account ({shown})"


def build(records: list[dict], params: ReferenceParams) -> dict[str, list[dict]]:
    accounts = {text(r.get("external_id")): r for r in records if r.get("kind") == "account"}
    auxiliary_holders = _auxiliary_holders(records)
    rows = []
    for position, record in enumerate(records):
        kind = str(record.get("kind") or "")
        external_id = text(record.get("external_id"))
        name = text(record.get("name"))
        active = record.get("active", True) is not False
        party_name = None
        if kind in PARTY_KINDS and active and name:
            party_name = f"{kind}{_SEP}{name.casefold()}"
        account_type = None
        if kind == "account":
            account_type = text(record.get("account_type")) or ""  # "" fails the set check: missing
        journal_code = name.casefold() if kind == "journal_code" and active and name else None
        journal_type = text(record.get("account_type")) if kind == "journal_code" else None
        rows.append({
            KEY: key(record, position), RECORD: position, "kind": kind, "external_id": external_id,
            "kind_id": f"{kind}{_SEP}{external_id}" if external_id else None, "name": name,
            "account_type": account_type, "active_party_name": party_name,
            "currency": text(record.get("currency")), "active": active,
            "active_journal_code": journal_code, "journal_type": journal_type,
            # one sub-ledger across vendors and customers (Sage keeps one table of tiers)
            "auxiliary_account": text(record.get("auxiliary_account")),
            "auxiliary_problem": _auxiliary_problem(_auxiliary(kind, record), key(record, position),
                                                    auxiliary_holders),
            "collective_account": text(record.get("collective_account")),
            "collective_problem": _collective_problem(kind, record, accounts) if active else None,
        })
    # The batch: rows per kind now against the last run.
    now: dict[str, int] = {}
    for row in rows:
        now[row["kind"]] = now.get(row["kind"], 0) + 1
    counts = []
    for kind in sorted(set(now) | set(params.last_counts)):
        last = params.last_counts.get(kind)
        floor = None
        if last is not None and last >= params.min_rows_for_drop:
            floor = math.ceil(last * (1 - params.max_drop))
        counts.append({"kind": kind, "rows": now.get(kind, 0), "last_rows": last, "floor": floor})
    return {"records": rows, "counts": counts}


def _duplicate_id(row: dict, params) -> str:
    return f"another {row['kind']} in this pull has the same id"


def _with_peers(what: str, row: dict) -> str:
    """`what`, naming up to three of the other records sharing the value."""
    others = [k for k in row.get("_peers", ()) if k != row[KEY]]
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return f"{what} ({shown})" if shown else what


def _duplicate_name(row: dict, params) -> str:
    return _with_peers(f"another active {row['kind']} has this name", row)


def _duplicate_peers(what: str):
    return lambda row, params: _with_peers(what, row)


def _account_type(row: dict, params: ReferenceParams) -> str:
    return "missing" if not row.get("account_type") else f"not a known {params.account_system} account type"


def _row_drop(row: dict, params: ReferenceParams) -> str:
    last, rows = row["last_rows"], row["rows"]
    drop = 100 * (last - rows) / last
    return (f"{rows} rows against {last} in the last run, a drop of {drop:.0f}% (more than "
            f"{params.max_drop:.0%}): a half-empty pull? Nothing of this kind should be deactivated or "
            f"matched against until the pull is checked")


EXPECTATIONS = (
    Expectation("id_present", "records", "ExpectColumnValuesToNotBeNull", {"column": "external_id"},
                "external_id", "missing",
                why="Every list object needs the accounting system's id: documents refer to it."),
    Expectation("id_unique", "records", "ExpectColumnValuesToBeUnique", {"column": "kind_id"},
                "external_id", _duplicate_id, "external_id",
                why="Two objects of one kind with one id means a broken pull; neither can be trusted."),
    Expectation("name_present", "records", "ExpectColumnValuesToNotBeNull", {"column": "name"},
                "name", "missing",
                why="Parties are matched and accounts resolved by name; a nameless object cannot be."),
    Expectation("account_type_known", "records", "ExpectColumnValuesToBeInSet",
                lambda params: {"column": "account_type", "value_set": sorted(params.account_types)},
                "account_type", _account_type, "account_type",
                why="Payments pick their bank account by type; an unknown type means a wrong mapping."),
    Expectation("party_name_unique", "records", "ExpectColumnValuesToBeUnique", {"column": "active_party_name"},
                "name", _duplicate_name, "name",
                why="Two active vendors (or customers) with one name make matching by name ambiguous."),
    Expectation("currency_iso", "records", "ExpectColumnValuesToBeInSet",
                {"column": "currency", "value_set": sorted(ISO_4217)},
                "currency", "not an ISO 4217 currency code", "currency",
                why="A currency that is not an ISO code cannot be compared with the entity's."),
    Expectation("journal_code_unique", "records", "ExpectColumnValuesToBeUnique",
                {"column": "active_journal_code"}, "name",
                _duplicate_peers("another active journal has this code (case aside)"), "name",
                why="Documents name their journal by code; two journals with one code send entries to either."),
    Expectation("journal_type_known", "records", "ExpectColumnValuesToBeInSet",
                {"column": "journal_type", "value_set": sorted(KNOWN_JOURNAL_TYPES)},
                "account_type", "not a known journal type", "journal_type",
                why="A journal's type says which entries it takes (purchases, sales, bank, ...)."),
    Expectation("auxiliary_account_unique", "records", "ExpectColumnValuesToBeNull",
                {"column": "auxiliary_problem"}, "auxiliary_account",
                lambda row, params: row["auxiliary_problem"], "auxiliary_account",
                why="An entry posts to the party's auxiliary account: two parties sharing one mix their balances."),
    Expectation("collective_account_fits", "records", "ExpectColumnValuesToBeNull",
                {"column": "collective_problem"}, "collective_account",
                lambda row, params: row["collective_problem"], "collective_account",
                why="A vendor's balance rolls up to a payables account, a customer's to a receivables one; "
                    "another account would misstate both."),
    Expectation("row_count_kept", "counts", "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "rows", "column_B": "floor", "or_equal": True,
                 "ignore_row_if": "either_value_is_missing"},
                "{kind}", _row_drop, "rows", record_level=False,
                why="A half-empty pull must not deactivate half the chart of accounts."),
)

COLUMNS = {
    "records": {"external_id": STR, "kind_id": STR, "name": STR, "account_type": STR, "active_party_name": STR,
                "currency": STR, "kind": STR, "active": BOOL, "active_journal_code": STR, "journal_type": STR,
                "auxiliary_problem": STR, "auxiliary_account": STR, "collective_account": STR,
                "collective_problem": STR},
    "counts": {"kind": STR, "rows": INT, "last_rows": INT, "floor": INT},
}

SUITE = Suite(NAME, SUITE_VERSION, MAX_FAILURE_RATE, ReferenceParams, build, EXPECTATIONS, COLUMNS, key,
              group=lambda record: str(record.get("kind") or ""))
