"""LedgerBridge's FastAPI app, mounted by Airflow's api-server under /ledgerbridge (plugin.py).

- JSON under /ledgerbridge/api/...: entities, one entity's review queue, quarantine and rejected
  records, a run's reconciliation; decisions are POSTs (auth.py: JSON, the action header, same origin).
- HTML pages, server-rendered (templates/), shown in the Airflow UI's iframes: the entities (nav
  "LedgerBridge"), one entity with its queues and their actions, a run's reconciliation (the run's
  "Reconciliation" tab).

Every route depends on auth.py (401 without a token, 403 without the DAG permission). No OpenAPI
document and no docs pages: they would be routes without an owner to check.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledgerbridge.ledger.quarantine import STATUSES
from ledgerbridge.status import FILTERS, SORTS
from ledgerbridge_airflow.ui import core
from ledgerbridge_airflow.ui.auth import (
    ACTION_HEADER,
    CallerDep,
    EntityActorDep,
    EntityReaderDep,
    RunReaderDep,
    dag_id_of,
)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE_SIZE = 50
Sort = Literal[SORTS]
Show = Literal[FILTERS]
HeldStatus = Literal[(*STATUSES, "all")]

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewDecision(_Body):
    hub_id: str = Field(min_length=1, max_length=200)
    kind: str | None = Field(default=None, max_length=40)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)  # confirm only


class QuarantineDecision(_Body):
    dataset: str = Field(min_length=1, max_length=100)
    record_key: str = Field(min_length=1, max_length=300)
    reason: str = Field(default="", max_length=2000)  # release and dismiss: required


class RetryDecision(_Body):
    pass


def _known(access):
    """The registry's entity; 404 for one it does not have (asked only once the caller may see its DAG)."""
    entity = core.entity(access.entity_id)
    if entity is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no legal entity {access.entity_id!r} in the registry")
    return entity


def _entities_for(caller, search: str, show: str, sort: str, descending: bool, offset: int, limit: int):
    entities = core.registry().entities
    readable = caller.readable(dag_id_of(e.id) for e in entities)
    return core.entities_page([e for e in entities if dag_id_of(e.id) in readable], search=search, show=show,
                              sort=sort, descending=descending, offset=offset, limit=limit)


def _run_entity(dag_id: str):
    return next((e for e in core.registry().entities if dag_id_of(e.id) == dag_id), None)


def _paths(request: Request) -> dict[str, str]:
    """Where this app is (`root`: under Airflow's base URL and the mount) and where Airflow's UI is."""
    from ledgerbridge_airflow.ui.plugin import URL_PREFIX

    root = request.scope.get("root_path", "").rstrip("/")
    return {"root": root, "airflow": root.removesuffix(URL_PREFIX) + "/"}


def _page(request: Request, template: str, code: int = 200, **context) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template, {**_paths(request), "action_header": ACTION_HEADER,
                                                          **context}, status_code=code)


def _json(page) -> dict:
    return page.as_dict()


def create_app() -> FastAPI:
    app = FastAPI(title="LedgerBridge", openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(core.Refused)
    async def _refused(request: Request, exc: core.Refused):
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        root = _paths(request)["root"]
        if request.url.path.startswith(f"{root}/api/") or request.method != "GET":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        login = None
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            from airflow.api_fastapi.app import get_auth_manager

            login = get_auth_manager().get_url_login()
        return _page(request, "error.html", exc.status_code, detail=exc.detail, login=login)

    # -- JSON ---------------------------------------------------------------------------------------------

    @app.get("/api/entities")
    def api_entities(caller: CallerDep, search: Annotated[str, Query(max_length=200)] = "", show: Show = "all",
                     sort: Sort = "id", descending: bool = False, offset: Offset = 0, limit: Limit = PAGE_SIZE):
        """The entities whose DAG the caller may read, and only those (in the items and in the total)."""
        return _json(_entities_for(caller, search, show, sort, descending, offset, limit))

    @app.get("/api/entities/{entity_id}")
    def api_entity(access: EntityReaderDep):
        return core.entity_status(_known(access)).as_dict()

    @app.get("/api/entities/{entity_id}/review")
    def api_review(access: EntityReaderDep, offset: Offset = 0, limit: Limit = PAGE_SIZE):
        _known(access)
        return _json(core.review_queue(access.entity_id, offset, limit))

    @app.post("/api/entities/{entity_id}/review/{decision}")
    def api_review_decide(access: EntityActorDep, decision: Literal["confirm", "reject", "create"],
                          body: ReviewDecision):
        _known(access)
        who = (access.entity_id, access.caller.actor)
        if decision == "confirm":
            if not body.external_id:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "confirm names the external_id to link to")
            message = core.review_confirm(*who, body.hub_id, body.external_id, body.kind)
        elif decision == "reject":
            message = core.review_reject(*who, body.hub_id, body.kind)
        else:
            message = core.review_create_new(*who, body.hub_id, body.kind)
        return {"message": message}

    @app.get("/api/entities/{entity_id}/quarantine")
    def api_quarantine(access: EntityReaderDep, status_: Annotated[HeldStatus, Query(alias="status")] = "open",
                       dataset: Annotated[str | None, Query(max_length=100)] = None, offset: Offset = 0,
                       limit: Limit = PAGE_SIZE):
        _known(access)
        return _json(core.quarantine_listing(access.entity_id, status_, dataset, offset, limit))

    @app.post("/api/entities/{entity_id}/quarantine/{decision}")
    def api_quarantine_decide(access: EntityActorDep, decision: Literal["release", "dismiss", "reopen"],
                              body: QuarantineDecision):
        _known(access)
        if decision != "reopen" and not body.reason.strip():
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"a {decision} needs a reason, for the audit log")
        return {"message": core.quarantine_decide(access.entity_id, access.caller.actor, decision, body.dataset,
                                                  body.record_key, body.reason.strip() or None)}

    @app.get("/api/entities/{entity_id}/rejected")
    def api_rejected(access: EntityReaderDep, offset: Offset = 0, limit: Limit = PAGE_SIZE):
        _known(access)
        return _json(core.rejected_page(access.entity_id, offset, limit))

    @app.post("/api/entities/{entity_id}/rejected/{outbox_id}/retry")
    def api_retry(access: EntityActorDep, outbox_id: int, body: RetryDecision):
        _known(access)
        return {"message": core.outbox_retry(access.entity_id, access.caller.actor, outbox_id)}

    @app.get("/api/reconciliation")
    def api_reconciliation(reader: RunReaderDep, run_id: Annotated[str, Query(min_length=1, max_length=250)]):
        _, dag_id = reader
        entity = _run_entity(dag_id)
        if entity is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{dag_id} is not a LedgerBridge entity's DAG")
        report = core.reconciliation(entity.id, run_id)
        if report is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no reconciliation for run {run_id!r} of {dag_id}")
        return report

    # -- pages --------------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def entities_page(request: Request, caller: CallerDep, search: Annotated[str, Query(max_length=200)] = "",
                      show: Show = "all", sort: Sort = "id", descending: bool = False, offset: Offset = 0):
        page = _entities_for(caller, search, show, sort, descending, offset, PAGE_SIZE)
        return _page(request, "entities.html", caller=caller, page=page, rows=[i.as_dict() for i in page.items],
                     search=search, show=show, filters=FILTERS, sort=sort, descending=descending)

    @app.get("/entities/{entity_id}", response_class=HTMLResponse)
    def entity_page(request: Request, access: EntityReaderDep):
        entity = _known(access)
        last = core.entity_status(entity)
        report = core.reconciliation(entity.id, last.last_run.run_id) if last.last_run else None
        return _entity_page(request, access, "entity.html", "overview", entity, last, report=report,
                            datasets=core.quarantine_datasets(entity.id))

    @app.get("/entities/{entity_id}/review", response_class=HTMLResponse)
    def review_page(request: Request, access: EntityReaderDep, offset: Offset = 0):
        entity = _known(access)
        page = core.review_queue(entity.id, offset, PAGE_SIZE)
        return _entity_page(request, access, "review.html", "review", entity, page=page,
                            rows=[item.as_dict() for item in page.items])

    @app.get("/entities/{entity_id}/quarantine", response_class=HTMLResponse)
    def quarantine_page(request: Request, access: EntityReaderDep,
                        status_: Annotated[HeldStatus, Query(alias="status")] = "open",
                        dataset: Annotated[str | None, Query(max_length=100)] = None, offset: Offset = 0):
        entity = _known(access)
        page = core.quarantine_listing(entity.id, status_, dataset or None, offset, PAGE_SIZE)
        return _entity_page(request, access, "quarantine.html", "quarantine", entity, page=page,
                            rows=[item.as_dict() for item in page.items], held_status=status_, dataset=dataset or "",
                            statuses=(*STATUSES, "all"), datasets=core.quarantine_datasets(entity.id))

    @app.get("/entities/{entity_id}/rejected", response_class=HTMLResponse)
    def rejected_page(request: Request, access: EntityReaderDep, offset: Offset = 0):
        entity = _known(access)
        page = core.rejected_page(entity.id, offset, PAGE_SIZE)
        return _entity_page(request, access, "rejected.html", "rejected", entity, page=page,
                            rows=[item.as_dict() for item in page.items])

    @app.get("/reconciliation", response_class=HTMLResponse)
    def reconciliation_page(request: Request, reader: RunReaderDep,
                            run_id: Annotated[str, Query(min_length=1, max_length=250)]):
        caller, dag_id = reader
        entity = _run_entity(dag_id)
        report, missing = None, None
        if entity is None:
            missing = f"{dag_id} is not a LedgerBridge entity's DAG: its runs have no reconciliation"
        else:
            report = core.reconciliation(entity.id, run_id)
            if report is None:
                missing = f"run {run_id} has no reconciliation (yet): it is written by the run's reconcile task"
        return _page(request, "reconciliation.html", caller=caller, dag_id=dag_id, run_id=run_id, entity=entity,
                     report=report, missing=missing)

    def _entity_page(request: Request, access, template: str, tab: str, entity, status_row=None, **context):
        status_row = status_row or core.entity_status(entity)
        return _page(request, template, caller=access.caller, entity=entity, dag_id=access.dag_id, tab=tab,
                     may_act=access.caller.may_act_on(entity.id), status=status_row.as_dict(), **context)

    return app
