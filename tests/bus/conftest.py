"""Fixtures of the scale-out tests: a `Cluster` on its own database and stream, torn down."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus.cluster import Cluster, delete_stream, postgres_database


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with postgres_database() as db:
        running = Cluster(db, tmp_path)
        try:
            yield running
        finally:
            running.stop_all()
            delete_stream(running.stream)


@pytest.fixture
def stream() -> Iterator[str]:
    """The name of a JetStream stream of the test's own on the local NATS, deleted afterwards."""
    name = f"T_{secrets.token_hex(6)}"
    yield name
    delete_stream(name)
