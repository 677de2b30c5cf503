"""OData query options for the SYSPRO sandbox: a real $filter parser (tokenizer + recursive descent
into a predicate), $orderby and $select, all checked against the entity set's typed schema.

Grammar (keywords in any case):
    expr       := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | comparison
    comparison := operand (("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand | "in" "(" literal ("," literal)* ")")?
    operand    := property | literal
    literal    := 'string' ('' escapes a quote) | number | true | false | null | 2026-11-01 | 2026-11-01T10:00:00Z
A comparison without an operator is allowed only on a boolean property (`CustomerOnHold`).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from .errors import ODataError

# property types
STRING, DECIMAL, INT, BOOL, DATE, DATETIME = "string", "decimal", "int", "bool", "date", "datetime"
COMPLEX = "complex"  # a list or an object: selectable, not comparable

COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", *COMPARISONS}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),])
""", re.VERBOSE)


def bad_request(message: str) -> ODataError:
    return ODataError(400, "BadRequest", message)


@dataclass(frozen=True)
class Token:
    kind: str  # string, datetime, date, number, name, keyword, punct, end
    text: str
    value: object
    at: int


def tokenize(text: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            # an unterminated string is the usual culprit
            if text[at] == "'":
                raise bad_request(f"$filter: unterminated string literal at position {at}")
            raise bad_request(f"$filter: unexpected character {text[at]!r} at position {at}")
        kind, raw = match.lastgroup, match.group()
        if kind == "string":
            tokens.append(Token("literal", raw, raw[1:-1].replace("''", "'"), at))
        elif kind == "datetime":
            tokens.append(Token("literal", raw, _parse_datetime(raw, at), at))
        elif kind == "date":
            try:
                tokens.append(Token("literal", raw, date.fromisoformat(raw), at))
            except ValueError:
                raise bad_request(f"$filter: {raw} at position {at} is not a valid date") from None
        elif kind == "number":
            tokens.append(Token("literal", raw, Decimal(raw), at))
        elif kind == "name":
            lowered = raw.lower()
            if lowered in ("true", "false"):
                tokens.append(Token("literal", raw, lowered == "true", at))
            elif lowered == "null":
                tokens.append(Token("literal", raw, None, at))
            elif lowered in KEYWORDS:
                tokens.append(Token("keyword", lowered, lowered, at))
            else:
                tokens.append(Token("name", raw, raw, at))
        elif kind == "punct":
            tokens.append(Token("punct", raw, raw, at))
        at = match.end()
    tokens.append(Token("end", "", None, len(text)))
    return tokens


def _parse_datetime(raw: str, at: int) -> datetime:
    text = raw[:-1] + "+00:00" if raw.endswith("Z") else raw
    if "." in text:  # Python takes at most 6 fraction digits
        head, _, rest = text.partition(".")
        digits = re.match(r"\d+", rest).group()
        text = head + "." + digits[:6].ljust(6, "0") + rest[len(digits):]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"$filter: {raw} at position {at} is not a valid datetime") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Predicate = Callable[[dict], bool]


@dataclass(frozen=True)
class Operand:
    """A property (name set) or a literal (value set); `type` is the property's type or None."""
    name: str | None
    value: object
    type: str | None
    at: int

    def get(self, row: dict) -> object:
        if self.name is None:
            return self.value
        return coerce(lookup(row, self.name), self.type)


def lookup(row: dict, path: str) -> object:
    value: object = row
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def coerce(value: object, kind: str | None) -> object:
    """A stored value (money and quantities are strings) as a comparable Python value."""
    if value is None or kind is None:
        return value
    try:
        if kind in (DECIMAL, INT):
            return Decimal(str(value))
        if kind == DATETIME:
            return _parse_datetime(str(value), 0)
        if kind == DATE:
            return date.fromisoformat(str(value))
    except (InvalidOperation, ValueError, ODataError):
        return None
    return value


class Parser:
    def __init__(self, text: str, schema: dict[str, str], entity_set: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0
        self.schema, self.entity_set = schema, entity_set

    @property
    def token(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def describe(self, token: Token) -> str:
        return "the end of the expression" if token.kind == "end" else f"{token.text!r} at position {token.at}"

    def parse(self) -> Predicate:
        if self.token.kind == "end":
            raise bad_request("$filter is empty")
        predicate = self.parse_or()
        if self.token.kind != "end":
            raise bad_request(f"$filter: unexpected {self.describe(self.token)}")
        return predicate

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.token.kind == "keyword" and self.token.value == "or":
            self.advance()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_unary()]
        while self.token.kind == "keyword" and self.token.value == "and":
            self.advance()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def parse_unary(self) -> Predicate:
        token = self.token
        if token.kind == "keyword" and token.value == "not":
            self.advance()
            inner = self.parse_unary()
            return lambda row: not inner(row)
        if token.kind == "punct" and token.value == "(":
            self.advance()
            inner = self.parse_or()
            self.expect(")")
            return inner
        return self.parse_comparison()

    def expect(self, punct: str) -> None:
        if self.token.kind != "punct" or self.token.value != punct:
            raise bad_request(f"$filter: expected {punct!r}, found {self.describe(self.token)}")
        self.advance()

    def parse_operand(self) -> Operand:
        token = self.advance()
        if token.kind == "name":
            kind = self.schema.get(token.text)
            if kind is None:
                raise bad_request(f"$filter: {self.entity_set} has no property {token.text!r} "
                                  f"(position {token.at})")
            if kind == COMPLEX:
                raise bad_request(f"$filter: property {token.text!r} is a collection or an object and cannot be "
                                  "compared (compare one of its fields, e.g. CustomFields/QBOInvoice)")
            return Operand(token.text, None, kind, token.at)
        if token.kind == "literal":
            return Operand(None, token.value, None, token.at)
        raise bad_request(f"$filter: expected a property or a value, found {self.describe(token)}")

    def parse_comparison(self) -> Predicate:
        left = self.parse_operand()
        token = self.token
        if token.kind == "keyword" and token.value in COMPARISONS:
            self.advance()
            right = self.parse_operand()
            return self.comparison(left, token.value, right)
        if token.kind == "keyword" and token.value == "in":
            self.advance()
            self.expect("(")
            values = [self.parse_operand()]
            while self.token.kind == "punct" and self.token.value == ",":
                self.advance()
                values.append(self.parse_operand())
            self.expect(")")
            if any(v.name is not None for v in values):
                raise bad_request("$filter: the list after 'in' takes values only, not properties")
            checks = [self.comparison(left, "eq", value) for value in values]
            return lambda row: any(check(row) for check in checks)
        if left.type == BOOL:
            return lambda row: left.get(row) is True
        if left.name is not None:
            raise bad_request(f"$filter: expected an operator (eq, ne, gt, ge, lt, le, in) after {left.name!r}, "
                              f"found {self.describe(token)}")
        raise bad_request(f"$filter: a value alone is not a condition (position {left.at})")

    def comparison(self, left: Operand, op: str, right: Operand) -> Predicate:
        left, right = self.check_types(left, right), self.check_types(right, left)
        if op in ("eq", "ne"):
            equal = op == "eq"
            return lambda row: (left.get(row) == right.get(row)) is equal

        def ordered(row: dict) -> bool:
            a, b = left.get(row), right.get(row)
            if a is None or b is None:
                return False  # null is neither greater nor smaller than anything
            try:
                return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
            except TypeError:
                return False
        if any(o.name is None and o.value is None for o in (left, right)):
            raise bad_request(f"$filter: null cannot be compared with '{op}' (only eq and ne)")
        return ordered

    def check_types(self, operand: Operand, other: Operand) -> Operand:
        """A literal compared with a property must fit the property's type."""
        if operand.name is not None or other.name is None or operand.value is None:
            return operand
        kind, value = other.type, operand.value
        fits = {
            STRING: isinstance(value, str),
            DECIMAL: isinstance(value, Decimal),
            INT: isinstance(value, Decimal) and value == value.to_integral_value(),
            BOOL: isinstance(value, bool),
            DATE: isinstance(value, date) and not isinstance(value, datetime),
            DATETIME: isinstance(value, datetime),
        }.get(kind, False)
        if kind == DATETIME and isinstance(value, date) and not isinstance(value, datetime):
            return Operand(None, datetime(value.year, value.month, value.day, tzinfo=UTC), None, operand.at)
        if not fits:
            raise bad_request(f"$filter: {other.name} is a {kind} property; it cannot be compared with "
                              f"{_show(value)} (position {operand.at})")
        return operand


def _show(value: object) -> str:
    if isinstance(value, str):
        return "the string '" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, datetime):
        return f"the datetime {value.isoformat()}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return f"the number {value}"


def parse_filter(text: str, schema: dict[str, str], entity_set: str) -> Predicate:
    return Parser(text, schema, entity_set).parse()


def parse_orderby(text: str, schema: dict[str, str], entity_set: str) -> list[tuple[str, bool]]:
    """`Prop [asc|desc], ...` -> [(prop, descending)]."""
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise bad_request(f"$orderby: expected 'Property [asc|desc]', found {part.strip()!r}")
        name = words[0]
        kind = schema.get(name)
        if kind is None:
            raise bad_request(f"$orderby: {entity_set} has no property {name!r}")
        if kind == COMPLEX:
            raise bad_request(f"$orderby: property {name!r} is a collection or an object and cannot be ordered by")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise bad_request(f"$orderby: expected asc or desc after {name!r}, found {words[1]!r}")
        keys.append((name, direction == "desc"))
    return keys


def parse_select(text: str, schema: dict[str, str], entity_set: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name == "*":
            continue
        if not name or "/" in name or name not in schema:
            raise bad_request(f"$select: {entity_set} has no property {name!r}")
    return names
