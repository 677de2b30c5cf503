"""A small Xero Accounting API client over `requests`.

- OAuth 2.0: access tokens live 30 minutes; every refresh rotates the refresh token, which is stored
  (encrypted, under a per-company lock) in the ledger by the shared `connectors/tokens.py` before it
  is used, exactly as for QuickBooks Online.
- Every call carries `xero-tenant-id`; answers are JSON with Decimal money; Xero's "/Date(ms+0000)/"
  times are read as aware datetimes.
- Writes carry an `Idempotency-Key`: a retry of a write whose answer was lost replays the first answer
  instead of applying it twice, so writes retry like reads; a write that may have been applied and
  then fails for good ends in OutcomeUnknown.
- Limits (per app x tenant: 5 calls at once, 60 a minute, 5,000 a day): the shared per-company
  limiter keeps within the first two; a 429 is waited out (Retry-After) and retried; when the day's
  budget is used up the call fails at once with a TransientError saying so.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from ledgerbridge import jsonutil
from ledgerbridge.connectors.errors import (
    ConnectorError,
    OutcomeUnknown,
    ReconnectRequired,
    RecordRejected,
    TransientError,
)
from ledgerbridge.connectors.limits import RealmLimits, limiter_for
from ledgerbridge.connectors.tokens import LedgerTokenStore
from ledgerbridge.connectors.transport import OAuthApiClient, json_or_empty

log = logging.getLogger(__name__)
CALLS_PER_DAY = 5000  # per app x tenant (X-DayLimit-Remaining counts down from it)

XERO_API = "https://api.xero.com"
XERO_TOKEN_URL = "https://identity.xero.com/connect/token"
API_PATH = "/api.xro/2.0"
PAGE_SIZE = 100  # what Xero returns per page
# Ids per GET ...?IDs=a,b,c: 40 GUIDs keep the query under 2,000 characters (Xero's URL limit is not
# documented; 2,048 is a common server default).
IDS_PER_REQUEST = 40
BATCH_MAX_ITEMS = 50  # Xero's recommended most elements per create request
# Per connection (app x tenant): 5 calls in progress, 60 a minute. The QBO-shaped limiter's batch
# window is not used by Xero (every call counts alike).
XERO_LIMITS = RealmLimits(requests_per_minute=60, concurrent_requests=5, batch_requests_per_minute=10**6)
MAX_RETRY_AFTER = 60.0
_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


class XeroFault(ConnectorError):
    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class NotFound(XeroFault):
    pass


class XeroValidation(XeroFault, RecordRejected):
    """Xero refused the request (400 ValidationException): nothing of it was applied."""

    def __init__(self, message: str, status: int = 400, element: str | None = None, code: str | None = None):
        XeroFault.__init__(self, message, status)
        self.code = code
        self.element = element


class DayLimitExhausted(XeroFault, TransientError):
    """Xero's 5,000 calls a day for this tenant are used up: nothing is sent until the window moves."""


class XeroClient(OAuthApiClient):
    TOKEN_ENDPOINT = "Xero token endpoint"

    def __init__(
        self,
        base_url: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        tokens: LedgerTokenStore,
        token_url: str | None = None,
        timeout: tuple[float, float] = (10, 120),
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        http: requests.Session | None = None,
        limits: RealmLimits = XERO_LIMITS,
    ):
        # Xero counts per app x tenant: one limiter per tenant in this process (other processes: the pool).
        super().__init__(base_url, client_id, client_secret, tokens, token_url or XERO_TOKEN_URL, timeout,
                         max_attempts, backoff_seconds, sleep, http, limiter_for(f"xero:{tenant_id}", limits))
        self.tenant_id = tenant_id
        # server_time (set up by OAuthApiClient): Xero's clock at its last answer (DateTimeUTC)
        self.minute_remaining: int | None = None
        self.day_remaining: int | None = None

    # -- reads ----------------------------------------------------------------------------------

    def get(self, endpoint: str, record_id: str | None = None, since: datetime | None = None,
            page: int | None = None, ids: list[str] | None = None) -> dict[str, Any]:
        path = f"{endpoint}/{quote(record_id, safe='')}" if record_id else endpoint
        headers = {"If-Modified-Since": if_modified_since(since)} if since else {}
        params = {"page": str(page)} if page else {}
        if ids:
            params["IDs"] = ",".join(ids)
        return self._call("GET", path, params=params or None, headers=headers)

    def read(self, endpoint: str, record_id: str) -> dict[str, Any] | None:
        """One record by id; None when Xero has no such record."""
        try:
            records = self.get(endpoint, record_id).get(endpoint) or []
        except NotFound:
            return None
        return records[0] if records else None

    def read_many(self, endpoint: str, record_ids: list[str]) -> Iterator[dict[str, Any]]:
        """The records of these ids that exist, IDS_PER_REQUEST a call (GET {endpoint}?IDs=...&page=N;
        Invoices and Contacts take IDs)."""
        unique = list(dict.fromkeys(record_ids))
        for start in range(0, len(unique), IDS_PER_REQUEST):
            chunk, page = unique[start:start + IDS_PER_REQUEST], 1
            while True:
                records = self.get(endpoint, page=page, ids=chunk).get(endpoint) or []
                yield from records
                if len(records) < PAGE_SIZE:
                    break
                page += 1

    def list_all(self, endpoint: str, since: datetime | None = None, paged: bool = True) -> Iterator[dict[str, Any]]:
        """Every record of an endpoint changed since `since` (all without), 100 a page. Endpoints that
        do not page (Accounts, TaxRates, TrackingCategories, Currencies) are read in one call."""
        if not paged:
            yield from self.get(endpoint, since=since).get(endpoint) or []
            return
        page = 1
        while True:
            records = self.get(endpoint, since=since, page=page).get(endpoint) or []
            yield from records
            if len(records) < PAGE_SIZE:
                return
            page += 1

    def connections(self) -> list[dict[str, Any]]:
        """GET /connections (beside the Accounting API): the tenants this grant reaches, each with its
        tenantId, tenantName and tenantType."""
        reply = self._attempts("GET", "connections", f"{self.base_url}/connections", None, None, {},
                               {"maybe_applied": False})
        return reply.get("_list") or []

    # -- writes ---------------------------------------------------------------------------------

    def put_many(self, endpoint: str, elements: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        """Create up to 50 elements in one request with summarizeErrors=false: each comes back in
        order with its own StatusAttributeString (OK / WARNING / ERROR) and ValidationErrors."""
        return self._write_many("PUT", endpoint, elements, idempotency_key)

    def post_many(self, endpoint: str, elements: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        """Update up to 50 elements (each naming its id) in one request, answered as put_many's."""
        return self._write_many("POST", endpoint, elements, idempotency_key)

    def _write_many(self, method: str, endpoint: str, elements: list[dict[str, Any]],
                    idempotency_key: str) -> list[dict[str, Any]]:
        reply = self._call(method, endpoint, params={"summarizeErrors": "false"}, body={endpoint: elements},
                           idempotency_key=idempotency_key)
        return reply.get(endpoint) or []

    def attach(self, endpoint: str, record_id: str, file_name: str, content: bytes, content_type: str,
               idempotency_key: str) -> dict[str, Any]:
        path = f"{endpoint}/{quote(record_id, safe='')}/Attachments/{quote(file_name, safe='')}"
        reply = self._call("PUT", path, raw=content, content_type=content_type or "application/octet-stream",
                           idempotency_key=idempotency_key)
        return (reply.get("Attachments") or [{}])[0]

    def attachments(self, endpoint: str, record_id: str) -> list[dict[str, Any]]:
        try:
            return self.get(f"{endpoint}/{quote(record_id, safe='')}/Attachments").get("Attachments") or []
        except NotFound:
            return []

    # -- tokens ---------------------------------------------------------------------------------

    def _refresh_refused(self, error: str) -> ReconnectRequired:
        return ReconnectRequired(
            f"Xero refused to refresh the tokens of tenant {self.tenant_id} ({error}): reconnect the "
            "organisation and update the connection's refresh_token")

    # -- transport ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None,
              raw: bytes | None = None, content_type: str | None = None, headers: dict[str, str] | None = None,
              idempotency_key: str | None = None) -> dict[str, Any]:
        url = f"{self.base_url}{API_PATH}/{path}"
        extra = dict(headers or {})
        if body is not None:
            data, extra["Content-Type"] = jsonutil.dumps(body), "application/json"
        else:
            data = raw
            if content_type:
                extra["Content-Type"] = content_type
        if idempotency_key:
            extra["Idempotency-Key"] = idempotency_key[:128]
        state = {"maybe_applied": False}
        try:
            return self._attempts(method, path, url, params, data, extra, state)
        except ConnectorError as exc:
            if method != "GET" and state["maybe_applied"] and not isinstance(exc, (RecordRejected, OutcomeUnknown)):
                raise OutcomeUnknown(f"{method} {path}: an earlier attempt may have been applied, then: {exc}") from exc
            raise

    def _attempts(self, method: str, path: str, url: str, params: dict[str, str] | None, data: Any,
                  extra: dict[str, str], state: dict[str, bool]) -> dict[str, Any]:
        refreshed, last_problem = False, ""
        for attempt in range(1, self.max_attempts + 1):
            wait = 0.0
            token = self._access_token()
            headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": self.tenant_id,
                       "Accept": "application/json", **extra}
            response, problem = self._send(method, url, state, params=params, data=data, headers=headers)
            if response is None:
                last_problem = problem
            else:
                self._note_limits(response)
                status = response.status_code
                if status < 300:
                    reply = json_or_empty(response)
                    stamp = parse_date(reply.get("DateTimeUTC"))
                    if stamp is not None:
                        # Xero stamps changes in milliseconds: one made in the answer's own millisecond
                        # may come after it, so the clock we report is one millisecond earlier.
                        self.server_time = stamp - timedelta(milliseconds=1)
                    return reply
                if status == 401 and not refreshed:
                    refreshed, last_problem = True, "HTTP 401 (access token refused; refreshed)"
                    self._access_token(rejected=token)
                    continue
                if status in (401, 403):
                    detail = json_or_empty(response).get("Detail") or f"HTTP {status}"
                    raise ReconnectRequired(f"Xero refused access to tenant {self.tenant_id} ({detail}): reconnect "
                                            "the organisation (is it still connected to this app?)")
                if status == 404:
                    raise NotFound(f"{method} {path}: Xero has no such resource", 404)
                if status == 429:
                    problem = response.headers.get("X-Rate-Limit-Problem", "minute")
                    retry_after = _retry_after(response)
                    if problem.lower() == "day" or self.day_remaining == 0:
                        again = datetime.now(UTC) + timedelta(seconds=retry_after)
                        raise DayLimitExhausted(
                            f"Xero's daily limit of calls for tenant {self.tenant_id} is used up "
                            f"(X-DayLimit-Remaining: {self.day_remaining if self.day_remaining is not None else 0}); "
                            f"this call was refused, nothing of it applied; Xero takes calls again in about "
                            f"{_human(retry_after)}, around {again:%Y-%m-%d %H:%M} UTC (it counts a rolling 24 hours)",
                            429)
                    last_problem = f"HTTP 429 ({problem} limit), Retry-After {retry_after:g}s"
                    wait = min(max(retry_after, 1.0), MAX_RETRY_AFTER)
                elif status == 400 or status == 413:
                    raise validation_error(json_or_empty(response), status)
                elif status >= 500:
                    state["maybe_applied"] = state["maybe_applied"] or method != "GET"
                    last_problem = f"HTTP {status}: {response.text[:300]}"
                else:
                    raise XeroFault(f"{method} {path}: HTTP {status}: {response.text[:300]}", status)
            self._backoff(attempt, wait)
        raise TransientError(f"Xero {method} {path} failed after {self.max_attempts} attempts: {last_problem}")

    def _note_limits(self, response: requests.Response) -> None:
        for header, attribute in (("X-MinLimit-Remaining", "minute_remaining"),
                                  ("X-DayLimit-Remaining", "day_remaining")):
            value = response.headers.get(header)
            if value is not None and value.strip().lstrip("-").isdigit():
                setattr(self, attribute, int(value))
        if self.day_remaining is not None and self.day_remaining < 100 and response.status_code < 300:
            log.warning("Xero tenant %s: only %d calls left of today's limit", self.tenant_id, self.day_remaining)


# -- helpers --------------------------------------------------------------------------------------

def parse_date(value: Any) -> datetime | None:
    """Xero's "/Date(1790000000000+0000)/" (or an ISO 8601 time) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    match = _DATE.fullmatch(value.strip())
    if match:  # the number is UTC milliseconds; the offset only says where it was shown
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def if_modified_since(moment: datetime) -> str:
    """The header's value: UTC, ISO 8601 with milliseconds (Xero's stamps are in milliseconds)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def validation_error(body: dict[str, Any], status: int = 400) -> XeroValidation:
    """A 400 answer as one rejection: the first element's ValidationErrors, or the message."""
    messages = [error.get("Message", "") for element in body.get("Elements") or []
                for error in element.get("ValidationErrors") or []]
    text = "; ".join(m for m in messages if m) or body.get("Message") or body.get("Detail") or f"HTTP {status}"
    return XeroValidation(f"Xero refused it: {text}", status, element=field_of(messages), code=body.get("Type"))


# Which field a ValidationErrors message is about (Xero names none in a structured way).
_FIELDS = (
    (re.compile(r"BankAccount"), "BankAccount"),  # a bank transaction's (before a line's account code)
    (re.compile(r"account", re.I), "LineItems.AccountCode"),
    (re.compile(r"tax ?type|tax rate", re.I), "LineItems.TaxType"),
    (re.compile(r"tracking", re.I), "LineItems.Tracking"),
    (re.compile(r"contact name|contactnumber", re.I), "Contact.Name"),
    (re.compile(r"contact", re.I), "Contact.ContactID"),
    (re.compile(r"currency", re.I), "CurrencyCode"),
    (re.compile(r"invoice #|invoice ?number", re.I), "InvoiceNumber"),
    (re.compile(r"credit note #", re.I), "CreditNoteNumber"),
    (re.compile(r"invoice", re.I), "Invoice.InvoiceID"),
    (re.compile(r"payment amount|amount", re.I), "Amount"),
    (re.compile(r"line ?item|quantity|unitamount|lineamount", re.I), "LineItems"),
    (re.compile(r"narration", re.I), "Narration"),
    (re.compile(r"debits|credits|journal line", re.I), "JournalLines"),
    (re.compile(r"item code", re.I), "Code"),
    (re.compile(r"status", re.I), "Status"),
    (re.compile(r"date", re.I), "Date"),
)


def field_of(messages: list[str]) -> str | None:
    for message in messages:
        for pattern, name in _FIELDS:
            if pattern.search(message or ""):
                return name
    return None


def _retry_after(response: requests.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", 1))
    except ValueError:
        return 1.0


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"

