"""API key secrets: generated once, stored only as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_secret", "new_secret", "secret_id", "secrets_match"]

_PREFIX = "aw_"
_HEX = frozenset("0123456789abcdef")


def new_secret() -> tuple[str, str]:
    """``(key id, secret)``; the secret embeds the id so lookups need no scan."""
    key_id = secrets.token_hex(6)
    return key_id, f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def secret_id(secret: str) -> str | None:
    """The key id inside a presented secret, or None if it is not shaped like one of ours."""
    if not secret.startswith(_PREFIX):
        return None
    key_id, sep, rest = secret[len(_PREFIX) :].partition("_")
    # Only hex ids reach the database: a hostile header must not become a driver error (NUL).
    if sep and rest and len(key_id) == 12 and all(c in _HEX for c in key_id):
        return key_id
    return None


def hash_secret(secret: str) -> bytes:
    """SHA-256 is enough: secrets are 256 random bits, not guessable passwords."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


_DUMMY = hash_secret("aw_000000000000_dummy")


def secrets_match(presented: str, stored_hash: bytes | None) -> bool:
    """Constant-time comparison; an unknown id still costs one comparison."""
    return hmac.compare_digest(hash_secret(presented), stored_hash or _DUMMY) and (
        stored_hash is not None
    )
