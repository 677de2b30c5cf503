"""Comparing two people's records: given and family names, typos, a missing given name, postcodes.

What people's records get wrong is not what companies' do. A given name and a family name may be
swapped ("Mccarthy Kydan"), either may carry a typo ("Chalres", "Sydoernko"), the given name may be
missing ("Green"), and the digits of a postcode swapped ("4184" for "4814"). But two names one
letter apart may also be two people: "John Smith" and "Joan Smith" in the same town are a family,
not a typo, and so are "Carl" and "Carla", "Marian" and "Marion". So:

- names are compared part by part, in the order that fits best (a swap costs nothing);
- a family name may differ by a typo; a given name only by a typo that rarely turns one given name
  into another (two letters swapped, or a letter missing or added inside a name of 4 letters or
  more). Any other difference in a given name may be two people: the pair is never linked without
  a person, whatever the score, unless their emails are the same;
- a name reduced to one word ("Green" for "Emma Green") is at best a candidate for review, and only
  where the place agrees;
- a postcode whose digits are swapped, in the same town (or one typo away), contradicts nothing: a typo, not another
  place. It adds nothing either. Any other difference in postcode stays a contradiction.

`score_people` scores a pair when both are people's names (or one is a lone word of the other's
name), and says None otherwise: the engine's general scoring does the rest.
"""
from __future__ import annotations

from itertools import permutations
from typing import Protocol

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from ledgerbridge.matching.names import NameKey

# The same evidence weights as the engine's general scoring (docs/matching.md).
SAME_EMAIL, SAME_DOMAIN, SAME_CITY, SAME_POSTCODE, POSTCODE_PENALTY = 0.12, 0.05, 0.02, 0.06, 0.10
# "Green" for "Emma Green": with the town and the postcode agreeing, 0.84, a review; never an auto-link.
ONE_NAME_ONLY = 0.76
NOT_SURE = ",maybe_two_people"  # marks a score that may not auto-link (methods are stored in 40 characters)
POSTCODE_DIFFERS = ",postcode_differs"  # the engine's mark, for the same reason


class Party(Protocol):  # what the engine's _Party offers
    key: NameKey
    has_initial: bool
    email: str | None
    domain: str | None
    postcode: str | None
    city: str | None


def score_people(a: Party, b: Party) -> tuple[float, str] | None:
    """A score in [0, 1] and its method, for two people's records; None when not both are people's."""
    if a.has_initial or b.has_initial:
        return None  # "V. Smith": the engine's initials rule
    words_a, words_b = a.key.base.split(), b.key.base.split()
    one_word = False
    if a.key.person and b.key.person and len(words_a) == len(words_b):
        name, sure = _full_names(words_a, words_b)
    elif _one_word_of(a, b) or _one_word_of(b, a):
        name, sure, one_word = ONE_NAME_ONLY, False, True
    else:
        return None  # a middle name on one side, a word split in two: the general scoring
    method = "person"
    score = name
    if a.email and b.email and a.email == b.email:
        score += SAME_EMAIL
        method = "email+person"
    elif a.domain and b.domain and a.domain == b.domain:
        score += SAME_DOMAIN
    same_city = bool(a.city and b.city and a.city == b.city)
    if same_city:
        score += SAME_CITY
    if a.postcode and b.postcode and a.postcode != b.postcode:
        if not (_same_town(a.city, b.city) and postcode_digits_swapped(a.postcode, b.postcode)):
            # A namesake elsewhere, or the same person moved: for a person to judge.
            return max(0.0, min(score - POSTCODE_PENALTY, 1.0)), method + POSTCODE_DIFFERS
    elif a.postcode and a.postcode == b.postcode:
        score += SAME_POSTCODE
    if one_word:  # even with the same email: a household's address is shared by its family
        return max(0.0, min(score, 1.0)), method + NOT_SURE
    # The same email settles a doubt about the given name, as it does for an initial.
    return max(0.0, min(score, 1.0)), method if sure or method.startswith("email") else method + NOT_SURE


def _full_names(words_a: list[str], words_b: list[str]) -> tuple[float, bool]:
    """Similarity of two names of as many words, in the best order, and whether nothing in them says
    "two people". In the names' own order the last word is the family name; in another order (a swap)
    it is not known which is which, so every word is held to the given name's stricter rule."""
    if "".join(words_a) == "".join(words_b):
        return 1.0, True  # "lisaj ohnson": the same letters, the space typed elsewhere
    best: tuple | None = None
    for order in permutations(range(len(words_b))):
        aligned = [words_b[i] for i in order]
        similarity = fuzz.ratio(" ".join(words_a), " ".join(aligned)) / 100
        if best is None or similarity > best[0]:
            best = (similarity, order == tuple(range(len(words_b))), aligned)
    similarity, own_order, aligned = best
    sure = True
    for position, (word_a, word_b) in enumerate(zip(words_a, aligned)):
        if word_a == word_b:
            continue
        if own_order and position == len(words_a) - 1:
            continue  # the family name: how alike the whole names are decides, as for any name
        if not given_name_typo(word_a, word_b):
            sure = False
    return similarity, sure


def family_name_typo(a: str, b: str) -> bool:
    """One edit apart (two for long names): "Mccarhty" for "Mccarthy", "Trevorvrow" for "Trevorrow"."""
    return OSA.distance(a, b) <= (2 if min(len(a), len(b)) >= 9 else 1)


def given_name_typo(a: str, b: str) -> bool:
    """A slip of the keyboard, which rarely makes another given name: two letters swapped ("Chalres"),
    a key next to the right one ("Benjsmin"), a letter left out or doubled ("Jennifr", "Hollly"). Not
    what tells given names apart: another first letter ("Ellen" / "Allen"), another vowel ("Joan" /
    "John", "Marian" / "Marion"), another ending ("Carl" / "Carla", "Sara" / "Sarah", "Nicola" /
    "Nicolas"). Names of 3 letters or fewer are too short to tell."""
    if min(len(a), len(b)) < 4 or a[0] != b[0]:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            x, y = a[diffs[0]], b[diffs[0]]
            return _keyboard_neighbours(x, y) and not (x in _VOWELS and y in _VOWELS)
        return _neighbours_swapped(a, b)
    short, long = sorted((a, b), key=len)
    if len(long) - len(short) != 1:
        return False
    if long[:-1] == short:  # one more letter at the end
        return long[-1] not in _NAME_ENDINGS
    return any(long[:i] + long[i + 1:] == short for i in range(1, len(long) - 1))


_QWERTY = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_AT = {key: (row, column) for row, keys in enumerate(_QWERTY) for column, key in enumerate(keys)}
_VOWELS = frozenset("aeiouy")  # "u" and "i" touch, but "Luna" / "Lina" is two names
_NAME_ENDINGS = frozenset("aeiouyhns")  # Carla, Louise, Sarah, Marian, Nicolas, Bailey


def _keyboard_neighbours(x: str, y: str) -> bool:
    """Keys that touch on a QWERTY keyboard ("a" and "s"; "e" and "d"): a slip, not a spelling."""
    if x not in _KEY_AT or y not in _KEY_AT:
        return False
    (row_x, col_x), (row_y, col_y) = _KEY_AT[x], _KEY_AT[y]
    # Each row sits half a key to the right of the one above: "e" touches "s" and "d" below it.
    return (row_x == row_y and abs(col_x - col_y) == 1) or (
        abs(row_x - row_y) == 1 and (col_y - col_x if row_y > row_x else col_x - col_y) in (-1, 0))


def postcode_digits_swapped(a: str, b: str) -> bool:
    """'4814' / '4184': the same digits, two neighbours swapped."""
    return _neighbours_swapped(a, b)


def _neighbours_swapped(a: str, b: str) -> bool:
    if len(a) != len(b):
        return False
    diffs = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]


def _same_town(a: str | None, b: str | None) -> bool:
    """The same town, or one typo away from it ("ballina" / "ballinga")."""
    return bool(a and b and (a == b or (min(len(a), len(b)) >= 5 and OSA.distance(a, b) <= 1)))


def _one_word_of(single: Party, full: Party) -> bool:
    """'green' against 'emma green': a lone word (no legal form) that is one of a person's words."""
    words = single.key.base.split()
    return (full.key.person and len(words) == 1 and not single.key.legal_forms
            and any(words[0] == w or family_name_typo(words[0], w) for w in full.key.base.split()))
