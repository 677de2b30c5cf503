"""The QBO query language: parse `SELECT ... FROM ...` and run it over stored objects."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal

from .codec import looks_like_timestamp, parse_instant, to_decimal
from .errors import query_invalid, query_parse_error

MAX_RESULTS_LIMIT = 1000
DEFAULT_MAX_RESULTS = 100

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:\\.|''|[^'\\])*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|=|<|>)
    | (?P<punct>[(),*])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""", re.VERBOSE)

_KEYWORDS = {"select", "from", "where", "and", "in", "like", "orderby", "order", "by", "asc", "desc",
             "startposition", "maxresults", "count", "true", "false"}


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]  # lower-cased field path, e.g. ("metadata", "lastupdatedtime")
    op: str                # =, <, >, <=, >=, in, like
    values: tuple          # literals: str, Decimal or bool


@dataclass
class Query:
    entity: str
    count: bool = False
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (path, descending)
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS

    def mentions(self, name: str) -> bool:
        return any(c.path == (name.lower(),) for c in self.conditions)


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        position, text = 0, text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise query_parse_error(f"Encountered \"{text[position:position + 20]}\" at column "
                                        f"{position + 1}")
            kind = match.lastgroup
            self.items.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek_word(self) -> str | None:
        if self.index < len(self.items) and self.items[self.index][0] == "word":
            return self.items[self.index][1].lower()
        return None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        if self.index >= len(self.items):
            raise query_parse_error(f"Encountered end of query, expected {value or kind}")
        token_kind, token = self.items[self.index]
        if (kind and token_kind != kind) or (value and token.lower() != value):
            raise query_parse_error(f"Encountered \"{token}\", expected {value or kind}")
        self.index += 1
        return token

    def accept(self, value: str) -> bool:
        if self.index < len(self.items) and self.items[self.index][1].lower() == value:
            self.index += 1
            return True
        return False

    def done(self) -> bool:
        return self.index >= len(self.items)


def parse(text: str) -> Query:
    """Parse a query; unknown syntax is a 4000 fault, out-of-range paging a 4001 fault."""
    tokens = _Tokens(text)
    tokens.take("word", "select")
    count = False
    if tokens.accept("count"):
        tokens.take("punct", "(")
        tokens.take("punct", "*")
        tokens.take("punct", ")")
        count = True
    elif not tokens.accept("*"):
        raise query_parse_error("only SELECT * and SELECT count(*) are supported by the sandbox")
    tokens.take("word", "from")
    query = Query(entity=tokens.take("word"), count=count)
    if tokens.accept("where"):
        query.conditions.append(_condition(tokens))
        while tokens.accept("and"):
            query.conditions.append(_condition(tokens))
    if tokens.accept("orderby") or (tokens.accept("order") and tokens.take("word", "by")):
        query.order.append(_order_key(tokens))
        while tokens.accept(","):
            query.order.append(_order_key(tokens))
    while not tokens.done():
        keyword = tokens.take("word").lower()
        if keyword not in ("startposition", "maxresults"):
            raise query_parse_error(f"Encountered \"{keyword}\"")
        number = int(tokens.take("number"))
        if keyword == "startposition":
            if number < 1:
                raise query_invalid(f"STARTPOSITION {number} must be 1 or more")
            query.start_position = number
        else:
            if number > MAX_RESULTS_LIMIT:
                raise query_invalid(f"value {number} is too large. Max allowed value is "
                                    f"{MAX_RESULTS_LIMIT}")
            if number < 1:
                raise query_invalid(f"MAXRESULTS {number} must be 1 or more")
            query.max_results = number
    return query


def _field(tokens: _Tokens) -> tuple[str, ...]:
    name = tokens.take("word")
    if name.lower() in _KEYWORDS:
        raise query_parse_error(f"Encountered \"{name}\", expected a field name")
    return tuple(part.lower() for part in name.split("."))


def _condition(tokens: _Tokens) -> Condition:
    path = _field(tokens)
    if tokens.accept("in"):
        tokens.take("punct", "(")
        values = [_literal(tokens)]
        while tokens.accept(","):
            values.append(_literal(tokens))
        tokens.take("punct", ")")
        return Condition(path, "in", tuple(values))
    if tokens.accept("like"):
        pattern = _literal(tokens)
        if not isinstance(pattern, str):
            raise query_parse_error("LIKE needs a quoted pattern")
        return Condition(path, "like", (pattern,))
    return Condition(path, tokens.take("op"), (_literal(tokens),))


def _literal(tokens: _Tokens):
    if tokens.index >= len(tokens.items):
        raise query_parse_error("Encountered end of query, expected a value")
    kind, token = tokens.items[tokens.index]
    tokens.index += 1
    if kind == "string":
        return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", token[1:-1])
    if kind == "number":
        return Decimal(token)
    if kind == "word" and token.lower() in ("true", "false"):
        return token.lower() == "true"
    raise query_parse_error(f"Encountered \"{token}\", expected a value")


def _order_key(tokens: _Tokens) -> tuple[tuple[str, ...], bool]:
    path = _field(tokens)
    if tokens.accept("desc"):
        return path, True
    tokens.accept("asc")
    return path, False


def resolve_all(obj: dict, path: tuple[str, ...]) -> list:
    """Every value at a case-insensitive dotted path, looking into lists on the way (so
    AttachableRef.EntityRef.Value reaches each reference); a reference compares as its `value`."""
    found: list = [obj]
    for part in path:
        found = [value for node in _flatten(found) if isinstance(node, dict)
                 if (value := _member(node, part)) is not None]
    return [value["value"] if isinstance(value, dict) and "value" in value else value for value in _flatten(found)]


def _flatten(values: list) -> list:
    return [item for value in values for item in (value if isinstance(value, list) else [value])]


def _member(node: dict, name: str):
    return next((value for key, value in node.items() if key.lower() == name), None)


def resolve(obj: dict, path: tuple[str, ...]):
    """The first value at a dotted path, None when there is none."""
    values = resolve_all(obj, path)
    return values[0] if values else None


def compare(left, right) -> int | None:
    """Order two values as QBO does: numbers as numbers, timestamps as instants, text without case.
    None when they cannot be compared."""
    if left is None or right is None:
        return None
    if isinstance(left, bool) or isinstance(right, bool):
        as_bool = [v if isinstance(v, bool) else str(v).lower() == "true" for v in (left, right)]
        return (as_bool[0] > as_bool[1]) - (as_bool[0] < as_bool[1])
    if looks_like_timestamp(left) or looks_like_timestamp(right):
        instants = [parse_instant(v) if isinstance(v, str) else None for v in (left, right)]
        if None not in instants:
            return (instants[0] > instants[1]) - (instants[0] < instants[1])
    numbers = [_number(v) for v in (left, right)]
    if None not in numbers:
        return (numbers[0] > numbers[1]) - (numbers[0] < numbers[1])
    a, b = str(left).casefold(), str(right).casefold()
    return (a > b) - (a < b)


def _number(value) -> Decimal | None:
    if isinstance(value, str) and not re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        return None
    return to_decimal(value)


def matches(obj: dict, condition: Condition) -> bool:
    """Whether any value at the condition's path satisfies it."""
    return any(_satisfies(actual, condition) for actual in resolve_all(obj, condition.path))


def _satisfies(actual, condition: Condition) -> bool:
    if condition.op == "like":
        pattern = "".join(".*" if part == "%" else re.escape(part)
                          for part in re.split(r"(%)", condition.values[0]))
        return actual is not None and re.fullmatch(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    if condition.op == "in":
        index = _membership(condition.values)
        if index is not None and actual is not None and not isinstance(actual, bool) \
                and not looks_like_timestamp(actual):
            number = _number(actual)
            return number in index[1] if number is not None else str(actual).casefold() in index[0]
        return any(compare(actual, v) == 0 for v in condition.values)
    order = compare(actual, condition.values[0])
    if order is None:
        return False
    return {"=": order == 0, "<": order < 0, ">": order > 0, "<=": order <= 0, ">=": order >= 0}[condition.op]


@functools.lru_cache(maxsize=64)
def _membership(values: tuple) -> tuple[frozenset, frozenset] | None:
    """IN over plain texts and numbers as two sets (what compare() would decide, without comparing
    against every value: `Id IN (...)` with 100 ids over thousands of bills). None for booleans
    and timestamps, which compare() orders its own way."""
    if any(isinstance(v, bool) or looks_like_timestamp(v) for v in values):
        return None
    numbers = frozenset(n for n in (_number(v) for v in values) if n is not None)
    texts = frozenset(str(v).casefold() for v in values if _number(v) is None)
    return texts, numbers


def run(query: Query, objects: list[dict]) -> dict:
    """The QueryResponse for objects of query.entity (already rendered, in Id order)."""
    found = [obj for obj in objects if all(matches(obj, c) for c in query.conditions)]
    if query.count:
        return {"totalCount": len(found)}
    for path, descending in reversed(query.order):
        found.sort(key=functools.cmp_to_key(_ordering(path, descending)))
    page = found[query.start_position - 1:query.start_position - 1 + query.max_results]
    if not page:
        return {}
    return {query.entity: page, "startPosition": query.start_position, "maxResults": len(page),
            "totalCount": len(page)}


def _ordering(path: tuple[str, ...], descending: bool):
    def order(a: dict, b: dict) -> int:
        left, right = resolve(a, path), resolve(b, path)
        if left is None or right is None:  # missing values sort last either way
            return (left is None) - (right is None)
        result = compare(left, right) or 0
        return -result if descending else result
    return order

