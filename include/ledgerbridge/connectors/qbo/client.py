"""A small QuickBooks Online Accounting API client over `requests`.

Every create carries a `requestid` so that QuickBooks answers a repeat with the original response
instead of creating a second object; that is what makes retrying a create safe.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from ledgerbridge import jsonutil
from ledgerbridge.connectors.errors import (
    ConnectorError,
    OutcomeUnknown,
    ReconnectRequired,
    TransientError,
)
from ledgerbridge.connectors.qbo.faults import (
    AuthenticationFailed,
    QBOFault,
    SystemFault,
    Throttled,
    fault_from_body,
)
from ledgerbridge.connectors.limits import (
    RealmLimits,
    limiter_for,
)
from ledgerbridge.connectors.tokens import LedgerTokenStore
from ledgerbridge.connectors.transport import OAuthApiClient, json_or_empty, never_sent

log = logging.getLogger(__name__)

INTUIT_API = "https://quickbooks.api.intuit.com"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
PAGE_SIZE = 1000  # the most QuickBooks returns per query
BATCH_MAX_ITEMS = 30
DEFAULT_LIMITS = RealmLimits()
MINOR_VERSION = 75


class QBOClient(OAuthApiClient):
    def __init__(
        self,
        base_url: str,
        realm_id: str,
        client_id: str,
        client_secret: str,
        tokens: LedgerTokenStore,
        token_url: str | None = None,
        minorversion: int = MINOR_VERSION,
        timeout: tuple[float, float] = (10, 120),
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        http: requests.Session | None = None,
        limits: RealmLimits = DEFAULT_LIMITS,
    ):
        super().__init__(base_url, client_id, client_secret, tokens, token_url or INTUIT_TOKEN_URL, timeout,
                         max_attempts, backoff_seconds, sleep, http, limiter_for(realm_id, limits))
        self.realm_id = realm_id
        self.minorversion = minorversion
        # server_time (set up by OAuthApiClient): QuickBooks' clock, from the last answer's "time"

    # -- public API ---------------------------------------------------------------------------

    def create(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Create an object; a repeat with the same `request_id` returns the first result."""
        reply = self._call("POST", entity.lower(), params={"requestid": request_id}, body=body, idempotent=False)
        return reply[entity]

    def batch(self, items: list[dict[str, Any]], request_id: str, read_only: bool = False) -> dict[str, dict[str, Any]]:
        """Run up to 30 items (each with a `bId`) in one request; their answers by bId. More are
        refused by QuickBooks (1040, BatchLimitExceeded) without anything applied.

        The batch's `request_id` (<= 36 chars) with each `bId` (<= 10 chars) makes a repeat of the
        same batch answer with the first results instead of applying anything twice. A batch of
        Query items only (`read_only`) changes nothing: a lost answer is retried like any read, and
        it should carry a fresh `request_id` each time (a repeat would answer the old results).
        """
        reply = self._call("POST", "batch", params={"requestid": request_id}, body={"BatchItemRequest": items},
                           idempotent=read_only)
        return {str(item["bId"]): item for item in reply.get("BatchItemResponse", [])}

    def upload(self, metadata: dict[str, Any], content: bytes, request_id: str) -> dict[str, Any]:
        """Upload a file as an Attachable linked by `metadata["AttachableRef"]` (multipart, Intuit's part names)."""
        files = {
            "file_metadata_0": ("metadata.json", jsonutil.dumps(metadata), "application/json"),
            "file_content_0": (metadata["FileName"], content, metadata["ContentType"]),
        }
        reply = self._call("POST", "upload", params={"requestid": request_id}, files=files, idempotent=False)
        answer = (reply.get("AttachableResponse") or [{}])[0]
        if "Attachable" not in answer:
            # QuickBooks reports a refused file inside a 200 answer, per file.
            raise fault_from_body({"Fault": answer.get("Fault") or {}}, 400)
        return answer["Attachable"]

    def delete(self, entity: str, object_id: str, sync_token: str, request_id: str) -> dict[str, Any]:
        """Delete a transaction (lists cannot be deleted in QuickBooks, only made inactive)."""
        reply = self._call("POST", entity.lower(), params={"operation": "delete", "requestid": request_id},
                           body={"Id": object_id, "SyncToken": sync_token}, idempotent=False)
        return reply[entity]

    def cdc(self, entities: list[str], changed_since: str) -> dict[str, Any]:
        """Change Data Capture: the objects of `entities` changed since then, deleted ones included."""
        return self._call("GET", "cdc", params={"entities": ",".join(entities), "changedSince": changed_since})

    def preferences(self) -> dict[str, Any]:
        return self._call("GET", "preferences")["Preferences"]

    def exchange_rate(self, currency: str, on: str) -> dict[str, Any]:
        """The company's rate of `currency` into its home currency on a day (multicurrency companies only)."""
        return self._call("GET", "exchangerate", params={"sourcecurrencycode": currency, "asofdate": on})["ExchangeRate"]

    def read(self, entity: str, object_id: str) -> dict[str, Any]:
        return self._call("GET", f"{entity.lower()}/{object_id}")[entity]

    def query(self, statement: str) -> dict[str, Any]:
        """One page of a query: the `QueryResponse` mapping ({} past the last page)."""
        return self._call("POST", "query", text=statement)["QueryResponse"]

    def query_all(self, entity: str, where: str = "", order_by: str = "") -> Iterator[dict[str, Any]]:
        """Every object matching `where`, page by page (STARTPOSITION is 1-based)."""
        clause = f" WHERE {where}" if where else ""
        order = f" ORDERBY {order_by}" if order_by else ""
        start = 1
        while True:
            page = self.query(f"SELECT * FROM {entity}{clause}{order} STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}")
            objects = page.get(entity, [])
            yield from objects
            if len(objects) < PAGE_SIZE:
                return
            start += PAGE_SIZE

    def query_by_last_update(self, entity: str, where: str = "", since: str | None = None) -> Iterator[dict[str, Any]]:
        """Every object matching `where` changed at or after `since`, oldest change first.

        Pages by keyset, not by position: each page starts at the newest LastUpdatedTime of the
        last one. An object changed while we read moves behind the cursor and is read again; with
        STARTPOSITION paging it would shift the rest and one unread object would be skipped.
        """
        seen: dict[str, Any] = {}  # Id -> the LastUpdatedTime already yielded
        cursor, offset = since, 1
        while True:
            conditions = [c for c in (where, f"Metadata.LastUpdatedTime >= '{cursor}'" if cursor else "") if c]
            clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            page = self.query(f"SELECT * FROM {entity}{clause} ORDERBY Metadata.LastUpdatedTime "
                              f"STARTPOSITION {offset} MAXRESULTS {PAGE_SIZE}")
            objects = page.get(entity, [])
            for obj in objects:
                stamp = (obj.get("MetaData") or {}).get("LastUpdatedTime")
                if seen.get(obj["Id"]) != stamp:
                    seen[obj["Id"]] = stamp
                    yield obj
            if len(objects) < PAGE_SIZE:
                return
            newest = (objects[-1].get("MetaData") or {}).get("LastUpdatedTime")
            if newest == cursor:
                offset += PAGE_SIZE  # a whole page changed in one instant: page on within it
            else:
                cursor, offset = newest, 1

    # -- tokens -------------------------------------------------------------------------------

    def _refresh_refused(self, error: str) -> ReconnectRequired:
        return ReconnectRequired(
            f"QuickBooks refused to refresh the tokens of company {self.realm_id} ({error}): "
            "reconnect the company and update the connection's refresh_token"
        )

    # -- transport ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        text: str | None = None,
        idempotent: bool = True,
        files: dict[str, tuple] | None = None,
    ) -> dict[str, Any]:
        """Send with retries. Reads retry freely; creates retry only because they carry a requestid.

        A create that may have reached QuickBooks (timeout, dropped connection, 5xx) and then fails
        in any way ends in OutcomeUnknown, never in "nothing happened".
        """
        url = f"{self.base_url}/v3/company/{self.realm_id}/{path}"
        query = {"minorversion": str(self.minorversion), **(params or {})}
        if body is not None:
            data, content_type = jsonutil.dumps(body), "application/json"
        elif files is not None:
            data, content_type = None, None  # requests writes the multipart body and its boundary
        else:
            data, content_type = text, "application/text"
        state = {"maybe_applied": False}
        try:
            return self._attempts(method, path, url, query, data, content_type, state, files)
        except ConnectorError as exc:
            # A create that may already have been applied is never reported as "nothing happened",
            # whatever failed afterwards: the row must be looked up before any re-send.
            if not idempotent and state["maybe_applied"]:
                raise OutcomeUnknown(f"{method} {path}: an earlier attempt may have been applied, then: {exc}") from exc
            raise

    def _attempts(self, method: str, path: str, url: str, query: dict[str, str], data: str | None,
                  content_type: str | None, state: dict[str, bool], files: dict[str, tuple] | None = None
                  ) -> dict[str, Any]:
        refreshed = False
        last_problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after = 0.0
            token = self._access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if data is not None and content_type:
                headers["Content-Type"] = content_type
            response, problem = self._send(method, url, state, batch=path == "batch", params=query, data=data,
                                           files=files, headers=headers)
            if response is None:
                last_problem = problem
            else:
                if response.status_code == 401 and not refreshed:
                    refreshed, last_problem = True, "HTTP 401 (access token refused; refreshed)"
                    self._access_token(rejected=token)
                    continue
                if response.status_code < 300:
                    reply = _json_or_empty(response)
                    if "Fault" in reply:
                        raise fault_from_body(reply, response.status_code)
                    self.server_time = _instant(reply.get("time")) or self.server_time
                    return reply
                fault = _fault(response)
                if isinstance(fault, AuthenticationFailed):
                    raise ReconnectRequired(
                        f"QuickBooks rejected the credentials of company {self.realm_id} ({fault}): reconnect the company"
                    ) from fault
                if not isinstance(fault, (Throttled, SystemFault)):
                    raise fault
                state["maybe_applied"] = state["maybe_applied"] or isinstance(fault, SystemFault)
                last_problem = str(fault)
                retry_after = _retry_after(response)
            self._backoff(attempt, retry_after)
        raise TransientError(f"{method} {path} failed after {self.max_attempts} attempts: {last_problem}")


_never_sent = never_sent


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value).astimezone(UTC) if isinstance(value, str) else None
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float:
    """Seconds a 429 asks us to wait (Intuit does not promise the header; capped at a minute)."""
    try:
        return min(float(response.headers.get("Retry-After", 0)), 60.0)
    except ValueError:
        return 0.0


_json_or_empty = json_or_empty


def _fault(response: requests.Response) -> QBOFault:
    if response.status_code == 429:
        return Throttled("ThrottleExceeded", response.text[:300], status=429)
    body = _json_or_empty(response)
    if "Fault" in body:
        return fault_from_body(body, response.status_code)
    if response.status_code >= 500:
        return SystemFault(f"HTTP {response.status_code}", response.text[:300], status=response.status_code)
    return QBOFault(f"HTTP {response.status_code}", response.text[:300], status=response.status_code)
