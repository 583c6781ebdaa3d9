"""API key secrets: generated once, stored only as a hash, compared in constant time; and a
key's binding (the services and networks it may report for), checked and kept as text."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from apiwatch.model import ConfigError, parse_network

__all__ = [
    "check_networks",
    "check_services",
    "hash_secret",
    "join_list",
    "new_secret",
    "secret_id",
    "secrets_match",
    "split_list",
]

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


def check_services(services: Sequence[str]) -> tuple[str, ...]:
    """The service names, sorted and once each; `ConfigError` for an empty or odd one (a comma
    would split it when read back)."""
    for service in services:
        if not service.strip() or "," in service or not service.isprintable():
            raise ConfigError(f"service: {service!r} is not a service name (service.name)")
    return tuple(sorted(set(services)))


def check_networks(networks: Sequence[str]) -> tuple[str, ...]:
    """The networks in canonical CIDR form, sorted and once each; `ConfigError` naming one that
    is not a network (an address alone is a /32 or /128)."""
    out = set()
    for network in networks:
        try:
            out.add(str(parse_network(network)))  # an IPv6 zone is free text, and no network
        except ValueError:
            raise ConfigError(f"network: {network!r} is not a network (e.g. 10.0.0.0/8)") from None
    return tuple(sorted(out))


def join_list(items: Sequence[str]) -> str | None:
    """A binding list as stored: comma-separated, NULL when empty (unbound)."""
    return ",".join(items) if items else None


def split_list(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()
