"""The SYSPRO sandbox's whole state: the company, logon sessions, faults, stats, persistence."""
from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path

from ..serving import write_atomically
from . import errors
from .company import MAX_PAGE_ROWS, SysproCompany
from .errors import ENetError, ODataError, OrderError
from .faults import Faults

DEFAULT_OPERATOR = "ADMIN"
DEFAULT_PASSWORD = "demo-erp-secret"
DEFAULT_COMPANY = "STARK"
DEFAULT_CREDENTIALS = {"operator": DEFAULT_OPERATOR, "operator_password": DEFAULT_PASSWORD,
                       "company_id": DEFAULT_COMPANY, "company_password": ""}
SESSION_IDLE_SECONDS = 1200
MAX_POST_ORDERS = 100
USER_ID_WIDTH = 50  # Sandbox choice: the GUID is padded with trailing spaces to 50 characters
BUSINESS_OBJECTS = {"SORTBO"}
DROPPED = -1  # the status a post gives when the connection is to be cut after the commit
STATE_FORMAT = 1

JSON = "application/json"
TEXT = "text/plain"

Reply = tuple[int, str, str]  # (status, body text, media type)


class SysproSandbox:
    """An in-memory SYSPRO company behind e.net-style logon/posts and OData reads; thread-safe."""

    def __init__(self, operator: str = DEFAULT_OPERATOR, operator_password: str = DEFAULT_PASSWORD,
                 company_id: str = DEFAULT_COMPANY, company_password: str = "", *,
                 clock: Callable[[], float] = time.time, session_idle_seconds: float = SESSION_IDLE_SECONDS,
                 faults: Faults | None = None, max_page_rows: int = MAX_PAGE_ROWS,
                 max_post_orders: int = MAX_POST_ORDERS, company: SysproCompany | None = None) -> None:
        self.operator, self.operator_password = operator, operator_password
        self.company_id, self.company_password = company_id, company_password
        self.clock = clock
        self.session_idle_seconds = session_idle_seconds
        self.faults = faults or Faults()
        self.max_page_rows = max_page_rows
        self.max_post_orders = max_post_orders
        self.lock = threading.RLock()
        self.company = company or SysproCompany(company_id, clock)
        self.company.clock = clock
        self.sessions: dict[str, float] = {}  # UserId -> last used (clock seconds)
        self.revision = 0  # goes up on every change, so a saver knows when to write
        self._stats: Counter = Counter()

    # -- sessions ------------------------------------------------------------------------------
    def logon(self, params: dict[str, str]) -> Reply:
        """GET /SYSPROWCFService/Rest/Logon: the UserId as text/plain, padded with spaces."""
        busy = self._enter("logon")
        if busy:
            return busy
        operator, company = params.get("Operator", ""), params.get("CompanyId", "")
        with self.lock:
            # Sandbox choice: the refusal names what is wrong, the first of company, operator, their passwords.
            if not secrets.compare_digest(company.upper(), self.company_id.upper()):
                reason = f"Company '{company}' is not defined"
            elif not secrets.compare_digest(params.get("CompanyPassword", ""), self.company_password):
                reason = f"Invalid company password for company '{company}'"
            elif not secrets.compare_digest(operator.upper(), self.operator.upper()):
                reason = f"Operator '{operator}' is not defined in company '{company}'"
            elif not secrets.compare_digest(params.get("OperatorPassword", ""), self.operator_password):
                reason = f"Invalid password for operator '{operator}'"
            else:
                reason = None
            if reason:
                self._stats["logons_refused"] += 1
                return _enet(ENetError(401, errors.LOGON_FAILED, f"Logon failed: {reason}"))
            user_id = str(uuid.uuid4()).upper()
            self.sessions[user_id] = self.clock()
            self.revision += 1
        return 200, user_id.ljust(USER_ID_WIDTH), TEXT

    def logoff(self, user_id: str | None) -> Reply:
        def end() -> Reply:
            del self.sessions[user_id.strip().upper()]
            self.revision += 1
            return 200, "0", TEXT
        return self._in_session("logoff", user_id, end)

    def _session(self, user_id: str | None) -> ENetError | None:
        """Check (and touch) a session; the error to answer with when it is missing or expired."""
        key = (user_id or "").strip().upper()
        if not key:
            return ENetError(401, errors.SESSION_EXPIRED, "No UserId: log on first and pass the UserId header")
        last = self.sessions.get(key)
        now = self.clock()
        if last is None or now - last >= self.session_idle_seconds:
            if last is not None:
                del self.sessions[key]
            self._stats["sessions_refused"] += 1
            return ENetError(401, errors.SESSION_EXPIRED,
                             f"UserId {key} is not logged on or its session has expired; log on again")
        self.sessions[key] = now
        return None

    def expire_sessions(self) -> int:
        """End every session (as an idle timeout would); the number ended."""
        with self.lock:
            ended = len(self.sessions)
            self.sessions.clear()
            self.revision += 1
            return ended

    # -- the API -------------------------------------------------------------------------------
    def read(self, user_id: str | None, entity_set: str, params: dict[str, str]) -> Reply:
        """GET /odata/{Set}."""
        def query() -> Reply:
            try:
                text, rows = self.company.query(entity_set, params, self.max_page_rows)
            except ODataError as exc:
                self._stats["reads_refused"] += 1
                return _odata(exc)
            self._stats["rows_read"] += rows  # (a read only touches the session: no autosave for it)
            return 200, text, JSON
        return self._in_session("read", user_id, query,
                                refused=lambda problem: _odata(ODataError(401, problem.exception_type,
                                                                          problem.message)))

    def post(self, user_id: str | None, raw: bytes) -> Reply:
        """POST /SYSPROWCFService/Rest/Transaction/Post: each order applied on its own."""
        def apply() -> Reply:
            try:
                orders, validate_only = self._post_request(raw)
            except ENetError as exc:
                self._stats["posts_refused"] += 1
                return _enet(exc)
            results = []
            for item in orders:
                try:
                    results.append(self.company.post_order(item, validate_only))
                    if not validate_only:
                        self._stats["orders_written"] += 1
                except OrderError as exc:
                    self._stats["orders_rejected"] += 1
                    number = item.get("SalesOrder") if isinstance(item, dict) else None
                    results.append({"SalesOrder": number, "Status": "error",
                                    "ExceptionType": exc.exception_type, "Message": exc.message})
            self.revision += 1
            if self.faults.roll(self.faults.drop_rate):
                self._stats["answers_dropped"] += 1
                return DROPPED, "", JSON  # applied; the answer will be cut off
            return 200, json.dumps({"XmlOut": {"Orders": results}}), JSON
        return self._in_session("post", user_id, apply)

    def _post_request(self, raw: bytes) -> tuple[list, bool]:
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ENetError(400, errors.INVALID_REQUEST, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ENetError(400, errors.INVALID_REQUEST, "the request body must be a JSON object with "
                            "BusinessObject, XmlParameters and XmlIn")
        business_object = body.get("BusinessObject")
        if business_object not in BUSINESS_OBJECTS:
            raise ENetError(400, "UnknownBusinessObject", f"Business object {business_object!r} is not "
                            f"available (the sandbox posts {', '.join(sorted(BUSINESS_OBJECTS))})")
        parameters = body.get("XmlParameters") or {}
        xml_in = body.get("XmlIn")
        if not isinstance(parameters, dict):
            raise ENetError(400, errors.INVALID_REQUEST, "XmlParameters must be an object")
        if not isinstance(xml_in, dict) or not isinstance(xml_in.get("Orders"), list):
            raise ENetError(400, errors.INVALID_REQUEST, "XmlIn must be an object with a list of Orders")
        orders = xml_in["Orders"]
        if len(orders) > self.max_post_orders:
            raise ENetError(400, "TooManyOrders", f"{len(orders)} orders in one post: too many "
                            f"(at most {self.max_post_orders})")
        validate_only = parameters.get("ValidateOnly") in ("Y", True)
        return orders, validate_only

    def _in_session(self, kind: str, user_id: str | None, action: Callable[[], Reply],
                    refused: Callable[[ENetError], Reply] = lambda problem: _enet(problem)) -> Reply:
        """A request of `kind` that needs a session: counted, perhaps faulted, then under the lock the
        session checked (refused(problem) if it is missing or expired) and action() run."""
        busy = self._enter(kind)
        if busy:
            return busy
        with self.lock:
            problem = self._session(user_id)
            if problem:
                return refused(problem)
            return action()

    def _enter(self, kind: str) -> Reply | None:
        """Count a request of `kind`; the fault to answer with before any work, if one is rolled."""
        self._count(f"requests.{kind}")
        return self._fault_before_work()

    def _fault_before_work(self) -> Reply | None:
        faults = self.faults
        if faults.latency_seconds:
            time.sleep(faults.latency_seconds)
        if faults.roll(faults.error_rate):
            self._count("busy")
            return _enet(ENetError(503, errors.SYSTEM_BUSY,
                                   "The system is busy; try again later (injected by the sandbox)"))
        return None

    def _count(self, name: str) -> None:
        with self.lock:
            self._stats[name] += 1

    def http_date(self) -> str:
        """The Date header, from the sandbox clock (so a fake clock shows)."""
        return formatdate(self.clock(), usegmt=True)

    # -- admin (tests, demo) -------------------------------------------------------------------
    def stats(self) -> dict:
        """Requests per route kind, orders written/rejected, rows read, faults; and the company's size."""
        with self.lock:
            counted = dict(self._stats)
            requests = {kind: counted.pop(f"requests.{kind}", 0) for kind in ("logon", "logoff", "read", "post")}
            return {"requests": requests,
                    **{name: counted.get(name, 0) for name in
                       ("orders_written", "orders_rejected", "rows_read", "busy", "answers_dropped",
                        "sessions_refused", "logons_refused", "reads_refused", "posts_refused")},
                    "sessions": len(self.sessions), "locked_orders": len(self.company.locks),
                    "objects": {"Customers": len(self.company.customers),
                                "StockItems": len(self.company.stock_items),
                                "SalesOrders": len(self.company.orders)}}

    def reset_stats(self) -> None:
        with self.lock:
            self._stats.clear()

    def set_faults(self, faults: Faults | dict) -> Faults:
        self.faults = faults if isinstance(faults, Faults) else Faults.from_mapping(faults)
        return self.faults

    def _admin(self, action: Callable[[SysproCompany], object]) -> object:
        with self.lock:
            result = action(self.company)
            self.revision += 1
            return copy.deepcopy(result)

    def order(self, number: str) -> dict | None:
        with self.lock:
            return self.company.snapshot("orders", number)

    def customer(self, code: str) -> dict | None:
        with self.lock:
            return self.company.snapshot("customers", code)

    def stock_item(self, code: str) -> dict | None:
        with self.lock:
            return self.company.snapshot("stock_items", code)

    def add_order(self, **fields) -> dict:
        return self._admin(lambda company: company.add_order(**fields))

    def change_order(self, number: str, **fields) -> dict:
        return self._admin(lambda company: company.change_order(number, **fields))

    def cancel_order(self, number: str) -> dict:
        return self._admin(lambda company: company.change_order(number, OrderStatus="\\"))

    def change_customer(self, code: str, **fields) -> dict:
        return self._admin(lambda company: company.change_customer(code, **fields))

    def change_stock_item(self, code: str, **fields) -> dict:
        return self._admin(lambda company: company.change_stock_item(code, **fields))

    def lock_order(self, number: str, operator: str = "ADMIN") -> None:
        """Another operator has the order open: posts to it fail until unlock_order."""
        def lock(company: SysproCompany) -> None:
            if number not in company.orders:
                raise KeyError(f"Sales order {number} not on file")
            company.locks[number] = operator
        self._admin(lock)

    def unlock_order(self, number: str) -> None:
        self._admin(lambda company: company.locks.pop(number, None))

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write all state as JSON (money stays exact: it is kept as strings), atomically."""
        with self.lock:
            text = json.dumps({"format": STATE_FORMAT, "company": self.company.to_state(),
                               "sessions": self.sessions})
        write_atomically(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs) -> SysproSandbox:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: unknown sandbox state format {state.get('format')!r}")
        company = SysproCompany.from_state(state["company"], kwargs.get("clock"))
        kwargs.setdefault("company_id", company.company_id)
        sandbox = cls(company=company, **kwargs)
        sandbox.sessions = {key: float(last) for key, last in state.get("sessions", {}).items()}
        return sandbox


def _enet(error: ENetError) -> Reply:
    return error.status, json.dumps(error.body()), JSON


def _odata(error: ODataError) -> Reply:
    return error.status, json.dumps(error.body()), JSON
