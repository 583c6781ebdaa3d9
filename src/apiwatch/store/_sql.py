"""`SqlStore`: the `Store` behaviour written once over DB-API; dialects fill in the differences.

One writer at a time (a lock here, plus the database's own write lock) assigns sequence numbers,
extends the chain and signs a checkpoint per transaction. Readers use their own connections.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import msgspec

from apiwatch.model import ApiwatchError, ConfigError
from apiwatch.model.alert import Alert, Incident
from apiwatch.store import _console, _decisions, _detections, _keys, _ledger
from apiwatch.store._anchor import AnchorWriter, SignedHead
from apiwatch.store._forwarding import ForwardReads
from apiwatch.store._rows import (
    Row,
    RowBuilder,
    chunks,
    clear_text,
    event_id_bytes,
    filter_sql,
    from_micros,
    micros,
    seal_lines,
)
from apiwatch.store._verify import Verifying
from apiwatch.store.base import (
    SCOPES,
    ApiKey,
    AppendResult,
    Batch,
    DetectionFilter,
    DetectionPage,
    EventFilter,
    Page,
    ReadRecord,
    Sealed,
    SealedBatch,
    SourceInfo,
    StoredLine,
)
from apiwatch.store.chain import GENESIS, checkpoint_message, expiry_message
from apiwatch.store.crypto import Keyring

__all__ = ["SqlStore", "StoreFullError", "StoreUnavailableError"]

_DEDUP_CHUNK = 500
# What `SqlStore.full_reason` writes (and removes) to see whether a full store has room again:
# a batch's worth, so that "room again" means room for events, not for one small row.
_WRITE_PROBE_BYTES = 64 * 1024
# ... or as much as the append that failed needs: its payloads take about four times their size
# once encrypted, indexed and written as whole pages (a WAL frame per page changed), and a probe
# smaller than that could fit in the room the failed append left and report room too early.
_FOOTPRINT = 4
_MAX_PROBE_BYTES = 32 * 1024 * 1024
# Columns added after a table was first shipped: (table, column, type), all nullable.
_ADDED_COLUMNS = (
    ("api_keys", "services", "TEXT"),
    ("api_keys", "networks", "TEXT"),
    *_detections.SAVED_COLUMNS,
)
_KEY_COLUMNS = (
    "id, name, scopes, secret_hash, created_at, revoked_at, last_used_at, services, networks"
)
_alert_decoder = msgspec.json.Decoder(Alert)
_incident_decoder = msgspec.json.Decoder(Incident)


class StoreFullError(ApiwatchError):
    """The disk (or the configured size limit) is full; nothing of the failed batch was stored."""


class StoreUnavailableError(ApiwatchError):
    """The database cannot be reached or refused the operation; nothing was stored."""


def _now_us() -> int:
    return micros(datetime.now(UTC))


class SqlStore(_decisions.DecisionTables, _console.ConsoleTables, ForwardReads, Verifying, ABC):
    """Shared implementation; subclasses provide connections and dialect details."""

    mark = "?"
    blob_type = "BLOB"
    int_type = "INTEGER"

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._write_lock = threading.Lock()
        self._full: str | None = None  # why the last write failed for lack of space
        self._failed_bytes = 0  # the payload bytes of the append that failed for lack of space
        #: The collector's ``anchor_file`` (see `apiwatch.store._anchor`), when set.
        self.anchor_writer: AnchorWriter | None = None
        # Heads signed by the open transaction: offered to the anchor writer once committed.
        self._signed_events: SignedHead | None = None
        self._signed_ledger: SignedHead | None = None

    # -- dialect hooks -------------------------------------------------------------------------

    @abstractmethod
    def _writer(self) -> Any:
        """The connection used for writes (held under the write lock)."""

    @abstractmethod
    def _reader(self) -> Any:
        """A connection for reads from the calling thread."""

    @abstractmethod
    def _begin(self, connection: Any) -> None:
        """Start a write transaction that excludes other writers."""

    @abstractmethod
    def _insert_rows(self, connection: Any, rows: Iterable[Row]) -> None:
        """Insert ``rows`` (an iterator: consume it exactly once) with the transaction's cursor."""

    @abstractmethod
    def _translate(self, exc: Exception) -> Exception:
        """Map a driver error to `StoreFullError` / `StoreUnavailableError` where it is one."""

    def _schema(self) -> list[str]:
        blob, big = self.blob_type, self.int_type
        return [
            f"""CREATE TABLE IF NOT EXISTS events (
                seq {big} PRIMARY KEY, event_id {blob} NOT NULL, ts {big} NOT NULL,
                key_name TEXT NOT NULL, service TEXT, host TEXT, source_ip {blob},
                action TEXT, outcome TEXT, status INTEGER, path TEXT, user_idx {blob},
                key_id INTEGER NOT NULL, payload {blob} NOT NULL, chain {blob} NOT NULL)""",
            # Per sender: one key cannot make another's events look like repeats.
            "CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (key_name, event_id)",
            "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
            f"""CREATE TABLE IF NOT EXISTS checkpoints (
                seq {big} PRIMARY KEY, chain {blob} NOT NULL, signed_at {big} NOT NULL,
                signature {blob} NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS idempotency (
                idem_key TEXT PRIMARY KEY, key_name TEXT NOT NULL, stored {big} NOT NULL,
                at {big} NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS sources (
                key_name TEXT NOT NULL, service TEXT NOT NULL, host TEXT NOT NULL,
                first_seen {big} NOT NULL, last_seen {big} NOT NULL, events {big} NOT NULL,
                PRIMARY KEY (key_name, service, host))""",
            f"""CREATE TABLE IF NOT EXISTS source_minutes (
                key_name TEXT NOT NULL, service TEXT NOT NULL, host TEXT NOT NULL,
                minute {big} NOT NULL, events {big} NOT NULL,
                PRIMARY KEY (key_name, service, host, minute))""",
            f"""CREATE TABLE IF NOT EXISTS api_keys (
                id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL,
                secret_hash {blob} NOT NULL, created_at {big} NOT NULL, revoked_at {big},
                last_used_at {big}, services TEXT, networks TEXT)""",
            f"""CREATE TABLE IF NOT EXISTS reads (
                at {big} NOT NULL, key_name TEXT NOT NULL, what TEXT NOT NULL,
                criteria TEXT NOT NULL, returned {big} NOT NULL)""",
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
            *_detections.schema(blob, big),
            *_ledger.schema(blob, big),
            *_console.schema(blob, big),
        ]

    @contextmanager
    def _transaction(self, *, exclusive: bool = False) -> Iterator[Any]:
        """A cursor in a write transaction, under the write lock: committed when the block ends,
        rolled back (and the driver error translated) when it raises. ``exclusive`` also takes
        the database's writer lock (`_begin`), for work that numbers or deletes records."""
        with self._write_lock:
            connection = self._writer()
            self._signed_events = self._signed_ledger = None
            try:
                if exclusive:
                    self._begin(connection)
                yield connection.cursor()
                connection.commit()
            except Exception as exc:
                _rollback(connection)
                error = self._translate(exc)
                if isinstance(error, StoreFullError):
                    self._full = str(error)
                raise error from exc
            self._full = None
            if self.anchor_writer is not None and (self._signed_events or self._signed_ledger):
                self.anchor_writer.offer(self._signed_events, self._signed_ledger)

    def full_reason(self) -> str | None:
        """None while writes succeed. Once one failed for lack of space, a write the size of the
        append that failed (at least a batch's worth) is tried (and undone) on each call, and
        the one-line reason returned while it still fails; any write that succeeds, this one or
        another, ends it."""
        if self._full is None:
            return None
        size = min(max(_WRITE_PROBE_BYTES, _FOOTPRINT * self._failed_bytes), _MAX_PROBE_BYTES)
        probe = os.urandom(size // 2).hex()  # random: no compression shrinks it
        try:
            with self._transaction() as cursor:
                m = self.mark
                cursor.execute(f"INSERT INTO meta VALUES ('write_probe', {m})", (probe,))
                cursor.execute("DELETE FROM meta WHERE k = 'write_probe'")
        except StoreFullError as exc:
            return str(exc)
        return None

    def _flush_anchor(self) -> None:
        if self.anchor_writer is not None:
            self.anchor_writer.flush()

    def anchor_to(self, writer: AnchorWriter) -> None:
        """Append signed heads to ``writer``'s file from now on, starting with the newest."""
        latest = self.latest_heads()
        writer.offer(latest.events, latest.ledger)
        self.anchor_writer = writer

    def _create_schema(self) -> None:
        """Create what is missing, tie the store to its signing key (see `_own_key`) and start
        the ledger if it has not started (see `_start_ledger`)."""
        with self._transaction() as cursor:
            for statement in self._schema():
                cursor.execute(statement)
            # The decision tables too, now: made on first use, they could not be once the store
            # is full, and `verify` of a full store needs them.
            for statement in _decisions.schema(self.blob_type, self.int_type):
                cursor.execute(statement)
            self._add_missing_columns(cursor)
            self._own_key(cursor)
            self._start_ledger(cursor)
        self._decision_tables_made = True

    def _start_ledger(self, cursor: Any) -> None:
        """A store from before the ledger: take the rows of the tables it covers as found and
        record when (verify says so). Needs the signing key; without it, later."""
        cursor.execute("SELECT v FROM meta WHERE k = 'ledger_started'")
        if cursor.fetchone() is not None or not self.keyring.can_sign:
            return
        now = _now_us()
        entries = _ledger.adopt(cursor, self._table_names(cursor))
        self._record(cursor, entries, now)
        cursor.execute(f"INSERT INTO meta VALUES ('ledger_started', {self.mark})",
                       (f"{now}:{len(entries)}",))  # fmt: skip

    def _record(
        self, cursor: Any, entries: Sequence[tuple[str, str, bytes]], now: int | None = None
    ) -> None:
        """Chain ``entries`` onto the ledger and sign its head (in an exclusive transaction)."""
        head = _ledger.append(cursor, self.mark, self.keyring, entries, now or _now_us())
        if head is not None:
            self._signed_ledger = head

    def _ledger_rows(self, cursor: Any, kind: str, refs: Iterable[object]) -> None:
        """Record the rows ``refs`` of ``kind`` as this transaction leaves them."""
        self._record(cursor, _ledger.record(cursor, self.mark, kind, refs))

    @abstractmethod
    def _table_names(self, cursor: Any) -> set[str]:
        """The tables of this store that exist."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[Any]:
        """A connection reading one consistent snapshot of the database (for verify)."""

    @abstractmethod
    def _scan(self, connection: Any, sql: str) -> Generator[Any, None, None]:
        """The rows of ``sql`` on a `_snapshot` connection, streamed."""

    def _add_missing_columns(self, cursor: Any) -> None:
        """Migrate a store made by an older apiwatch: add the columns its tables lack (only
        ever nullable ones, which old rows leave empty)."""
        for table, column, kind in _ADDED_COLUMNS:
            cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            present = {str(d[0]).lower() for d in cursor.description}
            if column not in present:
                cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        for statement in _detections.SAVED_INDEXES:  # on added columns: after them
            cursor.execute(statement)

    def _own_key(self, cursor: Any) -> None:
        """Record the signing public key on first open; refuse a key file that is not the one
        the store was first opened with (its rows would not decrypt, nor its chain verify)."""
        mine = self.keyring.public_key_bytes().hex()
        cursor.execute(
            f"INSERT INTO meta VALUES ('signing_key', {self.mark}) ON CONFLICT (k) DO NOTHING",
            (mine,),
        )
        cursor.execute("SELECT v FROM meta WHERE k = 'signing_key'")
        row = cursor.fetchone()
        if row is not None and str(row[0]) != mine:
            raise ConfigError(
                f"the key file {self.keyring.path or '(in memory)'} does not belong to this "
                "store: it was created with other keys (set key_file / APIWATCH_KEY_FILE to its "
                "key file)"
            )

    # -- appending -------------------------------------------------------------------------------

    def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        try:
            with self._transaction(exclusive=True) as cursor:
                return self._append_locked(cursor, batches)
        except StoreFullError:
            self._failed_bytes = sum(len(line.payload) for b in batches for line in b.lines)
            raise

    def _append_locked(self, cursor: Any, batches: Sequence[Batch]) -> list[AppendResult]:
        now = _now_us()
        results: list[AppendResult] = []
        accepted: list[tuple[StoredLine, str]] = []
        seen: set[tuple[str, bytes]] = set()
        for batch in batches:
            idem_key = _idempotency_key(batch)
            if idem_key and self._replayed(cursor, idem_key):
                results.append(AppendResult(0, len(batch.lines), replayed=True))
                continue
            fresh = self._fresh_lines(cursor, batch.lines, batch.key_name, seen)
            accepted += [(line, batch.key_name) for line in fresh]
            stored = tuple(line.event for line in fresh)
            results.append(AppendResult(len(fresh), len(batch.lines) - len(fresh), events=stored))
            if idem_key:
                cursor.execute(
                    f"INSERT INTO idempotency VALUES ({self._marks(4)})",
                    (idem_key, batch.key_name, len(fresh), now),
                )
        if accepted:
            tip_seq, tip_chain = self._tip(cursor)
            builder = RowBuilder(self.keyring, tip_seq + 1, tip_chain)
            self._insert_rows(cursor, builder.rows(accepted))
            if builder.built != len(accepted):
                raise RuntimeError("_insert_rows must consume every row it is given")
            self._checkpoint(cursor, tip_seq + builder.built, builder.chain, now)
            self._count_sources(cursor, _line_sources(accepted), now)
            self._roll_up(cursor, (line.event for line, _ in accepted))
        return results

    def append_sealed(self, batches: Sequence[SealedBatch]) -> list[AppendResult]:
        """`append` for rows another process sealed (the scale-out writer): the same promises
        (one transaction, ids this key already stored and replayed idempotency keys skipped,
        chain, checkpoint), so delivering a batch again stores nothing twice. The results carry
        no events (there are none at hand, only sealed rows)."""
        with self._transaction(exclusive=True) as cursor:
            return self._append_sealed_locked(cursor, batches)

    def _append_sealed_locked(
        self, cursor: Any, batches: Sequence[SealedBatch]
    ) -> list[AppendResult]:
        now = _now_us()
        results: list[AppendResult] = []
        accepted: list[Sealed] = []
        seen: set[tuple[str, bytes]] = set()
        stored_ids = self._stored_ids_by_key(cursor, batches)  # one look-up per key, not batch
        for batch in batches:
            idem_key = _idempotency_key(batch)
            if idem_key and self._replayed(cursor, idem_key):
                results.append(AppendResult(0, len(batch.rows), replayed=True))
                continue
            ids = [cast(bytes, row.columns[0]) for row in batch.rows]
            fresh = self._fresh(cursor, ids, batch.key_name, seen, stored_ids[batch.key_name])
            accepted += [row for row, new in zip(batch.rows, fresh, strict=True) if new]
            stored = sum(fresh)
            results.append(AppendResult(stored, len(batch.rows) - stored))
            if idem_key:
                cursor.execute(f"INSERT INTO idempotency VALUES ({self._marks(4)})",
                               (idem_key, batch.key_name, stored, now))  # fmt: skip
        if accepted:
            tip_seq, tip_chain = self._tip(cursor)
            builder = RowBuilder(self.keyring, tip_seq + 1, tip_chain)
            self._insert_rows(cursor, builder.sealed_rows(accepted))
            self._checkpoint(cursor, tip_seq + builder.built, builder.chain, now)
            self._count_sources(cursor, _sealed_sources(accepted), now)
        return results

    def _stored_ids_by_key(
        self, cursor: Any, batches: Sequence[SealedBatch]
    ) -> dict[str, set[bytes]]:
        wanted: dict[str, list[bytes]] = {}
        for batch in batches:
            wanted.setdefault(batch.key_name, []).extend(
                cast(bytes, row.columns[0]) for row in batch.rows
            )
        return {key: self._stored_ids(cursor, key, ids) for key, ids in wanted.items()}

    def _fresh(
        self,
        cursor: Any,
        ids: Sequence[bytes],
        key_name: str,
        seen: set[tuple[str, bytes]],
        stored: set[bytes] | None = None,
    ) -> list[bool]:
        """For each of ``ids``: whether this key has neither stored it (``stored``, looked up
        when not given) nor sent it earlier in this transaction."""
        if stored is None:
            stored = self._stored_ids(cursor, key_name, ids)
        fresh = []
        for event_id in ids:
            new = event_id not in stored and (key_name, event_id) not in seen
            if new:
                seen.add((key_name, event_id))
            fresh.append(new)
        return fresh

    def seal(self, lines: Sequence[StoredLine], key_name: str) -> list[StoredLine]:
        return seal_lines(lines, key_name, self.keyring)

    def _replayed(self, cursor: Any, idem_key: str) -> bool:
        cursor.execute(f"SELECT 1 FROM idempotency WHERE idem_key = {self.mark}", (idem_key,))
        return cursor.fetchone() is not None

    def _fresh_lines(
        self, cursor: Any, lines: Sequence[StoredLine], key_name: str, seen: set[tuple[str, bytes]]
    ) -> list[StoredLine]:
        """The lines whose event.id this sender (key) has neither stored nor sent earlier in this
        transaction. Per sender: another key sending the same ids cannot suppress these."""
        ids = [event_id_bytes(line.event.event.id) for line in lines]
        fresh = self._fresh(cursor, ids, key_name, seen)
        return [line for line, new in zip(lines, fresh, strict=True) if new]

    def _stored_ids(self, cursor: Any, key_name: str, ids: Sequence[bytes]) -> set[bytes]:
        """Those of ``ids`` this key already stored (dialects may override with a faster form)."""
        stored: set[bytes] = set()
        for part in chunks(ids, _DEDUP_CHUNK):
            cursor.execute(
                f"SELECT event_id FROM events WHERE key_name = {self.mark} "
                f"AND event_id IN ({self._marks(len(part))})",
                (clear_text(key_name), *part),
            )
            stored.update(bytes(row[0]) for row in cursor.fetchall())
        return stored

    def _tip(self, cursor: Any) -> tuple[int, bytes]:
        """The last committed (seq, chain): every transaction ends with a checkpoint."""
        cursor.execute("SELECT seq, chain FROM checkpoints ORDER BY seq DESC LIMIT 1")
        row = cursor.fetchone()
        return (int(row[0]), bytes(row[1])) if row else (0, GENESIS)

    def _checkpoint(self, cursor: Any, seq: int, chain: bytes, now: int) -> None:
        signature = self.keyring.sign(checkpoint_message(seq, chain, now))
        cursor.execute(
            f"INSERT INTO checkpoints VALUES ({self._marks(4)})", (seq, chain, now, signature)
        )
        self._signed_events = SignedHead(seq, chain, now, signature)

    def _count_sources(
        self, cursor: Any, sources: Iterable[tuple[str, str, str]], now: int
    ) -> None:
        """Count stored events per (key, service, host), each a clear column's text."""
        counts: Counter[tuple[str, str, str]] = Counter(sources)
        minute = now // 60_000_000
        m = self.mark
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

    def _marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    # -- reading ---------------------------------------------------------------------------------

    def query(self, criteria: EventFilter, *, cursor: str | None, limit: int) -> Page:
        clauses, params = filter_sql(criteria, self.keyring, self.mark)
        if cursor:
            clauses.append(f"seq > {self.mark}")
            params.append(_cursor_seq(cursor))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT seq, event_id, key_id, payload FROM events {where} "
            f"ORDER BY seq LIMIT {int(limit) + 1}"
        )
        rows = self._read_all(sql, params)
        lines = [
            self.keyring.decrypt(int(key_id), bytes(payload), bytes(event_id))
            for _, event_id, key_id, payload in rows[:limit]
        ]
        more = len(rows) > limit
        return Page(lines, str(rows[limit - 1][0]) if more and limit else None)

    # -- alerts and incidents (see `apiwatch.store._detections`) --------------------------------

    def save_detections(self, alerts: Sequence[Alert], incidents: Sequence[Incident]) -> None:
        if not alerts and not incidents:
            return
        with self._transaction(exclusive=True) as cursor:
            _detections.save(cursor, self.mark, self.keyring, alerts, incidents)
            self._mark_saved(cursor, alerts, incidents)
            self._ledger_rows(cursor, "alert", (clear_text(a.id) or "" for a in alerts))
            self._ledger_rows(cursor, "incident", (clear_text(i.id) or "" for i in incidents))

    def alerts(
        self, criteria: DetectionFilter, *, cursor: str | None, limit: int
    ) -> DetectionPage[Alert]:
        sql, params = _detections.select_sql(_detections.ALERT, criteria, cursor, limit, self.mark)
        rows = self._read_all(sql, params)
        return _detections.decode_page(rows, limit, self.keyring, _detections.ALERT,
                                       _alert_decoder)  # fmt: skip

    def incidents(
        self, criteria: DetectionFilter, *, cursor: str | None, limit: int
    ) -> DetectionPage[Incident]:
        kind = _detections.INCIDENT
        sql, params = _detections.select_sql(kind, criteria, cursor, limit, self.mark)
        rows = self._read_all(sql, params)
        return _detections.decode_page(rows, limit, self.keyring, kind, _incident_decoder)

    def incident(self, incident_id: str) -> Incident | None:
        rows = self._read_all(
            f"SELECT id, last_seen, key_id, payload FROM incidents WHERE id = {self.mark}",
            (clear_text(incident_id),),
        )
        if not rows:
            return None
        return _detections.decode_row(rows[0], self.keyring, _detections.INCIDENT,
                                      _incident_decoder)  # fmt: skip

    def _read_all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        connection = self._reader()
        cursor = connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())
        except Exception as exc:
            raise self._translate(exc) from exc
        finally:
            cursor.close()
            self._done_reading(connection)

    @abstractmethod
    def _done_reading(self, connection: Any) -> None:
        """End a read transaction (drivers open one implicitly)."""

    def count(self) -> int:
        return int(self._read_all("SELECT COUNT(*) FROM events")[0][0])

    def sources(self, now: datetime) -> list[SourceInfo]:
        hour_ago = micros(now) // 60_000_000 - 60
        rows = self._read_all(
            f"""SELECT s.key_name, s.service, s.host, s.first_seen, s.last_seen, s.events,
                COALESCE((SELECT SUM(m.events) FROM source_minutes m WHERE
                  m.key_name = s.key_name AND m.service = s.service AND m.host = s.host
                  AND m.minute > {self.mark}), 0)
            FROM sources s ORDER BY s.last_seen DESC""",
            (hour_ago,),
        )
        return [
            SourceInfo(r[0], r[1], r[2], from_micros(r[3]), from_micros(r[4]), r[5], int(r[6]))
            for r in rows
        ]

    # -- keys and the read audit -------------------------------------------------------------------

    def create_key(
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
        bound_services = _keys.check_services(services)
        bound_networks = _keys.check_networks(networks)
        key_id, secret = _keys.new_secret()
        now = _now_us()
        scope_text = ",".join(sorted(set(scopes)))
        try:
            with self._transaction(exclusive=True) as cursor:
                cursor.execute(
                    f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES ({self._marks(9)})",
                    (key_id, name, scope_text, _keys.hash_secret(secret), now, None, None,
                     _keys.join_list(bound_services), _keys.join_list(bound_networks)),
                )  # fmt: skip
                self._ledger_rows(cursor, "api_key", [key_id])
        except StoreUnavailableError as exc:
            if "unique" in str(exc.__cause__).lower():
                raise ConfigError(f"name: a key called {name!r} already exists") from None
            raise
        key = ApiKey(key_id, name, frozenset(scopes), from_micros(now),
                     services=frozenset(bound_services), networks=bound_networks)  # fmt: skip
        return key, secret

    def authenticate(self, secret: str) -> ApiKey | None:
        key_id = _keys.secret_id(secret)
        rows = self._read_all(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = {self.mark}", (key_id or "",)
        )
        stored = bytes(rows[0][3]) if rows else None
        if not _keys.secrets_match(secret, stored):
            return None
        key = _api_key(rows[0])
        return key if key.revoked_at is None else None

    def list_keys(self) -> list[ApiKey]:
        rows = self._read_all(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        return [_api_key(row) for row in rows]

    def revoke_key(self, name_or_id: str) -> bool:
        m = self.mark
        with self._transaction(exclusive=True) as cursor:
            cursor.execute(
                f"SELECT id FROM api_keys WHERE (name = {m} OR id = {m}) AND revoked_at IS NULL",
                (name_or_id, name_or_id),
            )
            ids = [str(row[0]) for row in cursor.fetchall()]
            if not ids:
                return False
            cursor.execute(
                f"UPDATE api_keys SET revoked_at = {m} WHERE id IN ({self._marks(len(ids))})",
                (_now_us(), *ids),
            )
            self._ledger_rows(cursor, "api_key", ids)
        return True

    def describe_filter(self, criteria: EventFilter) -> str:
        """The criteria as the read audit records them: an account as its blind index
        (``user.name=#<hex>``), never the name itself."""
        if criteria.user_name is None:
            return criteria.describe()
        hidden = "#" + self.keyring.blind_index(criteria.user_name).hex()
        return dataclasses.replace(criteria, user_name=hidden).describe()

    def record_read(self, record: ReadRecord) -> None:
        # The criteria are the reader's text: a NUL in a filter (which PostgreSQL text cannot
        # hold) is recorded as U+FFFD, as the filter itself is compared (`clear_text`).
        texts = (clear_text(record.key_name), clear_text(record.what), clear_text(record.criteria))
        with self._transaction(exclusive=True) as cursor:
            # RETURNING *: the ledger digests the row as the database holds it.
            cursor.execute(
                "INSERT INTO reads (at, key_name, what, criteria, returned) "
                f"VALUES ({self._marks(5)}) RETURNING *",
                (micros(record.at), *texts, record.returned),
            )
            self._record(cursor, [_ledger.returned_entry(cursor, "read")])

    def reads(self, limit: int = 100) -> list[ReadRecord]:
        rows = self._read_all(
            f"SELECT at, key_name, what, criteria, returned FROM reads "
            f"ORDER BY at DESC LIMIT {int(limit)}"
        )
        return [ReadRecord(from_micros(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows]

    def _write(self, sql: str, params: Sequence[object]) -> int:
        with self._transaction() as cursor:
            cursor.execute(sql, tuple(params))
            return int(cursor.rowcount)

    # -- verification, retention, rotation ------------------------------------------------------

    def _signed_expiry(self, through: int, cutoff_us: int) -> str:
        """The retention record: which records were expired, by which cutoff, signed, so that
        deleting the oldest records by hand cannot pass for retention."""
        done = _now_us()
        signature = self.keyring.sign(expiry_message(through, cutoff_us, done))
        return f"{through}:{cutoff_us}:{done}:{signature.hex()}"

    @abstractmethod
    def close(self) -> None:
        """Close every connection."""

    @abstractmethod
    def _iter_rows(self, after_seq: int) -> Iterator[Any]:
        """Every stored row with seq > after_seq, in seq order, streamed."""

    def expire(self, before: datetime) -> int:
        limit = micros(before)
        with self._transaction(exclusive=True) as cursor:
            self._trim_rollups(cursor, limit)
            through = self._expirable_through(cursor, limit)
            if through is None:
                return 0
            cursor.execute(f"DELETE FROM events WHERE seq <= {self.mark}", (through,))
            deleted = int(cursor.rowcount)
            cursor.execute(
                f"INSERT INTO meta VALUES ('expired_through', {self.mark}) "
                "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                (self._signed_expiry(through, limit),),
            )
            return deleted

    def _expirable_through(self, cursor: Any, limit: int) -> int | None:
        """The last checkpoint up to which every record is older than ``limit``."""
        cursor.execute(f"SELECT MIN(seq) FROM events WHERE ts >= {self.mark}", (limit,))
        row = cursor.fetchone()
        first_young = row[0] if row and row[0] is not None else None
        if first_young is None:
            cursor.execute("SELECT MAX(seq) FROM checkpoints")
        else:
            cursor.execute(
                f"SELECT MAX(seq) FROM checkpoints WHERE seq < {self.mark}", (int(first_young),)
            )
        found = cursor.fetchone()
        return int(found[0]) if found and found[0] is not None else None

    def rotate_key(self) -> int:
        new_id = self.keyring.new_data_key()
        done = self._rotate_events(new_id)
        for kind in (_detections.ALERT, _detections.INCIDENT):
            done += self._rotate_detections(kind, new_id)
        return done + self._rotate_decision_tables(new_id)

    def _rotate_detections(self, kind: str, new_id: int) -> int:
        select, update = _detections.re_encrypt_sql(kind, self.mark)
        done = 0
        after = ""
        while True:
            rows = self._read_all(select, (after, new_id))
            if not rows:
                return done
            after = str(rows[-1][0])
            updates = []
            for record_id, key_id, payload in rows:
                associated = _detections.associated(kind, str(record_id))
                plain = self.keyring.decrypt(int(key_id), bytes(payload), associated)
                _, sealed = self.keyring.encrypt(plain, associated)
                # Only if unchanged: a save since the read carries newer content.
                updates.append((new_id, sealed, str(record_id), bytes(payload)))
            with self._transaction(exclusive=True) as cursor:
                cursor.executemany(update, updates)
                self._ledger_rows(cursor, kind, (row[2] for row in updates))
            done += len(updates)

    def _rotate_events(self, new_id: int) -> int:
        done = 0
        after = 0
        while True:
            # Walk forward by seq (the primary key): key_id has no index, and rescanning the
            # table from the start for every chunk made rotation quadratic in its size.
            m = self.mark
            rows = self._read_all(
                f"SELECT seq, event_id, key_id, payload FROM events "
                f"WHERE seq > {m} AND key_id <> {m} ORDER BY seq LIMIT 2000",
                (after, new_id),
            )
            if not rows:
                return done
            after = int(rows[-1][0])
            updates = []
            for seq, event_id, key_id, payload in rows:
                plain = self.keyring.decrypt(int(key_id), bytes(payload), bytes(event_id))
                _, sealed = self.keyring.encrypt(plain, bytes(event_id))
                updates.append((new_id, sealed, int(seq)))
            self._write_many(
                f"UPDATE events SET key_id = {self.mark}, payload = {self.mark} "
                f"WHERE seq = {self.mark}",
                updates,
            )
            done += len(updates)

    def _write_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self._transaction() as cursor:
            cursor.executemany(sql, rows)


def _line_sources(accepted: list[tuple[StoredLine, str]]) -> Iterator[tuple[str, str, str]]:
    for line, key_name in accepted:
        event = line.event
        service = clear_text(event.service.name if event.service else None) or ""
        host = clear_text(event.host.name if event.host else None) or ""
        yield clear_text(key_name) or "", service, host


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


def _rollback(connection: Any) -> None:
    """Roll back, keeping the error that caused it: a lost connection cannot roll back either."""
    with contextlib.suppress(Exception):
        connection.rollback()


def _cursor_seq(cursor: str) -> int:
    try:
        value = int(cursor)
    except ValueError:
        raise ConfigError("cursor: not a cursor this server gave out") from None
    if not 0 <= value < 2**63:  # a seq is a signed 64-bit integer in every back end
        raise ConfigError("cursor: not a cursor this server gave out")
    return value


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row[0],
        name=row[1],
        scopes=frozenset(row[2].split(",")),
        created_at=from_micros(row[4]),
        revoked_at=from_micros(row[5]) if row[5] is not None else None,
        last_used_at=from_micros(row[6]) if row[6] is not None else None,
        services=frozenset(_keys.split_list(row[7])),
        networks=_keys.split_list(row[8]),
    )
