"""Parse time of dags/ledgerbridge_sync.py with 10, 100 and 1000 legal entities in the registry.

Usage: python bench/dag_parse.py [--sizes 10,100,1000] [--repeat 5] [--dag-file PATH] [--profile]

Measures what Airflow 3.3 does with the file:
- the dag processor: its manager has Airflow imported (and pre-imports the `airflow.*` modules the
  file names), forks a child per file, and the child runs `DagBag(<file>)`, then serialises each DAG;
- a worker running one task: the same, with the parsing context (`_AIRFLOW_PARSING_CONTEXT_DAG_ID` /
  `_TASK_ID`, set by the task runner) naming that task, so the file builds only that DAG.
This script does the same: it imports Airflow once, then forks a fresh child per repetition, so our
own modules (ledgerbridge, its pydantic models, the YAML registry) load cold every time, as in
production. Target: 1000 entities parse in under 1 s. Touches no project file and no database.
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
DAG_FILE = PROJECT_ROOT / "dags" / "ledgerbridge_sync.py"
TARGET_SECONDS = 1.0
TARGET_SIZE = 1000
TASKS_PER_DAG = 11  # len(ledgerbridge.steps.STEP_NAMES) + held_records; not imported, so the parent stays cold
CURRENCIES = ("USD", "GBP", "EUR", "CAD", "AUD")

# The baseline: one DAG, 9 no-op tasks in a chain, the shape of an entity's DAG.
BASELINE_DAG = textwrap.dedent('''\
    """Baseline for bench/dag_parse.py: one DAG, 9 no-op tasks in a chain."""
    from datetime import datetime

    from airflow.sdk import DAG, BaseOperator, chain


    class Noop(BaseOperator):
        def execute(self, context):
            pass


    with DAG(dag_id="baseline", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        chain(*[Noop(task_id=f"step_{i}") for i in range(9)])
    ''')

# Airflow's own floor: as many plain DAGs as the largest registry, same shape and timetable, nothing
# of ours. What any file building that many DAGs costs, however lean its code.
FLOOR_DAGS = textwrap.dedent('''\
    """Airflow floor for bench/dag_parse.py: {count} plain DAGs of 9 no-op tasks in a chain."""
    from datetime import datetime

    from airflow.sdk import DAG, BaseOperator, CronDataIntervalTimetable, chain


    class Noop(BaseOperator):
        def execute(self, context):
            pass


    for n in range({count}):
        with DAG(dag_id=f"plain_{{n:04d}}", start_date=datetime(2026, 1, 1), catchup=False,
                 schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC")) as dag:
            chain(*[Noop(task_id=f"step_{{i}}") for i in range(9)])
        globals()[dag.dag_id] = dag
    ''')


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


def dag_folder(root: Path, name: str, *, source: Path | None = None, text: str | None = None) -> Path:
    """A folder holding only one DAG file, so DagBag parses exactly that file."""
    folder = root / name
    folder.mkdir()
    if source is not None:
        (folder / source.name).symlink_to(source)  # a symlink: always the current DAG file
    else:
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
    return folder


# --- what runs in each forked child -------------------------------------------------------------

def parse_once(conn, folder: str, registry: str | None, dag_id: str | None, serialize: bool,
               profile: bool) -> None:
    """Parse the folder as the dag processor (or, with dag_id, a worker) would; send the numbers back."""
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
                bag = DagBag(dag_folder=folder, safe_mode=False, load_op_links=False)
        else:
            bag = DagBag(dag_folder=folder)
        parsed = time.perf_counter()
        if serialize:
            # The dag processor then serialises every DAG it found, in the same child, under
            # [dag_processor] dag_file_processor_timeout.
            for dag in bag.dags.values():
                DagSerialization.to_dict(dag)
        serialized = time.perf_counter()
        profile_text = None
        if profiler is not None:
            import io
            import pstats

            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            profile_text = out.getvalue()
        conn.send({
            "parse": parsed - start,
            "serialize": serialized - parsed if serialize else None,
            "dags": len(bag.dags),
            "tasks": sum(len(dag.tasks) for dag in bag.dags.values()),
            "import_errors": dict(bag.import_errors),
            "profile": profile_text,
        })
    except BaseException:  # the parent must hear about any failure, not wait for an answer
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def run_child(folder: Path, *, registry: Path | None = None, dag_id: str | None = None,
              serialize: bool = False, profile: bool = False) -> dict:
    # fork, not spawn: the dag processor and the worker's supervisor both fork a process that already
    # has Airflow imported; our modules are imported only in the child, so every run starts cold.
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=parse_once, args=(send, str(folder), str(registry) if registry else None,
                                                     dag_id, serialize, profile))
    child.start()
    send.close()
    if not receive.poll(300):
        child.kill()
        raise RuntimeError(f"parsing {folder} gave no answer in 300 s")
    result = receive.recv()
    child.join()
    if "error" in result:
        raise RuntimeError(f"parsing {folder} failed in the child:\n{result['error']}")
    return result


def measure(repeat: int, folder: Path, *, serialize: bool = True, **kwargs) -> dict:
    """`repeat` cold parses. Serialisation is timed in the first only: at 1000 DAGs it costs several
    times the parse, and timing it every time would blow the run's time budget."""
    runs = [run_child(folder, serialize=serialize and i == 0, **kwargs) for i in range(repeat)]
    return {
        "median": statistics.median(r["parse"] for r in runs),
        "best": min(r["parse"] for r in runs),
        "serialize": runs[0]["serialize"],
        "dags": runs[-1]["dags"],
        "tasks": runs[-1]["tasks"],
        "import_errors": {path: text for r in runs for path, text in r["import_errors"].items()},
    }


# --- parent: set up, run, print -------------------------------------------------------------------

def prepare_airflow(home: Path, dag_file: Path) -> None:
    """Environment Airflow reads at import, then the imports the dag processor's manager already has."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # keep DagBag's info lines out of the table
    for name in ("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "_AIRFLOW_PARSING_CONTEXT_TASK_ID", "LEDGERBRIDGE_REGISTRY"):
        os.environ.pop(name, None)
    from importlib import import_module

    from airflow.utils.file import iter_airflow_imports

    import_module("airflow.dag_processing.dagbag")
    import_module("airflow.serialization.serialized_objects")
    import_module("airflow.sdk.definitions._internal.dag_parsing_context")
    # As the dag processor's _pre_import_airflow_modules does before forking.
    for module in iter_airflow_imports(str(dag_file)):
        import_module(module)
    assert "ledgerbridge" not in sys.modules, "our modules must load cold, in each child"


def row(label: str, result: dict, baseline: dict | None, per: int | None, verdict: str = "") -> str:
    per_entity = f"{result['median'] / per * 1000:.2f}" if per else ""
    ratio = result["median"] / baseline["median"] if baseline else 1.0
    serialize = f"{result['serialize']:.3f}" if result["serialize"] is not None else "-"
    return (f"{label:>13} {result['dags']:>5} {result['tasks']:>6} {result['median']:>9.3f} "
            f"{result['best']:>7.3f} {per_entity:>9} {ratio:>10.1f} {serialize:>11}  {verdict}")


def check(name: str, result: dict, dags: int, tasks: int) -> tuple[list[str], list[str]]:
    """(import errors, other problems) of one measurement."""
    errors = [f"{name}: import error in {path}:\n{text}" for path, text in result["import_errors"].items()]
    problems = []
    if (result["dags"], result["tasks"]) != (dags, tasks):
        problems.append(f"{name}: built {result['dags']} DAGs / {result['tasks']} tasks, "
                        f"expected {dags} / {tasks}")
    return errors, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="registry sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="timed cold parses per row (default 5)")
    parser.add_argument("--dag-file", type=Path, default=DAG_FILE,
                        help="DAG file to measure, e.g. a candidate change (default: dags/ledgerbridge_sync.py)")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one parse + serialisation of the largest registry")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    dag_file = args.dag_file.resolve()
    largest = sizes[-1]

    with tempfile.TemporaryDirectory(prefix="ledgerbridge-bench-") as tmp:
        root = Path(tmp)
        prepare_airflow(root / "airflow_home", dag_file)
        ledgerbridge_folder = dag_folder(root, "ledgerbridge", source=dag_file)
        registries = {size: write_registry(root / f"registry_{size}.yaml", size) for size in sizes}

        print(f"Parse time of {dag_file}: {args.repeat} cold parses per row (forked child, Airflow "
              f"preloaded, as the dag processor does); {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print("serialize s: the dag processor's next step, DagSerialization.to_dict of every DAG (1 run)\n")
        header = (f"{'entities':>13} {'dags':>5} {'tasks':>6} {'median s':>9} {'best s':>7} "
                  f"{'ms/entity':>9} {'x baseline':>10} {'serialize s':>11}  target")
        print(header)
        print("-" * len(header), flush=True)
        errors: list[str] = []
        problems: list[str] = []

        def checked(name, result, dags, tasks):
            new_errors, new_problems = check(name, result, dags, tasks)
            errors.extend(new_errors)
            problems.extend(new_problems)
            return result

        baseline = checked("baseline", measure(args.repeat, dag_folder(root, "baseline", text=BASELINE_DAG)),
                           1, TASKS_PER_DAG)
        print(row("baseline", baseline, None, None), flush=True)

        # Untimed warm-up: writes our modules' .pyc files, so the first timed run is not the odd one out.
        run_child(ledgerbridge_folder, registry=registries[sizes[0]])
        results = {}
        for size in sizes:
            result = results[size] = checked(f"{size} entities", measure(
                args.repeat, ledgerbridge_folder, registry=registries[size]), size, size * TASKS_PER_DAG)
            verdict = "-"
            if size == TARGET_SIZE:
                verdict = f"{'PASS' if result['median'] < TARGET_SECONDS else 'FAIL'} (< {TARGET_SECONDS:g} s)"
            print(row(str(size), result, baseline, size, verdict), flush=True)

        floor = checked("airflow floor", measure(
            args.repeat, dag_folder(root, "floor", text=FLOOR_DAGS.format(count=largest))),
            largest, largest * TASKS_PER_DAG)
        print(row("airflow floor", floor, baseline, largest, f"plain Airflow, {largest} DAGs, nothing of ours"))

        # A worker starting one task of one entity: the parsing context names that DAG.
        dag_id = f"ledgerbridge__entity_{(largest + 1) // 2:04d}"
        worker = checked("worker parse", measure(args.repeat, ledgerbridge_folder, registry=registries[largest],
                                                 dag_id=dag_id, serialize=False), 1, TASKS_PER_DAG)
        print(f"\nWorker parse, {largest} entities, parsing context dag_id={dag_id}: "
              f"{worker['dags']} DAG / {worker['tasks']} tasks, median {worker['median']:.3f} s, "
              f"best {worker['best']:.3f} s, {worker['median'] / baseline['median']:.1f} x baseline "
              f"(full parse of the same registry: {results[largest]['median']:.3f} s)")

        if args.profile:
            profiled = run_child(ledgerbridge_folder, registry=registries[largest], serialize=True, profile=True)
            print(f"\ncProfile of one parse + serialisation, {largest} entities, by cumulative time:")
            print(profiled["profile"])

        print(f"\nImport errors: {len(errors) or 'none'}")
        for message in errors + problems:
            print(message, file=sys.stderr)
        failed = TARGET_SIZE in results and results[TARGET_SIZE]["median"] >= TARGET_SECONDS
        return 1 if errors or problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
