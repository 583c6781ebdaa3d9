"""The end of `apiwatch demo` on a terminal: the demo's store served with the web console,
logged into with the printed password, stopped by Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from apiwatch.model import Incident
from apiwatch.store import open_store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_demo_console_serves_the_store_until_interrupted(tmp_path: Path) -> None:
    """serve_console prints the URL and a fresh login; that login opens the console with the
    store's incidents; SIGINT stops it cleanly."""
    store = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    now = datetime.now(UTC)
    incident = Incident(id="inc-demo", title="Credential stuffing", severity="high",
                        first_seen=now, last_seen=now)  # fmt: skip
    store.detections.save([], [incident])
    store.close()
    port = _free_port()
    code = ("import sys; from pathlib import Path; from apiwatch.cli._demo_console import "
            f"serve_console; serve_console(Path(sys.argv[1]), {port})")  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        printed = ""
        deadline = time.monotonic() + 60
        while "Ctrl-C" not in printed and time.monotonic() < deadline:
            assert process.stdout is not None
            printed += process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/ .* log in as (\S+) with password (\S+)",
                          printed)  # fmt: skip
        assert found is not None, printed
        assert int(found.group(1)) == port
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(100):  # the server binds right after printing
                try:
                    form = client.get("/login")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None
            done = client.post("/login", data={"csrf": csrf.group(1), "username": found.group(2),
                                               "password": found.group(3)})  # fmt: skip
            assert done.status_code == 303
            assert "Credential stuffing" in client.get("/incidents").text
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "console stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
