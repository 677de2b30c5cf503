"""Linking hub parties to accounting parties: exact keys, then blocked fuzzy scoring, one to one.

1. Exact keys first: the tax id (normalised) decides both ways. An equal email is strong evidence
   but not proof ("ap@" addresses are shared by namesakes), so it adds to the name's score.
2. Blocking keeps the cost near-linear: a pair is compared only when both sides share a tax id, an
   email, a postcode, one of the party's two rarest name words, or the first letters of the name;
   of those sharing only a name or place block, only the ones whose names come close enough.
3. Scoring (rapidfuzz) of the normalised names, adjusted by the other evidence (email, email domain,
   postcode, city, legal form, person vs company).
4. One-to-one assignment, best scores first; a hub party whose best candidate is not clearly ahead
   of the next goes to review rather than to an automatic link.

Three outcomes per hub party: "auto" (linked), "review" (a person decides), "none" (nothing close).

How it stays fast (the target: 100,000 x 100,000 parties in under 20 s on 2 cores): Python touches each
party a few times, and a pair only when it can reach the review threshold (about one per hub party).
Everything per pair, some 70 per hub party, runs in bulk on a batch of hub parties
(_pairs_worth_scoring): the block members are numpy slices; what the evidence other than the name
adds is summed in numpy (_name_needed), which says how alike the names must be; a count of letters
(_most_alike) rules out most pairs without comparing them; rapidfuzz (process.cpdist) compares the
rest, with that cutoff. score_pair alone decides: the bulk steps only leave out pairs it would score
below review (tests/unit/test_matching_bulk.py holds them to that). Python's cyclic garbage
collector is paused while parties are read and matched: it would walk millions of objects over and
over for cycles that are never made.
"""
from __future__ import annotations

import csv
import gc
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import wraps
from itertools import chain, product
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from ledgerbridge.matching.names import NameKey, name_key
from ledgerbridge.matching.people import (
    NOT_SURE,
    ONE_NAME_ONLY,
    SAME_CITY,
    SAME_DOMAIN,
    SAME_EMAIL,
    SAME_POSTCODE,
    score_people,
)

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


def _without_cyclic_gc(function):
    """`function` run with Python's cyclic garbage collector paused. Reading and matching build
    millions of small objects and no reference cycles: the collector would walk them all again and
    again (a quarter of the time at 100,000 parties), and reference counting frees them anyway."""
    @wraps(function)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()
    return paused


@_without_cyclic_gc
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
            # Rows as lists, not dicts (at 100,000 parties the dicts cost a second), read as DictReader
            # does: blank lines skipped, a short row's missing columns None, a repeated column's last value.
            at = {column: index for index, column in enumerate(reader.fieldnames)}
            width, id_at, name_at = len(reader.fieldnames), at["id"], at["name"]
            optional_at = [at.get(c) for c in COLUMNS[2:]]
            for line, row in enumerate(filter(None, reader.reader), start=2):
                if len(row) < width:
                    row += [None] * (width - len(row))
                record_id, name = (row[id_at] or "").strip(), (row[name_at] or "").strip()
                problem = (f"column '{'id' if not record_id else 'name'}' is empty" if not record_id or not name
                           else f"id {record_id!r} appears twice" if record_id in seen else None)
                if problem:
                    if skipped is None:
                        raise PartyFileError(f"{path}, line {line}: {problem}")
                    skipped.append(f"{path}, line {line}: {problem}")
                    continue
                seen.add(record_id)
                records.append(PartyRecord(record_id, name, *[None if i is None else _blank(row[i]) for i in optional_at]))
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


_SPACES, _NON_WORD, _NOT_ALPHANUMERIC = re.compile(r"\s+"), re.compile(r"\W+"), re.compile(r"[^0-9A-Za-z]")


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
        postcode=_SPACES.sub("", record.postcode).upper() if record.postcode else None,
        city=_NON_WORD.sub("", record.city).casefold() if record.city else None,
    )


def _normal_tax_id(value: str | None) -> str | None:
    if not value:
        return None
    digits = _NOT_ALPHANUMERIC.sub("", value).upper()
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
    score, method = score_pair(a, b)
    if a.tax_id and b.tax_id:
        return score, ["same tax id" if a.tax_id == b.tax_id else "tax ids differ"]
    why = [f"names {_name_similarity(a, b):.0%} alike"]
    if NOT_SURE in method:
        why.append("maybe two people of one family (a given name differs, or only the family name is given)")
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
_STRONG_BLOCKS = ("tax", "email")  # sharing one of these makes a candidate whatever the names say


class _Blocks:
    """The accounting parties by block key. A key's members are one slice of an array, so a batch of
    hub parties finds all its pairs in a few numpy calls instead of a set union per party."""

    def __init__(self, parties: Sequence[_Party]):
        index: dict[tuple[str, str], list[int]] = defaultdict(list)
        for position, party in enumerate(parties):
            for block in _block_keys(party, rarest=None):
                index[block].append(position)
        self.count = len(parties)
        self.ids = {block: number for number, block in enumerate(index)}
        self.block_sizes = [len(members) for members in index.values()]
        self.sizes = np.array(self.block_sizes, dtype=np.int64)
        self.starts = np.cumsum(self.sizes) - self.sizes
        self.members = np.fromiter(chain.from_iterable(index.values()), dtype=np.int64, count=int(self.sizes.sum()))
        self.strong = np.array([block[0] in _STRONG_BLOCKS for block in index], dtype=bool)

    def lookups(self, party: _Party) -> list[int]:
        """The blocks a hub party is looked up in (those that some accounting party is in)."""
        found = map(self.ids.get, _block_keys(party, rarest=self._rarest_tokens(party)))
        return [number for number in found if number is not None]

    def pairs(self, hubs: np.ndarray, lookups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hub, accounting, strong) for every pair that shares a block of at most _MAX_BLOCK members,
        once; strong when one of the blocks is a tax id or an email. Lookup k is hub hubs[k] in block lookups[k]."""
        small = self.sizes[lookups] <= _MAX_BLOCK
        hubs, lookups = hubs[small], lookups[small]
        sizes = self.sizes[lookups]
        # Lookup k expands to sizes[k] rows, the members of its block one by one.
        row_in_block = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        accounting = self.members[np.repeat(self.starts[lookups], sizes) + row_in_block]
        weak = np.repeat(~self.strong[lookups], sizes)
        # One key per row, a pair's strong row sorting first; keep each pair's first row. (np.sort, not
        # np.unique: numpy 2.4's unique is ten times slower on these.)
        keys = np.sort((np.repeat(hubs, sizes) * self.count + accounting) * 2 + weak)
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] >> 1) != (keys[:-1] >> 1)
        keys = keys[first]
        hub, accounting = np.divmod(keys >> 1, self.count)
        return hub, accounting, (keys & 1) == 0

    def _rarest_tokens(self, party: _Party) -> list[str]:
        # Common words ("partners", "group") find hundreds of parties and decide nothing: a party is
        # looked up by its two rarest words only.
        kind = party.kind
        found = ((t, self.ids.get(("token", kind + t))) for t in party.tokens if len(t) >= 3 and t not in ("and", "the"))
        # A misspelt word finds nobody: skip it. Ties in size go by the word (party.tokens is sorted).
        return [t for _, t in sorted((self.block_sizes[n], t) for t, n in found if n is not None)[:2]]


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
    if party.compact:
        yield ("start", kind + party.compact[:3])


# -- candidates in bulk --------------------------------------------------------------------------

# Names less alike than this cannot reach the review threshold, whatever else agrees: a pair that
# shares only a name or place block is a candidate when its names come this close by word
# (token_sort_ratio) or, for words split elsewhere ("lisa johnson" / "lisaj ohnson"), without spaces.
_NAME_FLOOR = 60
_COMPACT_FLOOR = 85  # only nearly the same letters: a split word, not a different name
_BATCH = 10_000  # hub parties whose pairs are compared at once: about 800,000 pairs, some 100 MB at the peak
_SLACK = 1e-6  # on rapidfuzz's 0-100 scale: _name_needed adds score_pair's terms in another order
_HAIR = 0.01  # under a cutoff: scores differ by more (a ratio's steps are 100 / (len1 + len2) apart)


class _Columns:
    """The features score_pair looks at, one array per feature, for comparing many pairs at once:
    values as integer codes (from `codes`, shared by both sides: equal values, equal codes; none: -1),
    names as strings."""

    def __init__(self, parties: Sequence[_Party], codes: defaultdict[str, defaultdict]):
        def coded(feature: str, values: list) -> np.ndarray:
            return np.fromiter(map(codes[feature].__getitem__, values), np.int64, len(parties))

        self.kind = coded("kind", [p.kind for p in parties])
        self.email = coded("email", [p.email for p in parties])
        self.domain = coded("domain", [p.domain for p in parties])
        self.tax_id = coded("tax_id", [p.tax_id for p in parties])
        self.postcode = coded("postcode", [p.postcode for p in parties])
        self.city = coded("city", [p.city for p in parties])
        self.forms = coded("forms", [p.key.legal_forms for p in parties])
        self.person = np.array([p.key.person for p in parties], dtype=bool)
        self.initial = np.array([p.has_initial for p in parties], dtype=bool)
        self.named = np.array([bool(p.key.base) for p in parties], dtype=bool)
        self.word_count = np.array([len(p.key.base.split()) for p in parties], dtype=np.int64)
        self.legal_forms = np.array([bool(p.key.legal_forms) for p in parties], dtype=bool)
        self.names = _Names(parties)


def _new_codes() -> defaultdict:
    """A code per value, given on first sight; None is -1."""
    codes: defaultdict = defaultdict(lambda: len(codes) - 1)
    codes[None] = -1
    return codes


class _Names:
    """Each party's name in the two forms compared, and its letters counted, for a cheap upper bound of
    a ratio (_most_alike) that spares rapidfuzz most pairs."""

    _PLANES = 4  # letters counted up to 4 times in bit planes; beyond that, in `excess`

    def __init__(self, parties: Sequence[_Party]):
        # token_sort_ratio(a, b) is ratio() of the words sorted: sorted once per party, not once per pair.
        self.words = np.array([" ".join(sorted(p.key.base.split())) for p in parties], dtype=object)
        # A person's two words in their own order and swapped: matching.people compares both orders.
        self.spaced = np.array([p.key.base for p in parties], dtype=object)
        self.swapped = np.array([" ".join(p.key.base.split()[::-1]) for p in parties], dtype=object)
        self.compact = np.array([p.compact for p in parties], dtype=object)
        self.compact_length = np.fromiter(map(len, self.compact), np.int64, len(parties))
        # The words are the compact name's letters and single spaces (name_key's base has no other).
        self.spaces = np.fromiter(map(len, self.words), np.int64, len(parties)) - self.compact_length
        # How often each letter occurs, in 32 buckets: a-z, then digits and the rest folded together
        # (a shared bucket only overcounts what two names have in common, so the bound stays a bound).
        points = np.frombuffer("".join(self.compact).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        bucket = np.where((points >= 97) & (points <= 122), points - 97, 26 + points % 6)
        owner = np.repeat(np.arange(len(parties)), self.compact_length)
        counts = np.bincount(owner * 32 + bucket, minlength=len(parties) * 32).reshape(len(parties), 32)
        bits = np.left_shift(np.uint64(1), np.arange(32, dtype=np.uint64))
        planes = [(counts >= k).astype(np.uint64) @ bits for k in range(1, self._PLANES + 1)]
        self.planes = [planes[k] | (planes[k + 1] << np.uint64(32)) for k in range(0, self._PLANES, 2)]
        self.excess = np.maximum(counts - self._PLANES, 0).sum(axis=1)


def _most_alike(hub: _Names, acc: _Names, h: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pair, the most fuzz.ratio can give for (words, compact): ratio is 200 x the longest
    common subsequence / the total length, and two strings have at most min(count in one, count in the
    other) of each letter in common: the sum of `k-th occurrence in both` over the bit planes."""
    common = np.minimum(hub.excess[h], acc.excess[a])
    for hub_plane, acc_plane in zip(hub.planes, acc.planes):
        common += np.bitwise_count(hub_plane[h] & acc_plane[a])
    compact_total = hub.compact_length[h] + acc.compact_length[a]
    word_common = common + np.minimum(hub.spaces[h], acc.spaces[a])
    word_total = compact_total + hub.spaces[h] + acc.spaces[a]
    most = [np.where(total > 0, 200 * shared / np.maximum(total, 1), 100.0)
            for shared, total in ((word_common, word_total), (common, compact_total))]
    return most[0], most[1]


def _pairs_worth_scoring(hub_parties: Sequence[_Party], accounting_parties: Sequence[_Party],
                         review: float) -> Iterator[tuple[int, int]]:
    """(hub, accounting) for each pair that score_pair may score at `review` or above: sharing a block,
    of the same kind, and for a name or place block alike enough by name.

    All per pair runs in numpy and in rapidfuzz (process.cpdist): first what the other evidence
    allows (_name_needed), then the names, each compared with the cutoff it has to reach. Python
    sees only the pairs that can reach the review threshold, about one per hub party."""
    if not hub_parties or not accounting_parties:
        return
    blocks = _Blocks(accounting_parties)
    codes: defaultdict[str, defaultdict] = defaultdict(_new_codes)
    hub, acc = _Columns(hub_parties, codes), _Columns(accounting_parties, codes)
    conflict, differ = _form_tables(codes["forms"])
    for first in range(0, len(hub_parties), _BATCH):
        batch = range(first, min(first + _BATCH, len(hub_parties)))
        lookups = [blocks.lookups(hub_parties[h]) for h in batch]
        h, a, strong = blocks.pairs(np.repeat(np.array(batch, dtype=np.int64), [len(ids) for ids in lookups]),
                                    np.fromiter(chain.from_iterable(lookups), dtype=np.int64))
        need = _name_needed(hub, acc, h, a, review, conflict, differ)
        full_names, lone_word, person_need = _people_pairs(hub, acc, h, a, review)
        people = full_names | lone_word
        possible = (hub.kind[h] == acc.kind[a]) & (np.minimum(need, np.where(people, person_need, np.inf)) <= 100)
        h, a, strong, need = h[possible], a[possible], strong[possible], need[possible]
        full_names, lone_word, people, person_need = (full_names[possible], lone_word[possible], people[possible],
                                                      person_need[possible])
        # Below its cutoff a ratio reads 0. Reaching `need` from _COMPACT_FLOOR up makes a pair near by
        # itself; below that, whether its words reach _NAME_FLOOR still matters. People's pairs are scored
        # by matching.people, not by these ratios: only whether they are near is read for them, exactly.
        word_cutoff = np.where(people, np.minimum(need, _NAME_FLOOR),
                               np.where(strong | (need >= _COMPACT_FLOOR), need, np.minimum(need, _NAME_FLOOR)))
        unspaced_cutoff = np.where(people, np.minimum(need, _COMPACT_FLOOR), need)
        most_by_word, most_unspaced = _most_alike(hub.names, acc.names, h, a)
        by_word = _ratios(hub.names.words, acc.names.words, h, a, word_cutoff, most_by_word)
        unspaced = _ratios(hub.names.compact, acc.names.compact, h, a, unspaced_cutoff, most_unspaced)
        near = strong | (hub.named[h] & ((by_word >= _NAME_FLOOR) | (unspaced >= _COMPACT_FLOOR)))
        # A person's name is compared in its best word order: for two words (most names) both orders are
        # compared here; for more, most_by_word bounds every order (the same letters). A lone family name
        # scores ONE_NAME_ONLY whatever its ratio.
        two_words = full_names & (hub.word_count[h] == 2)
        person_names = np.where(two_words, _best_order(hub.names, acc.names, h, a, person_need, most_by_word, two_words),
                                np.maximum(most_by_word, most_unspaced))
        people_may = ((full_names & (np.maximum(person_names, unspaced) >= person_need))
                      | (lone_word & (ONE_NAME_ONLY * 100 >= person_need)))
        keep = near & ((np.maximum(by_word, unspaced) >= need) | people_may)
        yield from zip(h[keep].tolist(), a[keep].tolist())


def _best_order(hub: _Names, acc: _Names, h: np.ndarray, a: np.ndarray, cutoffs: np.ndarray, most: np.ndarray,
                which: np.ndarray) -> np.ndarray:
    """For the pairs `which`: fuzz.ratio of the hub name against the accounting name in its own order and
    swapped, the better one (exact from its cutoff up); 0 elsewhere."""
    scores = np.zeros(len(h))
    for other in (acc.spaced, acc.swapped):
        scores = np.maximum(scores, _ratios(hub.spaced, other, h, a, np.where(which, cutoffs, np.inf),
                                            np.where(which, most, -np.inf)))
    return scores


def _people_pairs(hub: _Columns, acc: _Columns, h: np.ndarray, a: np.ndarray, review: float | np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which pairs matching.people may score (two people's names of as many words; a lone word against a
    person's name), and for those the least name score (0-100) at which it may reach `review`: its
    evidence taken at its most (no penalty: a postcode with swapped digits costs a person nothing)."""
    no_initial = ~hub.initial[h] & ~acc.initial[a]
    full_names = hub.person[h] & acc.person[a] & (hub.word_count[h] == acc.word_count[a]) & no_initial
    lone_word = no_initial & (((hub.word_count[h] == 1) & ~hub.legal_forms[h] & acc.person[a])
                              | ((acc.word_count[a] == 1) & ~acc.legal_forms[a] & hub.person[h]))
    email = (hub.email[h] >= 0) & (hub.email[h] == acc.email[a])
    domain = (hub.domain[h] >= 0) & (hub.domain[h] == acc.domain[a])
    evidence = np.where(email, SAME_EMAIL, np.where(domain, SAME_DOMAIN, 0.0))
    evidence += SAME_CITY * ((hub.city[h] >= 0) & (hub.city[h] == acc.city[a]))
    evidence += SAME_POSTCODE * ((hub.postcode[h] >= 0) & (hub.postcode[h] == acc.postcode[a]))
    person_need = np.where(np.asarray(review) > 0, (review - evidence) * 100 - _SLACK, 0.0)
    taxes = (hub.tax_id[h] >= 0) & (acc.tax_id[a] >= 0)  # decided by score_pair before any name
    return full_names & ~taxes, lone_word & ~taxes, person_need


def _form_tables(codes: dict[frozenset[str] | None, int]) -> tuple[np.ndarray, np.ndarray]:
    """NameKey.forms_conflict and forms_differ for each two legal form sets, by their codes."""
    forms = {code: NameKey("", legal_forms, False) for legal_forms, code in codes.items() if code >= 0}
    conflict = np.zeros((len(forms), len(forms)), dtype=bool)
    differ = np.zeros((len(forms), len(forms)), dtype=bool)
    for (i, one), (j, other) in product(forms.items(), repeat=2):
        conflict[i, j], differ[i, j] = one.forms_conflict(other), one.forms_differ(other)
    return conflict, differ


def _name_needed(hub: _Columns, acc: _Columns, h: np.ndarray, a: np.ndarray, review: float | np.ndarray,
                 conflict: np.ndarray, differ: np.ndarray) -> np.ndarray:
    """For each pair (h[k], a[k]), the least name ratio (rapidfuzz's 0-100) at which score_pair may
    score it at `review` (or review[k]) or above: 0 when any name will do, above 100 when none will.

    It follows score_pair term by term: `review` less what the other evidence adds. Where score_pair's
    name similarity may beat the plain ratio (an initial standing for a first name), it assumes the most
    that case gives. A change to score_pair must keep this at or below the truth
    (tests/unit/test_matching_bulk.py checks it pair by pair)."""
    person_h, person_a = hub.person[h], acc.person[a]
    forms_h, forms_a = hub.forms[h], acc.forms[a]
    evidence = (- FORM_CONFLICT * conflict[forms_h, forms_a]
                - ONE_SIDED_FORM * (differ[forms_h, forms_a] & ~person_h & ~person_a)
                - PERSON_VS_COMPANY * (person_h != person_a))
    email = (hub.email[h] >= 0) & (hub.email[h] == acc.email[a])
    domain = (hub.domain[h] >= 0) & (hub.domain[h] == acc.domain[a])
    evidence += np.where(email, 0.12, np.where(domain, 0.05, 0.0))
    evidence += 0.02 * ((hub.city[h] >= 0) & (hub.city[h] == acc.city[a]))
    postcodes = (hub.postcode[h] >= 0) & (acc.postcode[a] >= 0)
    evidence += np.where(postcodes, np.where(hub.postcode[h] == acc.postcode[a], 0.06, -0.10), 0.0)
    need = (review - evidence) * 100 - _SLACK
    initials = person_h & person_a & (hub.initial[h] | acc.initial[a])
    need = np.where(initials & (INITIAL_MATCH * 100 >= need), 0.0, need)
    # A tax id on both sides decides alone: equal, any name will do (1.0); different, none (0.0).
    taxes = (hub.tax_id[h] >= 0) & (acc.tax_id[a] >= 0)
    need = np.where(taxes, np.where(hub.tax_id[h] == acc.tax_id[a], 0.0, np.inf), need)
    return np.where(np.asarray(review) > 0, need, 0.0)  # a score is never below 0


def _ratios(left: np.ndarray, right: np.ndarray, h: np.ndarray, a: np.ndarray, cutoffs: np.ndarray,
            most: np.ndarray) -> np.ndarray:
    """fuzz.ratio(left[h[k]], right[a[k]]) for each k, exact from cutoffs[k] up, 0 (or exact) below.

    Handing rapidfuzz a string costs more than comparing it, so pairs that cannot reach their cutoff
    (`most`, an upper bound, says so) are not handed over. The rest go in groups of one cutoff (few:
    the evidence takes few values), a hair under it, so a score that reaches it is never lost to rounding."""
    scores = np.zeros(len(h))
    cutoffs = np.maximum(cutoffs - _HAIR, 0.0)
    reachable = most >= cutoffs
    for cutoff in np.unique(cutoffs[reachable]):
        group = np.flatnonzero(reachable & (cutoffs == cutoff))
        scores[group] = process.cpdist(left[h[group]].tolist(), right[a[group]].tolist(),
                                       scorer=fuzz.ratio, score_cutoff=float(cutoff), dtype=np.float64)
    return scores


# -- matching ------------------------------------------------------------------------------------

@_without_cyclic_gc
def match(hub: Sequence[PartyRecord], accounting: Sequence[PartyRecord],
          thresholds: Thresholds = Thresholds()) -> list[MatchResult]:
    """One result per hub party, in the order given. Parties match only within their kind."""
    # Kinds are compared only when every party has one (a file without the column matches across).
    use_kind = all(r.kind for r in hub) and all(r.kind for r in accounting)
    hub_parties = [_features(r, use_kind) for r in hub]
    accounting_parties = [_features(r, use_kind) for r in accounting]
    scored: list[list[tuple[float, str, int]]] = [[] for _ in hub_parties]
    for h, position in _pairs_worth_scoring(hub_parties, accounting_parties, thresholds.review):
        score, method = score_pair(hub_parties[h], accounting_parties[position])
        if score >= thresholds.review:
            scored[h].append((score, method, position))
    for options in scored:
        if len(options) > 1:
            options.sort(key=lambda option: (-option[0], accounting_parties[option[2]].record.id))

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
