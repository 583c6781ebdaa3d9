"""What forwarders need of a store: events by sequence number, and durable cursors.

A forwarder (`apiwatch.forward`) reads committed events in the order the writer numbered them
(``seq``, the position in the hash chain) and alerts and incidents in the order of
``(last_seen, id)``; after a batch has been delivered it saves where it got to, so that a
restarted collector resumes there. Cursors live in the store's ``meta`` table under
``forward:<name>``, so that they are backed up, restored and shared with the store itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from apiwatch.model import ConfigError
from apiwatch.store._detections import cursor_after
from apiwatch.store._rows import clear_text

__all__ = ["ForwardReads", "detection_cursor"]

_PREFIX = "forward:"
_MAX_NAME = 200


def _key(name: str) -> str:
    if not name or len(name) > _MAX_NAME:
        raise ConfigError(f"forward cursor: a name of 1 to {_MAX_NAME} characters, not {name!r}")
    return _PREFIX + (clear_text(name) or "")


class ForwardReads:
    """The forwarding part of `SqlStore`; the store provides connections and ``mark``."""

    mark: str
    keyring: Any

    def _transaction(self, *, exclusive: bool = False) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _read_all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        raise NotImplementedError

    def events_after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored events with a sequence number above ``seq``, in order, as
        ``(seq, ECS JSON line)``; the lines are decrypted, as `Store.query` gives them."""
        rows = self._read_all(
            f"SELECT seq, event_id, key_id, payload FROM events WHERE seq > {self.mark} "
            f"ORDER BY seq LIMIT {max(0, int(limit))}",
            (int(seq),),
        )
        decrypt = self.keyring.decrypt
        return [
            (int(s), decrypt(int(key_id), bytes(payload), bytes(event_id)))
            for s, event_id, key_id, payload in rows
        ]

    def last_seq(self) -> int:
        """The sequence number of the newest stored event (0 when there is none)."""
        rows = self._read_all("SELECT MAX(seq) FROM events")
        return int(rows[0][0] or 0) if rows else 0

    def forward_cursor(self, name: str) -> str | None:
        """The cursor saved under ``name`` (`save_forward_cursor`), or None."""
        rows = self._read_all(f"SELECT v FROM meta WHERE k = {self.mark}", (_key(name),))
        return str(rows[0][0]) if rows else None

    def save_forward_cursor(self, name: str, cursor: str) -> None:
        """Remember ``cursor`` under ``name``, durably (committed before this returns)."""
        m = self.mark
        with self._transaction() as sql:
            sql.execute(
                f"INSERT INTO meta VALUES ({m}, {m}) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                (_key(name), cursor),
            )


def detection_cursor(last_seen: datetime, record_id: str) -> str:
    """The `Store.alerts` / `Store.incidents` cursor just after the record with ``record_id``
    and ``last_seen``: what a forwarder saves after delivering that record."""
    return cursor_after(last_seen, record_id)
