"""Stores for the forwarding tests: SQLite in a temporary directory and PostgreSQL on the real
server (a fresh schema per test), as the store tests use them."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from apiwatch.store import Keyring, SqlStore
from tests.store.helpers import Backend

from .helpers import close_sinks

PG_URL = os.environ.get("APIWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "forward.db"))
        return
    schema = f"f_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield Backend("postgres", f"{PG_URL}?options=-csearch_path%3D{schema}")
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "keys")


@pytest.fixture
def store(backend: Backend, keyring: Keyring) -> Iterator[SqlStore]:
    opened = backend.open(keyring)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _sinks_closed() -> Iterator[None]:
    yield
    close_sinks()
