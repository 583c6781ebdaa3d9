"""`apiwatch serve` as a real subprocess, on SQLite or on a fresh PostgreSQL schema."""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

PG_URL = os.environ.get("APIWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    """A store URL of ``kind`` on an empty database (a PostgreSQL schema is dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'collector.db'}"
        return
    schema = f"r_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    db: str, port: int, workdir: Path, *extra: str, ca: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``apiwatch serve`` and return once /readyz answers 200."""
    env = {**os.environ, "APIWATCH_KEY_FILE": str(workdir / "collector.keys")}
    process = subprocess.Popen(
        [sys.executable, "-m", "apiwatch", "serve", "--db", db, "--port", str(port), *extra],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    scheme = "https" if ca else "http"
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    try:
        _wait_ready(f"{scheme}://127.0.0.1:{port}/readyz", verify)
    except BaseException:
        process.kill()  # never leave a server behind, whatever went wrong
        process.wait(timeout=30)
        raise
    return process


def _wait_ready(url: str, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("apiwatch serve did not become ready")
