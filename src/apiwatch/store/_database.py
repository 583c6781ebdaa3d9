"""`Database`: the one handle every role store works over — connections, the dialect, the keys
that seal rows, the write lock, the schema and its migration, and the ledger every write to a
ledgered table is recorded in.

One writer at a time (a lock here, plus the database's own write lock) assigns sequence numbers,
extends the chain and signs a checkpoint per transaction. Readers use their own connections.
Dialects (`apiwatch.store.sqlite`, `apiwatch.store.postgres`) fill in the hooks.
"""

from __future__ import annotations

import contextlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from apiwatch.model import ApiwatchError, ConfigError
from apiwatch.store import _console, _decisions, _detections, _ledger
from apiwatch.store._anchor import AnchorWriter, SignedHead
from apiwatch.store._rows import Row, chunks, clear_text, micros
from apiwatch.store.crypto import Keyring

__all__ = ["Database", "StoreFullError", "StoreUnavailableError", "now_us"]

_DEDUP_CHUNK = 500
# What `Database.full_reason` writes (and removes) to see whether a full store has room again:
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


class StoreFullError(ApiwatchError):
    """The disk (or the configured size limit) is full; nothing of the failed batch was stored."""


class StoreUnavailableError(ApiwatchError):
    """The database cannot be reached or refused the operation; nothing was stored."""


def now_us() -> int:
    return micros(datetime.now(UTC))


class Database(ABC):
    """Connections and dialect details (subclasses), the write transaction, the ledger."""

    mark = "?"
    blob_type = "BLOB"
    int_type = "INTEGER"

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._write_lock = threading.Lock()
        self._full: str | None = None  # why the last write failed for lack of space
        #: The payload bytes of the append that failed for lack of space (set by the appender).
        self.failed_bytes = 0
        #: The collector's ``anchor_file`` (see `apiwatch.store._anchor`), when set.
        self.anchor_writer: AnchorWriter | None = None
        # Heads signed by the open transaction: offered to the anchor writer once committed.
        self.signed_events: SignedHead | None = None
        self._signed_ledger: SignedHead | None = None

    # -- dialect hooks -------------------------------------------------------------------------

    @abstractmethod
    def _writer(self) -> Any:
        """The connection used for writes (held under the write lock)."""

    @abstractmethod
    def _reader(self) -> Any:
        """A connection for reads from the calling thread."""

    @abstractmethod
    def _done_reading(self, connection: Any) -> None:
        """End a read transaction (drivers open one implicitly)."""

    @abstractmethod
    def _begin(self, connection: Any) -> None:
        """Start a write transaction that excludes other writers."""

    @abstractmethod
    def insert_rows(self, connection: Any, rows: Iterable[Row]) -> None:
        """Insert ``rows`` (an iterator: consume it exactly once) with the transaction's cursor."""

    @abstractmethod
    def translate(self, exc: Exception) -> Exception:
        """Map a driver error to `StoreFullError` / `StoreUnavailableError` where it is one."""

    @abstractmethod
    def table_names(self, cursor: Any) -> set[str]:
        """The tables of this store that exist."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Any]:
        """A connection reading one consistent snapshot of the database (for verify)."""

    @abstractmethod
    def scan(self, connection: Any, sql: str) -> Generator[Any, None, None]:
        """The rows of ``sql`` on a `snapshot` connection, streamed."""

    @abstractmethod
    def iter_rows(self, after_seq: int) -> Iterator[Any]:
        """Every stored row with seq > after_seq, in seq order, streamed."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection."""

    def insert_many(
        self, cursor: Any, head: str, rows: Iterable[Sequence[object]], width: int, tail: str = ""
    ) -> None:
        """``head VALUES (...) tail`` for each of ``rows`` (``width`` values each, none of its
        columns None on every row); ``head`` is ``INSERT INTO table``, with its columns when
        given. Dialects may send many rows per statement."""
        cursor.executemany(f"{head} VALUES ({self.marks(width)}) {tail}", list(rows))

    #: Whether an insert of an id its key already stored fails (`is_stored_id_conflict`) and
    #: leaves the transaction able to roll back cleanly, so `stored_ids` may be skipped until
    #: it does.
    ids_checked_on_insert = False

    def is_stored_id_conflict(self, exc: BaseException | None) -> bool:
        """Whether ``exc`` (a driver error) is the events' unique (key, id) index refusing a row."""
        return False

    def stored_ids(self, cursor: Any, key_name: str, ids: Sequence[bytes]) -> set[bytes]:
        """Those of ``ids`` this key already stored (dialects may override with a faster form)."""
        stored: set[bytes] = set()
        for part in chunks(ids, _DEDUP_CHUNK):
            cursor.execute(
                f"SELECT event_id FROM events WHERE key_name = {self.mark} "
                f"AND event_id IN ({self.marks(len(part))})",
                (clear_text(key_name), *part),
            )
            stored.update(bytes(row[0]) for row in cursor.fetchall())
        return stored

    def schema(self) -> list[str]:
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

    # -- transactions and reads ------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, exclusive: bool = False) -> Iterator[Any]:
        """A cursor in a write transaction, under the write lock: committed when the block ends,
        rolled back (and the driver error translated) when it raises. ``exclusive`` also takes
        the database's writer lock (`_begin`), for work that numbers or deletes records."""
        with self._write_lock:
            connection = self._writer()
            self.signed_events = self._signed_ledger = None
            try:
                if exclusive:
                    self._begin(connection)
                yield connection.cursor()
                connection.commit()
            except Exception as exc:
                _rollback(connection)
                error = self.translate(exc)
                if isinstance(error, StoreFullError):
                    self._full = str(error)
                raise error from exc
            self._full = None
            if self.anchor_writer is not None and (self.signed_events or self._signed_ledger):
                self.anchor_writer.offer(self.signed_events, self._signed_ledger)

    def read_all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Every row of one read, on a reader connection."""
        connection = self._reader()
        cursor = connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())
        except Exception as exc:
            raise self.translate(exc) from exc
        finally:
            cursor.close()
            self._done_reading(connection)

    def write_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self.transaction() as cursor:
            cursor.executemany(sql, rows)

    def marks(self, count: int) -> str:
        """``count`` placeholders, comma-separated."""
        return ", ".join([self.mark] * count)

    # -- numbers kept in meta --------------------------------------------------------------------

    def advance(self, cursor: Any, counter: str, count: int) -> int:
        """Take ``count`` numbers from ``counter`` (inside an exclusive transaction); the first."""
        m = self.mark
        cursor.execute(f"SELECT v FROM meta WHERE k = {m}", (counter,))
        row = cursor.fetchone()
        current = int(row[0]) if row else 0
        cursor.execute(
            f"INSERT INTO meta VALUES ({m}, {m}) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            (counter, str(current + count)),
        )
        return current + 1

    def current(self, counter: str) -> int:
        """The last number ``counter`` gave (0 before the first)."""
        rows = self.read_all(f"SELECT v FROM meta WHERE k = {self.mark}", (counter,))
        return int(rows[0][0]) if rows else 0

    # -- the ledger ------------------------------------------------------------------------------

    def record(
        self, cursor: Any, entries: Sequence[tuple[str, str, bytes]], now: int | None = None
    ) -> None:
        """Chain ``entries`` onto the ledger and sign its head (in an exclusive transaction)."""
        head = _ledger.append(cursor, self.mark, self.keyring, entries, now or now_us())
        if head is not None:
            self._signed_ledger = head

    def ledger_rows(self, cursor: Any, kind: str, refs: Iterable[object]) -> None:
        """Record the rows ``refs`` of ``kind`` as this transaction leaves them."""
        self.record(cursor, _ledger.record(cursor, self.mark, kind, refs))

    # -- space -----------------------------------------------------------------------------------

    def full_reason(self) -> str | None:
        """None while writes succeed. Once one failed for lack of space, a write the size of the
        append that failed (at least a batch's worth) is tried (and undone) on each call, and
        the one-line reason returned while it still fails; any write that succeeds, this one or
        another, ends it."""
        if self._full is None:
            return None
        size = min(max(_WRITE_PROBE_BYTES, _FOOTPRINT * self.failed_bytes), _MAX_PROBE_BYTES)
        probe = os.urandom(size // 2).hex()  # random: no compression shrinks it
        try:
            with self.transaction() as cursor:
                m = self.mark
                cursor.execute(f"INSERT INTO meta VALUES ('write_probe', {m})", (probe,))
                cursor.execute("DELETE FROM meta WHERE k = 'write_probe'")
        except StoreFullError as exc:
            return str(exc)
        return None

    def flush_anchor(self) -> None:
        if self.anchor_writer is not None:
            self.anchor_writer.flush()

    # -- opening ---------------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create what is missing, tie the store to its signing key (see `_own_key`) and start
        the ledger if it has not started (see `_start_ledger`)."""
        with self.transaction() as cursor:
            for statement in self.schema():
                cursor.execute(statement)
            # The decision tables too, now: made on first use, they could not be once the store
            # is full, and `verify` of a full store needs them.
            for statement in _decisions.schema(self.blob_type, self.int_type):
                cursor.execute(statement)
            self._add_missing_columns(cursor)
            self._own_key(cursor)
            self._start_ledger(cursor)

    def _start_ledger(self, cursor: Any) -> None:
        """A store from before the ledger: take the rows of the tables it covers as found and
        record when (verify says so). Needs the signing key; without it, later."""
        cursor.execute("SELECT v FROM meta WHERE k = 'ledger_started'")
        if cursor.fetchone() is not None or not self.keyring.can_sign:
            return
        now = now_us()
        entries = _ledger.adopt(cursor, self.table_names(cursor))
        self.record(cursor, entries, now)
        cursor.execute(f"INSERT INTO meta VALUES ('ledger_started', {self.mark})",
                       (f"{now}:{len(entries)}",))  # fmt: skip

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


def _rollback(connection: Any) -> None:
    """Roll back, keeping the error that caused it: a lost connection cannot roll back either."""
    with contextlib.suppress(Exception):
        connection.rollback()
