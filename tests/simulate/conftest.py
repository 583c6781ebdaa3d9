"""Shared fixtures: the default scenario (generated once), its files, and a served app."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from apiwatch.simulate import Scenario, ScenarioPaths, generate, write_scenario


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """The default scenario (seed 1): about 60,000 events over four hours."""
    return generate()


@pytest.fixture(scope="session")
def written(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    """The default scenario's three files."""
    return write_scenario(scenario, tmp_path_factory.mktemp("default"))


def origin(scenario: Scenario, name: str) -> list[Any]:
    """The requests of one actor (``attack:scanner``, ``trap:office_nat``, ...)."""
    return [r for r in scenario.requests if r.origin == name]


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
