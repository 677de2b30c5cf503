"""Name normalisation: the same party written two ways yields the same key.

"Brown, Nick" == "Nick Brown"; "Acme Widgets, Inc." == "ACME WIDGETS INC"; "Müller GmbH" ==
"Mueller G.m.b.H."; "Bright Intl Ltd" == "bright international Limited". The legal form is kept
apart, not dropped: "Acme Inc" and "Acme LLC" may be different companies, so two names agree only
when their forms agree or one of them has none. People's names are put in one order by nameparser.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from nameparser import HumanName

_LEGAL_FORMS = {
    "inc": "inc", "incorporated": "inc", "corp": "corp", "corporation": "corp", "co": "co", "company": "co",
    "llc": "llc", "llp": "llp", "lp": "lp", "ltd": "ltd", "limited": "ltd", "plc": "plc",
    "gmbh": "gmbh", "ag": "ag", "kg": "kg", "sa": "sa", "sarl": "sarl", "sas": "sas", "bv": "bv", "nv": "nv",
    "srl": "srl", "spa": "spa", "pty": "pty", "oy": "oy", "ab": "ab", "as": "as", "kft": "kft",
}
_MULTIWORD_FORMS = (
    ("limited liability company", "llc"), ("limited liability partnership", "llp"),
    ("public limited company", "plc"), ("societe a responsabilite limitee", "sarl"),
)
_ABBREVIATIONS = {
    "intl": "international", "int'l": "international", "soln": "solutions", "solns": "solutions",
    "svc": "services", "svcs": "services", "mfg": "manufacturing", "assoc": "associates", "bros": "brothers",
    "grp": "group", "hldgs": "holdings", "dept": "department", "tech": "technologies", "ind": "industries",
    "inds": "industries", "mgmt": "management", "dist": "distribution",
}
# Words that make a name a company's, so it is never read as a person's.
_COMPANY_WORDS = frozenset(
    "and associates brothers consulting distribution electric foods group holdings industries international "
    "logistics management manufacturing partners plumbing services solutions supply systems technologies "
    "trading department store stores bank".split()
)
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})
_DOTTED_FORM = re.compile(r"\b(?:[a-z]\.){2,}[a-z]?\.?")  # g.m.b.h., l.l.c., s.a.r.l.
# Compiled once: name_key runs for every party (200,000 at a time in bench/matching.py).
_COMMAS = re.compile(r"\s*,+\s*")
_PUNCTUATION = re.compile(r"[^\w\s,']")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class NameKey:
    base: str  # the name without its legal form, in canonical word order for people
    legal_forms: frozenset[str]  # "Jopich Bloch KG Corp": {"kg", "corp"}
    person: bool

    def forms_agree(self, other: NameKey) -> bool:
        """Forms that may say the same company: absent on one side, or one set within the other."""
        return (not self.legal_forms or not other.legal_forms or self.legal_forms <= other.legal_forms
                or other.legal_forms <= self.legal_forms)

    def forms_conflict(self, other: NameKey) -> bool:
        return not self.forms_agree(other)

    def forms_differ(self, other: NameKey) -> bool:
        """Agreeing but not equal: one side says more ("West PLC" / "West PLC SARL", "Acme" / "Acme Inc")."""
        return self.forms_agree(other) and self.legal_forms != other.legal_forms

    def matches(self, other: NameKey) -> bool:
        return bool(self.base) and self.base == other.base and self.forms_agree(other)


def fold(text: str) -> str:
    """Lower case, German umlauts spelled out ("Müller" = "Mueller"), other accents removed."""
    if text.isascii():  # most names: nothing to spell out or remove (and 20 times faster)
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.translate(_GERMAN))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=200_000)
def name_key(name: str) -> NameKey:
    text = fold(name.strip())
    text = _DOTTED_FORM.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _COMMAS.sub(", ", text.replace("&", " and "))  # "Brown,Nick" = "Brown, Nick"
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text).replace("'", ""))
    for phrase, form in _MULTIWORD_FORMS:
        text = text.replace(phrase, form)
    words = [_ABBREVIATIONS.get(w.rstrip(","), w.rstrip(",")) + ("," if w.endswith(",") else "") for w in text.split()]
    forms = set()
    while words and words[-1].strip(",") in _LEGAL_FORMS:
        forms.add(_LEGAL_FORMS[words.pop().strip(",")])
    if words and words[0] == "the":
        words = words[1:]
    plain = [w.strip(",") for w in words if w.strip(",")]
    person = not forms and 2 <= len(plain) <= 4 and not _COMPANY_WORDS.intersection(plain)
    if person:
        return NameKey(_person_order(" ".join(words), plain), frozenset(), True)
    return NameKey(" ".join(plain), frozenset(forms), False)


def _person_order(text: str, words: list[str]) -> str:
    """'brown, nick' -> 'nick brown'. Only the comma form is re-ordered (by nameparser); and only
    when it keeps every word, since nameparser reads some surnames as titles ("Bishop Nathan")."""
    if "," not in text:
        return " ".join(words)
    parsed = HumanName(text)
    ordered = " ".join(p for p in (parsed.first, parsed.middle, parsed.last) if p).split()
    return " ".join(ordered) if sorted(ordered) == sorted(words) else " ".join(words)
