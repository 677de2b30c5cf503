"""Who may see and do what in LedgerBridge's pages: FastAPI dependencies over Airflow's own auth.

Airflow mounts a plugin's FastAPI app without any protection, so every route of ours depends on one
of these. They use what the core API uses (airflow.api_fastapi.core_api.security):

- `get_user`: the caller from the JWT of an `Authorization: Bearer` header, else from the `_token`
  cookie the UI's login sets (httponly, SameSite=Lax; the only credential a page in the UI's iframe
  sends). No token: 401; an invalid one: 403; an expired one: 401. Airflow's JWTRefreshMiddleware,
  on the api-server's root app, also serves the requests to mounted apps.
- the auth manager's `is_authorized_dag` for one entity's DAG (`ledgerbridge__<entity_id>`, with the
  DAG's team as core looks it up), and `filter_authorized_dag_ids` (the batch form auth managers
  optimise) for the entities list.

Reading an entity is "GET" on its DAG; reading one of its runs is "GET" on the DAG's runs. Acting on an
entity (a decision on a party link, a quarantined or rejected record) is "PUT" on its DAG's runs: the
permission core requires to clear or mark a run (`clear_dag_run`, `patch_dag_run`), the nearest of
Airflow's acts, since a decision changes what the entity's next run does. Auth managers check the DAG's
own edit permission for it too (the FAB manager: "DAG Runs" edit and the DAG's edit).

An action is a JSON POST carrying `X-LedgerBridge-Action: 1`; when the request names its Origin (or
Sec-Fetch-Site), that must be this site. A cross-site form can neither send JSON nor a custom header,
and a cross-site script cannot send a custom header without a CORS preflight that we never answer.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Query, Request, status

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import get_user

ACTION_HEADER = "X-LedgerBridge-Action"
READ, ACT = "GET", "PUT"


def dag_id_of(entity_id: str) -> str:
    from ledgerbridge.registry import dag_id_for

    return dag_id_for(entity_id)


@dataclass(frozen=True)
class Caller:
    user: BaseUser

    @property
    def name(self) -> str:
        return self.user.get_name()

    @property
    def actor(self) -> str:
        """Who a decision is recorded as, in the ledger's audit log."""
        return f"airflow:{self.name}"

    def may(self, method: str, dag_id: str, access_entity: DagAccessEntity | None = None) -> bool:
        from airflow.models.dag import DagModel

        details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
        return get_auth_manager().is_authorized_dag(method=method, access_entity=access_entity, details=details,
                                                    user=self.user)

    def may_act_on(self, entity_id: str) -> bool:
        return self.may(ACT, dag_id_of(entity_id), DagAccessEntity.RUN)

    def readable(self, dag_ids: Iterable[str]) -> set[str]:
        """Those of `dag_ids` whose DAG this caller may read, asked per team in one batch each."""
        from airflow.models.dag import DagModel

        dag_ids = set(dag_ids)
        teams = DagModel.get_dag_id_to_team_name_mapping(sorted(dag_ids))
        by_team: dict[str | None, set[str]] = defaultdict(set)
        for dag_id in dag_ids:
            by_team[teams.get(dag_id)].add(dag_id)
        manager = get_auth_manager()
        return {dag_id for team, ids in by_team.items()
                for dag_id in manager.filter_authorized_dag_ids(dag_ids=ids, user=self.user, method=READ,
                                                                team_name=team)}


@dataclass(frozen=True)
class EntityAccess:
    """A caller allowed on one entity's DAG (whether the entity exists is the app's to say, after this)."""

    caller: Caller
    entity_id: str

    @property
    def dag_id(self) -> str:
        return dag_id_of(self.entity_id)


def authenticated(user: Annotated[BaseUser, Depends(get_user)]) -> Caller:
    """Any logged-in user (401 without a token)."""
    return Caller(user)


CallerDep = Annotated[Caller, Depends(authenticated)]


def _forbidden(caller: Caller, what: str, dag_id: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, f"{caller.name} may not {what} (Airflow permissions on DAG "
                                                    f"{dag_id})")


def entity_reader(entity_id: str, caller: CallerDep) -> EntityAccess:
    """The caller may read the DAG of the entity in the path."""
    if not caller.may(READ, dag_id_of(entity_id)):
        raise _forbidden(caller, f"see legal entity {entity_id!r}", dag_id_of(entity_id))
    return EntityAccess(caller, entity_id)


def run_reader(caller: CallerDep, dag_id: Annotated[str, Query(max_length=250)]) -> tuple[Caller, str]:
    """The caller may read the runs of the DAG named in the query (any DAG: the run view shows on all)."""
    if not caller.may(READ, dag_id, DagAccessEntity.RUN):
        raise _forbidden(caller, "see this DAG's runs", dag_id)
    return caller, dag_id


def check_action_request(request: Request) -> None:
    """403 (415 for the body's type) unless the request is one our pages' script sends."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "an action is a JSON body "
                                                                    "(Content-Type: application/json)")
    if request.headers.get(ACTION_HEADER) != "1":
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"an action carries the header {ACTION_HEADER}: 1")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"an action from another site ({fetch_site}) is refused")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() not in _own_hosts(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"an action from another origin ({origin}) is refused")


def _own_hosts(request: Request) -> set[str]:
    """This site as the request reached it, and as Airflow's `[api] base_url` names it (behind a proxy)."""
    from airflow.configuration import conf

    hosts = {request.headers.get("host", "").lower()}
    if base_url := conf.get("api", "base_url", fallback=""):
        hosts.add(urlsplit(base_url).netloc.lower())
    return hosts - {""}


def entity_actor(request: Request, entity_id: str, caller: CallerDep) -> EntityAccess:
    """An action on the entity in the path: a logged-in caller (401 first), a request our pages send, and
    the permission to act on that entity's DAG."""
    check_action_request(request)
    if not caller.may_act_on(entity_id):
        raise _forbidden(caller, f"act on legal entity {entity_id!r}", dag_id_of(entity_id))
    return EntityAccess(caller, entity_id)


EntityReaderDep = Annotated[EntityAccess, Depends(entity_reader)]
EntityActorDep = Annotated[EntityAccess, Depends(entity_actor)]
RunReaderDep = Annotated[tuple[Caller, str], Depends(run_reader)]
