"""The Airflow plugin: LedgerBridge's FastAPI app under /ledgerbridge and its two external views.

Registered through the `airflow.plugins` entry point (pyproject). Every Airflow process that loads
plugins imports this module (the scheduler, the dag processor, each task's process for its listeners,
or every `import airflow` with `[core] lazy_load_plugins = False`), so it stays light: the FastAPI app,
its templates and the ledger are built on the app's first request, in the api-server only.

How the UI shows the views (Airflow 3.3's UI bundle, checked): each external view is an <iframe>
(sandbox "allow-scripts allow-same-origin allow-forms allow-downloads": no `allow-modals`, so no
window.confirm() in our pages) whose src is `href`; the UI's page has `<base href="[api] base_url path">`,
so an href without a leading slash resolves under Airflow's base URL, wherever it is deployed. For
destination "dag_run" the UI replaces {DAG_ID} and {RUN_ID} with their encodeURIComponent forms;
they travel as query parameters, since a run id may hold a "/" that a path would split on.
"""
from __future__ import annotations

import threading
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/ledgerbridge"
# The nav icon as a data URI: an <img> the UI loads itself, with no endpoint of ours to leave unauthenticated.
ICON = "data:image/svg+xml," + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#6b8bb0" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round"><path d="M4 3h11l5 5v13H4z"/><path d="M8 12h8M8 16h8M8 8h4"/></svg>')


class _App:
    """An ASGI app that builds LedgerBridge's FastAPI app (`app.create_app`) on its first request."""

    def __init__(self) -> None:
        self._app = None
        self._lock = threading.Lock()

    @property
    def app(self):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from ledgerbridge_airflow.ui.app import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return "ledgerbridge_airflow.ui.app:create_app()"


APP = _App()


class LedgerBridgePlugin(AirflowPlugin):
    name = "ledgerbridge"
    fastapi_apps = [{"app": APP, "url_prefix": URL_PREFIX, "name": "LedgerBridge"}]
    external_views = [
        {
            "name": "LedgerBridge",
            "href": "ledgerbridge/",
            "destination": "nav",
            "url_route": "ledgerbridge",
            "icon": ICON,
        },
        {
            "name": "Reconciliation",
            "href": "ledgerbridge/reconciliation?dag_id={DAG_ID}&run_id={RUN_ID}",
            "destination": "dag_run",
            "url_route": "ledgerbridge-reconciliation",
        },
    ]
