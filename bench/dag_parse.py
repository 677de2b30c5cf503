"""Parse time of dags/ledgerbridge_sync.py with 10, 100 and 1000 legal entities in the registry.

Usage: python bench/dag_parse.py [--sizes 10,100,1000] [--repeat 5] [--profile]

Measures what Airflow 3.3 does with the file:
- the dag processor: its manager has Airflow imported (and pre-imports the `airflow.*` modules the
  file names), forks a child per file, and the child runs `DagBag(<file>)` then serialises each DAG;
- a worker running one task: the same, with the parsing context (`_AIRFLOW_PARSING_CONTEXT_DAG_ID` /
  `_TASK_ID`, set by the task runner) naming that task, so the file builds only that DAG.
This script does the same: it imports Airflow once, then forks a fresh child per repetition, so our
own modules (ledgerbridge, pydantic models, yaml) are imported anew every time, as in production.
Target: 1000 entities parse in under 1 s. Nothing here touches the project's files or a database.
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
CURRENCIES = ("USD", "GBP", "EUR", "CAD", "AUD")

# One DAG, 9 tasks in a chain, the same shape as an entity's DAG: what "parsing costs nothing" looks like.
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


def dag_folder(root: Path, name: str, source: Path | None = None, text: str | None = None) -> Path:
    """A folder holding only one DAG file, so DagBag parses exactly that file."""
    folder = root / name
    folder.mkdir()
    if source is not None:
        (folder / source.name).symlink_to(source)  # a symlink: always the current DAG file
    else:
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
    return folder


# --- what runs in each forked child -------------------------------------------------------------

def parse_once(folder: str, registry: str | None, dag_id: str | None, task_id: str | None,
               profile: bool, conn) -> None:
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
            with _airflow_parsing_context_manager(dag_id=dag_id, task_id=task_id):
                bag = DagBag(dag_folder=folder, safe_mode=False, load_op_links=False)
        else:
            bag = DagBag(dag_folder=folder)
        parsed = time.perf_counter()
        # The dag processor then serialises every DAG it found before sending it to the DB.
        for dag in bag.dags.values():
            DagSerialization.to_dict(dag)
        serialized = time.perf_counter()
        if profiler is not None:
            profiler.disable()
            import io
            import pstats

            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            profile_text = out.getvalue()
        else:
            profile_text = None
        conn.send({
            "parse": parsed - start,
            "serialize": serialized - parsed,
            "dags": len(bag.dags),
            "tasks": sum(len(dag.tasks) for dag in bag.dags.values()),
            "import_errors": dict(bag.import_errors),
            "profile": profile_text,
        })
    except BaseException:  # the parent must hear about any failure, not wait for a result forever
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def run_child(folder: Path, registry: Path | None = None, dag_id: str | None = None,
              task_id: str | None = None, profile: bool = False) -> dict:
    # fork, not spawn: the dag processor and the worker's supervisor both fork a process that already
    # has Airflow imported; our modules are imported only in the child, so every run starts cold.
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=parse_once,
                            args=(str(folder), str(registry) if registry else None, dag_id, task_id,
                                  profile, send))
    child.start()
    send.close()
    if not receive.poll(120):
        child.kill()
        raise RuntimeError(f"parsing {folder} gave no answer in 120 s")
    result = receive.recv()
    child.join()
    if "error" in result:
        raise RuntimeError(f"parsing {folder} failed in the child:\n{result['error']}")
    return result


def measure(repeat: int, folder: Path, **kwargs) -> dict:
    """`repeat` cold parses after one untimed warm-up (which writes .pyc files and airflow's config)."""
    run_child(folder, **kwargs)
    runs = [run_child(folder, **kwargs) for _ in range(repeat)]
    last = runs[-1]
    errors = {path: text for run in runs for path, text in run["import_errors"].items()}
    return {
        "median": statistics.median(r["parse"] for r in runs),
        "best": min(r["parse"] for r in runs),
        "serialize": statistics.median(r["serialize"] for r in runs),
        "dags": last["dags"],
        "tasks": last["tasks"],
        "import_errors": errors,
    }


# --- parent: set up, run, print -------------------------------------------------------------------

def prepare_airflow(home: Path, dags: Path) -> None:
    """Environment Airflow reads at import, then the imports the dag processor's manager already has."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
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
    for module in iter_airflow_imports(str(DAG_FILE)):
        import_module(module)
    assert "ledgerbridge" not in sys.modules, "our modules must be imported cold, in each child"


def check(name: str, result: dict, dags: int, tasks: int) -> list[str]:
    problems = [f"{name}: import error in {path}:\n{text}" for path, text in result["import_errors"].items()]
    if (result["dags"], result["tasks"]) != (dags, tasks):
        problems.append(f"{name}: built {result['dags']} DAGs / {result['tasks']} tasks, "
                        f"expected {dags} / {tasks}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="registry sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="timed cold parses per size")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one parse of the largest registry")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    tasks_per_dag = 9  # ledgerbridge.steps.STEP_NAMES; not imported here so the parent stays cold

    with tempfile.TemporaryDirectory(prefix="ledgerbridge-bench-") as tmp:
        root = Path(tmp)
        prepare_airflow(root / "airflow_home", root / "dags_unused")
        baseline_folder = dag_folder(root, "baseline", text=BASELINE_DAG)
        ledgerbridge_folder = dag_folder(root, "ledgerbridge", source=DAG_FILE)

        print(f"Parse time of {DAG_FILE.relative_to(PROJECT_ROOT)}: {args.repeat} cold parses per row "
              f"(forked child, Airflow preloaded, as the dag processor does), "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
        problems: list[str] = []
        baseline = measure(args.repeat, baseline_folder)
        problems += check("baseline", baseline, 1, 9)

        header = (f"{'entities':>8} {'dags':>5} {'tasks':>6} {'median s':>9} {'best s':>7} "
                  f"{'ms/entity':>9} {'x baseline':>10} {'serialize s':>11}  target")
        print(header)
        print("-" * len(header))
        print(f"{'baseline':>8} {baseline['dags']:>5} {baseline['tasks']:>6} {baseline['median']:>9.3f} "
              f"{baseline['best']:>7.3f} {'':>9} {1.0:>10.1f} {baseline['serialize']:>11.3f}", flush=True)

        results = {}
        for size in sizes:
            registry = write_registry(root / f"registry_{size}.yaml", size)
            result = results[size] = measure(args.repeat, ledgerbridge_folder, registry=registry)
            problems += check(f"{size} entities", result, size, size * tasks_per_dag)
            if size == TARGET_SIZE:
                verdict = "PASS" if result["median"] < TARGET_SECONDS else "FAIL"
                verdict += f" (< {TARGET_SECONDS:g} s)"
            else:
                verdict = "-"
            print(f"{size:>8} {result['dags']:>5} {result['tasks']:>6} {result['median']:>9.3f} "
                  f"{result['best']:>7.3f} {result['median'] / size * 1000:>9.2f} "
                  f"{result['median'] / baseline['median']:>10.1f} {result['serialize']:>11.3f}  {verdict}",
                  flush=True)

        # A worker running one task of one entity: the parsing context names that DAG.
        largest = sizes[-1]
        registry = root / f"registry_{largest}.yaml"
        dag_id = f"ledgerbridge__entity_{(largest + 1) // 2:04d}"
        worker = measure(args.repeat, ledgerbridge_folder, registry=registry, dag_id=dag_id,
                         task_id="pull_reference")
        problems += check("worker parse", worker, 1, tasks_per_dag)
        print(f"\nWorker parse ({largest} entities, parsing context dag_id={dag_id}): "
              f"{worker['dags']} DAG / {worker['tasks']} tasks, median {worker['median']:.3f} s, "
              f"best {worker['best']:.3f} s, {worker['median'] / baseline['median']:.1f} x baseline; "
              f"full parse of the same registry {results[largest]['median']:.3f} s")

        if args.profile:
            profiled = run_child(ledgerbridge_folder, registry=registry, profile=True)
            print(f"\ncProfile of one parse + serialisation, {largest} entities (cumulative):")
            print(profiled["profile"])

        print(f"\nImport errors: {'none' if not problems else len(problems)}")
        for problem in problems:
            print(problem, file=sys.stderr)
        target_failed = TARGET_SIZE in results and results[TARGET_SIZE]["median"] >= TARGET_SECONDS
        return 1 if problems or target_failed else 0


if __name__ == "__main__":
    sys.exit(main())
