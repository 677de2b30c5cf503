"""HTTP helpers every REST accounting client shares (QuickBooks Online, Xero): what a failed request
says about whether it may have reached the server, JSON answers with exact Decimal money, and
`OAuthApiClient`, the OAuth 2.0 tokens, sending and backoff both clients run alike."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import requests

from ledgerbridge import observability
from ledgerbridge.connectors.errors import ReconnectRequired, TransientError
from ledgerbridge.connectors.limits import Limiter
from ledgerbridge.connectors.tokens import LedgerTokenStore, TokenSet, expires_in
from ledgerbridge.ledger.types import utcnow


def never_sent(exc: requests.ConnectionError) -> bool:
    """A refused connection never reached the server; a reset may have."""
    text = str(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "Name or service not known" in text


def json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json(parse_float=Decimal)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"_list": body}


class OAuthApiClient:
    """What an OAuth 2.0 REST client (QuickBooks Online, Xero) does alike: the access token (refreshed
    under the per-company lock of `connectors/tokens.py`), one request under the company's rate
    limiter, and the backoff between attempts. Each system's own URLs, headers and answers stay in
    its client."""

    # How errors name the token endpoint.
    TOKEN_ENDPOINT = "token endpoint"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        tokens: LedgerTokenStore,
        token_url: str,
        timeout: tuple[float, float],
        max_attempts: int,
        backoff_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        http: requests.Session | None = None,
        limiter: Limiter | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens = tokens
        self.token_url = token_url
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.http = http or requests.Session()
        self.limiter: Limiter = limiter  # type: ignore[assignment]
        self._access: TokenSet | None = None
        self.requests_sent = 0
        self.server_time: datetime | None = None

    # -- tokens ---------------------------------------------------------------------------------

    def _access_token(self, rejected: str | None = None) -> str:
        now = utcnow()
        if self._access and self._access.access_valid(now) and self._access.access_token != rejected:
            return self._access.access_token  # type: ignore[return-value]
        stored = self.tokens.current()
        if stored.access_valid(now) and stored.access_token != rejected:
            self._access = stored
        else:
            self._access = self.tokens.refresh(self._exchange_refresh_token, rejected=rejected)
        return self._access.access_token  # type: ignore[return-value]

    def _exchange_refresh_token(self, refresh_token: str) -> TokenSet:
        try:
            response = self.http.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=(self.client_id, self.client_secret),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(f"{self.TOKEN_ENDPOINT} {self.token_url} unreachable: {exc}") from exc
        if response.status_code in (400, 401):
            error = json_or_empty(response).get("error", f"HTTP {response.status_code}")
            raise self._refresh_refused(error)
        if response.status_code >= 300:
            raise TransientError(f"{self.TOKEN_ENDPOINT} answered HTTP {response.status_code}")
        body = response.json()
        return TokenSet(body["refresh_token"], body["access_token"], expires_in(body["expires_in"]))

    def _refresh_refused(self, error: str) -> ReconnectRequired:
        """The error for a refresh token the token endpoint refused (400/401): the company must reconnect."""
        raise NotImplementedError

    # -- transport ------------------------------------------------------------------------------

    def _send(self, method: str, url: str, state: dict[str, bool], batch: bool = False,
              **request: Any) -> tuple[requests.Response | None, str]:
        """One request under the company's limiter: (the answer, "") or, when none came, (None, what
        went wrong), noting in `state["maybe_applied"]` whether the request may have reached the server."""
        try:
            self.requests_sent += 1
            with self.limiter.slot(batch=batch) as waited:
                observability.add_limiter_wait(waited)
                observability.count("api_requests")
                response = self.http.request(method, url, timeout=self.timeout, **request)
            if response.status_code == 429:
                observability.count("api_throttled")
            return response, ""
        except requests.ConnectionError as exc:
            # A refused connection never reached the server; a reset may have.
            state["maybe_applied"] = state["maybe_applied"] or not never_sent(exc)
            return None, f"connection error: {exc}"
        except requests.Timeout as exc:
            state["maybe_applied"] = True
            return None, f"timed out: {exc}"
        except requests.RequestException as exc:
            # An answer cut short (chunked encoding, decoding): the request did arrive.
            state["maybe_applied"] = True
            return None, f"answer broken off: {exc}"

    def _backoff(self, attempt: int, wait: float) -> None:
        """Before the next attempt (none after the last): exponential backoff with jitter, or `wait`
        seconds if the server asked for longer."""
        if attempt < self.max_attempts:
            delay = self.backoff_seconds * 2 ** (attempt - 1)
            self.sleep(max(delay + random.uniform(0, delay / 2), wait))
