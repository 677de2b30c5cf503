"""The layers hold: dags -> plugins -> include, never back; the core never imports Airflow; only
the sandboxes' own users import them; the ledger imports nothing above it; connectors and record
kinds sit below the flows. Read from the source (every import, at any depth), not from a run."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "include" / "ledgerbridge"


def _module(path: Path) -> str:
    base = ROOT / "include" if path.is_relative_to(ROOT / "include") else (
        ROOT / "plugins" if path.is_relative_to(ROOT / "plugins") else ROOT)
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _sources(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _violations(paths, forbidden, allowed=lambda module: False) -> list[str]:
    return [f"{_module(path)} imports {name}" for path in paths if not allowed(_module(path))
            for name in sorted(_imports(path)) if any(name == f or name.startswith(f + ".") for f in forbidden)]


def test_the_core_never_imports_airflow_nor_the_adapters():
    assert _violations(_sources(CORE), ("airflow", "ledgerbridge_airflow")) == []


def test_only_the_sandboxes_the_demo_and_the_cli_import_the_sandboxes():
    allowed = ("ledgerbridge.sandbox", "ledgerbridge.demo", "ledgerbridge.cli")
    assert _violations(_sources(CORE, ROOT / "plugins", ROOT / "dags"), ("ledgerbridge.sandbox",),
                       lambda module: module.startswith(allowed)) == []


@pytest.mark.parametrize("layer, above", [
    ("ledger", ("ledgerbridge.flows", "ledgerbridge.kinds", "ledgerbridge.connectors", "ledgerbridge.context",
                "ledgerbridge.pipeline", "ledgerbridge.matching", "ledgerbridge.quality", "ledgerbridge.registry",
                "ledgerbridge.filedrop", "ledgerbridge.sources", "ledgerbridge.cli", "ledgerbridge.demo")),
    ("connectors", ("ledgerbridge.flows", "ledgerbridge.kinds", "ledgerbridge.context", "ledgerbridge.pipeline",
                    "ledgerbridge.cli", "ledgerbridge.demo")),
    ("sources", ("ledgerbridge.flows", "ledgerbridge.pipeline", "ledgerbridge.cli", "ledgerbridge.demo")),
    ("kinds", ("ledgerbridge.flows", "ledgerbridge.context", "ledgerbridge.pipeline", "ledgerbridge.cli",
               "ledgerbridge.demo")),
    ("flows", ("ledgerbridge.pipeline", "ledgerbridge.cli", "ledgerbridge.demo")),
])
def test_a_layer_imports_nothing_above_it(layer, above):
    assert _violations(_sources(CORE / layer), above) == []


def test_plugins_never_import_the_dags_and_the_dags_only_wire():
    assert _violations(_sources(ROOT / "plugins"), ("dags", "ledgerbridge_sync")) == []
    # A DAG file names its shard and calls the factory (plugins/ledgerbridge_airflow/dag_factory.py): no logic.
    assert {name for path in _sources(ROOT / "dags") for name in _imports(path)} == {
        "ledgerbridge_airflow.dag_factory", "ledgerbridge_airflow.dag_factory.build_shard"}
    # A DAG file reads the registry and the step names; every other core module is the operators' business.
    core = {name for path in _sources(ROOT / "dags") for name in _imports(path)
            if name == "ledgerbridge" or name.startswith("ledgerbridge.")}
    assert {name.rsplit(".", 1)[0] if name.count(".") > 1 else name for name in core} <= {
        "ledgerbridge.registry", "ledgerbridge.steps"}


def test_the_step_table_is_the_step_list():
    from ledgerbridge.pipeline import STEPS
    from ledgerbridge.steps import STEP_NAMES

    assert tuple(STEPS) == STEP_NAMES
