"""``apiwatch scan --follow``: incidents printed as they open, from growing files and stdin."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

WAIT = 30.0


def _failures(ip: str, count: int = 30) -> str:
    when = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return "".join(
        f'{ip} - - [{when}] "POST /api/login HTTP/1.1" 401 12 "-" "bot/1.0"\n' for _ in range(count)
    )


def _scan(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "apiwatch", "scan", "--follow", "--json", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _next_incident(process: subprocess.Popen[bytes]) -> dict[str, object]:
    """The next JSON line on the scan's stdout, waiting at most `WAIT` seconds."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stdout.readline()
            assert line, "scan --follow ended early: " + (process.stderr.read() or b"").decode()  # type: ignore[union-attr]
            return json.loads(line)  # type: ignore[no-any-return]
    raise AssertionError(f"no incident within {WAIT} s")


def test_follow_prints_incidents_from_files_as_they_grow_and_rotate(tmp_path: Path) -> None:
    """An attack written to a followed file is printed while scan runs; after a rename
    rotation, one written to the new file is printed too; SIGTERM ends it cleanly."""
    log = tmp_path / "access.log"
    log.write_text("")
    process = _scan(str(tmp_path / "access.log*"))
    try:
        time.sleep(0.5)
        with log.open("a") as out:
            out.write(_failures("203.0.113.10"))
        first = _next_incident(process)
        log.rename(tmp_path / "access.log.1")
        (tmp_path / "access.log").write_text(_failures("203.0.113.11"))
        second = _next_incident(process)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert first["attackers"] == ["203.0.113.10"]
    assert second["attackers"] == ["203.0.113.11"]
    assert process.returncode == 0, err.decode()
    assert b"60 events" in err


def test_follow_on_stdin_reports_before_the_input_ends(tmp_path: Path) -> None:
    """From a pipe that stays open, the incident is printed before stdin is closed; at the end
    --fail-on sees it (exit 3)."""
    process = _scan("--fail-on", "high", "-", stdin=subprocess.PIPE)
    assert process.stdin is not None
    try:
        process.stdin.write(_failures("203.0.113.12", 40).encode())
        process.stdin.flush()
        incident = _next_incident(process)
        assert process.poll() is None  # still reading
    finally:
        process.communicate(timeout=30)  # closes stdin: the end of the input
    assert incident["attackers"] == ["203.0.113.12"]
    assert process.returncode == 3
