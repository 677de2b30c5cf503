"""The sandbox's whole state: companies (realms), OAuth tokens, throttling, persistence."""
from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..oauth import TokenIssuer, TokenRefused
from ..serving import write_atomically
from . import errors
from .codec import dumps, format_ms, loads
from .company import Company
from .errors import QBOFault
from .faults import Faults
from .limits import RealmLimiter
from .upload import MAX_UPLOAD_BYTES

DEFAULT_CLIENTS = {"ledgerbridge-demo": "demo-secret"}
DROPPED = -1  # the status api() gives when the connection is to be cut after the commit
REFRESH_TOKEN_TTL = 8726400  # 101 days, what Intuit reports in x_refresh_token_expires_in
REQUESTID_MAX = 50
STATE_FORMAT = 1

JSON = "application/json"
XML = "application/xml"


class QBOSandbox:
    """An in-memory QuickBooks Online: every public method is thread-safe."""

    def __init__(self, clients: dict[str, str] | None = None, access_token_ttl: int = 3600,
                 clock: Callable[[], float] = time.time, rotate_refresh_tokens: bool = True,
                 rate_limits: bool = True, *, requests_per_minute: int = 500, concurrent_requests: int = 10,
                 batch_requests_per_minute: int = 40, refresh_token_ttl: int = REFRESH_TOKEN_TTL,
                 faults: Faults | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.tokens = TokenIssuer(DEFAULT_CLIENTS if clients is None else clients, clock, access_token_ttl,
                                  refresh_token_ttl, rotate_refresh_tokens, refresh_prefix="RT1-")
        self.clients = self.tokens.clients
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.clock = clock
        self.limiter = (RealmLimiter(clock, requests_per_minute, concurrent_requests, batch_requests_per_minute)
                        if rate_limits else None)
        self.lock = threading.RLock()
        self.realms: dict[str, Company] = {}
        self.revision = 0  # goes up on every change, so a saver knows when to write
        self.faults = faults or Faults()
        self.max_upload_bytes = max_upload_bytes  # the largest POST /upload request body

    # -- realms and OAuth ----------------------------------------------------------------------
    def create_realm(self, client_id: str, realm_id: str | None = None,
                     company_name: str = "Sandbox Company", *, country: str = "US", home_currency: str | None = None,
                     multicurrency: bool = False, book_close_date: str | None = None) -> tuple[str, str]:
        """Create a company (or reconnect an existing one) and return (realm_id, a refresh token)
        for the client, as the OAuth authorization step would. The country (ISO code, default US), home
        currency (default: the country's), multicurrency and closing date apply to a new company only."""
        if client_id not in self.clients:
            raise ValueError(f"unknown client_id {client_id!r}")
        with self.lock:
            if realm_id is None:
                realm_id = str(secrets.randbelow(9 * 10**15) + 10**15)  # 16 digits, like real realm ids
                while realm_id in self.realms:
                    realm_id = str(secrets.randbelow(9 * 10**15) + 10**15)
            realm_id = str(realm_id)
            if not realm_id.isdigit():
                raise ValueError(f"realm_id must be numeric, got {realm_id!r}")
            if realm_id not in self.realms:
                company = Company(realm_id, company_name, self.clock, country, home_currency)
                company.seed()
                if multicurrency or book_close_date:
                    company.set_preferences(multicurrency, book_close_date)
                self.realms[realm_id] = company
            self.revision += 1
            return realm_id, self.tokens.issue_refresh_token(client_id, realm_id=realm_id)

    def exchange_token(self, authorization: str | None, form: dict[str, str]) -> tuple[int, dict]:
        """POST /oauth2/v1/tokens/bearer (grant_type=refresh_token)."""
        with self.lock:
            try:
                access_token, token, _ = self.tokens.exchange(authorization, form)
            except TokenRefused as refused:
                return refused.status, refused.body
            self.revision += 1
        return 200, {"token_type": "bearer", "access_token": access_token, "expires_in": self.access_token_ttl,
                     "refresh_token": token, "x_refresh_token_expires_in": self.refresh_token_ttl}

    def _authenticate(self, realm_id: str, authorization: str | None) -> None:
        state, grant = self.tokens.bearer(authorization)
        if state == "missing":
            raise errors.authentication_failed("Authorization header with a Bearer access token is missing")
        if state == "invalid":
            raise errors.authentication_failed("The access token is not valid")
        if state == "expired":
            raise errors.authentication_failed("Token expired: the access token is older than "
                                               f"{self.access_token_ttl} seconds; refresh it")
        if grant["realm_id"] != realm_id:
            raise errors.authorization_failed(f"The access token was issued for another company, "
                                              f"not realmId {realm_id}")

    # -- the accounting API --------------------------------------------------------------------
    def api(self, realm_id: str, authorization: str | None, action: Callable[[Company], dict], *,
            requestid: str | None = None, batch: bool = False, mutating: bool = False) -> tuple[int, str, str]:
        """Serve one /v3/company/{realm} request: authenticate, throttle, run action(company) and
        return (status, body text, media type). With a requestid, a repeat replays the first reply."""
        with self.lock:
            try:
                self._authenticate(realm_id, authorization)
            except QBOFault as fault:
                return fault.status, dumps({"Fault": fault.fault(), "time": format_ms(int(self.clock() * 1000))}), JSON
        if self.limiter is not None and not self.limiter.enter(realm_id, batch):
            return 429, errors.THROTTLED_XML, XML
        faults = self.faults
        if faults.latency_seconds:
            time.sleep(faults.latency_seconds)
        slow_commit = False
        try:
            if faults.roll(faults.throttle_rate):
                return 429, errors.THROTTLED_XML, XML
            if faults.roll(faults.error_rate):
                return 500, dumps({"Fault": {"Error": [{"Message": "An application error has occurred while "
                                  "processing your request", "Detail": "System Failure Error: injected by the sandbox",
                                  "code": "10000"}], "type": "SystemFault"},
                                  "time": format_ms(int(self.clock() * 1000))}), JSON
            with self.lock:
                company = self.realms[realm_id]
                company.api_requests += 1
                if requestid is not None and requestid in company.responses:
                    company.requestid_replays += 1
                    remembered = company.responses[requestid]
                    return remembered["status"], remembered["body"], JSON
                status, body = 200, None
                try:
                    if requestid is not None and len(requestid) > REQUESTID_MAX:
                        raise errors.business(f"requestid is longer than {REQUESTID_MAX} characters", "requestid")
                    body = action(company)
                except QBOFault as fault:
                    status, body = fault.status, {"Fault": fault.fault()}
                text = dumps({**body, "time": company.now()})
                if requestid is not None and len(requestid) <= REQUESTID_MAX:
                    company.responses[requestid] = {"status": status, "body": text}
                if mutating:
                    self.revision += 1
                    slow_commit = faults.roll(faults.slow_commit_rate)
                    if faults.roll(faults.drop_rate):
                        company.answers_dropped += 1
                        return DROPPED, "", JSON  # committed; the answer will be cut off
                return status, text, JSON
        finally:
            if slow_commit:
                time.sleep(faults.slow_commit_seconds)  # committed; the answer comes too late
            if self.limiter is not None:
                self.limiter.leave(realm_id)

    def set_preferences(self, realm_id: str, multicurrency: bool | None = None, book_close_date: object = ...) -> bool:
        """What a person does on QBO's settings page: turn multicurrency on, set or clear the closing date.
        False when there is no such realm; ValueError for a refused change."""
        with self.lock:
            company = self.realms.get(realm_id)
            if company is None:
                return False
            company.set_preferences(multicurrency, book_close_date)
            self.revision += 1
            return True

    def stats(self, realm_id: str) -> dict | None:
        with self.lock:
            company = self.realms.get(realm_id)
            return company.stats() if company else None

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write all state as JSON (money stays exact), atomically."""
        with self.lock:
            text = dumps({"format": STATE_FORMAT,
                          "realms": {realm_id: c.to_state() for realm_id, c in self.realms.items()},
                          **self.tokens.to_state()})
        write_atomically(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs) -> QBOSandbox:
        state = loads(Path(path).read_text(encoding="utf-8"))
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: unknown sandbox state format {state.get('format')!r}")
        sandbox = cls(**kwargs)
        sandbox.realms = {realm_id: Company.from_state(data, sandbox.clock)
                          for realm_id, data in state["realms"].items()}
        sandbox.tokens.load_state(state)
        return sandbox
