"""`SqlAllowlist`: what no decision may act on, at rest as decisions are (see
`apiwatch.store._decisions`: addresses and ranges in clear, accounts only as a blind index, the
entry itself encrypted and bound to its id)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import msgspec

from apiwatch.model import AllowEntry
from apiwatch.store._decisions import (
    associated,
    checked_value,
    encode,
    ip_columns,
    rotate_table,
    shown,
    utc,
    value_key,
)
from apiwatch.store._rows import from_micros, ip_range, micros

if TYPE_CHECKING:
    from apiwatch.store._database import Database

__all__ = ["SqlAllowlist"]

logger = logging.getLogger("apiwatch.decisions")

_ALLOW: Final = "allow"
_decode_allow = msgspec.json.Decoder(AllowEntry).decode


class SqlAllowlist:
    """`AllowlistStore` over a `Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _entry(self, row: Sequence[Any]) -> AllowEntry:
        """An entry from ``(id, key_id, payload)``."""
        entry_id = int(row[0])
        plain = self._db.keyring.decrypt(int(row[1]), bytes(row[2]), associated(_ALLOW, entry_id))
        return msgspec.structs.replace(_decode_allow(plain), id=entry_id)

    def add(self, entry: AllowEntry, *, by: str = "") -> AllowEntry:
        scope, value = checked_value(entry.scope, entry.value)
        key = value_key(self._db.keyring, scope, value)
        low, high = ip_columns(scope, value)
        m = self._db.mark
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(
                f"SELECT id, created FROM allowlist WHERE scope = {m} AND value_key = {m}",
                (scope, key),
            )
            row = cursor.fetchone()
            entry_id = int(row[0]) if row else self._db.advance(cursor, "allow_id", 1)
            created = from_micros(int(row[1])) if row else utc(entry.created)
            stored = AllowEntry(
                scope=scope, value=value, reason=entry.reason, created=created, id=entry_id
            )
            key_id, payload = self._db.keyring.encrypt(encode(stored), associated(_ALLOW, entry_id))
            cursor.execute(
                f"INSERT INTO allowlist VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}) "
                "ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, "
                "payload = excluded.payload",
                (entry_id, scope, key, low, high, micros(created), key_id, payload),
            )
            self._db.ledger_rows(cursor, "allow", [entry_id])
        logger.info("allowlist entry %d %s%s: %s %s", entry_id, "updated" if row else "added",
                    f" by {by}" if by else "", scope,
                    shown(self._db.keyring, scope, value))  # fmt: skip
        return stored

    def delete(self, scope: str, value: str, *, by: str = "") -> bool:
        scope, value = checked_value(scope, value)
        where = f"scope = {self._db.mark} AND value_key = {self._db.mark}"
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(f"SELECT id FROM allowlist WHERE {where}",
                           (scope, value_key(self._db.keyring, scope, value)))  # fmt: skip
            ids = [int(row[0]) for row in cursor.fetchall()]
            cursor.execute(f"DELETE FROM allowlist WHERE {where}",
                           (scope, value_key(self._db.keyring, scope, value)))  # fmt: skip
            done = int(cursor.rowcount) > 0
            self._db.ledger_rows(cursor, "allow", ids)
        if done:
            logger.info("allowlist entry removed%s: %s %s", f" by {by}" if by else "", scope,
                        shown(self._db.keyring, scope, value))  # fmt: skip
        return done

    def entries(self) -> list[AllowEntry]:
        rows = self._db.read_all("SELECT id, key_id, payload FROM allowlist ORDER BY id")
        return [self._entry(row) for row in rows]

    def allow_match(self, scope: str, value: str) -> AllowEntry | None:
        scope, value = checked_value(scope, value)
        m = self._db.mark
        if scope == "Username":
            sql = f"scope = {m} AND value_key = {m}"
            params: tuple[object, ...] = (scope, value_key(self._db.keyring, scope, value))
        else:  # overlapping: an address is its own one-address range
            low, high = ip_range(value)
            sql, params = f"ip_low <= {m} AND ip_high >= {m}", (high, low)
        rows = self._db.read_all(
            f"SELECT id, key_id, payload FROM allowlist WHERE {sql} ORDER BY id LIMIT 1", params
        )
        return self._entry(rows[0]) if rows else None

    def is_allowed(self, scope: str, value: str) -> bool:
        return self.allow_match(scope, value) is not None

    def rotate(self, new_id: int) -> int:
        """Re-encrypt every allowlist payload not under ``new_id``; rows done."""
        return rotate_table(self._db, "allowlist", _ALLOW, new_id)
