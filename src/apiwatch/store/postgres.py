"""The scale-out store: PostgreSQL through psycopg 3, rows written with binary ``COPY``.

Several collector processes may share one database: every write transaction that touches the
chain first takes a transaction-level advisory lock, so sequence numbers and chain links never
interleave. Reads use a small pool of autocommit connections (never idle in a transaction);
`verify` streams rows through a server-side cursor on a connection of its own.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import BytesBinaryDumper

from apiwatch.model import ConfigError
from apiwatch.store._database import Database, StoreFullError, StoreUnavailableError
from apiwatch.store._rows import COLUMNS, Row, clear_text
from apiwatch.store._sql import SqlStore
from apiwatch.store.crypto import Keyring

__all__ = ["PostgresDatabase", "PostgresStore", "key_file_label", "store_exists"]

#: ``pg_advisory_xact_lock`` key of the chain writer: the bytes of "apiwatch" as a bigint.
WRITER_LOCK = int.from_bytes(b"apiwatch", "big")

_COPY = f"COPY events ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# PostgreSQL types of COLUMNS, in order, for binary COPY.
_COPY_TYPES = (
    "int8", "bytea", "int8", "text", "text", "text", "bytea", "text", "text",
    "int4", "text", "bytea", "int4", "bytea", "bytea",
)  # fmt: skip
_ROWS_PER_FETCH = 5000
_IDLE_READERS = 4  # pooled read connections kept open between reads
_DISK_FULL = "53100"


class PostgresDatabase(Database):
    """The `Database` on PostgreSQL; ``url`` is a libpq URL (``postgresql://user@host/db``)."""

    mark = "%s"
    blob_type = "BYTEA"
    int_type = "BIGINT"

    def __init__(self, url: str, keyring: Keyring) -> None:
        super().__init__(keyring)
        self._conninfo, self._password, self._label = _parse_url(url)
        # Readers are pooled, not per thread: a server's thread pool would otherwise hold one
        # connection per thread it ever ran, and PostgreSQL connections are not cheap.
        self._idle_readers: list[psycopg.Connection[Any]] = []
        self._pool_lock = threading.Lock()
        self._closed = False
        self._scans = 0
        self._write_connection: psycopg.Connection[Any] | None = None
        try:
            self.create_schema()
        except BaseException:
            self.close()
            raise

    # -- connections -------------------------------------------------------------------------

    def _connect(self, *, autocommit: bool) -> psycopg.Connection[Any]:
        try:
            connection = psycopg.connect(self._conninfo, autocommit=autocommit)
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"postgresql: cannot connect to {self._label}: {self._one_line(exc)}"
            ) from None
        # The writer relies on each statement seeing what committed before the lock was granted.
        connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        return connection

    def _writer(self) -> psycopg.Connection[Any]:
        connection = self._write_connection
        if connection is None or connection.closed or connection.broken:
            if connection is not None:
                connection.close()
            connection = self._write_connection = self._connect(autocommit=False)
            # Binary COPY looks dumpers up by column type; psycopg's default for bytea is a
            # pure-Python wrapper (for DB-API ``Binary``), its C dumper for bytes is faster.
            connection.adapters.register_dumper(bytes, BytesBinaryDumper)
        return connection

    def _reader(self) -> psycopg.Connection[Any]:
        with self._pool_lock:
            connection = self._idle_readers.pop() if self._idle_readers else None
        return connection or self._connect(autocommit=True)

    def _done_reading(self, connection: Any) -> None:
        """Back to the pool when healthy and out of any transaction; closed otherwise."""
        if not (connection.closed or connection.broken):
            if connection.info.transaction_status != pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    connection.rollback()
            if connection.info.transaction_status == pq.TransactionStatus.IDLE:
                with self._pool_lock:
                    if not self._closed and len(self._idle_readers) < _IDLE_READERS:
                        self._idle_readers.append(connection)
                        return
        connection.close()

    def read_all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return super().read_all(sql, params)
        except StoreUnavailableError as exc:
            # A pooled connection the server dropped (restart, idle timeout) fails on first
            # use; reads are safe to repeat once on a new connection.
            if not isinstance(exc.__cause__, psycopg.OperationalError):
                raise
            self._drop_idle_readers()
            return super().read_all(sql, params)

    def _drop_idle_readers(self) -> None:
        with self._pool_lock:
            idle, self._idle_readers = self._idle_readers, []
        for connection in idle:
            connection.close()

    # -- dialect hooks -----------------------------------------------------------------------

    def schema(self) -> list[str]:
        # Two collectors starting at once must not race on CREATE TABLE IF NOT EXISTS.
        return [f"SELECT pg_advisory_xact_lock({WRITER_LOCK})", *super().schema()]

    def _begin(self, connection: Any) -> None:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))

    def stored_ids(self, cursor: Any, key_name: str, ids: Sequence[bytes]) -> set[bytes]:
        # One binary array parameter instead of 500 placeholders (psycopg parses those slowly);
        # the join keeps the plan an index probe per id however large the table grows.
        cursor.execute(
            "SELECT e.event_id FROM unnest(%b::bytea[]) AS given(id) "
            "JOIN events e ON e.key_name = %s AND e.event_id = given.id",
            (list(ids), clear_text(key_name)),
        )
        return {bytes(row[0]) for row in cursor.fetchall()}

    def insert_many(
        self, cursor: Any, head: str, rows: Iterable[Sequence[object]], width: int, tail: str = ""
    ) -> None:
        # One statement for all the rows, each column bound as one binary array: psycopg's
        # executemany costs about 5.6 us of this process's CPU per row (the rollups' upserts
        # are thousands of rows per commit), this about 0.6.
        columns = [list(column) for column in zip(*rows, strict=True)]
        if not columns:
            return
        arrays = ", ".join(["%b"] * width)
        cursor.execute(f"{head} SELECT * FROM unnest({arrays}) {tail}", columns)

    def insert_rows(self, connection: Any, rows: Iterable[Row]) -> None:
        # ``connection`` is the transaction's cursor; binary COPY measured ~1.3x text COPY here.
        with connection.copy(_COPY) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)

    def iter_rows(self, after_seq: int) -> Iterator[Any]:
        connection = self._connect(autocommit=False)
        connection.read_only = True
        try:
            with connection.cursor(name="apiwatch_verify") as cursor:
                cursor.itersize = _ROWS_PER_FETCH
                cursor.execute(
                    f"SELECT {', '.join(COLUMNS)} FROM events WHERE seq > %s ORDER BY seq",
                    (after_seq,),
                )
                yield from cursor
        except psycopg.Error as exc:
            raise self.translate(exc) from exc
        finally:
            connection.close()

    def table_names(self, cursor: Any) -> set[str]:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {str(row[0]) for row in cursor.fetchall()}

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        connection = self._connect(autocommit=False)
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        try:
            yield connection
        except psycopg.Error as exc:
            raise self.translate(exc) from exc
        finally:
            connection.close()

    def scan(self, connection: Any, sql: str) -> Generator[Any, None, None]:
        self._scans += 1
        with connection.cursor(name=f"apiwatch_scan_{self._scans}") as cursor:
            cursor.itersize = _ROWS_PER_FETCH
            cursor.execute(sql)
            yield from cursor

    def translate(self, exc: Exception) -> Exception:
        if not isinstance(exc, psycopg.Error):
            return exc
        text = self._one_line(exc)
        if exc.sqlstate == _DISK_FULL or "no space left on device" in text.lower():
            return StoreFullError(f"storage is full: postgresql: {text}")
        return StoreUnavailableError(f"postgresql: {text}")

    def _one_line(self, exc: Exception) -> str:
        """The first line of a driver message, with the URL's password (if any) masked."""
        text = _first_line(exc)
        return text.replace(self._password, "***") if self._password else text

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
        self._drop_idle_readers()
        if self._write_connection is not None:
            self._write_connection.close()


class PostgresStore(SqlStore):
    """`Store` on the PostgreSQL database at ``url`` (see `PostgresDatabase`)."""

    def __init__(self, url: str, keyring: Keyring) -> None:
        super().__init__(PostgresDatabase(url, keyring))


def store_exists(url: str) -> bool:
    """Whether the database at ``url`` holds an apiwatch store (its events table, on the
    connection's search_path)."""
    conninfo, password, label = _parse_url(url)
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            row = connection.execute("SELECT to_regclass('events')").fetchone()
    except psycopg.Error as exc:
        text = _first_line(exc)
        text = text.replace(password, "***") if password else text
        raise StoreUnavailableError(f"postgresql: cannot connect to {label}: {text}") from None
    return row is not None and row[0] is not None


def key_file_label(url: str) -> tuple[str, str]:
    """``(label, identity)`` naming the database a URL points at: host, port, database and
    search_path only, never the password or other parameters."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ConfigError("db: not a valid postgresql://user@host:port/dbname URL") from None
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or "5432")
    dbname = str(params.get("dbname") or params.get("user") or "")
    found = re.search(r"-c\s*search_path\s*=\s*(\S+)", str(params.get("options") or ""))
    search_path = found.group(1) if found else ""
    return f"{host}-{dbname or 'db'}", "\0".join((host, port, dbname, search_path))


def _parse_url(url: str) -> tuple[str, str | None, str]:
    """``(conninfo, password, label)``: the label is the URL without its password, for messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # libpq's message may quote the URL, password included: say only what is wrong.
        raise ConfigError("db: not a valid postgresql://user@host:port/dbname URL") from None
    password = params.pop("password", None)
    label = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    label = f"{params.get('user') or ''}@{label}/{params.get('dbname') or ''}".lstrip("@")
    if password is not None:
        params["password"] = password
    params.setdefault("connect_timeout", 10)
    params.setdefault("application_name", "apiwatch")
    return make_conninfo("", **params), str(password) if password else None, label


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
