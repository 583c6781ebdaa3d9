"""Bearer-key authentication with a short cache, and the scope check.

`Authenticator` answers "which key is this secret?" through `KeyStore.authenticate` (a constant-time
comparison of hashes), remembering a verified key for a few seconds so that a busy sender does not
cost a database read per request. The cache is keyed by the SHA-256 of the presented secret; the
secret itself is never kept, logged, or put in an error message. Unknown secrets are not cached,
so a key works the moment it is created; a revoked key stops working within ``ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from apiwatch.model import ApiwatchError
from apiwatch.store import ApiKey

__all__ = ["AuthError", "Authenticator", "authorize", "bearer_secret"]

_MAX_CACHED = 4096


class AuthError(ApiwatchError):
    """Access refused: ``status`` is 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bearer_secret(authorization: str | None) -> str:
    """The secret of an ``Authorization: Bearer <secret>`` header; `AuthError` (401) otherwise."""
    if not authorization:
        raise AuthError(401, "an API key is required: send Authorization: Bearer <key>")
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthError(401, "the Authorization header must be: Bearer <key>")
    return secret


class Authenticator:
    """Which `ApiKey` a secret belongs to, cached for ``ttl`` seconds; see the module docstring."""

    def __init__(
        self,
        authenticate: Callable[[str], ApiKey | None],
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._authenticate = authenticate
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[bytes, tuple[ApiKey, float]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> ApiKey | None:
        """The key for ``secret`` when it was verified less than ``ttl`` ago (no store access)."""
        digest = _digest(secret)
        with self._lock:
            entry = self._cache.get(digest)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def __call__(self, secret: str) -> ApiKey | None:
        """The key for ``secret``, or None for an unknown or revoked one (may read the store)."""
        key = self.cached(secret)
        if key is not None:
            return key
        key = self._authenticate(secret)
        if key is not None and self._ttl > 0:
            with self._lock:
                if len(self._cache) >= _MAX_CACHED:
                    self._cache.clear()
                self._cache[_digest(secret)] = (key, self._clock() + self._ttl)
        return key


def authorize(key: ApiKey | None, scope: str) -> ApiKey:
    """``key`` when it may act in ``scope``; `AuthError` 401 (no valid key) or 403 otherwise."""
    if key is None:
        raise AuthError(401, "the API key is not valid (unknown or revoked)")
    if not key.allows(scope):
        raise AuthError(403, f"this API key may not do this: it needs the {scope!r} scope")
    return key


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
