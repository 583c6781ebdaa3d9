"""A collector with ``[[sources]]`` for the live-source tests, and ways to read what it stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from apiwatch.server import ServerSettings, create_app
from apiwatch.sources.config import parse_sources
from apiwatch.store import EventFilter, SqlStore
from tests.server.conftest import StoreFactory, add_keys, served


@dataclass
class Live:
    """A running collector with live sources: its app (for receiver ports), URL and store."""

    app: Any
    url: str
    store: SqlStore
    keys: dict[str, str]

    def port(self, source: str) -> int:
        return int(self.app.state.apiwatch.sources.receivers[source].port)

    def stats(self, source: str) -> Any:
        return self.app.state.apiwatch.sources.stats[source]

    def events(self, source: str) -> list[dict[str, Any]]:
        """The stored events of ``source`` (key ``source:<name>``), decrypted."""
        return [
            e
            for e in stored_events(self.store)
            if e.get("labels", {}).get("apiwatch_source") == source
        ]

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text


@contextmanager
def live_collector(
    make_store: StoreFactory,
    tables: list[dict[str, Any]],
    state: Path,
    *,
    keys: bool = True,
    **settings: Any,
) -> Iterator[Live]:
    """A collector running the ``[[sources]]`` ``tables``, positions kept under ``state``
    (``keys``: add `add_keys`' keys; False for a restart over the same store)."""
    store = make_store()
    secrets = add_keys(store) if keys else {}
    sources = parse_sources(tables, "test")
    app = create_app(
        store, ServerSettings(sources=sources, sources_state_dir=str(state), **settings)
    )
    with served(app) as url:
        yield Live(app, url, store, secrets)


def stored_events(store: SqlStore) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = store.events.query(EventFilter(), cursor=cursor, limit=5000)
        events += [json.loads(line) for line in page.lines]
        if page.next_cursor is None:
            return events
        cursor = page.next_cursor


def access_line(
    ip: str, path: str, status: int = 200, method: str = "GET", at: datetime | None = None
) -> str:
    """An nginx combined line, dated now unless ``at``."""
    when = (at or datetime.now(UTC)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{when}] "{method} {path} HTTP/1.1" {status} 12 "-" "live-test/1.0"'


def metric(text: str, name: str, source: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'{name}{{source="{source}"'):
            return float(line.split()[-1])
    raise AssertionError(f"{name} for {source} is not in /metrics")
