"""The store tests run on both back ends: SQLite in a temporary directory, and PostgreSQL on the
real server (a fresh schema per test; when the server is down these tests fail, never skip)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from apiwatch.store import Keyring, SqlStore

from .helpers import Backend

PG_URL = os.environ.get("APIWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
KINDS = ["sqlite", "postgres"]


@contextmanager
def fresh_backend(kind: str, directory: Path) -> Iterator[Backend]:
    """An empty database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        yield Backend("sqlite", str(directory / f"apiwatch-{secrets.token_hex(4)}.db"))
        return
    schema = f"t_{secrets.token_hex(6)}"
    joiner = "&" if "?" in PG_URL else "?"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            # Its own application_name lets a test find its store's sessions (and only those).
            params = f"options=-csearch_path%3D{schema}&application_name=apiwatch_{schema}"
            yield Backend("postgres", f"{PG_URL}{joiner}{params}", f"apiwatch_{schema}")
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def fresh_store(kind: str, directory: Path) -> Iterator[tuple[SqlStore, Backend]]:
    """A new store with its own keys on an empty database of ``kind``."""
    keyring = Keyring.load_or_create(directory / f"keys-{secrets.token_hex(4)}")
    with fresh_backend(kind, directory) as backend:
        store = backend.open(keyring)
        try:
            yield store, backend
        finally:
            store.close()


@pytest.fixture(autouse=True)
def _no_data_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APIWATCH_DATA_KEY", raising=False)


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with fresh_backend(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def pg_backend(tmp_path: Path) -> Iterator[Backend]:
    with fresh_backend("postgres", tmp_path) as found:
        yield found


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "keys")


@pytest.fixture
def store(backend: Backend, keyring: Keyring) -> Iterator[SqlStore]:
    opened = backend.open(keyring)
    yield opened
    opened.close()
