"""DAG parsing and serialisation at scale: LedgerBridge's DAG files against plain Airflow with the same DAGs.

Usage: python bench/dag_parse.py [--entities 1000] [--large 5000] [--small 10] [--repeat 3]
                                 [--shards N] [--profile]

Measures what Airflow 3.3's dag-processor does with the DAG folder: its manager has Airflow imported
(and pre-imports the `airflow.*` modules a file names), forks one child per file, and the child runs
`DagBag(<file>)`, then serialises each DAG it found. This script does the same: it imports Airflow once,
then forks a fresh child per file and repetition, so our own modules (ledgerbridge, its pydantic models,
the YAML registry) load cold in every child, as in production.

Compared, in the same run, file for file (repetitions interleaved so that the machine's load hits both):
- LedgerBridge: the project's dags/ files (ledgerbridge_sync_<i>_of_<N>.py), or with --shards N a split
  into N written by `ledgerbridge.dag_files`, with a generated registry of --entities legal entities;
- plain Airflow: the same number of files, each building, with plain no-op operators and no code of ours,
  the same DAGs: same ids (so the same split), 12 tasks each wired the same way (10 chained steps,
  held_records, an alerts teardown), the same timetable, params, default args, retry policy, pools,
  tags and docs.
Targets (issue 15), never relaxed here: parse and serialisation of the whole folder within 1.3x of plain
Airflow; no file's import over 10% of `[core] dagbag_import_timeout`; a 5,000-entity registry loads.
This bench's first target, 1,000 entities parsed in under 1 s, is kept and printed with its gap.
Also printed: a small registry (files parse in milliseconds), a worker's parse with the parsing context
naming one DAG, and the 5,000-entity parse. Touches no project file and no database.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS = PROJECT_ROOT / "dags"
RATIO_TARGET = 1.3
FILE_SHARE_TARGET = 0.10  # of [core] dagbag_import_timeout
FIRST_TARGET_SECONDS, FIRST_TARGET_ENTITIES = 1.0, 1000  # this bench's first target, kept beside issue 15's
TASKS_PER_DAG = 13  # the 11 steps of ledgerbridge.steps.STEP_NAMES, held_records, alerts; not imported: the parent stays cold
CURRENCIES = ("USD", "GBP", "EUR", "CAD", "AUD")


def entity(number: int) -> dict:
    """A valid registry entry, shaped like include/config/legal_entities.yaml's."""
    entity_id = f"entity_{number:04d}"
    return {
        "id": entity_id,
        "name": f"Entity {number:04d} Ltd",
        "base_currency": CURRENCIES[number % len(CURRENCIES)],
        "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"},
        # Spread the runs over the night, as a real registry would.
        "schedule": f"{number % 60} {(number // 60) % 6} * * *",
        "flows": ["reference", "parties", "bills", "bill_payments"],
        "matching": {"create_missing_vendors": number % 2 == 0},
    }


def write_registry(path: Path, size: int) -> Path:
    document = {"legal_entities": [entity(n) for n in range(1, size + 1)]}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


# Plain Airflow, the same DAGs as LedgerBridge's for the same registry, split the same way (CRC-32 of the
# DAG id, as ledgerbridge.dag_files does). {{ }} are literal braces.
PLAIN_FILE = textwrap.dedent('''\
    """Plain Airflow for bench/dag_parse.py: file {index} of {shards}, the DAGs of {count} entities hashing to {index}."""
    import zlib
    from datetime import datetime, timedelta

    from airflow.sdk import DAG, BaseOperator, CronDataIntervalTimetable, ExceptionRetryPolicy, Param, RetryAction, RetryRule

    STEPS = ("pull_source", "pull_reference", "check_reference", "match_parties", "prepare_exports",
             "export_documents", "export_payments", "collect_confirmations", "write_back", "reconcile",
             "fiscal_year_fec")
    CONNECTED = {{"pull_reference", "match_parties", "prepare_exports", "export_documents", "export_payments",
                 "collect_confirmations", "reconcile"}}  # fiscal_year_fec: entry-files entities only
    CURRENCIES = ("USD", "GBP", "EUR", "CAD", "AUD")
    POLICY = ExceptionRetryPolicy(rules=[
        RetryRule(exception=["ledgerbridge.connectors.errors.ReconnectRequired",
                             "ledgerbridge.connectors.errors.CompanyMismatch",
                             "ledgerbridge.sources.base.SourceMismatch",
                             "ledgerbridge.sources.syspro.errors.SysproLogonFailed"],
                  action=RetryAction.FAIL, reason="needs a person: reconnect the company or fix the connection"),
        RetryRule(exception=["ledgerbridge.flows.errors.SystemicQualityFailure"], action=RetryAction.FAIL,
                  reason="a systemic data-quality failure: a retry sees the same data; fix the mapping or the pull"),
    ])
    ARGS = {{"retries": 3, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=15), "retry_policy": POLICY}}


    class Noop(BaseOperator):
        def __init__(self, *, step, entity_id, **kwargs):
            super().__init__(**kwargs)
            self.step = step
            self.entity_id = entity_id

        def execute(self, context):
            pass


    for n in range(1, {count} + 1):
        entity_id = f"entity_{{n:04d}}"
        dag_id = f"ledgerbridge__{{entity_id}}"
        if zlib.crc32(dag_id.encode("utf-8")) % {shards} != {index}:
            continue
        currency = CURRENCIES[n % len(CURRENCIES)]
        with DAG(
            dag_id=dag_id,
            description=f"Sync Entity {{n:04d}} Ltd ({{currency}}) with quickbooks_online",
            doc_md=f"### Entity {{n:04d}} Ltd\\nSyncs legal entity `{{entity_id}}` with its quickbooks_online company "
                   f"through connection `qbo_{{entity_id}}`. Flows: reference, parties, bills, bill_payments.",
            schedule=CronDataIntervalTimetable(f"{{n % 60}} {{(n // 60) % 6}} * * *", timezone="UTC"),
            start_date=datetime(2026, 1, 1),
            catchup=False,
            max_active_runs=1,
            default_args=ARGS,
            {params}
            tags=["ledgerbridge", "quickbooks_online", currency],
        ) as dag:
            previous = None
            for step in STEPS:
                task = Noop(task_id=step, step=step, entity_id=entity_id,
                            pool="quickbooks_online" if step in CONNECTED else "default_pool")
                if previous is not None:
                    previous >> task
                previous = task
            held = previous >> Noop(task_id="held_records", step="held", entity_id=entity_id, retries=0)
            held >> Noop(task_id="alerts", step="alerts", entity_id=entity_id, retries=0).as_teardown()
        globals()[dag_id] = dag
    ''')
PLAIN_PARAMS = ('params={"full_refresh": Param(False, type="boolean", description="Re-read every reference list '
                'from the beginning."), "sync_from": Param(None, type=["null", "string"], format="date", '
                'description="Re-read reference data changed since this date (YYYY-MM-DD)."), "dry_run": '
                'Param(False, type="boolean", description="Check and prepare everything; send nothing.")},')


def split_of(folder: Path) -> int:
    """N of the ledgerbridge_sync_<i>_of_<N>.py files in `folder` (read from their names, nothing imported)."""
    totals = {name.rsplit("_of_", 1)[1][:-3] for name in os.listdir(folder)
              if name.startswith("ledgerbridge_sync_") and "_of_" in name and name.endswith(".py")}
    if len(totals) != 1:
        raise SystemExit(f"{folder}: expected the LedgerBridge DAG files of one split, found splits {sorted(totals)}")
    return int(totals.pop())


def ledgerbridge_folder(root: Path, shards: int | None) -> Path:
    folder = root / "ledgerbridge"
    folder.mkdir()
    if shards is None:  # the project's own files, as symlinks: always the current ones
        for path in sorted(DAGS.glob("ledgerbridge_sync_*.py")):
            (folder / path.name).symlink_to(path)
    else:  # a candidate split, written as `ledgerbridge-airflow dag-files` would
        sys.path.insert(0, str(PROJECT_ROOT / "include"))
        from ledgerbridge.dag_files import write_dag_files  # light: no pydantic, no Airflow

        write_dag_files(folder, shards)
        sys.modules.pop("ledgerbridge.dag_files")
    return folder


def plain_folder(root: Path, name: str, shards: int, count: int, params: bool) -> Path:
    folder = root / name
    folder.mkdir()
    for index in range(shards):
        text = PLAIN_FILE.format(index=index, shards=shards, count=count, params=PLAIN_PARAMS if params else "")
        (folder / f"plain_{index:03d}_of_{shards:03d}.py").write_text(text, encoding="utf-8")
    return folder


# --- what runs in each forked child -------------------------------------------------------------

def parse_once(conn, path: str, registry: str | None, dag_id: str | None, serialize: bool, profile: bool) -> None:
    """Parse one file as the dag processor (or, with dag_id, a worker) would; send the numbers back."""
    try:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager
        from airflow.serialization.serialized_objects import DagSerialization

        if registry:
            os.environ["LEDGERBRIDGE_REGISTRY"] = registry
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        if dag_id:
            # What the task runner does: parsing context set, safe_mode off, no operator links.
            with _airflow_parsing_context_manager(dag_id=dag_id, task_id="pull_reference"):
                bag = DagBag(dag_folder=path, safe_mode=False, load_op_links=False)
        else:
            bag = DagBag(dag_folder=path)
        parsed = time.perf_counter()
        if serialize:
            # The dag processor then serialises every DAG it found, in the same child.
            for dag in bag.dags.values():
                DagSerialization.to_dict(dag)
        serialized = time.perf_counter()
        profile_text = None
        if profiler is not None:
            import io
            import pstats

            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
            profile_text = out.getvalue()
        conn.send({
            "parse": parsed - start,
            "serialize": serialized - parsed if serialize else None,
            "dag_ids": sorted(bag.dags),
            "tasks": sum(len(dag.tasks) for dag in bag.dags.values()),
            "import_errors": dict(bag.import_errors),
            "profile": profile_text,
        })
    except BaseException:  # the parent must hear about any failure, not wait for an answer
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def run_child(path: Path, *, registry: Path | None = None, dag_id: str | None = None,
              serialize: bool = False, profile: bool = False) -> dict:
    # fork, not spawn: the dag processor and the worker's supervisor both fork a process that already
    # has Airflow imported; our modules are imported only in the child, so every run starts cold.
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=parse_once, args=(send, str(path), str(registry) if registry else None,
                                                     dag_id, serialize, profile))
    child.start()
    send.close()
    if not receive.poll(600):
        child.kill()
        raise RuntimeError(f"parsing {path} gave no answer in 600 s")
    result = receive.recv()
    child.join()
    if "error" in result:
        raise RuntimeError(f"parsing {path} failed in the child:\n{result['error']}")
    return result


def folder_passes(folders: list[Path], *, serialize: bool, registry: Path | None = None) -> list[dict]:
    """Every file of each folder in its own child: what one parsing loop costs. The folders hold the same
    number of files; file i of each runs one after the other, so that the machine's load hits all alike."""
    files: list[dict] = [{} for _ in folders]
    listings = [sorted(folder.glob("*.py")) for folder in folders]
    for paths in zip(*listings, strict=True):
        for number, path in enumerate(paths):
            files[number][path.name] = run_child(path, registry=registry, serialize=serialize)
    return [{
        "parse": sum(r["parse"] for r in done.values()),
        "slowest": max(done.items(), key=lambda item: item[1]["parse"]),
        "serialize": sum(r["serialize"] for r in done.values()) if serialize else None,
        "dag_ids": [d for r in done.values() for d in r["dag_ids"]],
        "tasks": sum(r["tasks"] for r in done.values()),
        "import_errors": {p: t for r in done.values() for p, t in r["import_errors"].items()},
        "files": done,
    } for done in files]


def folder_pass(folder: Path, *, serialize: bool, registry: Path | None = None) -> dict:
    return folder_passes([folder], serialize=serialize, registry=registry)[0]


def summary(passes: list[dict]) -> dict:
    serialized = [p["serialize"] for p in passes if p["serialize"] is not None]
    return {
        "parse": statistics.median(p["parse"] for p in passes),
        "slowest": statistics.median(p["slowest"][1]["parse"] for p in passes),
        "slowest_max": max(p["slowest"][1]["parse"] for p in passes),
        "slowest_file": max(passes, key=lambda p: p["slowest"][1]["parse"])["slowest"][0],
        "serialize": statistics.median(serialized) if serialized else None,
        "dag_ids": passes[-1]["dag_ids"],
        "tasks": passes[-1]["tasks"],
        "import_errors": {p: t for ps in passes for p, t in ps["import_errors"].items()},
    }


# --- parent: set up, run, print -------------------------------------------------------------------

def prepare_airflow(home: Path) -> float:
    """Environment Airflow reads at import, then the imports the dag processor's manager already has.
    Returns [core] dagbag_import_timeout."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # keep DagBag's info lines out of the table
    for name in ("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "_AIRFLOW_PARSING_CONTEXT_TASK_ID", "LEDGERBRIDGE_REGISTRY"):
        os.environ.pop(name, None)
    # The registry cache (docs/operations.md) in the temporary directory, never the project's data dir.
    os.environ["LEDGERBRIDGE_REGISTRY_CACHE"] = str(home.parent / "registry_cache")
    from importlib import import_module

    from airflow.configuration import conf
    from airflow.utils.file import iter_airflow_imports

    import_module("airflow.dag_processing.dagbag")
    import_module("airflow.serialization.serialized_objects")
    import_module("airflow.sdk.definitions._internal.dag_parsing_context")
    # As the dag processor's _pre_import_airflow_modules does before forking.
    for path in sorted(DAGS.glob("*.py")):
        for module in iter_airflow_imports(str(path)):
            import_module(module)
    # Airflow's providers manager imports our provider package (ledgerbridge_airflow, for its connection
    # types) and what it names, as every Airflow process does; what the DAG files import stays cold.
    assert "ledgerbridge.registry" not in sys.modules, "our modules must load cold, in each child"
    return conf.getfloat("core", "dagbag_import_timeout")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000, help="registry size the targets apply to (1000)")
    parser.add_argument("--large", type=int, default=5000, help="registry that must still load (5000; 0: skip)")
    parser.add_argument("--small", type=int, default=10, help="small registry: files parse in milliseconds (10)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over both folders (default 3); "
                        "serialisation is timed in the first pass only")
    parser.add_argument("--shards", type=int, default=None,
                        help="measure a split into N files instead of the project's dags/ (a candidate setting)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the slowest file's parse + serialisation")
    args = parser.parse_args()
    failures: list[str] = []

    with tempfile.TemporaryDirectory(prefix="ledgerbridge-bench-") as tmp:
        root = Path(tmp)
        timeout = prepare_airflow(root / "airflow_home")
        file_limit = FILE_SHARE_TARGET * timeout
        ours = ledgerbridge_folder(root, args.shards)
        shards = split_of(ours)
        plain = plain_folder(root, "plain", shards, args.entities, params=True)
        bare = plain_folder(root, "bare", shards, args.entities, params=False)
        registry = write_registry(root / f"registry_{args.entities}.yaml", args.entities)
        expected = {f"ledgerbridge__entity_{n:04d}" for n in range(1, args.entities + 1)}

        print(f"DAG folder of {shards} files ({'--shards' if args.shards else 'the project dags/'}), "
              f"{args.entities} legal entities; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")
        print("Each file parsed (and, in pass 1, serialised) in its own forked child, Airflow preloaded, as the "
              f"dag-processor does; {args.repeat} passes, LedgerBridge and plain Airflow interleaved.\n", flush=True)

        small = write_registry(root / f"registry_{args.small}.yaml", args.small)
        # Untimed: writes our modules' .pyc files, as any deployment has them (Airflow's own are installed
        # with theirs). PYTHONDONTWRITEBYTECODE would otherwise leave every child compiling our sources.
        sys.dont_write_bytecode = False
        run_child(next(ours.glob("*.py")), registry=small)
        small_pass = folder_pass(ours, serialize=False, registry=small)
        small_files = [r["parse"] for r in small_pass["files"].values()]
        print(f"{args.small} entities: {len(small_pass['dag_ids'])} DAGs from {shards} files; a file parses in "
              f"{statistics.median(small_files) * 1000:.0f} ms median, {max(small_files) * 1000:.0f} ms slowest "
              f"(our modules imported cold in each)\n", flush=True)

        ours_passes, plain_passes, bare_passes = [], [], []
        for number in range(args.repeat):
            first = number == 0
            # A new registry cache each pass: its first file parses the YAML, as after an edit of the registry.
            os.environ["LEDGERBRIDGE_REGISTRY_CACHE"] = str(root / f"registry_cache_{number}")
            mine, theirs, bare_one = folder_passes([ours, plain, bare], serialize=first, registry=registry)
            ours_passes.append(mine)
            plain_passes.append(theirs)
            bare_passes.append(bare_one)
            print(f"  pass {number + 1}: LedgerBridge {ours_passes[-1]['parse']:.2f} s, plain "
                  f"{plain_passes[-1]['parse']:.2f} s, plain without params {bare_passes[-1]['parse']:.2f} s"
                  + (f"; serialisation {ours_passes[-1]['serialize']:.2f} / {plain_passes[-1]['serialize']:.2f} / "
                     f"{bare_passes[-1]['serialize']:.2f} s" if first else ""), flush=True)
        lb, pa, ba = summary(ours_passes), summary(plain_passes), summary(bare_passes)

        for name, result in (("LedgerBridge", lb), ("plain Airflow", pa), ("plain Airflow without params", ba)):
            if result["import_errors"]:
                failures.append(f"{name}: import errors: {result['import_errors']}")
            if len(result["dag_ids"]) != len(set(result["dag_ids"])) or set(result["dag_ids"]) != expected:
                failures.append(f"{name}: built {len(set(result['dag_ids']))} distinct of {len(result['dag_ids'])} "
                                f"DAGs, expected each of {len(expected)} once")
            if result["tasks"] != TASKS_PER_DAG * args.entities:
                failures.append(f"{name}: built {result['tasks']} tasks, expected {TASKS_PER_DAG * args.entities}")

        print(f"\n{'':34} {'LedgerBridge':>12} {'plain':>9} {'ratio':>6} {'target':>7}  gap")
        print("-" * 90)

        def compare(label: str, key: str) -> None:
            ratio = lb[key] / pa[key]
            ok = ratio <= RATIO_TARGET
            gap = "met" if ok else f"{ratio - RATIO_TARGET:+.2f}x over ({lb[key] - RATIO_TARGET * pa[key]:.2f} s too slow)"
            print(f"{label:34} {lb[key]:>11.2f}s {pa[key]:>8.2f}s {ratio:>5.2f}x {RATIO_TARGET:>6}x  {gap}")
            if not ok:
                failures.append(f"{label}: {ratio:.2f}x plain Airflow, target {RATIO_TARGET}x")

        compare("parse, whole folder (sum of files)", "parse")
        compare("serialisation, whole folder", "serialize")
        if args.entities == FIRST_TARGET_ENTITIES:
            first_ok = lb["parse"] < FIRST_TARGET_SECONDS
            print(f"{'parse, whole folder (first target)':34} {lb['parse']:>11.2f}s  target < {FIRST_TARGET_SECONDS:g} s: "
                  + ("met" if first_ok else f"{lb['parse'] - FIRST_TARGET_SECONDS:.2f} s over"))
            if not first_ok:
                failures.append(f"parse of {FIRST_TARGET_ENTITIES} entities {lb['parse']:.2f} s, first target "
                                f"< {FIRST_TARGET_SECONDS:g} s")
        slow_ok = lb["slowest_max"] <= file_limit
        print(f"{'slowest file (median / worst pass)':34} {lb['slowest']:>11.2f}s {pa['slowest']:>8.2f}s "
              f"{lb['slowest'] / pa['slowest']:>5.2f}x  worst {lb['slowest_max']:.2f} s = "
              f"{lb['slowest_max'] / timeout:.1%} of dagbag_import_timeout {timeout:g} s (target <= "
              f"{FILE_SHARE_TARGET:.0%} = {file_limit:g} s): "
              + ("met" if slow_ok else f"{lb['slowest_max'] - file_limit:.2f} s over") + f" [{lb['slowest_file']}]")
        if not slow_ok:
            failures.append(f"slowest file {lb['slowest_max']:.2f} s > {file_limit:g} s")
        print(f"{'(plain Airflow without params)':34} {'':>12} {ba['parse']:>8.2f}s  parse; serialisation "
              f"{ba['serialize']:.2f} s: what Airflow's Param handling costs any DAG with these params")
        print(f"{'':34} {len(set(lb['dag_ids'])):>8} DAGs, {lb['tasks']} tasks each side")

        # A worker starting one task: Airflow parses the DAG's own file with the parsing context set.
        sys.path.insert(0, str(PROJECT_ROOT / "include"))
        from ledgerbridge.dag_files import dag_file_for

        dag_id = f"ledgerbridge__entity_{(args.entities + 1) // 2:04d}"
        holder = ours / dag_file_for(dag_id, shards)
        other = next(p for p in sorted(ours.glob("*.py")) if p.name != holder.name)
        worker = [run_child(holder, registry=registry, dag_id=dag_id) for _ in range(args.repeat)]
        skipped = [run_child(other, registry=registry, dag_id=dag_id) for _ in range(args.repeat)]
        if [r["dag_ids"] for r in worker] != [[dag_id]] * args.repeat or any(r["dag_ids"] for r in skipped):
            failures.append(f"worker parse: {holder.name} built {worker[0]['dag_ids']}, {other.name} "
                            f"built {skipped[0]['dag_ids']}; expected [{dag_id}] and nothing")
        print(f"\nWorker parse of {dag_id} ({args.entities} entities): its file {holder.name} builds it alone "
              f"in {statistics.median(r['parse'] for r in worker):.3f} s median; another file returns in "
              f"{statistics.median(r['parse'] for r in skipped):.3f} s without reading the registry", flush=True)

        if args.large:
            large = write_registry(root / f"registry_{args.large}.yaml", args.large)
            os.environ["LEDGERBRIDGE_REGISTRY_CACHE"] = str(root / "registry_cache_large")
            big = folder_pass(ours, serialize=False, registry=large)
            wanted = {f"ledgerbridge__entity_{n:04d}" for n in range(1, args.large + 1)}
            loaded = set(big["dag_ids"]) == wanted and len(big["dag_ids"]) == len(wanted) and not big["import_errors"]
            name, slowest = big["slowest"]
            print(f"\n{args.large} entities: {len(big['dag_ids'])} DAGs / {big['tasks']} tasks from {shards} files, "
                  f"import errors: {len(big['import_errors']) or 'none'}; parse {big['parse']:.2f} s summed over the "
                  f"files, slowest {name} {slowest['parse']:.2f} s = {slowest['parse'] / timeout:.1%} of the import "
                  f"timeout: {'loads' if loaded else 'DOES NOT LOAD'}")
            if not loaded:
                failures.append(f"{args.large} entities: {len(set(big['dag_ids']))} of {len(wanted)} DAGs, "
                                f"import errors {big['import_errors']}")

        if args.profile:
            slow = ours / lb["slowest_file"]
            profiled = run_child(slow, registry=registry, serialize=True, profile=True)
            print(f"\ncProfile of {slow.name}, parse + serialisation, {args.entities} entities, by cumulative time:")
            print(profiled["profile"])

        print("\n" + ("All targets met." if not failures else "Targets NOT met:"))
        for message in failures:
            print(f"  - {message}")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
