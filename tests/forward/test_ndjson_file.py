"""ECS NDJSON files: one document a line, durable, private, rotated by size."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from apiwatch.store import SqlStore

from .helpers import drain, pump, store_events, target


def test_rotation_keeps_every_line_in_order_across_files(store: SqlStore, tmp_path: Path) -> None:
    """Rotated files (.3 oldest ... .1, then the live file) hold every event once, in order."""
    ids = store_events(store, 60)
    out = tmp_path / "siem" / "apiwatch.ndjson"
    drain(pump(store, target("file", "file", batch=10, path=str(out), max_bytes=6000, keep=9)))
    rotated = sorted(out.parent.glob("apiwatch.ndjson.*"), key=lambda p: -int(p.suffix[1:]))
    assert rotated, "the file was never rotated"
    lines = [row for part in [*rotated, out] for row in part.read_text().splitlines()]
    assert [json.loads(row)["event"]["id"] for row in lines] == ids
    assert all(part.stat().st_size <= 6000 for part in [*rotated, out])
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_only_keep_rotated_files_are_kept(store: SqlStore, tmp_path: Path) -> None:
    """With keep = 2 the oldest rotated files are deleted."""
    store_events(store, 60)
    out = tmp_path / "apiwatch.ndjson"
    drain(pump(store, target("file", "file", batch=5, path=str(out), max_bytes=3000, keep=2)))
    assert sorted(p.name for p in tmp_path.glob("apiwatch.ndjson*")) == [
        "apiwatch.ndjson",
        "apiwatch.ndjson.1",
        "apiwatch.ndjson.2",
    ]


def test_hostile_strings_stay_on_their_line(store: SqlStore, tmp_path: Path) -> None:
    """CR/LF, ANSI and markup in a field are escaped JSON: one event, one line."""
    store_events(store, 1, user='eve\r\n{"forged": 1}\x1b[31m<script>')
    out = tmp_path / "out.ndjson"
    drain(pump(store, target("file", "file", path=str(out))))
    (only,) = out.read_bytes().splitlines()
    assert json.loads(only)["user"]["name"].startswith("eve\r\n")
    assert b"\x1b" not in only
