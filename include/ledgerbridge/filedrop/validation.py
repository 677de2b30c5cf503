"""Validate messages against the shipped JSON Schemas and the rules a schema cannot say.

Every problem names the record (index and key) and the field (a JSON pointer from the document
root), so a person can find it in the file, and the good records of a batch can go on.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from .protocol import CONFIRMATIONS, FIELD_VERSIONS, FROM_ACCOUNTING_KINDS, KINDS, VALUE_VERSIONS

SCHEMA_URN = "urn:ledgerbridge:filedrop:1:{}"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Problem:
    """Why a file or a record is refused. `field` is a JSON pointer from the document root."""

    code: str
    reason: str
    field: str | None = None
    record_index: int | None = None
    record_key: str | None = None

    @property
    def where(self) -> str:
        parts = []
        if self.record_index is not None:
            key = f" (key {self.record_key!r})" if self.record_key else ""
            parts.append(f"record {self.record_index}{key}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)

    def describe(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason

    def as_dict(self) -> dict[str, Any]:
        """The shape common.json#/$defs/problem gives it: the parts, and `message` saying it all."""
        return asdict(self) | {"message": self.describe()}


# --- schemas ---------------------------------------------------------------------------------

def schema_names() -> list[str]:
    folder = files("ledgerbridge.filedrop").joinpath("schemas")
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".json"))


@cache
def _registry() -> Registry:
    folder = files("ledgerbridge.filedrop").joinpath("schemas")
    resources = []
    for name in schema_names():
        contents = json.loads(folder.joinpath(f"{name}.json").read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def load_schema(kind: str) -> dict:
    if kind not in KINDS:
        raise KeyError(f"no schema for message kind {kind!r}; known: {', '.join(KINDS)}")
    return _registry().contents(SCHEMA_URN.format(kind))


def _format_checker() -> FormatChecker:
    # Our own checkers: the defaults for date-time depend on optional packages being installed.
    checker = FormatChecker(formats=())
    checker.checks("date", raises=ValueError)(lambda value: _parses(date.fromisoformat, value))
    checker.checks("date-time", raises=ValueError)(lambda value: _parses(datetime.fromisoformat, value))
    return checker


def _parses(parse, value: Any) -> bool:
    """Formats apply to strings only (the `type` keyword speaks for the rest); ValueError means no."""
    if isinstance(value, str):
        parse(value)
    return True


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(kind), registry=_registry(), format_checker=_format_checker())


# --- schema errors, in words a person can act on ---------------------------------------------

MAX_NAME = 60  # a hostile file's member names must not blow up the report that quotes them


def _clip(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[:MAX_NAME - 3] + "..."


def _pointer(path) -> str:
    return "".join("/" + _clip(str(part)).replace("~", "~0").replace("/", "~1") for part in path)


def _quoted_names(message: str) -> list[str]:
    return [_clip(name).replace("~", "~0").replace("/", "~1") for name in re.findall(r"'([^']*)'", message)]


def json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _explain(error: ValidationError) -> tuple[str, str]:
    """(field pointer, reason) for one schema error."""
    field, value, schema = _pointer(error.absolute_path), error.instance, error.schema
    kind = error.validator
    if kind == "required":
        missing = _quoted_names(error.message)[0]
        return f"{field}/{missing}", "is required but missing"
    if kind == "dependentRequired":
        missing = _quoted_names(error.message)[0]
        return f"{field}/{missing}", f"is required with {', '.join(sorted(set(_quoted_names(error.message)[1:])))}"
    if kind in ("unevaluatedProperties", "additionalProperties"):
        unknown = _quoted_names(error.message)[0] if _quoted_names(error.message) else "?"
        return f"{field}/{unknown}", "is not a field of this message (a typo? extensions must start with x_)"
    if kind == "type" and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and "decimal string" in schema.get("description", ""):
        return field, (f"is the JSON number {_short(value)}; give it as {schema['description']}: "
                       "a binary float cannot hold most cents exactly")
    if kind == "type":
        shown = "" if value is None else f" {_short(value)}"
        return field, f"must be {error.validator_value}, not {json_type(value)}{shown}"
    if kind in ("pattern", "format", "minLength", "maxLength") and schema.get("description"):
        return field, f"{_short(value)} is not {schema['description']}"
    if kind == "const":
        return field, f"must be {_short(error.validator_value)}, not {_short(value)}"
    if kind == "enum":
        return field, f"{_short(value)} is not one of {', '.join(map(_short, error.validator_value))}"
    if kind in ("anyOf", "oneOf") and schema.get("description"):
        return field, f"is not valid: {schema['description']}"
    if kind == "not" and schema.get("description"):
        return field, f"is {schema['description']}"
    if kind == "minItems":
        return field, f"must hold at least {error.validator_value} item(s)"
    if kind == "maxItems":
        return field, f"holds more than {error.validator_value} item(s)"
    return field, error.message


# --- records ---------------------------------------------------------------------------------

def record_of(data: Any, path) -> tuple[int | None, str | None]:
    """The record a path points into: (index, key), or (None, None) for the envelope."""
    parts = list(path)
    if len(parts) < 2 or parts[0] != "records" or not isinstance(parts[1], int):
        return None, None
    return parts[1], record_key(data, parts[1])


def record_key(data: Any, index: int) -> str | None:
    try:
        key = data["records"][index].get("key")
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    return _clip(key) if isinstance(key, str) else None


def _schema_problems(kind: str, data: Any) -> Iterator[Problem]:
    problems = []
    for error in _validator(kind).iter_errors(data):
        field, reason = _explain(error)
        index, key = record_of(data, error.absolute_path)
        problems.append(Problem("schema", reason, field or "/", index, key))
    return iter(sorted(problems, key=lambda p: (p.field, p.reason)))


def validate_message(kind: str, data: Any) -> list[Problem]:
    """Every problem of a message: schema first, then the arithmetic of the records that passed it."""
    if kind not in KINDS:
        return [Problem("unknown_kind", f"{kind!r} is not a message kind; known: {', '.join(KINDS)}", "/kind")]
    problems = list(_schema_problems(kind, data))
    if any(problem.record_index is None for problem in problems):
        return problems  # the envelope is wrong: records cannot be trusted to be records
    failed = {problem.record_index for problem in problems}
    records = data["records"]
    problems += _duplicate_keys(records)
    newer = list(_fields_newer_than_the_file(kind, data))
    problems += newer
    failed |= {problem.record_index for problem in newer}
    for index, record in enumerate(records):
        if index not in failed:
            problems += [Problem("inconsistent", reason, f"/records/{index}{tail}", index, record.get("key"))
                         for tail, reason in RULES.get(kind, _no_rules)(record)]
    return sorted(problems, key=lambda p: (p.record_index if p.record_index is not None else -1))


def _fields_newer_than_the_file(kind: str, data: dict) -> Iterator[Problem]:
    """A field (or a field's value: a version-7 attachment's document_type, a version-8 journal_code list entry)
    a later version added, in a file declaring an older one: the writer was not speaking the version
    it declared, and a reader of that version would drop the field. Refused for the record, never ignored."""
    version = data.get("protocol_version")
    if not isinstance(version, int):
        return
    # What the agent writes (confirmations, lists, ...) LedgerBridge reads; what LedgerBridge writes, an agent.
    reader = "a reader" if kind == CONFIRMATIONS or kind in FROM_ACCOUNTING_KINDS else "an agent"
    for name, versions in FIELD_VERSIONS.items():
        since = versions.get(kind)
        if since is None or version >= since:
            continue
        for index, record in enumerate(data["records"]):
            if isinstance(record, dict) and name in record:
                yield Problem("protocol_version", f"{name} is a field of protocol_version {since}, but the file says "
                              f"protocol_version {version}; write the file as version {since} (to {reader} "
                              f"speaking it)", f"/records/{index}/{name}", index, record_key(data, index))
    for name, versions in VALUE_VERSIONS.get(kind, {}).items():
        for index, record in enumerate(data["records"]):
            value = record.get(name) if isinstance(record, dict) else None
            since = versions.get(value) if isinstance(value, str) else None
            if since is not None and version < since:
                yield Problem("protocol_version", f"{name} {value!r} is a value of protocol_version {since}, but the "
                              f"file says protocol_version {version}; write the file as version {since} (to {reader} "
                              f"speaking it)", f"/records/{index}/{name}", index, record_key(data, index))


def _duplicate_keys(records: list) -> list[Problem]:
    first_seen: dict[str, int] = {}
    problems = []
    for index, record in enumerate(records):
        key = record.get("key") if isinstance(record, dict) else None
        if not isinstance(key, str):
            continue
        if key in first_seen:
            problems.append(Problem("duplicate_key", f"key {_clip(key)!r} is already used by record "
                                    f"{first_seen[key]} of this file", f"/records/{index}/key", index, _clip(key)))
        else:
            first_seen[key] = index
    return problems


# --- rules a schema cannot say: each yields (pointer inside the record, reason) ---------------

def _no_rules(record: dict) -> Iterator[tuple[str, str]]:
    return iter(())


def _sum(values) -> Decimal:
    return sum((Decimal(value) for value in values), Decimal(0))


def _total_is_sum_of_lines(record: dict) -> Iterator[tuple[str, str]]:
    lines_total = _sum(line["amount"] for line in record["lines"])
    if Decimal(record["total"]) != lines_total:
        yield "/total", f"total {record['total']} is not the sum of the line amounts ({lines_total})"


def _invoice_rules(record: dict) -> Iterator[tuple[str, str]]:
    yield from _total_is_sum_of_lines(record)
    for index, line in enumerate(record["lines"]):
        if "quantity" in line and "unit_price" in line:
            expected = (Decimal(line["quantity"]) * Decimal(line["unit_price"])).quantize(CENT, ROUND_HALF_UP)
            if Decimal(line["amount"]) != expected:
                product = f"{line['quantity']} x {line['unit_price']} = {expected}"
                yield f"/lines/{index}/amount", f"amount {line['amount']} is not quantity x unit_price ({product})"


def _journal_balances(record: dict) -> Iterator[tuple[str, str]]:
    debits = _sum(line.get("debit", "0") for line in record["lines"])
    credits = _sum(line.get("credit", "0") for line in record["lines"])
    if debits != credits:
        yield "/lines", f"debits ({debits}) do not equal credits ({credits})"


def _applications_within_amount(record: dict) -> Iterator[tuple[str, str]]:
    applied = _sum(application["amount"] for application in record["applications"])
    if applied > Decimal(record["amount"]):
        yield "/applications", (f"the applications add up to {applied}, more than the payment's amount "
                                f"{record['amount']}")


RULES = {
    "bills": _total_is_sum_of_lines,
    "invoices": _invoice_rules,
    "credit_notes": _invoice_rules,  # item lines as on an invoice
    "sales_receipts": _invoice_rules,
    "vendor_credits": _total_is_sum_of_lines,  # expense lines as on a bill
    "bank_entries": _total_is_sum_of_lines,  # the counterpart lines make the amount through the bank
    "expense_reports": _total_is_sum_of_lines,
    "purchase_orders": _total_is_sum_of_lines,
    "journal_entries": _journal_balances,
    "payments": _applications_within_amount,
    "payments_made": _applications_within_amount,
    "payments_received": _applications_within_amount,
}
