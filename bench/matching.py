"""Party matching: quality, time and memory of the engine next to two baselines.

Usage: python bench/matching.py [--n 100000 | --sizes 20000,100000] [--skip-baselines]
                                [--labeled DIR] [--sample 10000] [--cores 2] [--show-errors 15]

Two data sets:
- the labeled set in ../shared/data/party_matching (hub_parties.csv, accounting_parties.csv, truth.csv);
- a generated N x N set (bench/party_data.py, seeded), 100,000 x 100,000 by default.
Three matchers on each, each in a fresh child process (a new interpreter), so its peak RSS is its own:
- engine: ledgerbridge.matching.engine: read_parties() both files, then match(hub, acc, Thresholds());
- exact: names equal after strip (case-sensitive), the first such accounting party, always auto;
- fuzzy: rapidfuzz token_sort_ratio >= 90 (rapidfuzz.utils.default_process: lower case, punctuation
  off), no blocking, best accounting party per hub row (process.cdist, workers=-1), always auto.
  On a generated set larger than --sample hub rows it runs on a --sample-row sample of the hub
  against all accounting rows, and its time is scaled up linearly.
Auto-link precision = correct auto-links / auto-links; recall = true pairs auto-linked / true pairs;
review = share of hub parties whose decision is review.
Targets: on the labeled set precision >= 0.995, recall >= 0.95, review <= 5%; on 100,000 x 100,000
under 20 s and 2 GiB on 2 cores. Exit status 1 on a FAIL or when the engine cannot run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts
from common import fmt, print_table  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
LABELED_DIR = BENCH_DIR.parent.parent / "shared" / "data" / "party_matching"
ENGINE_MODULE = "ledgerbridge.matching.engine"

TARGET_PRECISION = 0.995
TARGET_RECALL = 0.95
TARGET_REVIEW = 0.05
TARGET_SIZE = 100_000
TARGET_SECONDS = 20.0
TARGET_MIB = 2048.0
FUZZY_CUTOFF = 90
FUZZY_CHUNK = 1_000  # hub rows per cdist call: 1,000 x 100,000 uint8 scores = 100 MB, not 10 GB
METHODS = ("engine", "exact", "fuzzy")


# --- the child: one matcher, one data set, one fresh process ------------------------------------

def child_main(method: str, hub_path: str, acc_path: str, out_path: str, sample: int, cores: int) -> None:
    """Run one matcher, write its decisions to out_path, print its timings as JSON on stdout."""
    cpus = sorted(os.sched_getaffinity(0))[:cores]
    os.sched_setaffinity(0, cpus)  # before any import starts a thread: "on 2 cores" even on a bigger box
    start = time.perf_counter()
    if method == "engine":
        from ledgerbridge.matching.engine import Thresholds, match, read_parties
    elif method == "fuzzy":
        try:
            import numpy  # noqa: F401 - cdist returns numpy arrays; fail here, before any timing
        except ImportError:
            sys.exit("needs numpy, which rapidfuzz.process.cdist returns its scores in: pip install numpy")
    imported = time.perf_counter()
    if method == "engine":
        hub, acc = read_parties(hub_path), read_parties(acc_path)
    else:
        hub, acc = read_names(hub_path), read_names(acc_path)
        if sample and len(hub) > sample:
            # The same rows for every run; kept in file order.
            hub = [hub[i] for i in sorted(random.Random(0).sample(range(len(hub)), sample))]
    loaded = time.perf_counter()
    if method == "engine":
        results = [(r.hub_id, r.accounting_id, r.score, r.decision, r.method) for r in match(hub, acc, Thresholds())]
    elif method == "exact":
        results = exact_names(hub, acc)
    else:
        results = fuzzy_names(hub, acc)
    matched = time.perf_counter()
    with open(out_path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(results)
    print(json.dumps({
        "import_s": imported - start, "load_s": loaded - imported, "match_s": matched - loaded,
        "hub_rows": len(hub), "acc_rows": len(acc), "cpus": len(cpus), "peak_kib": peak_rss_kib(),
    }))


def peak_rss_kib() -> int:
    """This process's peak RSS, threads included.

    Not ru_maxrss: Linux carries the high-water mark of the address space replaced by exec() over
    into it, and a child started with vfork/exec starts from the parent's, so a child's ru_maxrss
    (RUSAGE_SELF, or the parent's wait4/RUSAGE_CHILDREN) is never below the bench's own RSS. VmHWM
    is the peak of this process's own address space only.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: an upper bound


def read_names(path: str) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(row["id"], row["name"]) for row in csv.DictReader(f)]


def exact_names(hub, acc):
    """Baseline 1: what many products do, equal names after strip."""
    first_by_name: dict[str, str] = {}
    for acc_id, name in acc:
        first_by_name.setdefault(name.strip(), acc_id)
    results = []
    for hub_id, name in hub:
        acc_id = first_by_name.get(name.strip())
        results.append((hub_id, acc_id, 1.0 if acc_id else 0.0, "auto" if acc_id else "none", "exact_name"))
    return results


def fuzzy_names(hub, acc):
    """Baseline 2: fuzzy scoring alone, every hub row against every accounting row."""
    import numpy as np
    from rapidfuzz import fuzz, process, utils

    choices = [utils.default_process(name) for _, name in acc]  # once, not once per chunk
    results = []
    for start in range(0, len(hub), FUZZY_CHUNK):
        rows = hub[start:start + FUZZY_CHUNK]
        scores = process.cdist(
            [utils.default_process(name) for _, name in rows], choices, scorer=fuzz.token_sort_ratio,
            score_cutoff=FUZZY_CUTOFF, dtype=np.uint8, workers=-1,
        )  # below the cutoff a score is 0
        best = scores.argmax(axis=1)
        for (hub_id, _), j, row in zip(rows, best, scores):
            score = int(row[j])
            if score >= FUZZY_CUTOFF:
                results.append((hub_id, acc[j][0], score / 100, "auto", "token_sort_ratio"))
            else:
                results.append((hub_id, None, 0.0, "none", "token_sort_ratio"))
    return results


# --- the parent: data sets, children, metrics, tables -------------------------------------------

@dataclass
class DataSet:
    label: str
    hub: Path
    acc: Path
    truth: dict[str, str]  # hub_id -> accounting_id
    hub_rows: int
    acc_rows: int
    generated: bool
    note: str = ""


@dataclass
class Run:
    method: str
    ok: bool
    error: str = ""
    timings: dict = field(default_factory=dict)
    peak_mib: float = 0.0
    process_s: float = 0.0
    decisions: list[tuple[str, str, float, str, str]] = field(default_factory=list)  # hub, acc, score, decision, method
    scale: float = 1.0  # > 1 when the run saw a sample of the hub rows and its time is scaled up

    @property
    def time_s(self) -> float:
        """Load + match, what a pipeline step spends; the interpreter's start and imports left out.

        A sampled run read the whole files, so only its match time is scaled up."""
        return self.timings["load_s"] + self.timings["match_s"] * self.scale


@dataclass
class Quality:
    hub_rows: int
    true_pairs: int
    auto: int
    correct: int
    review: int
    none: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.auto if self.auto else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.true_pairs if self.true_pairs else None

    @property
    def review_share(self) -> float:
        return self.review / self.hub_rows if self.hub_rows else 0.0


def run_child(method: str, data: DataSet, work: Path, args) -> Run:
    out = work / f"{data.label.split()[0]}-{data.hub_rows}-{method}.csv"
    sample = args.sample if method == "fuzzy" and data.generated else 0
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, str(data.hub), str(data.acc),
           str(out), "--sample", str(sample), "--cores", str(args.cores)]
    stdout, stderr = work / "child.out", work / "child.err"
    start = time.perf_counter()
    with open(stdout, "w") as so, open(stderr, "w") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se)
        proc.wait()
    run = Run(method, ok=proc.returncode == 0, process_s=time.perf_counter() - start)
    if not run.ok:
        lines = stderr.read_text(errors="replace").strip().splitlines()
        run.error = lines[-1] if lines else f"exit status {proc.returncode}"
        return run
    run.timings = json.loads(stdout.read_text().strip().splitlines()[-1])
    run.scale = data.hub_rows / run.timings["hub_rows"]
    run.peak_mib = run.timings["peak_kib"] / 1024
    with open(out, newline="", encoding="utf-8") as f:
        run.decisions = [(h, a or None, float(s), d, m) for h, a, s, d, m in csv.reader(f)]
    return run


def quality(run: Run, truth: dict[str, str]) -> Quality:
    seen = {hub_id for hub_id, *_ in run.decisions}  # the sample, for a sampled run
    autos = [(h, a) for h, a, _, d, _ in run.decisions if d == "auto" and a]
    return Quality(
        hub_rows=len(run.decisions),
        true_pairs=sum(1 for h in truth if h in seen),
        auto=len(autos),
        correct=sum(1 for h, a in autos if truth.get(h) == a),
        review=sum(1 for *_, d, _ in run.decisions if d == "review"),
        none=sum(1 for *_, d, _ in run.decisions if d == "none"),
    )


def load_labeled(directory: Path) -> DataSet:
    hub, acc, truth = directory / "hub_parties.csv", directory / "accounting_parties.csv", directory / "truth.csv"
    return DataSet("labeled", hub, acc, read_truth(truth), count_rows(hub), count_rows(acc), generated=False)


def make_generated(n: int, seed: int, work: Path) -> DataSet:
    sys.path.insert(0, str(BENCH_DIR))
    import party_data

    start = time.perf_counter()
    paths = party_data.write(work / f"generated-{n}", n, seed)
    took = time.perf_counter() - start
    return DataSet(f"generated {n:,} x {n:,}", paths["hub"], paths["accounting"], read_truth(paths["truth"]), n, n,
                   generated=True, note=f"bench/party_data.py --n {n} --seed {seed}: {took:.1f} s")


def read_truth(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["hub_id"]: row["accounting_id"] for row in csv.DictReader(f)}


def count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


# --- printing -------------------------------------------------------------------------------------

def report(data: DataSet, runs: dict[str, Run]) -> list[tuple[str, bool | None, str]]:
    """Print one data set's table; return its target checks as (what, passed or None for n/a, measured)."""
    print(f"\n== {data.label}: {data.hub_rows:,} hub x {data.acc_rows:,} accounting parties, "
          f"{len(data.truth):,} true pairs ==")
    if data.note:
        print(f"   generated by {data.note}")
    headers = ["method", "hub rows", "load s", "match s", "time s", "process s", "peak MiB",
               "auto", "precision", "recall", "review", "none"]
    rows, footnotes = [], []
    for method, run in runs.items():
        if not run.ok:
            rows.append([method, "failed"] + [""] * (len(headers) - 2))
            footnotes.append(f"{method} failed: {run.error}")
            continue
        q = quality(run, data.truth)
        t = run.timings
        if run.scale == 1 and q.hub_rows != data.hub_rows:
            footnotes.append(f"{method} returned {q.hub_rows:,} results for {data.hub_rows:,} hub parties")
        mark = "*" if run.scale > 1 else ""
        rows.append([
            method, f"{q.hub_rows:,}{mark}", f"{t['load_s']:.2f}", f"{t['match_s']:.2f}",
            f"{run.time_s:.2f}{mark}", f"{run.process_s:.2f}", f"{run.peak_mib:,.0f}",
            f"{q.auto:,}", fmt(q.precision, ".4f"), fmt(q.recall, ".4f"), f"{q.review_share:.2%}", f"{q.none:,}",
        ])
        if run.scale > 1:
            footnotes.append(
                f"* {method}: matched a {q.hub_rows:,}-row sample of the hub against all {t['acc_rows']:,} accounting "
                f"rows in {t['match_s']:.2f} s; time s is load + that match time scaled linearly x{run.scale:g} (an "
                f"extrapolation, not a measurement); auto, precision, recall, review, none and peak MiB are the sample's")
    print_table(headers, rows)
    print("   time s = load + match inside the child; process s = the whole child, interpreter start and "
          "imports included; peak MiB = the child's peak RSS")
    for note in footnotes:
        print("   " + note)

    engine = runs.get("engine")
    if engine and engine.ok:
        for name in ("exact", "fuzzy"):
            base = runs.get(name)
            if base and base.ok and base.time_s > 0:
                print(f"   engine time / {name} time = {engine.time_s / base.time_s:.3g}x "
                      f"({engine.time_s:.2f} s vs {base.time_s:.2f} s{' extrapolated' if base.scale > 1 else ''})")

    checks: list[tuple[str, bool | None, str]] = []
    if not (engine and engine.ok):
        checks.append((f"{data.label}: engine runs", False, engine.error if engine else "not run"))
        return checks
    q = quality(engine, data.truth)
    if not data.generated:
        checks += [
            (f"labeled: auto-link precision >= {TARGET_PRECISION}", (q.precision or 0) >= TARGET_PRECISION, fmt(q.precision, ".4f")),
            (f"labeled: auto-link recall >= {TARGET_RECALL}", (q.recall or 0) >= TARGET_RECALL, fmt(q.recall, ".4f")),
            (f"labeled: review <= {TARGET_REVIEW:.0%} of hub parties", q.review_share <= TARGET_REVIEW, f"{q.review_share:.2%}"),
        ]
    else:
        # A smaller set is a quick look: its numbers are shown, but they are not the target's.
        at_target = data.hub_rows >= TARGET_SIZE
        checks += [
            (f"{data.label}: under {TARGET_SECONDS:.0f} s on {engine.timings['cpus']} cores",
             engine.time_s < TARGET_SECONDS if at_target else None, f"{engine.time_s:.1f} s"),
            (f"{data.label}: under {TARGET_MIB / 1024:.0f} GiB peak RSS",
             engine.peak_mib < TARGET_MIB if at_target else None, f"{engine.peak_mib:,.0f} MiB"),
        ]
    return checks


def show_errors(data: DataSet, run: Run, limit: int) -> None:
    """The engine's wrong auto-links and missed true pairs on the labeled set, with both names."""
    names: dict[str, str] = {}
    for path in (data.hub, data.acc):
        names.update(read_names(str(path)))
    by_hub = {h: (a, s, d, m) for h, a, s, d, m in run.decisions}
    wrong = [(h, *by_hub[h]) for h in sorted(by_hub) if by_hub[h][2] == "auto" and by_hub[h][0]
             and data.truth.get(h) != by_hub[h][0]]
    no_result = (None, 0.0, "none", "-")
    missed = [(h, *by_hub.get(h, no_result)) for h in sorted(data.truth)
              if by_hub.get(h, no_result)[:3:2] != (data.truth[h], "auto")]
    show = lambda acc_id: repr(names.get(acc_id, "")) if acc_id else "-"

    print(f"\n== engine errors on the labeled set: {len(wrong)} wrong auto-links, {len(missed)} true pairs not "
          f"auto-linked ==")
    kinds: dict[str, int] = {}
    for h, a, _, d, _ in missed:
        key = (f"{d}, right candidate" if a == data.truth[h] else f"{d}, other candidate" if a else d)
        kinds[key] = kinds.get(key, 0) + 1
    if kinds:
        print("   missed pairs by outcome: " + ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))
    print(f"-- wrong auto-links (first {min(limit, len(wrong))} by hub id): hub name -> linked name "
          f"[score, method] (true counterpart)")
    for h, a, s, _, m in wrong[:limit]:
        print(f"   {h} {names[h]!r} -> {show(a)} [{s:.3f}, {m}] (true: {show(data.truth.get(h))})")
    print(f"-- missed true pairs (first {min(limit, len(missed))} by hub id): hub name ~ true name: decision "
          f"[score, method] candidate")
    for h, a, s, d, m in missed[:limit]:
        cand = "the true one" if a == data.truth[h] else show(a)
        print(f"   {h} {names[h]!r} ~ {show(data.truth[h])}: {d} [{s:.3f}, {m}] {cand}")


def engine_present() -> str | None:
    """None when the engine module imports, else why not."""
    code = f"import {ENGINE_MODULE} as m; m.match; m.read_parties; m.Thresholds; m.PartyRecord"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=str(TARGET_SIZE), help="generated sizes N (N hub x N accounting), comma-separated")
    parser.add_argument("--n", type=int, help="one generated size, e.g. --n 20000 for a quick run (overrides --sizes)")
    parser.add_argument("--seed", type=int, default=6, help="seed of the generated sets")
    parser.add_argument("--labeled", type=Path, default=LABELED_DIR, help="the labeled set's directory")
    parser.add_argument("--skip-baselines", action="store_true", help="run the engine only")
    parser.add_argument("--sample", type=int, default=10_000, help="hub rows the fuzzy baseline sees on a generated set")
    parser.add_argument("--cores", type=int, default=2, help="CPUs each child may use")
    parser.add_argument("--show-errors", type=int, default=15, metavar="K",
                        help="list K of the engine's wrong auto-links and K missed pairs on the labeled set (0: none)")
    parser.add_argument("--child", nargs=4, metavar=("METHOD", "HUB", "ACC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child, sample=args.sample, cores=args.cores)
        return 0
    sizes = [args.n] if args.n else [int(s) for s in args.sizes.split(",") if s.strip()]
    methods = ["engine"] if args.skip_baselines else list(METHODS)

    import rapidfuzz

    print(f"python {sys.version.split()[0]}, rapidfuzz {rapidfuzz.__version__}, "
          f"{len(os.sched_getaffinity(0))} CPUs here, children pinned to {args.cores}")
    missing = engine_present()
    if missing:
        print(f"engine {ENGINE_MODULE} does not import: {missing}")
    checks: list[tuple[str, bool | None, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-matching-") as tmp:
        work = Path(tmp)
        datasets = [load_labeled(args.labeled)] + [make_generated(n, args.seed, work) for n in sizes]
        for data in datasets:
            runs = {m: run_child(m, data, work, args) for m in methods}
            checks += report(data, runs)
            if not data.generated and args.show_errors and runs["engine"].ok:
                show_errors(data, runs["engine"], args.show_errors)

    print("\n== targets ==")
    for what, passed, measured in checks:
        verdict = "n/a " if passed is None else "PASS" if passed else "FAIL"
        extra = f" (the target is for {TARGET_SIZE:,} x {TARGET_SIZE:,})" if passed is None else ""
        print(f"   {verdict}  {what}: {measured}{extra}")
    return 1 if any(passed is False for _, passed, _ in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
