"""Console passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's low-memory profile).

Only hashes are stored. `verify` takes as long for an unknown user as for a known one (it checks
against a fixed dummy hash), so a login's timing does not tell which accounts exist.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from apiwatch.model import ConfigError

__all__ = ["MIN_LENGTH", "check_strength", "hash_password", "verify"]

MIN_LENGTH = 12
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("apiwatch: no such user, never a password")


def check_strength(password: str) -> None:
    """`ConfigError` for a password too short to stand an offline guess."""
    if len(password) < MIN_LENGTH:
        raise ConfigError(f"password: use at least {MIN_LENGTH} characters")
    if not password.isprintable():
        raise ConfigError("password: printable characters only")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: no such user, always False)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
