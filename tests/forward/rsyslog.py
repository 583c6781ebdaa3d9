"""Debian's rsyslogd as a real syslog receiver: foreground, private config, TCP (or TLS) input
on a free port, every message's MSG written to a file the test reads."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"

_CONFIG = """\
global(workDirectory="{work}" maxMessageSize="64k"{tls_global})
module(load="imtcp"{tls_module})
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="msgonly" type="string" string="%msgid% %msg%\\n")
*.* action(type="omfile" file="{out}" template="msgonly")
"""
_TLS_GLOBAL = (
    ' defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="{cert}" '
    'defaultNetstreamDriverCertFile="{cert}" defaultNetstreamDriverKeyFile="{key}"'
)
_TLS_MODULE = ' StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def rsyslogd(directory: Path, port: int, *, tls: tuple[Path, Path] | None = None) -> Iterator[Path]:
    """Run rsyslogd until the block ends; yields the file received messages are written to."""
    work = directory / f"rsyslog-{port}"
    work.mkdir(parents=True, exist_ok=True)
    out = directory / "received.log"
    config = work / "rsyslog.conf"
    tls_global = _TLS_GLOBAL.format(cert=tls[0], key=tls[1]) if tls else ""
    config.write_text(
        _CONFIG.format(
            work=work,
            port=port,
            out=out,
            tls_global=tls_global,
            tls_module=_TLS_MODULE if tls else "",
        )
    )
    process = subprocess.Popen(
        [RSYSLOGD, "-n", "-f", str(config), "-i", str(work / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, process)
        yield out
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"rsyslogd exited: {error}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("rsyslogd did not listen")


def received(out: Path, count: int, timeout: float = 10.0) -> list[str]:
    """The lines rsyslogd wrote, once there are ``count`` (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"rsyslogd wrote {len(lines)} of {count} messages")
