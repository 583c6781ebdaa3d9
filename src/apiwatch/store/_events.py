"""`SqlEventStore`: the stored events — appending (dedup, hash chain, checkpoint, per-source
counts and the console's rollups, in one transaction), reading by filter and by sequence
number, the sources, and retention."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from apiwatch.model import ConfigError
from apiwatch.store import _console
from apiwatch.store._anchor import SignedHead
from apiwatch.store._database import StoreFullError, StoreUnavailableError, now_us
from apiwatch.store._rows import (
    RowBuilder,
    clear_text,
    event_id_bytes,
    event_tally,
    from_micros,
    micros,
    seal_lines,
)
from apiwatch.store._where import Where, network
from apiwatch.store.base import (
    AppendResult,
    Batch,
    EventFilter,
    Page,
    Sealed,
    SealedBatch,
    SourceInfo,
    StoredLine,
    Tally,
)
from apiwatch.store.chain import GENESIS, checkpoint_message, expiry_message

if TYPE_CHECKING:
    from apiwatch.store._database import Database
    from apiwatch.store.crypto import Keyring

__all__ = ["SqlEventStore"]


class SqlEventStore:
    """`EventStore` over a `Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- appending -------------------------------------------------------------------------------

    def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        try:
            if self._db.ids_checked_on_insert:
                # Optimistic: the unique index refuses an id this key already stored, and that
                # is rare (a resend without an idempotency key); only then are ids looked up.
                try:
                    with self._db.transaction(exclusive=True) as cursor:
                        return self._append_locked(cursor, batches, look_up=False)
                except StoreUnavailableError as exc:
                    if not self._db.is_stored_id_conflict(exc.__cause__):
                        raise
            with self._db.transaction(exclusive=True) as cursor:
                return self._append_locked(cursor, batches, look_up=True)
        except StoreFullError:
            self._db.failed_bytes = sum(len(line.payload) for b in batches for line in b.lines)
            raise

    def _append_locked(
        self, cursor: Any, batches: Sequence[Batch], *, look_up: bool
    ) -> list[AppendResult]:
        """Append within the transaction; ``look_up``: query which ids this key stored before
        (else the unique index is left to refuse them, and the caller to try again)."""
        now = now_us()
        results: list[AppendResult] = []
        accepted: list[tuple[StoredLine, str]] = []
        seen: dict[str, set[bytes]] = {}
        for batch in batches:
            idem_key = _idempotency_key(batch)
            if idem_key and self._replayed(cursor, idem_key):
                results.append(AppendResult(0, len(batch.lines), replayed=True))
                continue
            fresh = self._fresh_lines(cursor, batch.lines, batch.key_name, seen, look_up)
            accepted += [(line, batch.key_name) for line in fresh]
            stored = tuple(line.event for line in fresh)
            results.append(AppendResult(len(fresh), len(batch.lines) - len(fresh), events=stored))
            if idem_key:
                cursor.execute(
                    f"INSERT INTO idempotency VALUES ({self._db.marks(4)})",
                    (idem_key, batch.key_name, len(fresh), now),
                )
        if accepted:
            tip_seq, tip_chain = self._tip(cursor)
            builder = RowBuilder(self._db.keyring, tip_seq + 1, tip_chain)
            self._db.insert_rows(cursor, builder.rows(accepted))
            if builder.built != len(accepted):
                raise RuntimeError("_insert_rows must consume every row it is given")
            self._checkpoint(cursor, tip_seq + builder.built, builder.chain, now)
            counted, sources = _line_counts(accepted)
            self._count_sources(cursor, sources, now)
            _console.roll_up(cursor, self._db, counted)
        return results

    def append_sealed(self, batches: Sequence[SealedBatch]) -> list[AppendResult]:
        """`append` for rows another process sealed (the scale-out writer): the same promises
        (one transaction, ids this key already stored and replayed idempotency keys skipped,
        chain, checkpoint), so delivering a batch again stores nothing twice. The results carry
        no events (there are none at hand, only sealed rows)."""
        with self._db.transaction(exclusive=True) as cursor:
            return self._append_sealed_locked(cursor, batches)

    def _append_sealed_locked(
        self, cursor: Any, batches: Sequence[SealedBatch]
    ) -> list[AppendResult]:
        now = now_us()
        results: list[AppendResult] = []
        accepted: list[Sealed] = []
        tallies: list[Tally] = []
        seen: dict[str, set[bytes]] = {}
        stored_ids = self._stored_ids_by_key(cursor, batches)  # one look-up per key, not batch
        for batch in batches:
            idem_key = _idempotency_key(batch)
            if idem_key and self._replayed(cursor, idem_key):
                results.append(AppendResult(0, len(batch.rows), replayed=True))
                continue
            ids = [cast(bytes, row.columns[0]) for row in batch.rows]
            fresh = self._fresh(cursor, ids, batch.key_name, seen, stored_ids[batch.key_name])
            accepted += [row for row, new in zip(batch.rows, fresh, strict=True) if new]
            if batch.tallies is not None:
                pairs = zip(batch.tallies, fresh, strict=True)
                tallies += [one for one, new in pairs if new and one is not None]
            stored = sum(fresh)
            results.append(AppendResult(stored, len(batch.rows) - stored))
            if idem_key:
                cursor.execute(f"INSERT INTO idempotency VALUES ({self._db.marks(4)})",
                               (idem_key, batch.key_name, stored, now))  # fmt: skip
        if accepted:
            tip_seq, tip_chain = self._tip(cursor)
            builder = RowBuilder(self._db.keyring, tip_seq + 1, tip_chain)
            self._db.insert_rows(cursor, builder.sealed_rows(accepted))
            self._checkpoint(cursor, tip_seq + builder.built, builder.chain, now)
            self._count_sources(cursor, Counter(_sealed_sources(accepted)), now)
            _console.roll_up(cursor, self._db, tallies)
        return results

    def _stored_ids_by_key(
        self, cursor: Any, batches: Sequence[SealedBatch]
    ) -> dict[str, set[bytes]]:
        wanted: dict[str, list[bytes]] = {}
        for batch in batches:
            wanted.setdefault(batch.key_name, []).extend(
                cast(bytes, row.columns[0]) for row in batch.rows
            )
        return {key: self._db.stored_ids(cursor, key, ids) for key, ids in wanted.items()}

    def _fresh(
        self,
        cursor: Any,
        ids: Sequence[bytes],
        key_name: str,
        seen: dict[str, set[bytes]],
        stored: set[bytes] | None = None,
    ) -> list[bool]:
        """For each of ``ids``: whether this key has neither stored it (``stored``, looked up
        when not given) nor sent it earlier in this transaction (``seen``: ids per key)."""
        if stored is None:
            stored = self._db.stored_ids(cursor, key_name, ids)
        sent = seen.setdefault(key_name, set())
        distinct = set(ids)
        if len(distinct) == len(ids) and sent.isdisjoint(distinct) and stored.isdisjoint(distinct):
            sent |= distinct  # the usual case, every id new, checked by whole sets
            return [True] * len(ids)
        fresh = []
        for event_id in ids:
            new = event_id not in stored and event_id not in sent
            if new:
                sent.add(event_id)
            fresh.append(new)
        return fresh

    def seal(self, lines: Sequence[StoredLine], key_name: str) -> list[StoredLine]:
        return seal_lines(lines, key_name, self._db.keyring)

    def _replayed(self, cursor: Any, idem_key: str) -> bool:
        cursor.execute(f"SELECT 1 FROM idempotency WHERE idem_key = {self._db.mark}", (idem_key,))
        return cursor.fetchone() is not None

    def _fresh_lines(
        self,
        cursor: Any,
        lines: Sequence[StoredLine],
        key_name: str,
        seen: dict[str, set[bytes]],
        look_up: bool = True,
    ) -> list[StoredLine]:
        """The lines whose event.id this sender (key) has neither stored (looked up only with
        ``look_up``) nor sent earlier in this transaction. Per sender: another key sending the
        same ids cannot suppress these."""
        ids = [_line_id(line, key_name) for line in lines]
        fresh = self._fresh(cursor, ids, key_name, seen, None if look_up else set())
        if all(fresh):
            return list(lines)
        return [line for line, new in zip(lines, fresh, strict=True) if new]

    def _tip(self, cursor: Any) -> tuple[int, bytes]:
        """The last committed (seq, chain): every transaction ends with a checkpoint."""
        cursor.execute("SELECT seq, chain FROM checkpoints ORDER BY seq DESC LIMIT 1")
        row = cursor.fetchone()
        return (int(row[0]), bytes(row[1])) if row else (0, GENESIS)

    def _checkpoint(self, cursor: Any, seq: int, chain: bytes, now: int) -> None:
        signature = self._db.keyring.sign(checkpoint_message(seq, chain, now))
        cursor.execute(
            f"INSERT INTO checkpoints VALUES ({self._db.marks(4)})", (seq, chain, now, signature)
        )
        self._db.signed_events = SignedHead(seq, chain, now, signature)

    def _count_sources(self, cursor: Any, counts: Counter[tuple[str, str, str]], now: int) -> None:
        """Add ``counts``, stored events per (key, service, host), each a clear column's text."""
        minute = now // 60_000_000
        m = self._db.mark
        for (key_name, service, host), events in counts.items():
            cursor.execute(
                f"""INSERT INTO sources VALUES ({m}, {m}, {m}, {m}, {m}, {m})
                ON CONFLICT (key_name, service, host) DO UPDATE SET
                last_seen = excluded.last_seen, events = sources.events + excluded.events""",
                (key_name, service, host, now, now, events),
            )
            cursor.execute(
                f"""INSERT INTO source_minutes VALUES ({m}, {m}, {m}, {m}, {m})
                ON CONFLICT (key_name, service, host, minute) DO UPDATE SET
                events = source_minutes.events + excluded.events""",
                (key_name, service, host, minute, events),
            )

    # -- reading ---------------------------------------------------------------------------------

    def query(self, criteria: EventFilter, *, cursor: str | None, limit: int) -> Page:
        where = _event_where(criteria, self._db.keyring, self._db.mark)
        if cursor:
            where.add("seq > {m}", _cursor_seq(cursor))
        sql = (
            f"SELECT seq, event_id, key_id, payload FROM events {where.where()} "
            f"ORDER BY seq LIMIT {int(limit) + 1}"
        )
        rows = self._db.read_all(sql, where.params)
        lines = [
            self._db.keyring.decrypt(int(key_id), bytes(payload), bytes(event_id))
            for _, event_id, key_id, payload in rows[:limit]
        ]
        more = len(rows) > limit
        return Page(lines, str(rows[limit - 1][0]) if more and limit else None)

    def after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored events with a sequence number above ``seq``, in order, as
        ``(seq, ECS JSON line)``; the lines are decrypted, as `query` gives them."""
        rows = self._db.read_all(
            f"SELECT seq, event_id, key_id, payload FROM events WHERE seq > {self._db.mark} "
            f"ORDER BY seq LIMIT {max(0, int(limit))}",
            (int(seq),),
        )
        decrypt = self._db.keyring.decrypt
        return [
            (int(s), decrypt(int(key_id), bytes(payload), bytes(event_id)))
            for s, event_id, key_id, payload in rows
        ]

    def last_seq(self) -> int:
        """The sequence number of the newest stored event (0 when there is none)."""
        rows = self._db.read_all("SELECT MAX(seq) FROM events")
        return int(rows[0][0] or 0) if rows else 0

    def count(self) -> int:
        return int(self._db.read_all("SELECT COUNT(*) FROM events")[0][0])

    def sources(self, now: datetime) -> list[SourceInfo]:
        hour_ago = micros(now) // 60_000_000 - 60
        rows = self._db.read_all(
            f"""SELECT s.key_name, s.service, s.host, s.first_seen, s.last_seen, s.events,
                COALESCE((SELECT SUM(m.events) FROM source_minutes m WHERE
                  m.key_name = s.key_name AND m.service = s.service AND m.host = s.host
                  AND m.minute > {self._db.mark}), 0)
            FROM sources s ORDER BY s.last_seen DESC""",
            (hour_ago,),
        )
        return [
            SourceInfo(r[0], r[1], r[2], from_micros(r[3]), from_micros(r[4]), r[5], int(r[6]))
            for r in rows
        ]

    def _signed_expiry(self, through: int, cutoff_us: int) -> str:
        """The retention record: which records were expired, by which cutoff, signed, so that
        deleting the oldest records by hand cannot pass for retention."""
        done = now_us()
        signature = self._db.keyring.sign(expiry_message(through, cutoff_us, done))
        return f"{through}:{cutoff_us}:{done}:{signature.hex()}"

    def expire(self, before: datetime) -> int:
        limit = micros(before)
        with self._db.transaction(exclusive=True) as cursor:
            _console.trim_rollups(cursor, self._db.mark, limit)
            through = self._expirable_through(cursor, limit)
            if through is None:
                return 0
            cursor.execute(f"DELETE FROM events WHERE seq <= {self._db.mark}", (through,))
            deleted = int(cursor.rowcount)
            cursor.execute(
                f"INSERT INTO meta VALUES ('expired_through', {self._db.mark}) "
                "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                (self._signed_expiry(through, limit),),
            )
            return deleted

    def _expirable_through(self, cursor: Any, limit: int) -> int | None:
        """The last checkpoint up to which every record is older than ``limit``."""
        cursor.execute(f"SELECT MIN(seq) FROM events WHERE ts >= {self._db.mark}", (limit,))
        row = cursor.fetchone()
        first_young = row[0] if row and row[0] is not None else None
        if first_young is None:
            cursor.execute("SELECT MAX(seq) FROM checkpoints")
        else:
            cursor.execute(
                f"SELECT MAX(seq) FROM checkpoints WHERE seq < {self._db.mark}", (int(first_young),)
            )
        found = cursor.fetchone()
        return int(found[0]) if found and found[0] is not None else None

    def rotate(self, new_id: int) -> int:
        """Re-encrypt every event not under data key ``new_id``; how many were."""
        done = 0
        after = 0
        while True:
            # Walk forward by seq (the primary key): key_id has no index, and rescanning the
            # table from the start for every chunk made rotation quadratic in its size.
            m = self._db.mark
            rows = self._db.read_all(
                f"SELECT seq, event_id, key_id, payload FROM events "
                f"WHERE seq > {m} AND key_id <> {m} ORDER BY seq LIMIT 2000",
                (after, new_id),
            )
            if not rows:
                return done
            after = int(rows[-1][0])
            updates = []
            for seq, event_id, key_id, payload in rows:
                plain = self._db.keyring.decrypt(int(key_id), bytes(payload), bytes(event_id))
                _, sealed = self._db.keyring.encrypt(plain, bytes(event_id))
                updates.append((new_id, sealed, int(seq)))
            self._db.write_many(
                f"UPDATE events SET key_id = {self._db.mark}, payload = {self._db.mark} "
                f"WHERE seq = {self._db.mark}",
                updates,
            )
            done += len(updates)


def _line_id(line: StoredLine, key_name: str) -> bytes:
    """The stored id of ``line``: its sealed column when sealed for ``key_name`` (computed once)."""
    sealed = line.sealed
    if sealed is not None and sealed.key_name == key_name:
        return cast(bytes, sealed.columns[0])
    return event_id_bytes(line.event.event.id)


def _line_counts(
    accepted: list[tuple[StoredLine, str]],
) -> tuple[list[Tally], Counter[tuple[str, str, str]]]:
    """The rollups' `Tally` of each line, and how many lines come from each (key, service,
    host); one pass, on the commit path: what sealing worked out is taken as it is."""
    counted: list[Tally] = []
    raw: Counter[tuple[object, ...]] = Counter()
    for line, key_name in accepted:
        sealed = line.sealed
        if sealed is not None and sealed.key_name == key_name:  # columns already clear_text'd
            raw[sealed.columns[2:5]] += 1
            counted.append(sealed.tally if sealed.tally is not None else event_tally(line.event))
            continue
        event = line.event
        service = clear_text(event.service.name if event.service else None)
        host = clear_text(event.host.name if event.host else None)
        raw[clear_text(key_name), service, host] += 1
        counted.append(event_tally(event))
    sources: Counter[tuple[str, str, str]] = Counter()
    for (stored_key, stored_service, stored_host), events in raw.items():  # a few distinct
        sources[str(stored_key or ""), str(stored_service or ""), str(stored_host or "")] += events
    return counted, sources


def _sealed_sources(rows: list[Sealed]) -> Iterator[tuple[str, str, str]]:
    # columns 2..4 are key_name, service, host, already as `clear_text` stores them
    for row in rows:
        key_name, service, host = row.columns[2:5]
        yield str(key_name or ""), str(service or ""), str(host or "")


def _idempotency_key(batch: Batch | SealedBatch) -> str | None:
    """The stored form of a batch's idempotency key: scoped to its API key, so that one sender
    cannot make another's batches look like replays by guessing their keys."""
    if not batch.idempotency_key:
        return None
    return clear_text(f"{batch.key_name}\x1f{batch.idempotency_key}")


def _cursor_seq(cursor: str) -> int:
    try:
        value = int(cursor)
    except ValueError:
        raise ConfigError("cursor: not a cursor this server gave out") from None
    if not 0 <= value < 2**63:  # a seq is a signed 64-bit integer in every back end
        raise ConfigError("cursor: not a cursor this server gave out")
    return value


def _event_where(criteria: EventFilter, keyring: Keyring, mark: str) -> Where:
    """The clauses of an event filter."""
    where = Where(mark)
    where.span("ts", criteria.since, criteria.until)
    if criteria.source_ip:
        where.add("source_ip BETWEEN {m} AND {m}", *network("source.ip", criteria.source_ip))
    if criteria.user_name is not None:
        where.add("user_idx = {m}", keyring.blind_index(criteria.user_name))
    for column, value in (
        ("action", criteria.action),
        ("outcome", criteria.outcome),
        ("status", criteria.status),
    ):
        if value is not None:
            where.add(f"{column} = {{m}}", clear_text(value) if isinstance(value, str) else value)
    if criteria.path_prefix:
        prefix = clear_text(criteria.path_prefix)
        where.add("substr(path, 1, {m}) = {m}", len(prefix or ""), prefix)
    return where
