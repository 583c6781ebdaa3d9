"""Killing the collector while it tails a rotating log loses and duplicates nothing (issue 14)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from apiwatch.store import EventFilter, open_store

from .serving import database, free_port, serve

TOTAL = 100_000
ROTATE_EVERY = 12_500


def _line(i: int) -> str:
    now = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'198.51.100.{i % 250} - - [{now}] "GET /item/{i} HTTP/1.1" 200 {i % 900} "-" '
        f'"tail-test/1.0"\n'
    )


def _write_rotating(directory: Path, done: threading.Event) -> None:
    """The app: 100,000 lines, rotated every 12,500 by rename or copytruncate in turn."""
    log = directory / "access.log"
    out = log.open("a")
    try:
        for i in range(TOTAL):
            out.write(_line(i))
            if i % 500 == 499:
                out.flush()
                time.sleep(0.005)  # a steady stream, not one burst
            if i % ROTATE_EVERY == ROTATE_EVERY - 1:
                out.flush()
                rotation = i // ROTATE_EVERY
                target = directory / f"access.log.{rotation + 1}"
                if rotation % 2 == 0:  # rename: the writer reopens (as after nginx -s reopen)
                    out.close()
                    log.rename(target)
                    out = log.open("a")
                else:  # copytruncate: the writer keeps its descriptor (O_APPEND)
                    shutil.copyfile(log, target)
                    os.truncate(log, 0)
    finally:
        out.close()
        done.set()


def _stored(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith('apiwatch_source_events_stored_total{source="web"'):
            return float(line.split()[-1])
    return 0.0


def _config(directory: Path) -> Path:
    config = directory / "apiwatch.toml"
    config.write_text(
        f'detect = false\n\n[[sources]]\nname = "web"\ntype = "file"\n'
        f"paths = [{json.dumps(str(directory / 'logs' / 'access.log*'))}]\n"
    )
    return config


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkill_while_tailing_a_rotating_log_stores_every_line_once(
    kind: str, tmp_path: Path
) -> None:
    """100,000 lines written with rename and copytruncate rotations; the collector is SIGKILLed
    mid-way and restarted: every line is stored exactly once."""
    logs = tmp_path / "logs"
    logs.mkdir()
    config = _config(tmp_path)
    with database(kind, tmp_path) as db:
        port = free_port()
        done = threading.Event()
        writer = threading.Thread(target=_write_rotating, args=(logs, done), daemon=True)
        server = serve(db, port, tmp_path, "--config", str(config))
        writer.start()
        try:
            deadline = time.monotonic() + 120
            while _stored(port) < TOTAL * 0.3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _stored(port) < TOTAL, "the kill must come mid-way"
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            time.sleep(0.5)  # rotations go on while the collector is down
            server = serve(db, port, tmp_path, "--config", str(config))
            done.wait(timeout=180)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                store = open_store(db, key_file=tmp_path / "collector.keys")
                try:
                    count = store.events.count()
                finally:
                    store.close()
                if count >= TOTAL:
                    break
                time.sleep(0.5)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        paths = _stored_paths(db, tmp_path / "collector.keys")
    assert len(paths) == TOTAL, f"{len(paths) - len(set(paths))} stored twice"
    assert set(paths) == {f"/item/{i}" for i in range(TOTAL)}


def _stored_paths(db: str, keys: Path) -> list[str]:
    store = open_store(db, key_file=keys)
    paths: list[str] = []
    cursor = None
    try:
        while True:
            page = store.events.query(EventFilter(), cursor=cursor, limit=20_000)
            paths += [json.loads(line)["url"]["path"] for line in page.lines]
            if page.next_cursor is None:
                return paths
            cursor = page.next_cursor
    finally:
        store.close()
