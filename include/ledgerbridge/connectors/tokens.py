"""OAuth 2.0 tokens of an accounting company (a QuickBooks Online realm, a Xero tenant), kept in the
ledger, encrypted, shared by every connector that refreshes rotating tokens.

Intuit may hand out a new refresh token on any refresh, and Xero does on every one; the old one then
stops working, so the
newest one must be stored before anything else happens. The connection's own refresh token is only
the seed: when a person reconnects the company and updates the connection, its new token wins.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ledgerbridge import settings
from ledgerbridge.connectors.errors import ReconnectRequired
from ledgerbridge.ledger import Ledger
from ledgerbridge.ledger.models import OAuthToken
from ledgerbridge.ledger.types import utcnow

# Refresh a little before the stated expiry so a token never dies in flight.
EXPIRY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class TokenSet:
    refresh_token: str
    access_token: str | None = None
    access_expires_at: datetime | None = None

    def access_valid(self, now: datetime) -> bool:
        return bool(self.access_token and self.access_expires_at and now < self.access_expires_at)


def _fernet(secret: str) -> MultiFernet:
    """Encrypts under LEDGERBRIDGE_TOKEN_KEY when set (required in production: settings.token_key), else
    under a key derived from the connection's client secret (the demo). With the key set, tokens stored
    before it was (under the client secret) still decrypt, and are stored under the key at their next refresh."""
    key = settings.token_key()
    return MultiFernet([_derived(material) for material in (key, secret) if material])


def _derived(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ledgerbridge oauth tokens").derive(
        material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LedgerTokenStore:
    def __init__(self, ledger: Ledger, conn_id: str, company_id: str, seed_refresh_token: str, secret: str):
        if not seed_refresh_token:
            raise ReconnectRequired(
                f"connection {conn_id!r} has no refresh_token in its extras: connect the company first"
            )
        self.ledger = ledger
        self.conn_id = conn_id
        self.company_id = company_id
        self.seed_refresh_token = seed_refresh_token
        self._fernet = _fernet(secret)

    def current(self) -> TokenSet:
        with self.ledger.session() as session:
            return self._stored(self._row(session))

    def refresh(
        self, exchange: Callable[[str], TokenSet], rejected: str | None = None, now: Callable[[], datetime] = utcnow
    ) -> TokenSet:
        """Refresh under a per-company lock, unless another task already did while we waited.

        `rejected` is an access token the server just refused: never hand it out again.
        """
        self._ensure_row()
        with self.ledger.session() as session:
            self._lock(session)
            row = self._row(session, for_update=True)
            stored = self._stored(row)
            if stored.access_valid(now()) and stored.access_token != rejected:
                return stored
            fresh = exchange(stored.refresh_token)
            row.seed_fingerprint = _fingerprint(self.seed_refresh_token)
            row.refresh_token = self._fernet.encrypt(fresh.refresh_token.encode()).decode()
            row.access_token = self._fernet.encrypt(fresh.access_token.encode()).decode() if fresh.access_token else None
            row.access_expires_at = fresh.access_expires_at
            row.version = (row.version or 0) + 1
            return fresh

    def _ensure_row(self) -> None:
        """A row to lock exists before the first refresh, so two first refreshes cannot both use the seed."""
        with self.ledger.session() as session:
            if self._row(session) is not None:
                return
            try:
                with session.begin_nested():
                    session.add(OAuthToken(conn_id=self.conn_id, company_id=self.company_id,
                                           seed_fingerprint="", refresh_token="", version=0))
            except IntegrityError:
                pass  # another task created it first: fine, we lock it next

    def _lock(self, session) -> None:
        # SQLite has no row locks; a write takes the database lock until commit, which serialises
        # refreshes the same way SELECT ... FOR UPDATE does on PostgreSQL.
        if session.bind.dialect.name == "sqlite":
            session.execute(
                update(OAuthToken)
                .where(OAuthToken.conn_id == self.conn_id, OAuthToken.company_id == self.company_id)
                .values(version=OAuthToken.version)
            )

    def _row(self, session, for_update: bool = False) -> OAuthToken | None:
        query = select(OAuthToken).where(OAuthToken.conn_id == self.conn_id, OAuthToken.company_id == self.company_id)
        if for_update:
            query = query.with_for_update()
        return session.scalars(query).one_or_none()

    def _stored(self, row: OAuthToken | None) -> TokenSet:
        if row is None or not row.refresh_token or row.seed_fingerprint != _fingerprint(self.seed_refresh_token):
            # Never refreshed, or the connection was reconnected: its own token is the newest.
            return TokenSet(self.seed_refresh_token)
        return self._decode(row)

    def _decode(self, row: OAuthToken) -> TokenSet:
        try:
            refresh = self._fernet.decrypt(row.refresh_token.encode()).decode()
            access = self._fernet.decrypt(row.access_token.encode()).decode() if row.access_token else None
        except InvalidToken:
            raise ReconnectRequired(
                f"stored tokens of company {self.company_id} cannot be decrypted (LEDGERBRIDGE_TOKEN_KEY, or the "
                "client secret they were stored under, changed): reconnect the company"
            ) from None
        return TokenSet(refresh, access, row.access_expires_at)


def expires_in(seconds: int | str, now: datetime | None = None) -> datetime:
    """When to stop using an access token that lives `seconds`: a minute early, or a tenth of its
    life early when it lives less than ten minutes, so no request leaves with a dying token."""
    lifetime = timedelta(seconds=int(seconds))
    return (now or utcnow()) + lifetime - min(EXPIRY_MARGIN, lifetime / 10)
