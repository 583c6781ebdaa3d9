"""Events to store, and direct access to the database under a store (to tamper with it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from apiwatch.model import Event, encode_event
from apiwatch.model.event import (
    EventMeta,
    Host,
    Http,
    HttpResponse,
    Service,
    Source,
    Url,
    User,
    UserAgent,
    new_event_id,
)
from apiwatch.store import Batch, Keyring, SqlStore, StoredLine
from apiwatch.store.postgres import PostgresStore
from apiwatch.store.sqlite import SqliteStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def line(
    *,
    at: datetime = T0,
    action: str = "http_request",
    outcome: str | None = "success",
    user: str | None = "alice",
    ip: str | None = "203.0.113.7",
    path: str | None = "/api/orders/17",
    status: int | None = 200,
    service: str = "shop",
    host: str = "web-1",
    event_id: str | None = None,
) -> StoredLine:
    """One accepted event as the ingest path hands it to the store."""
    event = Event(
        timestamp=at,
        event=EventMeta(action=action, outcome=outcome, id=event_id or new_event_id()),
        source=Source(ip=ip) if ip else None,
        http=Http(response=HttpResponse(status_code=status)) if status else None,
        url=Url(path=path) if path else None,
        user_agent=UserAgent(original=UA),
        user=User(name=user) if user else None,
        service=Service(name=service),
        host=Host(name=host),
    )
    return StoredLine(event, encode_event(event))


def lines(count: int, *, start: datetime = T0, **fields: Any) -> list[StoredLine]:
    """``count`` events one second apart."""
    return [line(at=start + timedelta(seconds=i), **fields) for i in range(count)]


def batch(stored: Sequence[StoredLine], key: str = "ingest-1", idem: str | None = None) -> Batch:
    return Batch(list(stored), key, idem)


@dataclass
class Backend:
    """One database to run the store tests on: ``kind`` is ``sqlite`` or ``postgres``."""

    kind: str
    target: str  # the SQLite file, or the PostgreSQL URL (with its test schema)
    session_name: str = ""  # PostgreSQL: the application_name of the store's connections

    def open(self, keyring: Keyring, *, max_bytes: int | None = None) -> SqlStore:
        if self.kind == "sqlite":
            return SqliteStore(Path(self.target), keyring, max_bytes=max_bytes)
        return PostgresStore(self.target, keyring)

    def sql(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement straight on the database (``?`` placeholders), committed."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.target)) as connection:
                rows = connection.execute(statement, tuple(params)).fetchall()
                connection.commit()
                return rows
        with psycopg.connect(self.target) as pg:
            cursor = pg.execute(statement.replace("?", "%s"), tuple(params))
            return cursor.fetchall() if cursor.description else []

    def row(self, seq: int) -> tuple[Any, ...]:
        """Every column of one stored event, in `COLUMNS` order."""
        from apiwatch.store._rows import COLUMNS

        columns = ", ".join(COLUMNS)
        found = self.sql(f"SELECT {columns} FROM events WHERE seq = ?", (seq,))  # noqa: S608
        return tuple(bytes(v) if isinstance(v, memoryview) else v for v in found[0])

    def put_row(self, values: Sequence[object]) -> None:
        from apiwatch.store._rows import COLUMNS

        marks = ", ".join("?" * len(COLUMNS))
        columns = ", ".join(COLUMNS)
        self.sql(f"INSERT INTO events ({columns}) VALUES ({marks})", values)  # noqa: S608
