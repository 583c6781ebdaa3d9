"""A scale-out collector for tests: a fresh PostgreSQL database, a JetStream stream of its own,
and ``apiwatch serve --role ...`` processes started and killed as real subprocesses."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests._wait import answers_ready

PG_URL = os.environ.get("APIWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("APIWATCH_TEST_NATS", "nats://127.0.0.1:4222")

_LINE = (
    '{"@timestamp":"%s","event":{"action":"authn_login_fail","id":"%s","kind":"event",'
    '"category":["authentication"],"type":["start"],"outcome":"failure"},'
    '"source":{"ip":"198.51.100.%d"},"http":{"request":{"method":"POST"},'
    '"response":{"status_code":401}},"url":{"path":"/login"},'
    '"user":{"name":"user%d@example.com"},"service":{"name":"shop"},"host":{"name":"web-1"}}'
)


def body(ids: list[str], at: datetime | None = None) -> bytes:
    """NDJSON of login failures with these event ids (32 hex digits each), dated ``at`` (now
    when not given)."""
    now = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = [_LINE % (now, event_id, n % 250, n % 97) for n, event_id in enumerate(ids)]
    return ("\n".join(lines) + "\n").encode()


def new_ids(count: int) -> list[str]:
    return [secrets.token_hex(16) for _ in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    name = f"aw_scale_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def delete_stream(stream: str) -> None:
    async def delete() -> None:
        import nats
        from nats.js.errors import NotFoundError

        connection = await nats.connect(NATS_URL)
        try:
            for name in (stream, f"KV_{stream}-idempotency"):  # and the ingest role's claims
                with suppress(NotFoundError):
                    await connection.jetstream().delete_stream(name)
        finally:
            await connection.close()

    asyncio.run(delete())


@dataclass
class Cluster:
    """Roles of one scale-out collector sharing ``db`` and ``stream``, configured by one file."""

    db: str
    workdir: Path
    stream: str = field(default_factory=lambda: f"T_{secrets.token_hex(6)}")
    bus: str = NATS_URL
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.workdir / "apiwatch.toml"

    def setup(self) -> str:
        """Create the store, its keys and the config file; returns an ingest API key."""
        from apiwatch.store import open_store

        keys, signing = self.workdir / "store.keys", self.workdir / "store.signing"
        self.config.write_text(
            f'db = "{self.db}"\nkey_file = "{keys}"\nsigning_key_file = "{signing}"\n'
            f'bus = "{self.bus}"\nbus_stream = "{self.stream}"\nlog_level = "warning"\n'
        )
        store = open_store(self.db, key_file=keys, signing_key_file=signing)
        try:
            return store.keys.create("sender", ["ingest"])[1]
        finally:
            store.close()

    def add_key(self, name: str) -> str:
        """Another ingest API key (after `setup`)."""
        from apiwatch.store import open_store

        keys, signing = self.workdir / "store.keys", self.workdir / "store.signing"
        store = open_store(self.db, key_file=keys, signing_key_file=signing)
        try:
            return store.keys.create(name, ["ingest"])[1]
        finally:
            store.close()

    def start(
        self, role: str, *args: str, ready: bool = True, config: Path | None = None
    ) -> tuple[subprocess.Popen[bytes], str]:
        """Start a role (with more ``serve`` arguments ``args``, and another ``config`` file if
        given); it is returned once /readyz answers (unless not ``ready``), with its URL."""
        port = free_port()
        with (self.workdir / f"{role}-{port}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "apiwatch", "serve", "--config", str(config or self.config),
                 "--role", role, "--port", str(port), *args],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        if ready:
            _wait_ready(url, process, role)
        return process, url

    def config_for(self, db: str) -> Path:
        """A config file for another store ``db`` on the same bus, stream and key files (a
        second detect run over the same events, saving elsewhere)."""
        other = self.workdir / f"apiwatch-{secrets.token_hex(4)}.toml"
        other.write_text(self.config.read_text().replace(f'db = "{self.db}"', f'db = "{db}"'))
        return other

    def open_store(self, db: str | None = None) -> Any:
        """The store ``db`` (default the cluster's) opened with the cluster's keys."""
        from apiwatch.store import open_store

        return open_store(db or self.db, key_file=self.workdir / "store.keys",
                          signing_key_file=self.workdir / "store.signing")  # fmt: skip

    def stored_ids(self) -> list[str]:
        with psycopg.connect(self.db) as connection:
            rows = connection.execute("SELECT event_id FROM events").fetchall()
        return [bytes(row[0]).hex() for row in rows]

    def wait_stored(self, count: int, timeout: float = 90.0) -> list[str]:
        """The stored event ids once there are ``count`` of them (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while True:
            ids = self.stored_ids()
            if len(ids) >= count or time.monotonic() > deadline:
                return ids
            time.sleep(0.2)

    def verify(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "apiwatch", "verify", "--config", str(self.config)],
            cwd=self.workdir, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class NatsServer:
    """A ``nats-server -js`` of the test's own, on a free port with its store in ``directory``,
    that can be killed and started again on the same port and store."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.directory / "nats.log").open("ab")
        self.process = subprocess.Popen(
            ["nats-server", "-js", "-sd", str(self.directory / "store"), "-a", "127.0.0.1",
             "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return
            time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def kill(self) -> None:
        """SIGKILL the server and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], role: str) -> None:
    if not answers_ready(url, process):
        process.kill()
        raise AssertionError(f"the {role} role at {url} did not become ready")


def scrape(url: str) -> dict[str, float]:
    """The samples of a role's /metrics (name with labels -> value)."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    response.raise_for_status()
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def all_records(read: Any) -> Iterator[Any]:
    """Every record a paged detections read (``store.detections.alerts`` or ``.incidents``)
    gives, page after page."""
    from apiwatch.store import DetectionFilter

    cursor = None
    while True:
        page = read(DetectionFilter(), cursor=cursor, limit=500)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def post(client: httpx.Client, url: str, key: str, ids: list[str]) -> httpx.Response:
    return client.post(
        f"{url}/v1/events",
        content=body(ids),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
        timeout=30,
    )
