"""Suite `parties`: vendors and customers about to be created in the accounting system (match_parties).

Records are dicts, one per hub party nothing in the accounting system matched, that the entity's
policy creates there::

    {"hub_id": "V-9", "kind": "vendor",           # vendor | customer
     "name": "Globochem Supplies",                 # becomes the DisplayName
     "email": "ap@globochem.example",              # optional
     "currency": "USD"}                            # optional: the entity's currency when missing

The key is `hub_id`. Params (`PartyParams`): the entity's `currency` and `allowed_currencies`, and
the target's `name_limit` (QuickBooks Online: 500 characters).
"""
from __future__ import annotations

from dataclasses import dataclass

from ledgerbridge.quality.currencies import CurrencyParams, currency_problem
from ledgerbridge.quality.spec import KEY, RECORD, STR, Expectation, Suite, text

NAME = "parties"
SUITE_VERSION = "1.0.0"
MAX_FAILURE_RATE = 0.10
NAME_LIMIT = 500  # QuickBooks Online's DisplayName
KINDS = ("vendor", "customer")
FORBIDDEN_IN_NAME = r"[:\t\n\r]"  # QuickBooks refuses a colon, a tab or a newline in a DisplayName
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"


@dataclass(frozen=True)
class PartyParams(CurrencyParams):
    name_limit: int = NAME_LIMIT
    max_failure_rate: float = MAX_FAILURE_RATE


def key(record: dict, position: int) -> str:
    return text(record.get("hub_id")) or f"#{position}"


def build(records: list[dict], params: PartyParams) -> dict[str, list[dict]]:
    return {"parties": [{
        KEY: key(record, position), RECORD: position, "kind": str(record.get("kind") or ""),
        # Blanks around the name are dropped by the accounting system; inside it they count.
        "name": text(record.get("name")), "email": text(record.get("email")),
        "currency": text(record.get("currency")),
    } for position, record in enumerate(records)]}


EXPECTATIONS = (
    Expectation("kind_known", "parties", "ExpectColumnValuesToBeInSet", {"column": "kind", "value_set": list(KINDS)},
                "kind", "not a vendor or a customer", "kind",
                why="The suite knows vendors and customers; anything else is a caller bug."),
    Expectation("name_present", "parties", "ExpectColumnValuesToNotBeNull", {"column": "name"}, "name", "missing",
                why="The name becomes the party's display name, which the accounting system requires."),
    Expectation("name_characters", "parties", "ExpectColumnValuesToNotMatchRegex",
                {"column": "name", "regex": FORBIDDEN_IN_NAME}, "name",
                "contains a colon, a tab or a newline, which QuickBooks refuses in a name", "name",
                why="QuickBooks refuses a display name with a colon (it separates sub-customers), a tab or a newline."),
    Expectation("name_length", "parties", "ExpectColumnValueLengthsToBeBetween",
                lambda params: {"column": "name", "max_value": params.name_limit}, "name",
                lambda row, params: f"longer than {params.name_limit} characters", "name",
                why="QuickBooks Online takes display names of up to 500 characters."),
    Expectation("email_format", "parties", "ExpectColumnValuesToMatchRegex", {"column": "email", "regex": EMAIL},
                "email", "not an email address", "email",
                why="A malformed address is refused by QuickBooks, or sends remittances nowhere."),
    Expectation("currency_allowed", "parties", "ExpectColumnValuesToBeInSet",
                lambda params: {"column": "currency", "value_set": params.currencies()},
                "currency", currency_problem, "currency",
                why="A party in another currency could only take documents in that currency."),
)

COLUMNS = {"parties": {"kind": STR, "name": STR, "email": STR, "currency": STR}}

SUITE = Suite(NAME, SUITE_VERSION, MAX_FAILURE_RATE, PartyParams, build, EXPECTATIONS, COLUMNS, key,
              group=lambda record: str(record.get("kind") or ""))
