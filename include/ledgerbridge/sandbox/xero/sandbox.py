"""The Xero sandbox's whole state: organisations (tenants), OAuth tokens and connections, limits,
idempotency, faults, persistence."""
from __future__ import annotations

import copy
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ..jsonmoney import dumps, loads
from ..oauth import TokenIssuer, TokenRefused
from ..serving import write_atomically
from .faults import Faults
from .limits import XeroLimiter
from .org import ENDPOINTS, Invalid, Organisation, public, xero_date

DEFAULT_CLIENTS = {"ledgerbridge-demo": "demo-secret"}
ACCESS_TOKEN_TTL = 1800        # 30 minutes
REFRESH_TOKEN_TTL = 60 * 86400  # 60 days unused
IDEMPOTENCY_TTL = 86400         # a sandbox choice: keys are remembered for 24 hours
IDEMPOTENCY_KEY_MAX = 128
DROPPED = -1
STATE_FORMAT = 1
SCOPE = "offline_access accounting.transactions accounting.contacts accounting.settings accounting.attachments"


def problem(status: int, title: str, detail: str) -> dict:
    """Xero's identity/authorisation error body (problem details)."""
    return {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4()),
            "Extensions": {}}


def validation_exception(elements: list[dict]) -> dict:
    return {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": elements}


class XeroSandbox:
    """An in-memory Xero: every public method is thread-safe."""

    def __init__(self, clients: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
                 rate_limits: bool = True, *, access_token_ttl: int = ACCESS_TOKEN_TTL,
                 refresh_token_ttl: int = REFRESH_TOKEN_TTL, per_minute: int = 60, per_day: int = 5000,
                 concurrent: int = 5, app_per_minute: int = 10000, idempotency_ttl: int = IDEMPOTENCY_TTL,
                 faults: Faults | None = None) -> None:
        self.clock = clock
        self.tokens = TokenIssuer(DEFAULT_CLIENTS if clients is None else clients, clock, access_token_ttl,
                                  refresh_token_ttl, rotate=True)
        self.limiter = (XeroLimiter(clock, per_minute, per_day, concurrent, app_per_minute)
                        if rate_limits else None)
        self.idempotency_ttl = idempotency_ttl
        self.faults = faults or Faults()
        self.lock = threading.RLock()
        self.tenants: dict[str, Organisation] = {}
        self.revision = 0

    # -- tenants and OAuth --------------------------------------------------------------------
    def create_tenant(self, client_id: str, name: str = "Demo Company", tenant_id: str | None = None,
                      country_code: str = "US", base_currency: str | None = None) -> tuple[str, str]:
        """Create an organisation of `country_code` (its chart and tax rates; AU: GST) or reconnect an
        existing one, and return (tenant id, a refresh token whose connections are that tenant), as
        Xero's consent step would."""
        if client_id not in self.tokens.clients:
            raise ValueError(f"unknown client_id {client_id!r}")
        with self.lock:
            tenant_id = str(uuid.UUID(tenant_id)) if tenant_id else str(uuid.uuid4())
            if tenant_id not in self.tenants:
                org = Organisation(tenant_id, name, self.clock, country_code, base_currency)
                org.seed()
                self.tenants[tenant_id] = org
            self.revision += 1
            return tenant_id, self.tokens.issue_refresh_token(client_id, tenants=[tenant_id],
                                                              auth_event=str(uuid.uuid4()))

    def exchange_token(self, authorization: str | None, form: dict[str, str]) -> tuple[int, dict]:
        """POST /connect/token with grant_type=refresh_token (client credentials in Basic auth, or
        client_id/client_secret in the form)."""
        if authorization is None and form.get("client_id"):
            import base64
            authorization = "Basic " + base64.b64encode(
                f"{form['client_id']}:{form.get('client_secret', '')}".encode()).decode()
        with self.lock:
            try:
                access_token, refresh_token, _ = self.tokens.exchange(authorization, form, invalid_client_status=400)
            except TokenRefused as refused:
                return refused.status, refused.body
            self.revision += 1
        return 200, {"access_token": access_token, "expires_in": self.tokens.access_token_ttl,
                     "token_type": "Bearer", "refresh_token": refresh_token, "scope": SCOPE}

    def _grant(self, authorization: str | None) -> tuple[dict | None, tuple[int, dict] | None]:
        state, grant = self.tokens.bearer(authorization)
        if state == "ok":
            return grant, None
        if state == "expired":
            moment = datetime.fromtimestamp(grant["expires_at"], timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
            return None, (401, problem(401, "Unauthorized", f"TokenExpired: token expired at {moment}"))
        return None, (401, problem(401, "Unauthorized", "AuthenticationUnsuccessful"))

    def connections(self, authorization: str | None) -> tuple[int, object]:
        """GET /connections: the tenants the access token reaches."""
        with self.lock:
            grant, refused = self._grant(authorization)
            if refused:
                return refused
            return 200, [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{grant['client_id']}/{tenant}")),
                          "authEventId": grant.get("auth_event"), "tenantId": tenant, "tenantType": "ORGANISATION",
                          "tenantName": self.tenants[tenant].name,
                          "createdDateUtc": _iso(self.tenants[tenant].created_ms),
                          "updatedDateUtc": _iso(self.tenants[tenant].created_ms)}
                         for tenant in grant["tenants"] if tenant in self.tenants]

    # -- the accounting API -------------------------------------------------------------------
    def api(self, authorization: str | None, tenant_id: str | None, action: Callable[[Organisation], tuple[int, object]],
            *, mutating: bool = False, idempotency_key: str | None = None) -> tuple[int, object, dict]:
        """Serve one /api.xro/2.0 request: authenticate, check the tenant, throttle, run
        action(org) -> (status, body) and return (status, body, headers); body is a dict (JSON),
        bytes (a file) or DROPPED's ""."""
        with self.lock:
            grant, refused = self._grant(authorization)
            if refused:
                return refused[0], refused[1], {}
            if not tenant_id:
                return 403, problem(403, "Forbidden", "AuthenticationUnsuccessful: the xero-tenant-id header is "
                                                      "missing"), {}
            if tenant_id not in grant["tenants"] or tenant_id not in self.tenants:
                return 403, problem(403, "Forbidden", "AuthenticationUnsuccessful"), {}
            self.tenants[tenant_id].api_requests += 1  # every call that reached the tenant, 429s included
            app = grant["client_id"]
        headers: dict[str, str] = {}
        if self.limiter is not None:
            admission = self.limiter.enter(app, tenant_id)
            headers = admission.headers
            if not admission.admitted:
                return 429, problem(429, "Too Many Requests", f"Rate limit exceeded: {admission.problem}"), headers
        faults, slow_commit = self.faults, False
        try:
            if faults.latency_seconds:
                time.sleep(faults.latency_seconds)
            if faults.roll(faults.throttle_rate):
                return 429, problem(429, "Too Many Requests", "Rate limit exceeded: minute"), {
                    **headers, "Retry-After": "1", "X-Rate-Limit-Problem": "minute"}
            if faults.roll(faults.error_rate):
                return 500, {"ErrorNumber": 500, "Type": "UnknownErrorException",
                             "Message": "An error occurred in Xero (injected by the sandbox)"}, headers
            with self.lock:
                org = self.tenants[tenant_id]
                now = self.clock()
                if idempotency_key is not None and mutating:
                    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
                        return 400, validation_exception([{"ValidationErrors": [{"Message": (
                            f"The Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters")}]}]), headers
                    org.idempotency = {k: v for k, v in org.idempotency.items()
                                       if v["at"] > now - self.idempotency_ttl}
                    remembered = org.idempotency.get(idempotency_key)
                    if remembered is not None:
                        org.idempotency_replays = getattr(org, "idempotency_replays", 0) + 1
                        return remembered["status"], loads(remembered["body"]), headers
                status, body = action(org)
                if isinstance(body, dict) and status == 200 and not isinstance(body, bytes):
                    body = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "LedgerBridge Xero sandbox",
                            "DateTimeUTC": xero_date(int(now * 1000)), **body}
                if mutating:
                    if idempotency_key is not None:
                        org.idempotency[idempotency_key] = {"status": status, "body": dumps(body), "at": now}
                    self.revision += 1
                    slow_commit = faults.roll(faults.slow_commit_rate)
                    if faults.roll(faults.drop_rate):
                        return DROPPED, "", headers
                return status, body, headers
        finally:
            if slow_commit:
                time.sleep(faults.slow_commit_seconds)
            if self.limiter is not None:
                self.limiter.leave(app, tenant_id)

    @staticmethod
    def write_batch(org: Organisation, endpoint: str, body: object, summarize_errors: bool) -> tuple[int, dict]:
        """PUT/POST of one element or {"<Endpoint>": [...]}: all or nothing (400 ValidationException)
        by default, element by element with summarizeErrors=false (200)."""
        if isinstance(body, dict) and endpoint in body:
            elements = body[endpoint]
        else:
            elements = [body]
        if not isinstance(elements, list) or not elements:
            return 400, validation_exception([{"ValidationErrors": [{"Message": f"No {endpoint} were given"}]}])
        if summarize_errors:
            saved = copy.deepcopy(org.records), org._last_stamp
            done, failed = [], []
            for element in elements:
                try:
                    done.append(public(org.write(endpoint, element)))
                except Invalid as invalid:
                    failed.append(_with_errors(element, invalid))
            if failed:
                org.records, org._last_stamp = saved
                return 400, validation_exception(failed)
            return 200, {endpoint: done}
        answered = []
        for element in elements:
            try:
                answered.append({**public(org.write(endpoint, element)), "StatusAttributeString": "OK"})
            except Invalid as invalid:
                answered.append({**_with_errors(element, invalid), "StatusAttributeString": "ERROR"})
        return 200, {endpoint: answered}

    def stats(self, tenant_id: str) -> dict | None:
        with self.lock:
            org = self.tenants.get(tenant_id)
            if org is None:
                return None
            return {**org.stats(), "idempotency_replays": getattr(org, "idempotency_replays", 0)}

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        with self.lock:
            text = dumps({"format": STATE_FORMAT, "tenants": {t: o.to_state() for t, o in self.tenants.items()},
                          **self.tokens.to_state()})
        write_atomically(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs) -> XeroSandbox:
        state = loads(Path(path).read_text(encoding="utf-8"))
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: unknown Xero sandbox state format {state.get('format')!r}")
        sandbox = cls(**kwargs)
        sandbox.tenants = {t: Organisation.from_state(data, sandbox.clock) for t, data in state["tenants"].items()}
        sandbox.tokens.load_state(state)
        return sandbox


def _with_errors(element: object, invalid: Invalid) -> dict:
    given = dict(element) if isinstance(element, dict) else {}
    return {**given, "HasErrors": True, "ValidationErrors": [{"Message": m} for m in invalid.messages]}


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


__all__ = ["DROPPED", "ENDPOINTS", "XeroSandbox"]
