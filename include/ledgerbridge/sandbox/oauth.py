"""OAuth 2.0 for the HTTP sandboxes (QBO, Xero): client credentials in HTTP Basic, refresh tokens that
rotate (the old one is refused at once) and expire, access tokens that expire. A grant is a dict with
`client_id`, `expires_at` (sandbox clock, epoch seconds) and what the sandbox adds to it (QBO: realm_id;
Xero: tenants). Thread-safe; `refresh_tokens` and `access_tokens` are the state a sandbox saves."""
from __future__ import annotations

import base64
import binascii
import secrets
import threading
from collections.abc import Callable


class TokenRefused(Exception):
    """What a token endpoint answers a refused grant: (status, OAuth error body)."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(body["error"])
        self.status, self.body = status, body


class TokenIssuer:
    def __init__(self, clients: dict[str, str], clock: Callable[[], float], access_token_ttl: int,
                 refresh_token_ttl: int, rotate: bool = True, refresh_prefix: str = "") -> None:
        self.clients = dict(clients)
        self.clock = clock
        self.access_token_ttl, self.refresh_token_ttl = access_token_ttl, refresh_token_ttl
        self.rotate, self.refresh_prefix = rotate, refresh_prefix
        self.refresh_tokens: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self._lock = threading.Lock()

    def client(self, authorization: str | None) -> str | None:
        """The client id of valid HTTP Basic credentials, else None."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.clients.get(client_id)
        return client_id if expected is not None and secrets.compare_digest(expected, secret) else None

    def issue_refresh_token(self, client_id: str, **claims) -> str:
        with self._lock:
            return self._issue(client_id, claims)

    def _issue(self, client_id: str, claims: dict) -> str:
        token = self.refresh_prefix + secrets.token_urlsafe(36)
        self.refresh_tokens[token] = {**claims, "client_id": client_id,
                                      "expires_at": self.clock() + self.refresh_token_ttl}
        return token

    def exchange(self, authorization: str | None, form: dict[str, str],
                 invalid_client_status: int = 401) -> tuple[str, str, dict]:
        """A token endpoint's refresh_token grant, client credentials in `authorization` (Basic):
        (access token, refresh token, grant), or TokenRefused with the OAuth error to answer."""
        client_id = self.client(authorization)
        if client_id is None:
            raise TokenRefused(invalid_client_status, {"error": "invalid_client"})
        if form.get("grant_type") != "refresh_token":
            raise TokenRefused(400, {"error": "unsupported_grant_type"})
        issued = self.refresh(client_id, form.get("refresh_token") or "")
        if issued is None:
            raise TokenRefused(400, {"error": "invalid_grant"})
        return issued

    def refresh(self, client_id: str, refresh_token: str) -> tuple[str, str, dict] | None:
        """The refresh_token grant: (access token, refresh token, grant), or None when the refresh
        token is unknown, already rotated, expired or another client's (OAuth's invalid_grant)."""
        with self._lock:
            now = self.clock()
            grant = self.refresh_tokens.get(refresh_token)
            if grant is None or grant["client_id"] != client_id or now >= grant["expires_at"]:
                return None
            claims = {k: v for k, v in grant.items() if k not in ("client_id", "expires_at")}
            if self.rotate:
                del self.refresh_tokens[refresh_token]
                refresh_token = self._issue(client_id, claims)
            else:
                grant["expires_at"] = now + self.refresh_token_ttl  # rolling expiry
            self.access_tokens = {t: g for t, g in self.access_tokens.items() if g["expires_at"] > now}
            access_token = secrets.token_urlsafe(48)
            self.access_tokens[access_token] = {**claims, "client_id": client_id,
                                                "expires_at": now + self.access_token_ttl}
            return access_token, refresh_token, self.access_tokens[access_token]

    def bearer(self, authorization: str | None) -> tuple[str, dict | None]:
        """Check an `Authorization: Bearer` header: ("missing" | "invalid" | "expired" | "ok", grant)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing", None
        grant = self.access_tokens.get(token.strip())
        if grant is None:
            return "invalid", None
        if self.clock() >= grant["expires_at"]:
            return "expired", grant
        return "ok", grant

    def to_state(self) -> dict:
        with self._lock:
            return {"refresh_tokens": dict(self.refresh_tokens), "access_tokens": dict(self.access_tokens)}

    def load_state(self, state: dict) -> None:
        with self._lock:
            for kind, tokens in (("refresh", self.refresh_tokens), ("access", self.access_tokens)):
                for token, grant in state[f"{kind}_tokens"].items():
                    tokens[token] = {**grant, "expires_at": float(grant["expires_at"])}
