"""LEDGERBRIDGE_TOKEN_KEY: required in production, where a missing key is an error naming it (never a key
silently derived from the client secret); the demo keeps deriving it. On the real token store and ledger."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ledgerbridge.connectors.errors import ReconnectRequired
from ledgerbridge.connectors.tokens import LedgerTokenStore, TokenSet
from ledgerbridge.ledger.models import OAuthToken
from ledgerbridge.ledger.types import utcnow
from ledgerbridge.settings import SettingError

KEY = "a-long-random-deployment-key-0123456789"


def _store(ledger, secret: str = "client-secret-1") -> LedgerTokenStore:
    return LedgerTokenStore(ledger, "qbo_acme", "9130", "seed-refresh", secret)


def _rotate(store: LedgerTokenStore, new_refresh: str) -> TokenSet:
    """A refresh that rotates the refresh token (the server refused the access token in hand)."""
    in_hand = store.current().access_token
    return store.refresh(lambda _old: TokenSet(new_refresh, f"access-{new_refresh}", utcnow() + timedelta(hours=1)),
                         rejected=in_hand)


def _stored_row(ledger) -> OAuthToken | None:
    with ledger.session() as session:
        return session.scalars(select(OAuthToken)).one_or_none()


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("LEDGERBRIDGE_ENVIRONMENT", "production")
    monkeypatch.delenv("LEDGERBRIDGE_TOKEN_KEY", raising=False)


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.delenv("LEDGERBRIDGE_ENVIRONMENT", raising=False)
    monkeypatch.delenv("LEDGERBRIDGE_TOKEN_KEY", raising=False)


def test_production_without_a_key_refuses_to_store_or_load_tokens_and_names_the_variable(ledger, production):
    with pytest.raises(SettingError) as refused:
        _store(ledger)
    message = str(refused.value)
    assert "LEDGERBRIDGE_TOKEN_KEY is not set" in message and "LEDGERBRIDGE_ENVIRONMENT=production" in message
    assert "docs/deployment.md" in message
    assert _stored_row(ledger) is None  # nothing written under a derived key


def test_production_with_a_blank_key_is_refused_like_a_missing_one(ledger, production, monkeypatch):
    monkeypatch.setenv("LEDGERBRIDGE_TOKEN_KEY", "   ")
    with pytest.raises(SettingError, match="LEDGERBRIDGE_TOKEN_KEY is not set"):
        _store(ledger)


def test_an_unknown_environment_is_refused_rather_than_read_as_the_demo(ledger, monkeypatch):
    monkeypatch.setenv("LEDGERBRIDGE_ENVIRONMENT", "prod")
    monkeypatch.delenv("LEDGERBRIDGE_TOKEN_KEY", raising=False)
    with pytest.raises(SettingError, match=r"LEDGERBRIDGE_ENVIRONMENT='prod' is not one of demo, production"):
        _store(ledger)


def test_production_with_the_key_stores_tokens_a_new_client_secret_can_still_read(ledger, production, monkeypatch):
    monkeypatch.setenv("LEDGERBRIDGE_TOKEN_KEY", KEY)
    _rotate(_store(ledger, secret="client-secret-1"), "refresh-2")
    row = _stored_row(ledger)
    assert "refresh-2" not in row.refresh_token  # encrypted at rest

    # The client secret is rotated in the connection: the tokens are under the deployment's key, not it.
    assert _store(ledger, secret="client-secret-2").current().refresh_token == "refresh-2"


def test_the_demo_still_derives_the_key_from_the_client_secret(ledger, demo):
    _rotate(_store(ledger, secret="client-secret-1"), "refresh-2")
    assert _store(ledger, secret="client-secret-1").current().refresh_token == "refresh-2"
    with pytest.raises(ReconnectRequired, match="cannot be decrypted"):
        _store(ledger, secret="client-secret-2").current()


def test_setting_the_key_on_a_running_deployment_keeps_its_tokens_and_moves_them_under_the_key(
        ledger, demo, monkeypatch):
    _rotate(_store(ledger, secret="client-secret-1"), "refresh-2")  # stored before the key existed

    monkeypatch.setenv("LEDGERBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("LEDGERBRIDGE_TOKEN_KEY", KEY)
    store = _store(ledger, secret="client-secret-1")
    assert store.current().refresh_token == "refresh-2"  # no reconnect needed
    _rotate(store, "refresh-3")  # the next refresh writes under the key
    assert _store(ledger, secret="another-secret").current().refresh_token == "refresh-3"

    monkeypatch.setenv("LEDGERBRIDGE_TOKEN_KEY", "some-other-key-entirely-0123456789")
    with pytest.raises(ReconnectRequired, match="LEDGERBRIDGE_TOKEN_KEY, or the client secret"):
        _store(ledger, secret="another-secret").current()
