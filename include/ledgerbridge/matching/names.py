"""Name normalisation: the same party written two ways yields the same key.

"Brown, Nick" == "Nick Brown"; "Acme Widgets, Inc." == "ACME WIDGETS INC"; "Müller GmbH" ==
"Mueller G.m.b.H.". The legal form is kept apart, not dropped: "Acme Inc" and "Acme LLC" may be
different companies, so two names match only when their forms agree or one of them has none.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LEGAL_FORMS = {
    "inc": "inc", "incorporated": "inc", "corp": "corp", "corporation": "corp", "co": "co", "company": "co",
    "llc": "llc", "llp": "llp", "lp": "lp", "ltd": "ltd", "limited": "ltd", "plc": "plc",
    "gmbh": "gmbh", "ag": "ag", "kg": "kg", "sa": "sa", "sarl": "sarl", "sas": "sas", "bv": "bv", "nv": "nv",
    "srl": "srl", "spa": "spa", "pty": "pty", "oy": "oy", "ab": "ab", "as": "as", "kft": "kft",
}
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})
_DOTTED_FORM = re.compile(r"\b(?:[a-z]\.){2,}[a-z]?\.?")  # g.m.b.h., l.l.c., s.a.


@dataclass(frozen=True)
class NameKey:
    base: str
    legal_form: str | None

    def matches(self, other: NameKey) -> bool:
        if not self.base or self.base != other.base:
            return False
        return self.legal_form is None or other.legal_form is None or self.legal_form == other.legal_form


def fold(text: str) -> str:
    """Lower case, German umlauts spelled out, other accents removed."""
    text = text.translate(_GERMAN)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_key(name: str) -> NameKey:
    text = fold(name.strip())
    text = _DOTTED_FORM.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _person_order(text)
    text = text.replace("&", " and ")
    words = re.sub(r"[^\w\s]", " ", text).split()
    legal_form = None
    while words and words[-1] in _LEGAL_FORMS:
        legal_form = legal_form or _LEGAL_FORMS[words.pop()]
    if words and words[0] == "the":
        words = words[1:]
    return NameKey(" ".join(words), legal_form)


def _person_order(text: str) -> str:
    """'brown, nick' -> 'nick brown'; leaves 'acme, inc' and multi-comma names alone."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return text
    last, first = parts
    if re.sub(r"[^\w]", "", first) in _LEGAL_FORMS or len(first.split()) > 2 or len(last.split()) > 2:
        return text
    return f"{first} {last}"
