"""Start, probe, measure and stop one `_apps.py` server variant in its own process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _load import HOST

_APPS = Path(__file__).with_name("_apps.py")


def free_port() -> int:
    """A port the kernel says is free on 127.0.0.1 (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """One uvicorn worker serving one variant; ``with Server(...)`` stops it however we leave."""

    def __init__(self, variant: str, workdir: Path, cpu: int | None, tag: str = "") -> None:
        self.variant = variant
        self.port = free_port()
        name = f"{variant}{tag}"
        self.log_file = workdir / f"{name}.events.log"
        self.stats_file = workdir / f"{name}.stats.json"
        self.stderr_file = workdir / f"{name}.stderr"
        command = [sys.executable, str(_APPS), variant, str(self.port)]
        command += ["--log-file", str(self.log_file), "--stats-file", str(self.stats_file)]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        with self.stderr_file.open("wb") as stderr:
            self.process = subprocess.Popen(command, stdout=stderr, stderr=stderr)
        self.stats: dict[str, Any] = {}

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Block until GET /ping answers 200, or raise with the server's stderr."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0) as sock:
                    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server {self.variant!r} did not start:\n{self.stderr_tail()}")

    def rss_mb(self) -> float:
        """The server's resident set size (VmRSS) in MiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far, all threads, user and system (schedstat, ns)."""
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            total += int((task / "schedstat").read_text(encoding="ascii").split()[0])
        return total / 1e9

    def user_seconds(self) -> float:
        """User-mode CPU time so far (``utime`` in /proc/PID/stat, clock-tick resolution)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text(encoding="ascii")
        return int(fields.rpartition(")")[2].split()[11]) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful shutdown), then SIGKILL if it hangs; read its counters."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.stats_file.exists():
            self.stats = json.loads(self.stats_file.read_text(encoding="utf-8"))

    def log_bytes(self) -> int:
        return self.log_file.stat().st_size if self.log_file.exists() else 0

    def stderr_tail(self, lines: int = 20) -> str:
        text = self.stderr_file.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
