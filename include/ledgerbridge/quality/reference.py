"""Suite `reference`: the mirrored lists (accounts, vendors, customers, classes, ...) after a pull.

Records are dicts, one per list object::

    {"kind": "account", "external_id": "33", "name": "Checking", "active": True,
     "account_type": "Bank", "currency": "USD"}

`account_type` matters for accounts only, `currency` when the object carries one. The key of a
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
SUITE_VERSION = "1.0.0"
MAX_FAILURE_RATE = 0.05  # more than 5% of a list failing is a mapping or pull problem, not bad records
MAX_ROW_DROP = 0.5  # a kind with less than half its last run's rows: a half-empty pull
MIN_ROWS_FOR_DROP = 10  # below this many rows last time, a drop says nothing

# QuickBooks Online account types (Account.AccountType).
QBO_ACCOUNT_TYPES = frozenset({
    "Bank", "Other Current Asset", "Fixed Asset", "Other Asset", "Accounts Receivable", "Equity", "Expense",
    "Other Expense", "Cost of Goods Sold", "Accounts Payable", "Credit Card", "Long Term Liability",
    "Other Current Liability", "Income", "Other Income",
})
# Xero account types (Account.Type, as xero-python's AccountType lists them).
XERO_ACCOUNT_TYPES = frozenset({
    "BANK", "CURRENT", "CURRLIAB", "DEPRECIATN", "DIRECTCOSTS", "EQUITY", "EXPENSE", "FIXED", "INVENTORY",
    "LIABILITY", "NONCURRENT", "OTHERINCOME", "OVERHEADS", "PREPAYMENT", "REVENUE", "SALES", "TERMLIAB", "PAYG",
})
KNOWN_ACCOUNT_TYPES = QBO_ACCOUNT_TYPES | XERO_ACCOUNT_TYPES
PARTY_KINDS = ("vendor", "customer")
_SEP = "\x1f"  # joins the parts of a compound key; cannot occur in an id or a name


@dataclass(frozen=True)
class ReferenceParams:
    last_counts: Mapping[str, int] = field(default_factory=dict)  # kind -> rows in the last run
    max_drop: float = MAX_ROW_DROP
    min_rows_for_drop: int = MIN_ROWS_FOR_DROP
    max_failure_rate: float = MAX_FAILURE_RATE


def key(record: dict, position: int) -> str:
    external_id = text(record.get("external_id"))
    return f"{record.get('kind')}:{external_id if external_id else f'#{position}'}"


def build(records: list[dict], params: ReferenceParams) -> dict[str, list[dict]]:
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
        rows.append({
            KEY: key(record, position), RECORD: position, "kind": kind, "external_id": external_id,
            "kind_id": f"{kind}{_SEP}{external_id}" if external_id else None, "name": name,
            "account_type": account_type, "active_party_name": party_name,
            "currency": text(record.get("currency")), "active": active,
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


def _duplicate_name(row: dict, params) -> str:
    others = [k for k in row.get("_peers", ()) if k != row[KEY]]
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return f"another active {row['kind']} has this name ({shown})" if shown else \
        f"another active {row['kind']} has this name"


def _account_type(row: dict, params) -> str:
    return "missing" if not row.get("account_type") else "not a known QuickBooks or Xero account type"


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
                {"column": "account_type", "value_set": sorted(KNOWN_ACCOUNT_TYPES)},
                "account_type", _account_type, "account_type",
                why="Payments pick their bank account by type; an unknown type means a wrong mapping."),
    Expectation("party_name_unique", "records", "ExpectColumnValuesToBeUnique", {"column": "active_party_name"},
                "name", _duplicate_name, "name",
                why="Two active vendors (or customers) with one name make matching by name ambiguous."),
    Expectation("currency_iso", "records", "ExpectColumnValuesToBeInSet",
                {"column": "currency", "value_set": sorted(ISO_4217)},
                "currency", "not an ISO 4217 currency code", "currency",
                why="A currency that is not an ISO code cannot be compared with the entity's."),
    Expectation("row_count_kept", "counts", "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": "rows", "column_B": "floor", "or_equal": True,
                 "ignore_row_if": "either_value_is_missing"},
                "{kind}", _row_drop, "rows", record_level=False,
                why="A half-empty pull must not deactivate half the chart of accounts."),
)

COLUMNS = {
    "records": {"external_id": STR, "kind_id": STR, "name": STR, "account_type": STR, "active_party_name": STR,
                "currency": STR, "kind": STR, "active": BOOL},
    "counts": {"kind": STR, "rows": INT, "last_rows": INT, "floor": INT},
}

SUITE = Suite(NAME, SUITE_VERSION, MAX_FAILURE_RATE, ReferenceParams, build, EXPECTATIONS, COLUMNS, key,
              group=lambda record: str(record.get("kind") or ""))
