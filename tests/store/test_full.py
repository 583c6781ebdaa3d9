"""A full disk: a clear StoreFullError, nothing half-written, and ingest resumes with space."""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from apiwatch.store import Keyring, SqlStore, StoreFullError, StoreUnavailableError, open_store
from apiwatch.store.postgres import PostgresStore
from apiwatch.store.sqlite import SqliteStore

from .conftest import PG_URL
from .helpers import Backend, batch, lines


def fill_until_full(store: SqlStore) -> int:
    """Append batches until the store refuses one; returns how many events it holds then."""
    for _ in range(200):
        before = store.events.count()
        try:
            store.events.append([batch(lines(100))])
        except StoreFullError:
            return before
    raise AssertionError("the size limit was never reached")


def test_sqlite_full_store_refuses_cleanly_and_resumes(tmp_path: Path, keyring: Keyring) -> None:
    """At the size limit append raises StoreFullError, the store stays intact and unchanged by
    the failed batch, and with a larger limit ingest resumes."""
    path = tmp_path / "small.db"
    store = SqliteStore(path, keyring, max_bytes=384 * 1024)
    held = fill_until_full(store)
    assert held > 0
    assert store.events.count() == held
    report = store.verify()
    assert (report.ok, report.records) == (True, held)
    store.close()

    reopened = open_store(f"sqlite:///{path}", key_file=keyring.path, max_bytes=4 * 1024 * 1024)
    try:
        assert reopened.events.append([batch(lines(100))])[0].stored == 100
        report = reopened.verify()
        assert (report.ok, report.records) == (True, held + 100)
    finally:
        reopened.close()


def test_sqlite_full_error_message_is_one_clear_line(tmp_path: Path, keyring: Keyring) -> None:
    """The error says the storage is full, on one line."""
    # 320 KB: the empty schema alone takes about 220 KB.
    store = SqliteStore(tmp_path / "small.db", keyring, max_bytes=320 * 1024)
    try:
        fill_until_full(store)
        with pytest.raises(StoreFullError, match="storage is full") as caught:
            store.events.append([batch(lines(100))])
        assert "\n" not in str(caught.value)
    finally:
        store.close()


def test_postgres_disk_full_is_translated(pg_backend: Backend, keyring: Keyring) -> None:
    """PostgreSQL's disk_full (SQLSTATE 53100) and out-of-space messages become StoreFullError;
    other server errors StoreUnavailableError, one line each."""
    store = pg_backend.open(keyring)
    try:
        disk_full = psycopg.errors.DiskFull('could not extend file "base/1/2": wrote only 4096')
        assert isinstance(store.db.translate(disk_full), StoreFullError)
        no_space = psycopg.errors.IoError("could not write to file: No space left on device")
        assert isinstance(store.db.translate(no_space), StoreFullError)
        lost = psycopg.OperationalError("server closed the connection unexpectedly\n\tThis...")
        translated = store.db.translate(lost)
        assert isinstance(translated, StoreUnavailableError)
        assert str(translated) == "postgresql: server closed the connection unexpectedly"
        other = ValueError("not a driver error")
        assert store.db.translate(other) is other
    finally:
        store.close()


@contextmanager
def small_disk(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (reachable and writable by PostgreSQL's server, so not under pytest's
    private tmp_path): a real disk that fills up. Needs root (mount); skips with the reason
    where it cannot be had."""
    directory = Path(tempfile.mkdtemp(prefix="apiwatch-disk-"))
    command = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(directory)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        directory.rmdir()
        pytest.skip(f"cannot mount a small disk: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)
        directory.rmdir()


def grow(directory: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(directory)], check=True)


@contextmanager
def store_on(kind: str, disk: Path, keyring: Keyring) -> Iterator[SqlStore]:
    """A store of ``kind`` whose data lives on ``disk`` (PostgreSQL: in a tablespace there)."""
    if kind == "sqlite":
        store: SqlStore = SqliteStore(disk / "store.db", keyring)
        try:
            yield store
        finally:
            store.close()
        return
    name = f"t_{secrets.token_hex(6)}"
    (disk / "pg").mkdir()
    os.chown(disk / "pg", *_postgres_ids())
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        admin.execute(f"CREATE TABLESPACE {name} LOCATION '{disk / 'pg'}'")
        try:
            joiner = "&" if "?" in PG_URL else "?"
            options = f"options=-csearch_path%3D{name}%20-cdefault_tablespace%3D{name}"
            store = PostgresStore(f"{PG_URL}{joiner}{options}", keyring)
            try:
                yield store
            finally:
                store.close()
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")
            admin.execute(f"DROP TABLESPACE {name}")


def _postgres_ids() -> tuple[int, int]:
    import pwd  # POSIX only, like mount

    try:
        found = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no local postgres account: the server is not on this machine")
    return found.pw_uid, found.pw_gid


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_full_disk_is_reported_until_a_write_succeeds(kind: str, keyring: Keyring) -> None:
    """On a real disk that fills up, full_reason says why after a write failed, and keeps saying
    so (its own probe write fails too) until the disk has room again."""
    with small_disk("2m") as disk, store_on(kind, disk, keyring) as store:
        assert store.full_reason() is None
        held = fill_until_full(store)
        reason = store.full_reason()
        assert reason is not None and reason.startswith("storage is full")
        assert "\n" not in reason
        assert store.full_reason() is not None
        grow(disk, "64m")
        assert store.full_reason() is None
        assert store.events.append([batch(lines(100))])[0].stored == 100
        assert store.events.count() == held + 100
        assert store.verify().ok
