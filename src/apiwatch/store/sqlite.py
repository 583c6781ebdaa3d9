"""The embedded default store: one SQLite file in WAL mode, fsync'd on every commit."""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from apiwatch.model import ConfigError
from apiwatch.store._database import Database, StoreFullError, StoreUnavailableError
from apiwatch.store._rows import COLUMNS, Row
from apiwatch.store._sql import SqlStore
from apiwatch.store.crypto import Keyring

__all__ = ["SqliteDatabase", "SqliteStore"]

# OR FAIL: a failing row ends the statement without undoing its earlier rows, which spares
# SQLite a statement journal of every page a many-row statement touches; the transaction is
# rolled back whole on any error anyway (`Database.transaction`).
_INSERT = f"INSERT OR FAIL INTO events ({', '.join(COLUMNS)})"
# sqlite3 binds int, float, str and bytearray directly but sends every other value, bytes
# included, through its adapter look-up, whose failure (no adapter, no __adapt__, no
# __conform__) formats and discards an AttributeError: a tenth of the commit path's instructions
# with five BLOB columns a row. An adapter for exactly `bytes` that returns its argument (what
# ``bytes(b)`` does for a bytes object) binds the same BLOB and finds its way at the first look.
sqlite3.register_adapter(bytes, bytes)
# Rows per INSERT statement. sqlite3 lets other threads run during each step of a statement, and
# a step of a one-row statement is short: with a busy thread beside it (the live sources reading
# and sealing, request handlers decoding) the committer waited for the GIL after every row, up
# to the switch interval each time, and wrote at a fraction of its rate. One statement of many
# rows takes the GIL back once per statement, and lets the other threads run for longer while
# SQLite works. Fewer when the build allows fewer bound parameters (32,766 by default since
# SQLite 3.32, 999 before).
_STATEMENT_ROWS = 1000


class SqliteDatabase(Database):
    """The `Database` on SQLite. ``max_bytes`` caps the file size (a test stand-in for a full
    disk)."""

    def __init__(self, path: Path, keyring: Keyring, *, max_bytes: int | None = None) -> None:
        super().__init__(keyring)
        self.path = path
        self._max_bytes = max_bytes
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # owner-only from the start; -wal/-shm get the same mode
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise ConfigError(f"db: cannot create {path} ({exc.strerror or exc})") from None
        self._write_connection = self._connect()
        limit = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
        self._max_variables: int = self._write_connection.getlimit(limit)
        self._statements: dict[tuple[str, int, str], str] = {}
        try:
            self.create_schema()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open {self.path}: {exc}") from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:  # "file is not a database"
            connection.close()
            raise StoreUnavailableError(f"cannot open {self.path}: {exc} (damaged, or not an "
                                        "apiwatch store)") from None  # fmt: skip
        # FULL: a commit is on disk before the collector answers 202.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=30000")
        if self._max_bytes is not None:
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count={max(self._max_bytes // page_size, 16)}")
        connection.isolation_level = "DEFERRED"  # DB-API transactions: commit()/rollback()
        return connection

    def _writer(self) -> sqlite3.Connection:
        return self._write_connection

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    def _done_reading(self, connection: Any) -> None:
        connection.commit()  # ends the implicit read transaction so WAL checkpoints can run

    def _begin(self, connection: Any) -> None:
        connection.execute("BEGIN IMMEDIATE")

    def insert_rows(self, connection: Any, rows: Iterable[Row]) -> None:
        self.insert_many(connection, _INSERT, rows, len(COLUMNS))

    def insert_many(
        self, cursor: Any, head: str, rows: Iterable[Sequence[object]], width: int, tail: str = ""
    ) -> None:
        """``head VALUES (?, ...), (?, ...) ... tail``: many rows per statement (see
        `_STATEMENT_ROWS`)."""
        per = max(1, min(_STATEMENT_ROWS, self._max_variables // width))
        rows = iter(rows)
        while part := list(itertools.islice(rows, per)):
            full = len(part) == per
            sql = self._statements.get((head, width, tail)) if full else None
            if sql is None:
                one = f"({', '.join('?' * width)})"
                sql = f"{head} VALUES {', '.join([one] * len(part))} {tail}"
                if full:  # only full-size ones are kept: one per statement shape
                    self._statements[(head, width, tail)] = sql
            cursor.execute(sql, tuple(itertools.chain.from_iterable(part)))

    ids_checked_on_insert = True

    def is_stored_id_conflict(self, exc: BaseException | None) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "events.event_id" in str(exc)

    def translate(self, exc: Exception) -> Exception:
        text = str(exc).lower()
        if isinstance(exc, sqlite3.Error) and ("full" in text or "disk i/o" in text):
            return StoreFullError(f"storage is full: {exc}")
        if isinstance(exc, sqlite3.Error):
            return StoreUnavailableError(f"sqlite: {exc}")
        return exc

    def iter_rows(self, after_seq: int) -> Iterator[Any]:
        connection = self._connect()
        try:
            cursor = connection.execute(
                f"SELECT {', '.join(COLUMNS)} FROM events WHERE seq > ? ORDER BY seq",
                (after_seq,),
            )
            yield from cursor
        finally:
            connection.close()

    def table_names(self, cursor: Any) -> set[str]:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(row[0]) for row in cursor.fetchall()}

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        try:
            connection.execute("BEGIN")  # WAL: every read until the end sees one snapshot
            yield connection
        finally:
            connection.close()

    def scan(self, connection: Any, sql: str) -> Generator[Any, None, None]:
        yield from connection.execute(sql)

    def close(self) -> None:
        self._write_connection.close()
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


class SqliteStore(SqlStore):
    """`Store` on the SQLite file at ``path`` (see `SqliteDatabase`)."""

    def __init__(self, path: Path, keyring: Keyring, *, max_bytes: int | None = None) -> None:
        super().__init__(SqliteDatabase(path, keyring, max_bytes=max_bytes))
        self.path = path
