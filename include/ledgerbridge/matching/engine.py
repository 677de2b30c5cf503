"""Linking hub parties to accounting parties: exact keys, then blocked fuzzy scoring, one to one.

1. Exact keys first: the tax id (normalised) decides both ways. An equal email is strong evidence
   but not proof ("ap@" addresses are shared by namesakes), so it adds to the name's score.
2. Blocking keeps the cost near-linear: a pair is compared only when both sides share a tax id, an
   email, a postcode, one of the party's two rarest name words, or the first letters of the name;
   rapidfuzz then drops, in C, the candidates whose names are too far apart.
3. Scoring (rapidfuzz) of the normalised names, adjusted by the other evidence (email, email domain,
   postcode, city, legal form, person vs company).
4. One-to-one assignment, best scores first; a hub party whose best candidate is not clearly ahead
   of the next goes to review rather than to an automatic link.

Three outcomes per hub party: "auto" (linked), "review" (a person decides), "none" (nothing close).
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process

from ledgerbridge.matching.names import NameKey, name_key
from ledgerbridge.matching.people import NOT_SURE, score_people

AUTO, REVIEW, NONE = "auto", "review", "none"


@dataclass(frozen=True)
class PartyRecord:
    id: str
    name: str
    kind: str | None = None
    email: str | None = None
    tax_id: str | None = None
    city: str | None = None
    postcode: str | None = None


@dataclass(frozen=True)
class Thresholds:
    auto: float = 0.90  # at or above: linked without asking
    review: float = 0.80  # at or above (and below auto, or ambiguous): a person decides
    margin: float = 0.06  # an auto link must beat the runner-up by this much


@dataclass(frozen=True)
class MatchResult:
    hub_id: str
    accounting_id: str | None
    score: float
    decision: str
    method: str
    candidates: tuple[tuple[str, float], ...] = field(default=(), compare=False)


class PartyFileError(ValueError):
    pass


COLUMNS = ("id", "name", "kind", "email", "tax_id", "city", "postcode")


def read_parties(path: str | Path, skipped: list[str] | None = None) -> list[PartyRecord]:
    """Parties from a CSV with columns id,name[,kind,email,tax_id,city,postcode]; errors name row and column.

    A row without an id or a name, or repeating an id, fails the file; with `skipped`, it is left out and
    its message appended there instead (a preview matches the rest). A file that cannot be read always fails."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("id", "name") if c not in (reader.fieldnames or [])]
            if missing:
                raise PartyFileError(f"{path}: missing column(s) {', '.join(missing)} (has: {reader.fieldnames})")
            records, seen = [], set()
            for line, row in enumerate(reader, start=2):
                record_id, name = (row.get("id") or "").strip(), (row.get("name") or "").strip()
                problem = (f"column '{'id' if not record_id else 'name'}' is empty" if not record_id or not name
                           else f"id {record_id!r} appears twice" if record_id in seen else None)
                if problem:
                    if skipped is None:
                        raise PartyFileError(f"{path}, line {line}: {problem}")
                    skipped.append(f"{path}, line {line}: {problem}")
                    continue
                seen.add(record_id)
                records.append(PartyRecord(record_id, name, *(_blank(row.get(c)) for c in COLUMNS[2:])))
    except OSError as exc:
        raise PartyFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise PartyFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise PartyFileError(f"{path}: not a readable CSV file ({exc})") from None
    return records


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


# -- features ------------------------------------------------------------------------------------

@dataclass
class _Party:
    record: PartyRecord
    kind: str  # "" when kinds are not compared
    key: NameKey
    tokens: tuple[str, ...]
    compact: str  # the base without spaces: "butlermurphy"
    has_initial: bool  # a one-letter word, as in "V. Smith"
    email: str | None
    domain: str | None
    tax_id: str | None
    postcode: str | None
    city: str | None


_FREE_MAIL = frozenset({"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com",
                        "gmx.de", "web.de", "orange.fr", "free.fr", "live.com", "mail.com", "proton.me"})


def _features(record: PartyRecord, use_kind: bool) -> _Party:
    key = name_key(record.name)
    email = record.email.strip().casefold() if record.email else None
    domain = email.rpartition("@")[2] if email and "@" in email else None
    tokens = tuple(sorted(set(key.base.split())))
    return _Party(
        record=record,
        kind=(record.kind or "").strip().casefold() if use_kind else "",
        key=key,
        tokens=tokens,
        compact=key.base.replace(" ", ""),
        has_initial=any(len(t) == 1 for t in tokens),
        email=email,
        domain=None if domain in _FREE_MAIL else domain,
        tax_id=_normal_tax_id(record.tax_id),
        postcode=re.sub(r"\s+", "", record.postcode).upper() if record.postcode else None,
        city=re.sub(r"\W+", "", record.city).casefold() if record.city else None,
    )


def _normal_tax_id(value: str | None) -> str | None:
    if not value:
        return None
    digits = re.sub(r"[^0-9A-Za-z]", "", value).upper()
    # QuickBooks masks all but the last four characters ("XXXXX1234"): not comparable.
    return None if not digits or digits.startswith("XXX") else digits


FORM_CONFLICT = 0.25  # "Acme Inc" / "Acme LLC": different companies more often than not
ONE_SIDED_FORM = 0.08
PERSON_VS_COMPANY = 0.08  # "H. Harris" the person, "Harris LLC" the company
POSTCODE_DIFFERS = ",postcode_differs"  # marks a score that may not auto-link
INITIAL_MATCH = 0.88  # "V. Smith" for "Virginia Smith": likely, not certain; other evidence decides


def _name_similarity(a: _Party, b: _Party, sorted_score: float | None = None) -> float:
    """`sorted_score`: token_sort_ratio of the two bases, when the caller has it already."""
    if not a.key.base or not b.key.base:
        return 0.0
    if a.key.base == b.key.base:
        return 1.0
    if a.key.person and b.key.person and (a.has_initial or b.has_initial):
        expanded = _expand_initials(a.tokens, b.tokens) or _expand_initials(b.tokens, a.tokens)
        if expanded is not None:
            return INITIAL_MATCH * fuzz.token_sort_ratio(*expanded) / 100
    if sorted_score is None:
        sorted_score = fuzz.token_sort_ratio(a.key.base, b.key.base)
    # "butler murphy" / "butlermurphy": the words may be split differently on each side.
    return max(sorted_score, fuzz.ratio(a.compact, b.compact)) / 100


def _expand_initials(short: tuple[str, ...], full: tuple[str, ...]) -> tuple[str, str] | None:
    """('v', 'smith') against ('smith', 'virginia'): the initial stands for the word it starts."""
    initials = [t for t in short if len(t) == 1]
    if not initials:
        return None
    rest = [t for t in full if t not in short]
    expanded = list(short)
    for initial in initials:
        word = next((t for t in rest if t.startswith(initial)), None)
        if word is None:
            return None
        rest.remove(word)
        expanded[expanded.index(initial)] = word
    return " ".join(sorted(expanded)), " ".join(sorted(full))


def score_pair(a: _Party, b: _Party, sorted_score: float | None = None) -> tuple[float, str]:
    """A score in [0, 1] and the evidence that decided it."""
    if a.tax_id and b.tax_id:
        if a.tax_id == b.tax_id:
            return 1.0, "tax_id"
        return 0.0, "tax_id_differs"
    person = score_people(a, b)  # two people's records: given/family names, typos, postcodes
    if person is not None:
        return person
    name = _name_similarity(a, b, sorted_score)
    score = name
    method = "name"
    if a.key.forms_conflict(b.key):
        score -= FORM_CONFLICT
    elif a.key.forms_differ(b.key) and not (a.key.person or b.key.person):
        score -= ONE_SIDED_FORM  # "Rose & Bonbach" vs "Rose & Bonbach Corp": often two companies
    if a.key.person != b.key.person:
        score -= PERSON_VS_COMPANY
    if a.email and b.email and a.email == b.email:
        score += 0.12
        method = "email+name"
    elif a.domain and b.domain and a.domain == b.domain:
        score += 0.05
    if a.city and b.city and a.city == b.city:
        score += 0.02
    if a.postcode and b.postcode and a.postcode != b.postcode:
        # Same name, another place: maybe a branch, maybe a namesake. Never linked without a person.
        return max(0.0, min(score - 0.10, 1.0)), method + POSTCODE_DIFFERS
    if a.postcode and a.postcode == b.postcode:
        score += 0.06
    return max(0.0, min(score, 1.0)), method


def explain(hub: PartyRecord, accounting: PartyRecord) -> tuple[float, list[str]]:
    """The score of one pair and the evidence behind it, in words (for a person deciding a review)."""
    a, b = _features(hub, use_kind=False), _features(accounting, use_kind=False)
    score, _ = score_pair(a, b)
    if a.tax_id and b.tax_id:
        return score, ["same tax id" if a.tax_id == b.tax_id else "tax ids differ"]
    why = [f"names {_name_similarity(a, b):.0%} alike"]
    if a.key.forms_conflict(b.key) or a.key.forms_differ(b.key):
        why.append("legal forms differ")
    if a.key.person != b.key.person:
        why.append("a person and a company")
    if a.email and b.email and a.email == b.email:
        why.append("same email")
    elif a.domain and b.domain and a.domain == b.domain:
        why.append("same email domain")
    if a.city and b.city and a.city == b.city:
        why.append("same city")
    if a.postcode and b.postcode:
        why.append("same postcode" if a.postcode == b.postcode else "postcodes differ")
    return score, why


# -- blocking ------------------------------------------------------------------------------------

_MAX_BLOCK = 200  # a key shared by more parties than this says nothing (e.g. "ap@gmail.com", "ltd")


class _Blocks:
    def __init__(self, parties: Sequence[_Party]):
        self.index: dict[tuple[str, str], list[int]] = defaultdict(list)
        for position, party in enumerate(parties):
            for block in _block_keys(party, rarest=None):
                self.index[block].append(position)

    def candidates(self, party: _Party) -> tuple[set[int], set[int]]:
        """(sharing a tax id or an email, sharing only name or place blocks)."""
        strong: set[int] = set()
        weak: set[int] = set()
        for block in _block_keys(party, rarest=self._rarest_tokens(party)):
            members = self.index.get(block)
            if members and len(members) <= _MAX_BLOCK:
                (strong if block[0] in ("tax", "email") else weak).update(members)
        return strong, weak - strong

    def _rarest_tokens(self, party: _Party) -> list[str]:
        # Common words ("partners", "group") find hundreds of parties and decide nothing: a party is
        # looked up by its two rarest words only.
        kind = party.kind
        tokens = [t for t in party.tokens if len(t) >= 3 and t not in ("and", "the")
                  and ("token", kind + t) in self.index]  # a misspelt word finds nobody: skip it
        return sorted(tokens, key=lambda t: len(self.index[("token", kind + t)]))[:2]


def _block_keys(party: _Party, rarest: list[str] | None) -> Iterable[tuple[str, str]]:
    kind = party.kind
    if party.tax_id:
        yield ("tax", party.tax_id)
    if party.email:
        yield ("email", party.email)
    if party.postcode:
        yield ("postcode", kind + party.postcode)
    tokens = rarest if rarest is not None else [t for t in party.tokens if len(t) >= 3 and t not in ("and", "the")]
    for token in tokens:
        yield ("token", kind + token)
    compact = party.key.base.replace(" ", "")
    if compact:
        yield ("start", kind + compact[:3])


# -- matching ------------------------------------------------------------------------------------

# Names less alike than this cannot reach the review threshold, whatever else agrees: skip them
# before the (slower) full scoring. rapidfuzz compares them in C, many at a time.
_NAME_FLOOR = 60
_COMPACT_FLOOR = 85  # only nearly the same letters: a split word, not a different name


def _near_names(party: _Party, positions: set[int], bases: list[str], compacts: list[str]) -> dict[int, float | None]:
    """The candidates whose names come close enough, by word or by spacing-blind comparison, with
    their token_sort_ratio when that was the one that found them."""
    if not positions or not party.key.base:
        return {}
    ordered = list(positions)
    near: dict[int, float | None] = {
        ordered[index]: score for _, score, index in process.extract(
            party.key.base, [bases[p] for p in ordered], scorer=fuzz.token_sort_ratio,
            score_cutoff=_NAME_FLOOR, limit=None)}
    # "lisa johnson" / "lisaj ohnson": words split elsewhere, found only without the spaces.
    for _, _, index in process.extract(party.compact, [compacts[p] for p in ordered], scorer=fuzz.ratio,
                                       score_cutoff=_COMPACT_FLOOR, limit=None):
        near.setdefault(ordered[index], None)
    return near


def match(hub: Sequence[PartyRecord], accounting: Sequence[PartyRecord],
          thresholds: Thresholds = Thresholds()) -> list[MatchResult]:
    """One result per hub party, in the order given. Parties match only within their kind."""
    # Kinds are compared only when every party has one (a file without the column matches across).
    use_kind = all(r.kind for r in hub) and all(r.kind for r in accounting)
    hub_parties = [_features(r, use_kind) for r in hub]
    accounting_parties = [_features(r, use_kind) for r in accounting]
    blocks = _Blocks(accounting_parties)

    bases = [p.key.base for p in accounting_parties]
    compacts = [p.compact for p in accounting_parties]
    scored: list[list[tuple[float, str, int]]] = []
    for party in hub_parties:
        options = []
        strong, weak = blocks.candidates(party)
        near = _near_names(party, weak, bases, compacts)
        for position in strong:
            near.setdefault(position, None)
        for position, sorted_score in near.items():
            other = accounting_parties[position]
            if party.kind != other.kind:
                continue
            score, method = score_pair(party, other, sorted_score)
            if score >= thresholds.review:
                options.append((score, method, position))
        options.sort(key=lambda option: (-option[0], accounting_parties[option[2]].record.id))
        scored.append(options)

    # One to one, greedily: the best-scored pairs claim their parties first.
    chosen: dict[int, tuple[float, str, int]] = {}
    taken: set[int] = set()
    pairs = sorted(((score, h, method, position) for h, options in enumerate(scored)
                    for score, method, position in options), key=lambda pair: (-pair[0], pair[1], pair[3]))
    for score, h, method, position in pairs:
        if h not in chosen and position not in taken:
            chosen[h] = (score, method, position)
            taken.add(position)

    results = []
    for h, party in enumerate(hub_parties):
        options = scored[h]
        candidates = tuple((accounting_parties[p].record.id, round(s, 4)) for s, _, p in options[:5])
        best = chosen.get(h)
        if best is None:
            top = options[0] if options else None
            # Its candidates were all linked to hub parties that matched them better.
            results.append(MatchResult(party.record.id, None, round(top[0], 4) if top else 0.0, NONE,
                                       "taken" if top else "none", candidates))
            continue
        score, method, position = best
        runner_up = next((s for s, _, p in options if p != position), 0.0)
        clear = (score >= thresholds.auto and not method.endswith((POSTCODE_DIFFERS, NOT_SURE))
                 and (score - runner_up >= thresholds.margin or (method == "tax_id" and runner_up < 1.0)))
        results.append(MatchResult(party.record.id, accounting_parties[position].record.id, round(score, 4),
                                   AUTO if clear else REVIEW, method, candidates))
    return results
