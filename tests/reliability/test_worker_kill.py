"""Shipping from real servers whose workers die: SIGKILL, graceful reload and shutdown while the
collector is hung (issue: shipping that survives a killed worker).

Each test runs a real `apiwatch serve` and a real app server (gunicorn sync workers with Flask,
gunicorn's UvicornWorker and ``uvicorn --workers`` with FastAPI), sends requests that each carry
a unique ``X-Request-ID``, and then counts, in the collector's store, the events of every request
that got its whole answer: each must be stored exactly once.

``APIWATCH_KILL_REQUESTS`` raises the request count of every kind (20,000 for the full soak).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from apiwatch.store import EventFilter, open_store

from .serving import free_port, serve

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONNECTIONS = 6
MORE = 10  # a sender told to go on until something happens sends at most this times its count
MORE_SECONDS = 120.0  # ... and for at most this long

SERVERS = {
    "gunicorn-sync": ["-m", "gunicorn", "-w", "2", "tests.reliability.shipping_app:make_flask()"],
    "gunicorn-uvicorn-worker": [
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "tests.reliability.shipping_app:make_fastapi()",
    ],
    "uvicorn-workers": [
        "-m",
        "uvicorn",
        "--workers",
        "2",
        "--factory",
        "tests.reliability.shipping_app:make_fastapi",
    ],
}
REQUESTS = {"gunicorn-sync": 20_000, "gunicorn-uvicorn-worker": 10_000, "uvicorn-workers": 10_000}


class Collector:
    """`apiwatch serve` on SQLite with an ingest key; `stored_request_ids` reads its store."""

    def __init__(self, workdir: Path) -> None:
        self.db = f"sqlite:///{workdir / 'collector.db'}"
        self.keys = workdir / "collector.keys"
        store = open_store(self.db, key_file=self.keys)
        _, self.key = store.keys.create("sensor", ["ingest"])
        store.close()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = serve(self.db, self.port, workdir)

    def stored_request_ids(self) -> Counter[str]:
        store = open_store(self.db, key_file=self.keys)
        found: Counter[str] = Counter()
        cursor = None
        try:
            while True:
                page = store.events.query(EventFilter(), cursor=cursor, limit=5000)
                for line in page.lines:
                    found[json.loads(line)["http"]["request"]["id"]] += 1
                cursor = page.next_cursor
                if cursor is None:
                    return found
        finally:
            store.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=30)


@contextmanager
def collector(workdir: Path) -> Iterator[Collector]:
    running = Collector(workdir)
    try:
        yield running
    finally:
        running.stop()


class AppServer:
    """One app server (``kind`` in `SERVERS`) on a free port, shipping to ``collector``."""

    def __init__(self, kind: str, collector: Collector, workdir: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "APIWATCH_TEST_COLLECTOR": collector.url,
            "APIWATCH_TEST_KEY": collector.key,
            "APIWATCH_TEST_SPOOL": str(workdir / "spool"),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        bind = (
            ["--port", str(self.port), "--log-level", "warning"]
            if kind == "uvicorn-workers"
            else ["-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "30", "--no-control-socket"]
        )
        self.log = (workdir / f"{kind}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *SERVERS[kind], *bind],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _get(self.port, f"ready-{time.monotonic_ns()}") or self.process.poll() is not None:
                break
            time.sleep(0.1)
        assert self.process.poll() is None, "the app server did not start"

    def workers(self) -> list[int]:
        """The worker processes (the master's children, multiprocessing's helpers excepted)."""
        pids = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                children = (task / "children").read_text().split()
            except OSError:  # the thread ended while we looked
                continue
            for pid in children:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:  # the child exited between the listing and this read
                    continue
                if cmdline and b"resource_tracker" not in cmdline:
                    pids.append(int(pid))
        return pids

    def stop(self) -> int:
        """Graceful shutdown (SIGTERM); the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.log.close()
        return self.process.returncode


def _get(
    port: int, request_id: str, connection: list[http.client.HTTPConnection] | None = None
) -> bool:
    """One GET /ping; True only when the whole answer came back."""
    conns = connection if connection is not None else []
    try:
        if not conns:
            conns.append(http.client.HTTPConnection("127.0.0.1", port, timeout=30))
        conn = conns[0]
        conn.request("GET", "/ping", headers={"X-Request-ID": request_id})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        if conns:
            conns.pop().close()
        return False
    if connection is None:
        conns[0].close()
    return response.status == 200 and body == b"pong"


def send_requests(
    port: int, prefix: str, count: int, *, until: Callable[[], bool] | None = None
) -> list[str]:
    """``count`` requests over keep-alive connections, and with ``until`` more until it holds
    (at most `MORE` times ``count`` in all, for at most `MORE_SECONDS`); the ids of those fully
    answered."""
    answered: list[str] = []
    numbers = _numbers(count, until)
    lock = threading.Lock()

    def client() -> None:
        connection: list[http.client.HTTPConnection] = []
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                break
            request_id = f"{prefix}-{number}"
            if _get(port, request_id, connection):
                with lock:
                    answered.append(request_id)
        for conn in connection:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered


def _numbers(count: int, until: Callable[[], bool] | None) -> Iterator[int]:
    deadline = time.monotonic() + MORE_SECONDS
    yield from range(count)
    if until is None:
        return
    for number in range(count, count * MORE):
        if until() or time.monotonic() > deadline:
            return
        yield number


def wait_stored(collector: Collector, answered: list[str], timeout: float = 30.0) -> Counter[str]:
    """The store's request ids, once every answered one is in (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        stored = collector.stored_request_ids()
        if all(request_id in stored for request_id in answered) or time.monotonic() > deadline:
            return stored
        time.sleep(1.0)


def assert_exactly_once(stored: Counter[str], answered: list[str]) -> None:
    missing = [request_id for request_id in answered if request_id not in stored]
    twice = [request_id for request_id, count in stored.items() if count > 1]
    assert not missing, f"{len(missing)} answered requests have no stored event: {missing[:5]}"
    assert not twice, f"{len(twice)} events stored more than once: {twice[:5]}"


def _count(kind: str) -> int:
    return int(os.environ.get("APIWATCH_KILL_REQUESTS", REQUESTS[kind]))


@pytest.mark.parametrize("kind", list(SERVERS))
def test_sigkilled_workers_lose_no_answered_request(kind: str, tmp_path: Path) -> None:
    """A worker SIGKILLed about every second while requests stream in: every request that got
    its whole answer has its event stored exactly once, with the app still running."""
    with collector(tmp_path) as running:
        app = AppServer(kind, running, tmp_path)
        kills = 0
        done = threading.Event()

        def killer() -> None:
            nonlocal kills
            while not done.wait(random.uniform(0.5, 1.5)):  # noqa: S311 - test timing
                workers = app.workers()
                if workers:
                    try:
                        os.kill(random.choice(workers), signal.SIGKILL)  # noqa: S311
                    except ProcessLookupError:  # it exited on its own meanwhile
                        continue
                    kills += 1

        thread = threading.Thread(target=killer)
        thread.start()
        try:
            # On a fast machine the count may be sent before a second kill: go on until then.
            answered = send_requests(app.port, "r", _count(kind), until=lambda: kills >= 2)
        finally:
            done.set()
            thread.join()
        try:
            stored = wait_stored(running, answered)
        finally:
            app.stop()
    assert kills >= 2
    assert len(answered) >= _count(kind) * 0.9
    assert_exactly_once(stored, answered)


def _wait_gone(pids: set[int], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, "the old workers did not exit"
        time.sleep(0.1)


def test_collector_hung_across_a_graceful_reload_delivers_everything_once(tmp_path: Path) -> None:
    """With the collector stopped (SIGSTOP), a gunicorn reload (HUP) replaces every worker;
    once it resumes, every answered request's event is stored exactly once, without the app
    being restarted: the new workers adopt the old workers' slots."""
    with collector(tmp_path) as running:
        app = AppServer("gunicorn-sync", running, tmp_path)
        try:
            answered = send_requests(app.port, "a", 500)
            running.process.send_signal(signal.SIGSTOP)
            answered += send_requests(app.port, "b", 1000)
            old = set(app.workers())
            app.process.send_signal(signal.SIGHUP)
            _wait_gone(old)
            answered += send_requests(app.port, "c", 1000)
            running.process.send_signal(signal.SIGCONT)
            stored = wait_stored(running, answered, timeout=90)
        finally:
            assert app.stop() == 0
    log = (tmp_path / "gunicorn-sync.log").read_text()
    assert "events left in the spool" in log  # the old workers said what they left behind
    assert_exactly_once(stored, answered)


def test_collector_hung_across_a_shutdown_delivers_everything_once(tmp_path: Path) -> None:
    """A graceful shutdown while the collector is stopped exits cleanly within gunicorn's
    graceful timeout, says what it left, and the app's next start delivers all of it once."""
    with collector(tmp_path) as running:
        app = AppServer("gunicorn-sync", running, tmp_path)
        answered = send_requests(app.port, "a", 1000)
        running.process.send_signal(signal.SIGSTOP)
        answered += send_requests(app.port, "b", 1000)
        assert app.stop() == 0
        assert "events left in the spool" in (tmp_path / "gunicorn-sync.log").read_text()
        running.process.send_signal(signal.SIGCONT)
        again = AppServer("gunicorn-sync", running, tmp_path)
        try:
            stored = wait_stored(running, answered, timeout=60)
        finally:
            again.stop()
    assert_exactly_once(stored, answered)
