"""Hypothesis for the fuzz tests (tests/*/test_fuzz_*.py): settings profiles, and strategies that break a
VALID input one way at a time, so each example is close to what a person or a program really sends.

Profiles (HYPOTHESIS_PROFILE): `ci`, the default, is deterministic (derandomize) and small enough for every
run; `deep` explores new inputs each run (HYPOTHESIS_MAX_EXAMPLES, 2000 by default). Neither keeps an
example database: nothing is written into the repository.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
          HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("deep", max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "2000")),
                          deadline=None, database=None, suppress_health_check=_QUIET, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def deeply_nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


# Values a field may get instead of the right one: wrong types, extremes, amounts no ledger takes,
# text no database column takes, references to nothing.
_AMOUNT_TEXTS = ["12.345678", "0.00001", "1e-7", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e400",
                 "1E+999999999", "-0", "0x10", "1,000.00", "12.", ".5", "--1", "+-1", "9" * 40, "1_000",
                 "\u0661\u0662\u0663", " 12.50 ", "12.50\x00", "1e13", "-10000000000000", "9999999999999.9999",
                 "€12.50", "12,50", ""]
_TEXTS = ["", " ", "\x00", "a\x00b", "\ud800", "\ufeff", "x" * 5000, "\u202e", "line\nbreak", "V-404",
          "B-404", "../../etc/passwd", "2026-02-30", "2026-13-01", "99999-01-01", "null", "true", "'; DROP",
          "\U0001f4b8" * 70, "A" * 101, "a" * 256]
_NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, 10**400, 1.5, -0.0, 1e308, float("inf"),
            float("-inf"), float("nan"), True, False]

nasty_scalars = st.one_of(
    st.sampled_from(_AMOUNT_TEXTS), st.sampled_from(_TEXTS), st.sampled_from(_NUMBERS), st.none(),
    st.text(max_size=12), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,8})?([eE][+-]?[0-9]{1,4})?", fullmatch=True))
nasty_values = st.one_of(
    nasty_scalars,
    st.lists(nasty_scalars, max_size=3),
    st.dictionaries(st.sampled_from(["hub_id", "key", "amount", "x", "", "\x00"]), nasty_scalars, max_size=3),
    st.sampled_from([[], {}, [[]], {"": None}]).map(copy.deepcopy),  # fresh: a later mutation may change it
    st.integers(min_value=20, max_value=200).map(deeply_nested))


def _paths(value: Any, max_depth: int = 12) -> list[tuple]:
    """Every place in a document (not into a value nested deeper than max_depth: a fuzzed one may be)."""
    found, pending = [], [((), value)]
    while pending:
        here, node = pending.pop()
        found.append(here)
        if len(here) >= max_depth:
            continue
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        pending.extend(((*here, key), item) for key, item in children)
    return sorted(found, key=lambda path: [str(part) for part in path])


def _parent(document: Any, path: tuple) -> Any:
    node = document
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated(draw, valid: Any, max_mutations: int = 3, root: bool = True) -> tuple[Any, list[str]]:
    """A copy of `valid` with 1..max_mutations things broken, and what was done (for failure reports)."""
    document = copy.deepcopy(valid)
    done = []
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = [path for path in _paths(document) if root or path]
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "repeat"]))
        if not path or action == "replace":
            value = draw(nasty_values)
            if not path:
                document = value
            else:
                _parent(document, path)[path[-1]] = value
        elif action == "delete":
            parent = _parent(document, path)
            del parent[path[-1]]
        elif action == "add":
            target = _parent(document, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(["unexpected", "x_ext", "", "hub_id", "Amount", "\x00"]))] = \
                    draw(nasty_values)
            else:
                target.append(draw(nasty_values))
        else:  # the same member or record twice
            parent = _parent(document, path)
            if isinstance(parent, list):
                parent.append(copy.deepcopy(parent[path[-1]]))
        done.append(f"{action} {'/'.join(map(str, path)) or '(root)'}")
    return document, done


def _json_text(document: Any, ascii_only: bool) -> str:
    try:
        return json.dumps(document, ensure_ascii=ascii_only, default=str)
    except (ValueError, RecursionError):  # a nesting json cannot write: the file says it literally
        return "[" * 5000 + "]" * 5000


def to_json(document: Any, ascii_only: bool = True) -> bytes:
    return _json_text(document, ascii_only).encode("utf-8", "surrogatepass")


def to_yaml(document: Any) -> bytes:
    try:
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, RecursionError, ValueError):
        return to_json(document)  # JSON is YAML


@st.composite
def damaged(draw, content: bytes) -> tuple[bytes, str]:
    """The file's bytes, mostly as written, sometimes broken on the way: cut short, a byte-order mark,
    bytes that are no UTF-8, nothing at all."""
    how = draw(st.sampled_from(["as written"] * 6 + ["truncated", "bom", "not utf-8", "empty", "whitespace",
                                                      "nul", "garbage tail", "utf-16", "nested 100000"]))
    if how == "nested 100000":  # past any parser's recursion limit
        return b"[" * 100_000 + b"]" * 100_000, how
    if how == "truncated" and len(content) > 1:
        return content[:draw(st.integers(1, len(content) - 1))], how
    if how == "bom":
        return b"\xef\xbb\xbf" + content, how
    if how == "not utf-8" and content:
        at = draw(st.integers(0, len(content) - 1))
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe9", b"\x80\x80"]))
        return content[:at] + bad + content[at:], how
    if how == "empty":
        return b"", how
    if how == "whitespace":
        return b" \n\t\r\n", how
    if how == "nul":
        return content.replace(b":", b":\x00", 1), how
    if how == "garbage tail":
        return content + draw(st.binary(min_size=1, max_size=16)), how
    if how == "utf-16":
        return content.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass"), how
    return content, "as written"
