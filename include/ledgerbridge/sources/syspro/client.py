"""SysproClient: SYSPRO's e.net REST logon and business-object posts, and its OData reads, over HTTP.

- Logs on lazily (GET .../Rest/Logon) and passes the session's UserId in a `UserId` header; when
  SYSPRO answers 401 SessionExpired it logs on again once and repeats the call (a 401 comes before
  anything is applied, so this is safe for posts too).
- read() is a generator over every row, page by page (@odata.nextLink, or $top/$skip for a smaller
  page), retrying a page a few times when SYSPRO is unavailable; it never loads every page first.
  Offset paging is only safe on an order that does not move while it is read (the key): a caller
  paging on a change date asks one page at a time with page() and moves its own keyset cursor.
- Numbers in OData answers are read as Decimal, never float (SYSPRO sends Edm.Decimal as JSON numbers
  unless IEEE754Compatible is asked for; money must stay exact).
- post() sends one business-object post and returns its XmlOut; it is never retried here (the logon
  before it is, while SYSPRO is unavailable): on SysproOutcomeUnknown the caller reads back what
  landed before sending again.
- `calls` counts the HTTP requests sent, by kind (logon, logoff, read, post), for benchmarks.
Not thread-safe: one client per thread.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_plus, urljoin

import requests

from .errors import (SysproError, SysproLogonFailed, SysproOutcomeUnknown, SysproRequestError,
                     SysproUnavailable)

REST = "SYSPROWCFService/Rest"
MAX_PAGE_ROWS = 5000  # SYSPRO OData's cap on rows per request
SESSION_EXPIRED = "SessionExpired"


class _SessionExpired(Exception):
    """Internal: SYSPRO said the UserId is not (or no longer) logged on."""

    def __init__(self, error: SysproError) -> None:
        super().__init__(str(error))
        self.error = error


class SysproClient:
    def __init__(self, base_url: str, operator: str, operator_password: str, company_id: str,
                 company_password: str = "", timeout: float = 30, session: requests.Session | None = None, *,
                 read_retries: int = 3, retry_backoff_seconds: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.operator, self.company_id = operator, company_id
        self._operator_password, self._company_password = operator_password, company_password
        self.timeout = timeout
        self.http = session or requests.Session()
        self.read_retries = read_retries  # extra attempts of a read (or logon) that found SYSPRO unavailable
        self.retry_backoff_seconds = retry_backoff_seconds  # doubles after each attempt; 0 in tests
        self.sleep = sleep
        self.user_id: str | None = None
        self.calls: Counter = Counter()
        self.server_time: datetime | None = None  # from the last answer's Date header (UTC)

    # -- session -------------------------------------------------------------------------------
    def logon(self) -> str:
        """Log on and keep the session's UserId (SYSPRO pads it with spaces: stripped here)."""
        endpoint = f"GET /{REST}/Logon"
        params = {"Operator": self.operator, "OperatorPassword": self._operator_password,
                  "CompanyId": self.company_id, "CompanyPassword": self._company_password}
        self.calls["logon"] += 1
        try:
            response = self.http.get(f"{self.base_url}/{REST}/Logon", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            # The exception's text holds the URL, passwords included: never chained, always scrubbed.
            raise SysproUnavailable(self._scrub(f"{endpoint}: SYSPRO could not be reached ({type(exc).__name__}: "
                                                f"{exc})"), endpoint=endpoint) from None
        self._note_time(response)
        if response.status_code == 200:
            user_id = response.text.strip()
            if not user_id:
                raise SysproUnavailable(f"{endpoint}: HTTP 200 with no UserId", endpoint=endpoint, status=200)
            self.user_id = user_id
            return user_id
        error = self._error(endpoint, response, may_have_applied=False)
        if response.status_code == 401:
            raise SysproLogonFailed(
                self._scrub(f"{endpoint}: SYSPRO refused operator {self.operator!r} in company {self.company_id!r} "
                            f"(HTTP 401 {error.exception_type}: {error.syspro_message}); check the operator, "
                            "its password and the company"),
                endpoint=endpoint, status=401, exception_type=error.exception_type,
                syspro_message=error.syspro_message) from None
        raise error from None

    def logoff(self) -> None:
        """End the session (errors are ignored: an expired session is ended anyway)."""
        if self.user_id is None:
            return
        user_id, self.user_id = self.user_id, None
        self.calls["logoff"] += 1
        try:
            response = self.http.get(f"{self.base_url}/{REST}/Logoff", params={"UserId": user_id},
                                     timeout=self.timeout)
            self._note_time(response)
        except requests.RequestException:
            pass

    def close(self) -> None:
        self.logoff()
        self.http.close()

    def __enter__(self) -> SysproClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------------
    def read(self, entity_set: str, filter: str | None = None, orderby: str | None = None,
             select: str | list[str] | None = None, page_size: int = MAX_PAGE_ROWS) -> Iterator[dict]:
        """Every row of an OData entity set matching `filter`, page by page.

        page_size 5000 (the cap) lets SYSPRO page and follows its @odata.nextLink; a smaller page_size
        asks $top=page_size with $skip until a short page. Without orderby SYSPRO orders by key."""
        if not 1 <= page_size <= MAX_PAGE_ROWS:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_ROWS}, not {page_size}")
        params = _query(filter, orderby, select)
        use_top = page_size < MAX_PAGE_ROWS
        url, skip = f"{self.base_url}/odata/{entity_set}", 0
        while True:
            query: dict[str, str] | None = params
            if use_top:
                query = {**params, "$top": str(page_size), **({"$skip": str(skip)} if skip else {})}
            page = self._read_page(url, query, entity_set)
            rows = _rows(page, entity_set)
            yield from rows
            next_link = page.get("@odata.nextLink")
            if next_link:
                url, params, use_top = urljoin(f"{self.base_url}/odata/", next_link), {}, False
            elif use_top and len(rows) == page_size:
                skip += page_size
            else:
                return

    def page(self, entity_set: str, top: int, filter: str | None = None, orderby: str | None = None,
             select: str | list[str] | None = None) -> list[dict]:
        """One request: the first `top` rows matching `filter` in `orderby` order (no nextLink is followed)."""
        return self._one_page(entity_set, top, filter=filter, orderby=orderby, select=select)[0]

    def first_page(self, entity_set: str, top: int = 1) -> tuple[list[dict], int | None]:
        """One page of `top` rows (by key) and how many rows the set holds (OData $count; None when
        SYSPRO does not say): one request, what a connection test reads."""
        return self._one_page(entity_set, top, count=True)

    def _one_page(self, entity_set: str, top: int, filter: str | None = None, orderby: str | None = None,
                  select: str | list[str] | None = None, count: bool = False) -> tuple[list[dict], int | None]:
        if not 1 <= top <= MAX_PAGE_ROWS:
            raise ValueError(f"top must be between 1 and {MAX_PAGE_ROWS}, not {top}")
        params = {"$top": str(top), **_query(filter, orderby, select)}
        if count:
            params["$count"] = "true"
        page = self._read_page(f"{self.base_url}/odata/{entity_set}", params, entity_set)
        total = page.get("@odata.count")
        return _rows(page, entity_set), total if isinstance(total, int) else None

    def _read_page(self, url: str, params: dict[str, str] | None, entity_set: str) -> dict:
        endpoint = f"GET /odata/{entity_set}"
        attempt = 0
        while True:
            try:
                response = self._with_session(lambda: self._send("read", "GET", url, endpoint, params=params))
                if response.status_code == 200:
                    try:
                        page = parse_json(response.content)
                    except ValueError:
                        raise SysproUnavailable(f"{endpoint}: HTTP 200 with a body that is not JSON",
                                                endpoint=endpoint, status=200) from None
                    if not isinstance(page, dict):
                        raise SysproUnavailable(f"{endpoint}: HTTP 200 with a body that is not a JSON object",
                                                endpoint=endpoint, status=200)
                    return page
                raise self._error(endpoint, response, may_have_applied=False)
            except SysproUnavailable:
                if attempt >= self.read_retries:
                    raise
                attempt += 1
                if self.retry_backoff_seconds:
                    self.sleep(self.retry_backoff_seconds * 2 ** (attempt - 1))

    # -- posts ---------------------------------------------------------------------------------
    def post(self, business_object: str, xml_in: dict, parameters: dict | None = None) -> dict:
        """POST .../Rest/Transaction/Post; the XmlOut. Never retried: on SysproOutcomeUnknown the post
        may have been applied, in whole or in part."""
        endpoint = f"POST /{REST}/Transaction/Post ({business_object})"
        body = json.dumps({"BusinessObject": business_object, "XmlParameters": parameters or {}, "XmlIn": xml_in})
        url = f"{self.base_url}/{REST}/Transaction/Post"
        self._logged_on()
        response = self._with_session(lambda: self._send("post", "POST", url, endpoint, data=body, may_apply=True))
        if response.status_code != 200:
            raise self._error(endpoint, response, may_have_applied=True)
        try:
            reply = response.json()
            return reply["XmlOut"]
        except (ValueError, KeyError, TypeError):
            raise SysproOutcomeUnknown(f"{endpoint}: HTTP 200 without a usable XmlOut: the post may have been "
                                       "applied", endpoint=endpoint, status=200) from None

    # -- transport -----------------------------------------------------------------------------
    def _logged_on(self) -> None:
        """Log on if not yet, trying again (as a read does) while SYSPRO is unavailable: a logon applies
        nothing, so a post need not wait for the next run because the logon before it met a busy SYSPRO."""
        attempt = 0
        while self.user_id is None:
            try:
                self.logon()
            except SysproUnavailable:
                if attempt >= self.read_retries:
                    raise
                attempt += 1
                if self.retry_backoff_seconds:
                    self.sleep(self.retry_backoff_seconds * 2 ** (attempt - 1))

    def _with_session(self, send: Callable[[], requests.Response]) -> requests.Response:
        """Send with the session's UserId; on 401 SessionExpired log on again once and repeat."""
        if self.user_id is None:
            self.logon()
        try:
            return send()
        except _SessionExpired:
            self.user_id = None
            self.calls["relogon"] += 1
            self.logon()
        try:
            return send()
        except _SessionExpired as again:
            raise again.error from None

    def _send(self, kind: str, method: str, url: str, endpoint: str, *, params: dict | None = None,
              data: str | None = None, may_apply: bool = False) -> requests.Response:
        headers = {"UserId": self.user_id or "", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.calls[kind] += 1
        try:
            response = self.http.request(method, url, params=params, data=data, headers=headers,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            problem = self._scrub(f"{type(exc).__name__}: {exc}")
            if may_apply and not _never_sent(exc):
                raise SysproOutcomeUnknown(f"{endpoint}: no usable answer ({problem}); the post may have been "
                                           "applied: read the orders back before sending again",
                                           endpoint=endpoint) from exc
            raise SysproUnavailable(f"{endpoint}: SYSPRO could not be reached ({problem}); nothing was applied",
                                    endpoint=endpoint) from exc
        self._note_time(response)
        if response.status_code == 401:
            error = self._error(endpoint, response, may_have_applied=False)
            if error.exception_type == SESSION_EXPIRED:
                raise _SessionExpired(error)
            raise error
        return response

    def _error(self, endpoint: str, response: requests.Response, *, may_have_applied: bool) -> SysproError:
        """The typed error for a non-200 answer (e.net {"ExceptionType", "Message"} or OData {"error"})."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        exception_type = message = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            exception_type, message = str(body["error"].get("code", "")), str(body["error"].get("message", ""))
        elif isinstance(body, dict):
            exception_type, message = str(body.get("ExceptionType", "")), str(body.get("Message", ""))
        if not message:
            message = response.text[:200].strip() or response.reason or ""
        text = self._scrub(f"{endpoint}: HTTP {status}" + (f" {exception_type}" if exception_type else "")
                           + f": {message}")
        details = {"endpoint": endpoint, "status": status, "exception_type": exception_type,
                   "syspro_message": message}
        if status == 503 or (status >= 500 and not may_have_applied):
            return SysproUnavailable(text + "; nothing was applied, try again later", **details)
        if status >= 500:
            return SysproOutcomeUnknown(text + "; the post may have been applied", **details)
        if status == 401:
            return SysproError(text, **details)
        return SysproRequestError(text, **details)

    def _note_time(self, response: requests.Response) -> None:
        stamp = response.headers.get("Date")
        if stamp:
            try:
                self.server_time = parsedate_to_datetime(stamp).astimezone(UTC)
            except (TypeError, ValueError):
                pass

    def _scrub(self, text: str) -> str:
        for secret in (self._operator_password, self._company_password):
            if secret:
                for form in {secret, quote_plus(secret), quote(secret, safe="")}:
                    text = text.replace(form, "***")
        return text

    def __repr__(self) -> str:
        return f"SysproClient({self.base_url!r}, operator={self.operator!r}, company_id={self.company_id!r})"


def parse_json(text: str | bytes) -> object:
    """JSON with its numbers exact: 1779.37 is Decimal("1779.37"), never the float nearest to it (bytes
    are decoded as JSON says: UTF-8, -16 or -32)."""
    return json.loads(text, parse_float=Decimal)


def _never_sent(exc: requests.RequestException) -> bool:
    """A refused connection (or one that never opened) cannot have delivered the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = str(exc)
    return isinstance(exc, requests.ConnectionError) and (
        "Connection refused" in text or "NewConnectionError" in text or "Name or service not known" in text)


def _query(filter: str | None, orderby: str | None, select: str | list[str] | None) -> dict[str, str]:
    """The OData query options given."""
    params: dict[str, str] = {}
    if filter:
        params["$filter"] = filter
    if orderby:
        params["$orderby"] = orderby
    if select:
        params["$select"] = select if isinstance(select, str) else ",".join(select)
    return params


def _rows(page: dict, entity_set: str) -> list[dict]:
    rows = page.get("value")
    if not isinstance(rows, list):
        raise SysproError(f"GET /odata/{entity_set}: the answer has no list of rows (value)",
                          endpoint=f"GET /odata/{entity_set}")
    return rows
