"""A synthetic labeled set for party matching: N hub parties, N accounting parties, the true pairs.

Usage: python bench/party_data.py OUT_DIR [--n 100000] [--seed 6]

Writes OUT_DIR/hub.csv, OUT_DIR/accounting.csv (columns id,name,kind,email,tax_id,city,postcode)
and OUT_DIR/truth.csv (hub_id,accounting_id). The same seed and size always give the same files.

It imitates ../shared/data/party_matching, scaled up:
- hub names are clean ("Nick Brown", "Acme Widgets Inc"); about 35% are people (customers), the rest
  companies (about 60% vendors). Every hub party has an email (first.last@domain for people,
  ap@domain for companies; domains repeat, so different companies share an "ap@" address), about
  half of the companies a tax id, and all have a city and a postcode;
- about 70% of hub parties have their true counterpart in the accounting file, written as a
  bookkeeper would: "Brown, Nick", "BROWN NICK", "N. Brown", upper or lower case, "&"/"and",
  legal-form spellings ("Inc."/"INC"/"Incorporated", "G.m.b.H.", "L.L.C.", or no form at all),
  "The " in front, "Intl"/"Soln"/"Svcs"/"Assoc"/"Bros"/"Mfg", a comma before the form, extra
  spaces, folded accents, one typo (dropped, swapped, doubled or wrong letter). The accounting side
  keeps the email about half the time, the tax id about half the time, the city and postcode more
  often than not, and never contradicts the hub;
- the other accounting parties are hard negatives: the same company name with another legal form
  ("Acme Inc" / "Acme LLC") or with another word ("Acme Holdings", "Acme Europe"), the same surname
  in another line of business, people sharing a last name, names one letter apart, and a few
  unrelated parties. They carry no email and no tax id, and live in another city.

Standard library only, so it runs anywhere; 100,000 x 100,000 takes a few seconds.
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_N = 100_000
DEFAULT_SEED = 6
MATCHED_SHARE = 0.70  # share of hub parties with a true counterpart (the labeled set: 1386 / 1995)
PERSON_SHARE = 0.35  # share of hub parties that are people (709 / 1995)
FIELDS = ("id", "name", "kind", "email", "tax_id", "city", "postcode")

# --- name pools ---------------------------------------------------------------------------------
# Real surnames (English, German, French, with their accents and particles) and, to keep collisions
# as rare at 100,000 parties as they are at 2,000, many more built from syllables ("Dornhorst").
_SURNAMES = """
Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor Thomas Moore Martin Clarke Walker Young
King Wright Hill Green Baker Adams Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker
Evans Edwards Collins Stewart Morris Rogers Reed Cook Morgan Bell Murphy Bailey Cooper Richardson Cox
Howard Ward Peterson Gray Ramirez James Watson Brooks Kelly Sanders Price Bennett Wood Barnes Ross
Henderson Coleman Jenkins Perry Powell Long Patterson Hughes Flores Washington Butler Simmons Foster
Gonzalez Bryant Alexander Russell Griffin Hayes Myers Ford Hamilton Graham Sullivan Wallace Woods
Cole West Jordan Owens Reynolds Fisher Ellis Harrison Gibson Mcdonald Cruz Marshall Ortiz Gomez
Murray Freeman Wells Webb Simpson Stevens Tucker Porter Hunter Hicks Crawford Henry Boyd Mason
Kennedy Warren Dixon Burns Gordon Shaw Holmes Rice Robertson Hunt Black Daniels Palmer Mills
Nichols Grant Knight Ferguson Stone Hawkins Dunn Perkins Hudson Spencer Gardner Stephens Payne
Pierce Berry Matthews Arnold Wagner Willis Ray Watkins Olson Carroll Duncan Snyder Hart Cunningham
Bradley Lane Andrews Ruiz Harper Fox Riley Armstrong Carpenter Weaver Greene Lawrence Elliott Chavez
O'Neill O'Connor O'Brien Mcgee Da_Costa
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter
Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner
Krause Meier Lehmann Köhler Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller
Weiß Jung Hahn Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke
Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto
Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Dietrich Ziegler Kuhn Kühn Pohl Engel Horn
Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer Pölitz Geißler Hübel Börner Süßebier Dörschner
Bähr Fröhlich Schönland Klingelhöfer Mühle Neuschäfer Höfig Mälzer Sölzer Förster Gröttner
Martin Bernard Dubois Durand Lefebvre Leroy Moreau Simon Laurent Michel Garcia David Bertrand Roux
Vincent Fournier Morel Girard André Lefèvre Mercier Dupont Lambert Bonnet François Legrand Garnier
Faure Rousseau Blanc Guérin Muller Henry Roussel Nicolas Perrin Morin Mathieu Clément Gauthier
Dumont Lopez Fontaine Chevalier Robin Masson Sanchez Gérard Nguyen Boyer Denis Lemaire Duval Joly
Gautier Roger Roche Roy Noël Meyer Lucas Meunier Jean Perez Marchand Dufour Blanchard Barbier Brun
Dumas Brunet Schmitt Leroux Colin Fernandez Pierre Renard Arnaud Rolland Caron Aubert Giraud Leclerc
Vidal Bourgeois Renaud Lemoine Picard Gaillard Philippe Leclercq Lacroix Fabre Dupuis Olivier
Rodriguez Da_Silva Hubert Louis Charles Guillot Rivière Le_Gall Guillaume Adam Rey Moulin
Gonzalez Berger Lecomte Menard Fleury Deschamps Carpentier Julien Benoit Paris Maillard Marchal
Aubry Vasseur Le_Roux Renault Jacquet Collet Prévost Poirier Charpentier Royer Huet Baron Dupré
Léger Bègue Mendès Lemaître Maréchal Pottier Étienne De_Oliveira Dos_Santos
""".split()
# "_" joins particles above ("Le_Gall") so split() keeps them whole.
_SURNAMES = list(dict.fromkeys(s.replace("_", " ") for s in _SURNAMES))

_SYL_HEAD = """Al Ber Bran Dorn Eck Fal Gar Hal Hart Kes Lan Mar Nor Ost Pen Ros Sal Stein Tal Wen Wil Ash
Brook Carl Dal Fen Gren Hol Kirk Lind Mor Rad Schön Müh Bél Lef Bel Cour Dur Fon Gir Lav Roc Ver Ard
Bran Cres Drum Elm Frei Gol Hei Ing Jar Kal Leu Mer Nie Oak Pra Quin Rei Sel Thor Ul Val Wal Zel""".split()
_SYL_MID = ["", "", "", "en", "er", "in", "el", "a", "o", "e", "an", "is"]
_SYL_TAIL = """berg mann ton ley wood field stein horst ford well by ard ier eau ot and ski ner hoff rich ke
dorf ham son worth ling brook ville court oux hardt mond tier bach feld gard sen ström""".split()


def _built_surnames() -> list[str]:
    names = [(h + m + t).capitalize() for h in _SYL_HEAD for m in _SYL_MID for t in _SYL_TAIL]
    return list(dict.fromkeys(names))  # drop repeats, keep a fixed order (determinism)


_FIRST_NAMES = """
James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew
Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason
Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel
Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Nick Gordon Wayne Dale Phillip
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret
Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie Rebecca
Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicole Helen Samantha
Katherine Christine Debra Rachel Carolyn Janet Catherine Maria Heather Diane Ruth Julie Olivia Joyce
Virginia Victoria Kelly Lauren Christina Joan Evelyn Judith Megan Andrea Cheryl Hannah Jacqueline
Klaus Jochen Gunnar Götz Eckehard Siegmar Thorben Janus Korinna Gerlind Tabea Freia Apollonia
Jürgen Dieter Wolfgang Uwe Horst Helmut Günter Bernd Ralf-Peter Hans-Jürgen Karl-Heinz Sabine
Ursula Monika Renate Gisela Brigitte Ingrid Heike Birgit Jutta Dörte Käthe Lutz Detlef Torsten
Tadeusz Dimitrios Calogero Giovanni Silvio Marco Yilmaz Ayse Mohammad Luzie Mathilde Anouk
Élise Aimée Théodore Valérie Émile Léon Adélaïde Céline Hélène Jérôme Rémy Frédéric Stéphane
Christophe Emmanuel Jeanne Juliette Anastasie Henri Louis Alexandre Constance Suzanne Claudine
Aurore Philippine Andrée Laurence Josephine Jean-Luc Marie-Claire François Benoît Gaëlle Noémie
""".split()
_FIRST_NAMES = list(dict.fromkeys(_FIRST_NAMES))

_INDUSTRIES = """International Partners Solutions Electric Foods Supply Industries Consulting
Manufacturing Brothers Group Logistics Services Plumbing Associates Realty Media Farms Capital
Systems Trading""".split()
# Words a hard negative puts in place of the legal form: "Acme Holdings", "Acme Europe".
_DECOY_WORDS = "Holdings Group Europe East West North South International Partners Trading".split()
_ABBREVIATIONS = {
    "International": "Intl", "Solutions": "Soln", "Services": "Svcs", "Associates": "Assoc",
    "Brothers": "Bros", "Manufacturing": "Mfg",
}
# Hub legal form -> the ways an accounting system spells it.
_LEGAL_FORMS = {
    "Inc": ("Inc", "Inc.", "INC", "Incorporated"),
    "Corp": ("Corp", "Corp.", "Corporation"),
    "LLC": ("LLC", "L.L.C.", "llc", "Limited Liability Company"),
    "Ltd": ("Ltd", "Ltd.", "LTD", "Limited"),
    "Co": ("Co", "Co.", "Company"),
    "GmbH": ("GmbH", "G.m.b.H.", "GMBH"),
    "SARL": ("SARL", "Sarl", "S.A.R.L."),
}
_HUB_FORMS = list(_LEGAL_FORMS)
_GERMAN_FORMS = ("GmbH & Co. KG", "AG", "OHG", "KG")
_EXTRA_SUFFIXES = ("Inc", "Ltd", "Group", "PLC", "S.A.R.L.", "S.A.S.")  # "Davies Inc Co", as Faker does
_TLDS = ("com", "com", "com", "org", "net", "de", "fr", "info", "biz", "co.uk")
_CITY_PATTERNS = (
    "{s}", "{s}", "{s}ville", "{s}stad", "{s}burg", "Port {f}", "Lake {f}", "North {f}", "East {f}",
    "{s}-sur-Mer", "Saint {f}", "{s}-les-Bains", "{f}mouth", "{s}heim", "Bad {s}", "{s}haven",
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    kind: str
    email: str = ""
    tax_id: str = ""
    city: str = ""
    postcode: str = ""

    def row(self) -> tuple[str, ...]:
        return (self.id, self.name, self.kind, self.email, self.tax_id, self.city, self.postcode)


@dataclass(frozen=True)
class Name:
    """A hub name in parts, so the accounting side can rewrite each part its own way."""

    words: tuple[str, ...]  # company: the name without legal form; person: (first, last)
    form: str | None  # the hub legal form ("Inc", ...), None for people and form-less companies
    person: bool

    def text(self) -> str:
        return " ".join(self.words + ((self.form,) if self.form else ()))


def fold_accents(text: str) -> str:
    """'Hübel' -> 'Hubel', 'Étienne' -> 'Etienne', 'Geißler' -> 'Geissler'."""
    text = text.replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def canonical(text: str) -> str:
    """A crude key used only to keep generated names apart (never to score)."""
    text = fold_accents(text).lower().replace("&", " and ")
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


class Generator:
    def __init__(self, seed: int):
        self.rnd = random.Random(seed)
        built = _built_surnames()
        self.surnames = _SURNAMES + built
        # Real surnames are common, built ones rare: pick from the real list a third of the time.
        self.common_surnames = _SURNAMES
        self.tax_ids: set[str] = set()
        self.names_taken: set[str] = set()  # canonical names of every generated party

    # --- small random pieces ----------------------------------------------------------------
    def surname(self) -> str:
        rnd = self.rnd
        return rnd.choice(self.common_surnames) if rnd.random() < 0.35 else rnd.choice(self.surnames)

    def domain(self) -> str:
        rnd = self.rnd
        slug = canonical(self.surname()).replace(" ", "")
        if rnd.random() < 0.3:
            slug += "-" + canonical(self.surname()).replace(" ", "")
        return f"{slug}.{rnd.choice(_TLDS)}"

    def city(self) -> str:
        rnd = self.rnd
        return rnd.choice(_CITY_PATTERNS).format(s=rnd.choice(self.surnames), f=rnd.choice(_FIRST_NAMES))

    def postcode(self) -> str:
        rnd = self.rnd
        if rnd.random() < 0.73:
            return f"{rnd.randrange(100000):05d}"
        up = "ABCDEFGHJKLMNPRSTUWYZ"
        area = rnd.choice(up) + (rnd.choice(up) if rnd.random() < 0.5 else "")
        district = str(rnd.randrange(1, 100)) + (rnd.choice(up) if rnd.random() < 0.2 else "")
        return f"{area}{district} {rnd.randrange(10)}{rnd.choice(up)}{rnd.choice(up)}"

    def tax_id(self) -> str:
        while True:
            tax = f"{self.rnd.randrange(10, 100)}-{self.rnd.randrange(10**7):07d}"
            if tax not in self.tax_ids:
                self.tax_ids.add(tax)
                return tax

    # --- hub names --------------------------------------------------------------------------
    def company_name(self) -> Name:
        rnd = self.rnd
        s, r = self.surname(), rnd.random()
        if r < 0.55:
            words = (s, rnd.choice(_INDUSTRIES))
        elif r < 0.73:
            words = (s, "&", self.surname())
        elif r < 0.80:
            words = (f"{s}-{self.surname()}",)
        elif r < 0.83:
            words = (s, "and", "Sons")
        elif r < 0.87:
            words = (s, self.surname(), rnd.choice(_GERMAN_FORMS))
        elif r < 0.92:
            words = (s, rnd.choice(_EXTRA_SUFFIXES))
        else:
            return Name((s,), rnd.choice(_HUB_FORMS), person=False)  # "Evans Inc": a bare name has a form
        return Name(words, rnd.choice(_HUB_FORMS) if rnd.random() < 0.87 else None, person=False)

    def person_name(self) -> Name:
        return Name((self.rnd.choice(_FIRST_NAMES), self.surname()), None, person=True)

    def unique(self, make) -> Name:
        """A new name whose canonical form no other generated party has."""
        while True:
            name = make()
            key = canonical(name.text())
            if key not in self.names_taken:
                self.names_taken.add(key)
                return name

    def hub_party(self, index: int) -> tuple[Party, Name]:
        rnd = self.rnd
        person = rnd.random() < PERSON_SHARE
        name = self.unique(self.person_name if person else self.company_name)
        domain = self.domain()
        if person:
            first, last = name.words
            party = Party(f"H{index:06d}", name.text(), "customer", email=f"{first}.{last}@{domain}".lower())
        else:
            party = Party(
                f"H{index:06d}", name.text(), "vendor" if rnd.random() < 0.61 else "customer",
                email=f"ap@{domain}", tax_id=self.tax_id() if rnd.random() < 0.52 else "",
            )
        return replace(party, city=self.city(), postcode=self.postcode()), name

    # --- how the accounting system writes the same party ------------------------------------
    def typo(self, text: str) -> str:
        """One keyboard slip at a letter other than the first: dropped, swapped, doubled or wrong."""
        rnd = self.rnd
        spots = [i for i, c in enumerate(text) if c.isalpha()][1:]
        if not spots:
            return text
        i = rnd.choice(spots)
        kind = rnd.random()
        if kind < 0.35:
            return text[:i] + text[i + 1:]
        if kind < 0.60 and i + 1 < len(text):
            return text[:i] + text[i + 1] + text[i] + text[i + 2:]
        if kind < 0.75:
            return text[:i] + text[i] + text[i:]
        letter = rnd.choice(_LETTERS)
        return text[:i] + (letter.upper() if text[i].isupper() else letter) + text[i + 1:]

    def as_written(self, name: Name, noise: float = 1.0) -> str:
        """The accounting system's spelling of a hub name; noise scales how often each change happens."""
        rnd = self.rnd

        def maybe(p: float) -> bool:
            return rnd.random() < p * noise

        if name.person:
            first, last = name.words
            r = rnd.random()
            if r < 0.12 * noise:
                text = f"{first[0]}. {last}"  # "N. Brown"
            elif r < 0.42 * noise:
                text = f"{last},{',' if rnd.random() < 0.05 else ''} {first}"  # "Brown, Nick"
            elif r < 0.47 * noise:
                text = f"{last} {first}"
            else:
                text = f"{first} {last}"
            if maybe(0.12):
                text = self.typo(text)
            if maybe(0.20):
                text = text.upper()
        else:
            words = list(name.words)
            if "&" in words and maybe(0.30):
                words[words.index("&")] = "and"
            if maybe(0.60):
                words = [_ABBREVIATIONS.get(w, w) for w in words]
            text = " ".join(words)
            if maybe(0.17):
                text = self.typo(text)  # in the name proper: the labeled set never misspells a legal form
            if maybe(0.12):
                text = "The " + text
            if name.form and not maybe(0.16):  # the form is sometimes left out
                form = rnd.choice(_LEGAL_FORMS[name.form])
                text += (", " if maybe(0.45) else " ") + form
            r = rnd.random()
            if r < 0.12 * noise:
                text = text.upper()
            elif r < 0.17 * noise:
                text = text.lower()
            elif r < 0.20 * noise:
                text = text[0].lower() + text[1:]  # "ruiz Ltd."
            if maybe(0.15):
                text = "  " + text.replace(" ", "  ", 1) + " "  # "  The  KEMP ASSOCIATES LTD "
        if maybe(0.35) and not text.isascii():
            text = fold_accents(text)
        return text

    # --- hard negatives ----------------------------------------------------------------------
    def decoy_name(self, source: Name) -> Name:
        """A different party whose name is close to `source`'s."""
        rnd = self.rnd
        r = rnd.random()
        if source.person:
            first, last = source.words
            if r < 0.80:  # another person with the same last name
                return Name((rnd.choice(_FIRST_NAMES), last), None, person=True)
            if r < 0.92:  # one letter apart
                return Name((first, self.typo(last)), None, person=True)
            return Name((last, rnd.choice(_INDUSTRIES)), rnd.choice(_HUB_FORMS), person=False)  # "Phillips Media"
        if r < 0.40:  # another legal form: "Acme Inc" / "Acme LLC"
            return Name(source.words, rnd.choice([f for f in _HUB_FORMS if f != source.form]), person=False)
        if r < 0.70:  # another word in place of the form: "Acme Holdings", "Acme Europe"
            return Name(source.words + (rnd.choice(_DECOY_WORDS),), None, person=False)
        if r < 0.85:  # the same surname in another line of business
            return Name((source.words[0].split("-")[0], rnd.choice(_INDUSTRIES)), rnd.choice(_HUB_FORMS), person=False)
        return Name((self.typo(source.words[0]),) + source.words[1:], source.form, person=False)  # one letter apart

    def decoy(self, source: Name, source_kind: str, index: int) -> Party:
        rnd = self.rnd
        for _ in range(5):
            name = self.decoy_name(source)
            key = canonical(name.text())
            if key and key not in self.names_taken:
                break
        else:  # nothing close was free: an unrelated party
            name = self.unique(self.person_name if source.person else self.company_name)
            key = canonical(name.text())
        self.names_taken.add(key)
        kind = "customer" if name.person else (source_kind if rnd.random() < 0.85 else rnd.choice(("customer", "vendor")))
        return Party(f"QB{index:06d}", self.as_written(name, noise=0.4), kind, city=self.city(), postcode=self.postcode())

    def counterpart(self, hub: Party, name: Name, index: int) -> Party:
        rnd = self.rnd
        return Party(
            f"QB{index:06d}", self.as_written(name), hub.kind,
            email=hub.email if rnd.random() < 0.50 else "",
            tax_id=hub.tax_id if hub.tax_id and rnd.random() < 0.54 else "",
            city=hub.city if rnd.random() < 0.70 else "",
            postcode=hub.postcode if rnd.random() < 0.62 else "",
        )


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED, n_accounting: int | None = None):
    """(hub, accounting, truth): n hub parties, n_accounting (default n) accounting parties, true pairs."""
    n_accounting = n if n_accounting is None else n_accounting
    gen = Generator(seed)
    rnd = gen.rnd
    hub = [gen.hub_party(i) for i in range(n)]
    n_matched = min(round(n * MATCHED_SHARE), n_accounting)
    matched = set(rnd.sample(range(n), n_matched))
    accounting: list[Party] = []
    truth: list[tuple[str, str]] = []
    # Accounting ids run in hub order with the hard negatives in between, as in the labeled set.
    n_decoys = n_accounting - n_matched
    decoy_after = sorted(rnd.choices(range(n), k=n_decoys))
    d = 0
    for i, (party, name) in enumerate(hub):
        if i in matched:
            acc = gen.counterpart(party, name, len(accounting) + 1)
            accounting.append(acc)
            truth.append((party.id, acc.id))
        while d < n_decoys and decoy_after[d] == i:
            # Near a random hub party, not necessarily this one: a matched one or not.
            src_party, src_name = hub[rnd.randrange(n)]
            accounting.append(gen.decoy(src_name, src_party.kind, len(accounting) + 1))
            d += 1
    rnd.shuffle(accounting)  # a file in no useful order
    return [p for p, _ in hub], accounting, truth


def write(directory: str | Path, n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Generate and write hub.csv, accounting.csv, truth.csv into `directory`; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hub, accounting, truth = generate(n, seed)
    paths = {"hub": directory / "hub.csv", "accounting": directory / "accounting.csv", "truth": directory / "truth.csv"}
    for key, parties in (("hub", hub), ("accounting", accounting)):
        with open(paths[key], "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(FIELDS)
            w.writerows(p.row() for p in parties)
    with open(paths["truth"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("hub_id", "accounting_id"))
        w.writerows(truth)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="hub parties, and accounting parties (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = write(args.out_dir, args.n, args.seed)
    with open(paths["truth"], encoding="utf-8") as f:
        pairs = sum(1 for _ in f) - 1
    print(f"{args.n:,} hub x {args.n:,} accounting parties, {pairs:,} true pairs, "
          f"in {time.perf_counter() - start:.1f} s -> {Path(args.out_dir).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
