"""LedgerBridge's plugin as Airflow finds it: through the `airflow.plugins` entry point, listed by
`airflow plugins`, its views served to the UI by /api/v2/plugins, cheap to load in every Airflow process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                            env={**os.environ, **env}, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _ours(plugins: list[dict]) -> dict:
    found = [plugin for plugin in plugins if plugin["name"] == "ledgerbridge"]
    assert len(found) == 1, [plugin["name"] for plugin in plugins]
    return found[0]


def test_airflow_plugins_lists_the_app_and_both_views():
    result = subprocess.run([sys.executable, "-m", "airflow", "plugins", "--output", "json"], capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    plugin = _ours(json.loads(result.stdout[result.stdout.index("["):]))
    assert "EntryPoint(name='ledgerbridge'" in plugin["source"]
    assert [(app["name"], app["url_prefix"]) for app in plugin["fastapi_apps"]] == [("LedgerBridge", "/ledgerbridge")]
    views = {view["name"]: view for view in plugin["external_views"]}
    assert views["LedgerBridge"]["destination"] == "nav"
    assert views["Reconciliation"]["destination"] == "dag_run"


def test_the_views_hrefs_resolve_under_airflow_s_base_url_to_the_app():
    """The UI's page has <base href="{[api] base_url path}">; an iframe src without a leading slash resolves
    against it, so the views reach the app wherever Airflow is deployed."""
    from ledgerbridge_airflow.ui.plugin import URL_PREFIX, LedgerBridgePlugin

    for base in ("http://host:8080/", "https://example.com/airflow/"):
        for view in LedgerBridgePlugin.external_views:
            assert not view["href"].startswith("/")
            assert urljoin(base, view["href"]).startswith(urljoin(base, URL_PREFIX.lstrip("/")) + "/")
    run_view = next(v for v in LedgerBridgePlugin.external_views if v["destination"] == "dag_run")
    assert "dag_id={DAG_ID}" in run_view["href"] and "run_id={RUN_ID}" in run_view["href"]


def test_the_ui_gets_the_views_from_the_plugins_endpoint(airflow):
    reply = airflow.client.get("/api/v2/plugins", headers=airflow.bearer("viewer"))
    assert reply.status_code == 200, reply.text
    views = {view["name"]: view for view in _ours(reply.json()["plugins"])["external_views"]}
    assert views["LedgerBridge"]["href"] == "ledgerbridge/" and views["LedgerBridge"]["url_route"] == "ledgerbridge"
    assert views["LedgerBridge"]["icon"].startswith("data:image/svg+xml,")
    assert views["Reconciliation"]["href"].startswith("ledgerbridge/reconciliation?")


def test_plugins_loaded_eagerly_cost_every_airflow_process_nothing_until_a_page_is_asked():
    """With [core] lazy_load_plugins = False every `import airflow` loads the plugins (scheduler, workers,
    the dag processor): ours registers without building its FastAPI app, and the DAG file still parses
    without importing FastAPI."""
    code = (
        "import sys, time\n"
        "import airflow\n"
        "loaded = 'ledgerbridge_airflow.ui.plugin' in sys.modules\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "started = time.perf_counter()\n"
        f"bag = DagBag(dag_folder={str(ROOT / 'dags')!r})\n"
        "took = time.perf_counter() - started\n"
        "assert bag.import_errors == {}, bag.import_errors\n"
        "heavy = sorted(m for m in ('fastapi', 'ledgerbridge_airflow.ui.app', 'ledgerbridge.ledger.models') "
        "if m in sys.modules)\n"
        "print(loaded, heavy, took < 5)\n"
    )
    assert _python(code, AIRFLOW__CORE__LAZY_LOAD_PLUGINS="False") == "True [] True"


def test_the_plugin_module_imports_in_milliseconds():
    code = ("import time, airflow.plugins_manager\n"
            "started = time.perf_counter()\n"
            "import ledgerbridge_airflow.ui.plugin\n"
            "print(time.perf_counter() - started)\n")
    assert float(_python(code)) < 0.1
