"""`apiwatch serve` on the network: whose client address it believes, the warning it gives when
it listens beyond loopback in clear text, and the secret files it refuses to use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from apiwatch.cli._serving import Running
from apiwatch.store import open_store
from tests._wait import answers_ready
from tests.reliability.serving import free_port
from tests.server.raw_http import start_upload
from tests.tls_helpers import write_self_signed

FORWARDED = {"X-Forwarded-For": "203.0.113.9"}


def _command(workdir: Path, port: int, *extra: str) -> list[str]:
    db = f"sqlite:///{workdir / 'collector.db'}"
    return [sys.executable, "-m", "apiwatch", "serve", "--db", db, "--port", str(port), *extra]


def _environment(keep: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment without the APIWATCH_* settings, but for those in ``keep``
    and ``APIWATCH_HOME`` (where the store's signing key is kept apart)."""
    keep = (*keep, "APIWATCH_HOME")
    return {k: v for k, v in os.environ.items() if not k.startswith("APIWATCH_") or k in keep}


@contextmanager
def serving(
    workdir: Path, *extra: str, keep_environment: tuple[str, ...] = ()
) -> Iterator[tuple[str, Path]]:
    """``apiwatch serve`` in a subprocess until it answers /readyz: (its URL, its stderr file)."""
    port = free_port()
    log = workdir / "serve.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(_command(workdir, port, *extra), cwd=workdir, stdout=stderr,
                                   stderr=stderr, env=_environment(keep_environment))  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    if not answers_ready(url, process):
        raise AssertionError(f"apiwatch serve did not become ready:\n{log.read_text()}")


def _ingest_key(workdir: Path) -> str:
    store = open_store(f"sqlite:///{workdir / 'collector.db'}")
    try:
        return store.keys.create("sensor", ["ingest"])[1]
    finally:
        store.close()


def _client_seen(url: str, secret: str, log: Path) -> str:
    """The serve log's line about an upload from loopback with X-Forwarded-For 203.0.113.9
    that went away half-way (the line names the client address the collector believed)."""
    start_upload(url, secret, headers=FORWARDED).close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [line for line in log.read_text().splitlines() if "went away" in line]
        if lines:
            return lines[0]
        time.sleep(0.05)
    raise AssertionError(f"no line about the dropped upload:\n{log.read_text()}")


def test_serve_does_not_believe_x_forwarded_for_from_loopback(tmp_path: Path) -> None:
    """By default the collector's client is the peer of the connection: X-Forwarded-For from
    127.0.0.1 is not believed (uvicorn's default would take it)."""
    secret = _ingest_key(tmp_path)
    with serving(tmp_path) as (url, log):
        line = _client_seen(url, secret, log)
    assert "the client 127.0.0.1 went away during POST /v1/events" in line
    assert "203.0.113.9" not in log.read_text()


def test_serve_believes_x_forwarded_for_from_the_proxies_it_is_given(tmp_path: Path) -> None:
    """With --forwarded-allow-ips 127.0.0.1, a request from there is the client it names."""
    secret = _ingest_key(tmp_path)
    with serving(tmp_path, "--forwarded-allow-ips", "127.0.0.1") as (url, log):
        line = _client_seen(url, secret, log)
    assert "the client 203.0.113.9 went away" in line


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_serve_warns_once_when_listening_beyond_loopback_without_tls(
    tmp_path: Path, host: str, warned: bool
) -> None:
    """Listening on a non-loopback address without TLS gives one WARNING line at start saying
    what to do; listening on loopback gives none."""
    with serving(tmp_path, "--host", host) as (_, log):
        pass
    warnings = [line for line in log.read_text().splitlines() if "WARNING" in line]
    expected = [
        f"apiwatch: WARNING: listening on {host} without TLS: API keys and events cross the "
        "network in clear text; give --tls-cert and --tls-key, or listen on 127.0.0.1 behind "
        "a TLS proxy"
    ]
    assert warnings == (expected if warned else [])


def test_serve_over_tls_beyond_loopback_is_not_warned_about(tmp_path: Path) -> None:
    """With --tls-cert and --tls-key (owner-only), listening on 0.0.0.0 draws no warning."""
    cert, key = write_self_signed(tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    extra = ("--host", "0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(key))
    with log.open("wb") as stderr:
        process = subprocess.Popen(_command(tmp_path, port, *extra), cwd=tmp_path,
                                   stdout=stderr, stderr=stderr, env=_environment())  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "collecting on" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "collecting on https://0.0.0.0" in log.read_text()
    assert "WARNING" not in log.read_text()


def _refusal(workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``apiwatch serve`` expected to refuse to start (a start would time out the test)."""
    command = _command(workdir, free_port(), *extra)
    return subprocess.run(command, cwd=workdir, text=True, capture_output=True,
                          env=_environment(), timeout=60, check=False)  # fmt: skip


def test_serve_refuses_a_tls_key_others_may_read(tmp_path: Path) -> None:
    """A --tls-key other users may read stops the start with one line naming the chmod."""
    cert, key = write_self_signed(tmp_path)
    key.chmod(0o644)
    refused = _refusal(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        f"apiwatch: TLS key {key}: other users may read or change it (mode 644); "
        f"run: chmod 640 {key}"
    ]


def test_serve_refuses_a_key_file_others_may_read(tmp_path: Path) -> None:
    """The store's key file readable by its group stops the start with one line naming the
    chmod to run, before anything is served."""
    _ingest_key(tmp_path)
    key_file = tmp_path / "collector.db.keys"
    key_file.chmod(0o640)
    refused = _refusal(tmp_path)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        f"apiwatch: key file {key_file}: other users may read or change it (mode 640); "
        f"run: chmod 600 {key_file}"
    ]


async def _client_address(scope: dict[str, object], receive: object, send: object) -> None:
    """An ASGI app answering with the client address uvicorn gave it."""
    client = scope["client"]
    assert isinstance(client, tuple)
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": client[0].encode()})  # type: ignore[operator]


def test_the_demo_servers_do_not_believe_x_forwarded_for() -> None:
    """The demo's servers (shops, collector) see the peer as the client, whatever
    X-Forwarded-For says: believing it is the sensor's job (trusted_proxies)."""
    running = Running(_client_address)
    try:
        seen = httpx.get(running.url, headers=FORWARDED, timeout=10).text
    finally:
        running.stop()
    assert seen == "127.0.0.1"
