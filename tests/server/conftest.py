"""A real collector for the server tests: uvicorn on a free 127.0.0.1 port, over a real store.

`served` runs an app in a background thread; the ``collector`` fixture serves `create_app` over a
fresh store (SQLite, plus PostgreSQL when `apiwatch.store.postgres` exists) with one key per
scope, and stops everything cleanly afterwards.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from apiwatch.server import ServerSettings, create_app
from apiwatch.store import SqlStore, open_store

BACKENDS = ["sqlite"]
if importlib.util.find_spec("apiwatch.store.postgres") is not None:
    BACKENDS.append("postgres")

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def served(app: Any, *, lifespan: str = "on", host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of ``host`` (loopback); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@dataclass
class Collector:
    """A running collector: its URL, its store, and a secret per key name."""

    url: str
    store: SqlStore
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, key: str = "ingest", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}", **extra}

    def client(self, key: str = "ingest", **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(key), timeout=30, **options)


StoreFactory = Callable[..., SqlStore]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores of the parametrised back end, all over the same data; closes them after."""
    opened: list[SqlStore] = []
    if request.param == "postgres":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        _create_schema(schema)
    else:
        url = f"sqlite:///{tmp_path}/apiwatch.db"

    def make(**options: Any) -> SqlStore:
        store = open_store(url, key_file=tmp_path / "keys", **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    if request.param == "postgres":
        _drop_schema(schema)


def _create_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


def add_keys(store: SqlStore) -> dict[str, str]:
    """One key per scope, named after it, plus ``other-ingest``; returns name -> secret."""
    keys = {}
    for name, scopes in (
        ("ingest", ["ingest"]),
        ("other-ingest", ["ingest"]),
        ("read", ["read"]),
        ("admin", ["admin"]),
    ):
        keys[name] = store.keys.create(name, scopes)[1]
    return keys


@contextmanager
def collector_with(make_store: StoreFactory, settings: ServerSettings) -> Iterator[Collector]:
    """A collector with ``settings`` over a fresh store with `add_keys`' keys."""
    store = make_store()
    keys = add_keys(store)
    with served(create_app(store, settings)) as url:
        yield Collector(url, store, keys)


@pytest.fixture
def collector(make_store: StoreFactory) -> Iterator[Collector]:
    """A collector with default settings over a fresh store."""
    with collector_with(make_store, ServerSettings()) as running:
        yield running
