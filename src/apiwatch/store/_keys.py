"""API keys: `SqlKeyStore`, the keys' role store; secrets generated once, stored only as a hash,
compared in constant time; and a key's binding (the services and networks it may report for),
checked and kept as text."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apiwatch.model import ConfigError, parse_network
from apiwatch.store._database import StoreUnavailableError, now_us
from apiwatch.store._rows import from_micros
from apiwatch.store.base import SCOPES, ApiKey

if TYPE_CHECKING:
    from apiwatch.store._database import Database

__all__ = [
    "SqlKeyStore",
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


_KEY_COLUMNS = (
    "id, name, scopes, secret_hash, created_at, revoked_at, last_used_at, services, networks"
)


class SqlKeyStore:
    """`KeyStore` over a `Database`: every write is in the ledger."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        services: Sequence[str] = (),
        networks: Sequence[str] = (),
    ) -> tuple[ApiKey, str]:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ConfigError(
                f"scope: {', '.join(unknown) or 'none given'}; choose from {', '.join(SCOPES)}"
            )
        if not name.strip() or len(name) > 100 or not name.isprintable():
            raise ConfigError("name: give a short name for the key, e.g. api-1")
        bound_services = check_services(services)
        bound_networks = check_networks(networks)
        key_id, secret = new_secret()
        now = now_us()
        scope_text = ",".join(sorted(set(scopes)))
        try:
            with self._db.transaction(exclusive=True) as cursor:
                cursor.execute(
                    f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES ({self._db.marks(9)})",
                    (key_id, name, scope_text, hash_secret(secret), now, None, None,
                     join_list(bound_services), join_list(bound_networks)),
                )  # fmt: skip
                self._db.ledger_rows(cursor, "api_key", [key_id])
        except StoreUnavailableError as exc:
            if "unique" in str(exc.__cause__).lower():
                raise ConfigError(f"name: a key called {name!r} already exists") from None
            raise
        key = ApiKey(key_id, name, frozenset(scopes), from_micros(now),
                     services=frozenset(bound_services), networks=bound_networks)  # fmt: skip
        return key, secret

    def authenticate(self, secret: str) -> ApiKey | None:
        key_id = secret_id(secret)
        rows = self._db.read_all(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = {self._db.mark}", (key_id or "",)
        )
        stored = bytes(rows[0][3]) if rows else None
        if not secrets_match(secret, stored):
            return None
        key = _api_key(rows[0])
        return key if key.revoked_at is None else None

    def all(self) -> list[ApiKey]:
        rows = self._db.read_all(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        return [_api_key(row) for row in rows]

    def revoke(self, name_or_id: str) -> bool:
        m = self._db.mark
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(
                f"SELECT id FROM api_keys WHERE (name = {m} OR id = {m}) AND revoked_at IS NULL",
                (name_or_id, name_or_id),
            )
            ids = [str(row[0]) for row in cursor.fetchall()]
            if not ids:
                return False
            cursor.execute(
                f"UPDATE api_keys SET revoked_at = {m} WHERE id IN ({self._db.marks(len(ids))})",
                (now_us(), *ids),
            )
            self._db.ledger_rows(cursor, "api_key", ids)
        return True


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row[0],
        name=row[1],
        scopes=frozenset(row[2].split(",")),
        created_at=from_micros(row[4]),
        revoked_at=from_micros(row[5]) if row[5] is not None else None,
        last_used_at=from_micros(row[6]) if row[6] is not None else None,
        services=frozenset(split_list(row[7])),
        networks=split_list(row[8]),
    )
