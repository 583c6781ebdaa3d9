"""A full disk: a clear StoreFullError, nothing half-written, and ingest resumes with space."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from apiwatch.store import Keyring, SqlStore, StoreFullError, StoreUnavailableError, open_store
from apiwatch.store.sqlite import SqliteStore

from .helpers import Backend, batch, lines


def fill_until_full(store: SqlStore) -> int:
    """Append batches until the store refuses one; returns how many events it holds then."""
    for _ in range(200):
        before = store.count()
        try:
            store.append([batch(lines(100))])
        except StoreFullError:
            return before
    raise AssertionError("the size limit was never reached")


def test_sqlite_full_store_refuses_cleanly_and_resumes(tmp_path: Path, keyring: Keyring) -> None:
    """At the size limit append raises StoreFullError, the store stays intact and unchanged by
    the failed batch, and with a larger limit ingest resumes."""
    path = tmp_path / "small.db"
    store = SqliteStore(path, keyring, max_bytes=256 * 1024)
    held = fill_until_full(store)
    assert held > 0
    assert store.count() == held
    report = store.verify()
    assert (report.ok, report.records) == (True, held)
    store.close()

    reopened = open_store(f"sqlite:///{path}", key_file=keyring.path, max_bytes=4 * 1024 * 1024)
    try:
        assert reopened.append([batch(lines(100))])[0].stored == 100
        report = reopened.verify()
        assert (report.ok, report.records) == (True, held + 100)
    finally:
        reopened.close()


def test_sqlite_full_error_message_is_one_clear_line(tmp_path: Path, keyring: Keyring) -> None:
    """The error says the storage is full, on one line."""
    # 192 KB: the empty schema alone takes about 130 KB.
    store = SqliteStore(tmp_path / "small.db", keyring, max_bytes=192 * 1024)
    try:
        fill_until_full(store)
        with pytest.raises(StoreFullError, match="storage is full") as caught:
            store.append([batch(lines(100))])
        assert "\n" not in str(caught.value)
    finally:
        store.close()


def test_postgres_disk_full_is_translated(pg_backend: Backend, keyring: Keyring) -> None:
    """PostgreSQL's disk_full (SQLSTATE 53100) and out-of-space messages become StoreFullError;
    other server errors StoreUnavailableError, one line each."""
    store = pg_backend.open(keyring)
    try:
        disk_full = psycopg.errors.DiskFull('could not extend file "base/1/2": wrote only 4096')
        assert isinstance(store._translate(disk_full), StoreFullError)
        no_space = psycopg.errors.IoError("could not write to file: No space left on device")
        assert isinstance(store._translate(no_space), StoreFullError)
        lost = psycopg.OperationalError("server closed the connection unexpectedly\n\tThis...")
        translated = store._translate(lost)
        assert isinstance(translated, StoreUnavailableError)
        assert str(translated) == "postgresql: server closed the connection unexpectedly"
        other = ValueError("not a driver error")
        assert store._translate(other) is other
    finally:
        store.close()
