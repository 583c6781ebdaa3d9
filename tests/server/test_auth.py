"""`Authenticator`: a short cache in front of `KeyStore.authenticate` that never keeps a secret."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apiwatch.server.auth import Authenticator, AuthError, authorize, bearer_secret
from apiwatch.store import ApiKey

KEY = ApiKey("id1", "api-1", frozenset({"ingest"}), datetime(2024, 1, 1, tzinfo=UTC))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_verified_key_is_served_from_the_cache_until_the_ttl_ends() -> None:
    """Within ttl the store is not asked again; after it, it is (so revocation takes effect)."""
    asked: list[str] = []

    def authenticate(secret: str) -> ApiKey | None:
        asked.append(secret)
        return KEY if secret == "s3cret" else None

    clock = Clock()
    authenticator = Authenticator(authenticate, ttl=5, clock=clock)
    assert authenticator("s3cret") == KEY
    clock.now = 4.9
    assert authenticator("s3cret") == KEY
    assert len(asked) == 1
    clock.now = 5.1
    assert authenticator.cached("s3cret") is None
    assert authenticator("s3cret") == KEY
    assert len(asked) == 2


def test_unknown_secrets_are_not_cached_and_no_secret_is_kept() -> None:
    """A wrong secret asks the store every time; the cache holds digests, never the secret."""
    asked: list[str] = []

    def authenticate(secret: str) -> ApiKey | None:
        asked.append(secret)
        return KEY if secret == "s3cret" else None

    authenticator = Authenticator(authenticate, ttl=5, clock=Clock())
    assert authenticator("wrong") is None
    assert authenticator("wrong") is None
    assert asked == ["wrong", "wrong"]
    authenticator("s3cret")
    assert "s3cret" not in repr(vars(authenticator))


def test_the_header_and_the_scope_decide_401_or_403() -> None:
    """No header or not Bearer: 401; a key without the scope: 403; admin may do anything."""
    assert bearer_secret("Bearer  abc ") == "abc"
    for header in (None, "", "Basic abc", "Bearer", "Bearer   "):
        with pytest.raises(AuthError) as refused:
            bearer_secret(header)
        assert refused.value.status == 401
    with pytest.raises(AuthError) as unknown:
        authorize(None, "ingest")
    assert unknown.value.status == 401
    with pytest.raises(AuthError) as forbidden:
        authorize(KEY, "read")
    assert forbidden.value.status == 403
    admin = ApiKey("id2", "root", frozenset({"admin"}), KEY.created_at)
    assert authorize(admin, "read") is admin
