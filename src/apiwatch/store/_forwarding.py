"""What forwarders need of a store: events by sequence number, and durable cursors.

A forwarder (`apiwatch.forward`) reads committed events in the order the writer numbered them
(``seq``, the position in the hash chain) and alerts and incidents in the order they were saved
(each save numbers the records it writes, under the store's write lock: a record saved later
comes later, whatever its ``last_seen``, and an updated record comes again); after a batch has
been delivered it saves where it got to, so that a restarted collector resumes there. Cursors
live in the store's ``meta`` table under ``forward:<name>``, so that they are backed up,
restored and shared with the store itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import msgspec

from apiwatch.model import ConfigError
from apiwatch.model.alert import Alert, Incident
from apiwatch.store import _detections
from apiwatch.store._rows import clear_text

__all__ = ["ForwardReads"]

_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    _detections.ALERT: msgspec.json.Decoder(Alert),
    _detections.INCIDENT: msgspec.json.Decoder(Incident),
}
_SAVED_COUNTER = "detections_saved"

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

    def _advance(self, cursor: Any, counter: str, count: int) -> int:
        raise NotImplementedError

    def _mark_saved(
        self, cursor: Any, alerts: Sequence[Alert], incidents: Sequence[Incident]
    ) -> None:
        """Number the records of one `save_detections` in write order (inside its transaction,
        which holds the store's write lock: numbers are committed in increasing order)."""
        for kind, records in ((_detections.ALERT, alerts), (_detections.INCIDENT, incidents)):
            ids = list(dict.fromkeys(record.id for record in records))
            if ids:
                first = self._advance(cursor, _SAVED_COUNTER, len(ids))
                _detections.mark_saved(cursor, self.mark, kind, ids, first)

    def detections_after(
        self, kind: str, cursor: str | None, limit: int
    ) -> tuple[list[Alert] | list[Incident], str | None]:
        """Up to ``limit`` alerts (``kind`` ``alert``) or incidents saved after ``cursor`` (None:
        from the first), in the order they were saved, and the cursor after the last (None when
        there was none)."""
        sql, params = _detections.saved_sql(kind, cursor, limit, self.mark)
        rows = self._read_all(sql, params)
        decoder = _DECODERS[kind]
        records = [_detections.decode_row(row, self.keyring, kind, decoder) for row in rows]
        return records, _detections.saved_cursor(rows[-1]) if rows else None

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
