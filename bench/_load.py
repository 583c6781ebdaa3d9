"""The client side of `sensor_overhead.py`: drive HTTP/1.1 keep-alive load at 127.0.0.1.

`run_load` uses ``wrk`` (C, epoll; its own process, pinned to its own CPU when there are two) and
falls back to a small uvloop load generator in a separate Python process (this file run as a
script) when wrk is missing. Both report the same `LoadResult`.

Every request carries a realistic browser User-Agent and an ``Authorization: Bearer`` token, so the
sensor resolves the user agent and fingerprints the token as it would in production. A path
containing ``{n}`` gets a counter there (``/users/{n}`` -> ``/users/1``, ``/users/2`` ...), cycling
over `ID_RANGE` ids: more distinct paths than the sensor's caches hold, as an API sees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HOST = "127.0.0.1"
ID_RANGE = 100_000
HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36"
    ),
    "Authorization": (
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsIm5hbWUiOiJiZW5jaCJ9"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    ),
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
}
_MARKER = "BENCH_RESULT "


def request_scope(path: str, number: int, clients: int) -> dict[str, object]:
    """The ASGI scope of request ``number`` to ``path`` (its ``{n}`` counting up like wrk's),
    from one of ``clients`` client ports, with the load's headers (a fresh dict each time:
    Starlette writes into it)."""
    real = path.replace("{n}", str(number % ID_RANGE + 1))
    headers = [(b"host", b"127.0.0.1:8000")]
    headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 40000 + number % clients),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": real,
        "raw_path": real.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


@dataclass
class LoadResult:
    """One load run: completed requests, wall time, latency percentiles, errors."""

    requests: int
    seconds: float
    p50_us: float
    p99_us: float
    max_us: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class LoadSpec:
    """What to send: path (may hold ``{n}``), connections, time bound, optional count bound.

    ``delay_ms`` > 0 paces each connection (it waits that long after each response), which offers
    a fixed load instead of saturating the server.
    """

    port: int
    path: str
    connections: int
    seconds: float
    limit: int = 0
    delay_ms: int = 0


# -- wrk ------------------------------------------------------------------------------------


def find_wrk(install: bool) -> str | None:
    """The wrk binary; when missing and ``install`` is set and we are root, apt-get it."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk not found: installing the Debian package 'wrk' with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_wrk = ["apt-get", "install", "-y", "-qq", "wrk"]
    for command in (install_wrk, ["apt-get", "update", "-qq"], install_wrk):
        subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].split("Copyright")[0].strip()


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(spec: LoadSpec) -> str:
    """The Lua script: headers, varying path, pacing, count limit, and a JSON summary."""
    lines = ['wrk.method = "GET"']
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in HEADERS.items()]
    if "{n}" not in spec.path:
        lines += [f"wrk.path = {_lua_string(spec.path)}"]
    else:
        head, _, tail = spec.path.partition("{n}")
        lines += [
            "local counter = 0",
            "function request()",
            f"  counter = counter % {ID_RANGE} + 1",
            f"  return wrk.format(nil, {_lua_string(head)} .. counter .. {_lua_string(tail)})",
            "end",
        ]
    if spec.delay_ms:
        lines += [f"function delay() return {spec.delay_ms} end"]
    if spec.limit:
        # thread:stop() alone leaves wrk's main thread asleep until -d is over (and the summary
        # then divides by the whole -d); SIGINT to itself wakes it, as Ctrl-C would.
        lines += [
            "local responses = 0",
            "local ok, ffi = pcall(require, 'ffi')",
            "if ok then ffi.cdef('int kill(int pid, int sig); int getpid(void);') end",
            "function response(status, headers, body)",
            "  responses = responses + 1",
            f"  if responses == {spec.limit} then",
            "    wrk.thread:stop()",
            "    if ok then ffi.C.kill(ffi.C.getpid(), 2) end",
            "  end",
            "end",
        ]
    lines += [
        "function done(summary, latency, requests)",
        "  local e = summary.errors",
        f'  io.write(string.format("{_MARKER}{{\\"requests\\": %d, \\"seconds\\": %.6f, '
        '\\"p50_us\\": %.1f, \\"p99_us\\": %.1f, \\"max_us\\": %.1f, \\"errors\\": %d}\\n", '
        "summary.requests, summary.duration / 1e6, latency:percentile(50), "
        "latency:percentile(99), latency.max, "
        "e.connect + e.read + e.write + e.status + e.timeout))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def _run_wrk(wrk: str, spec: LoadSpec, cpu: int | None) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(spec))
    try:
        seconds = max(1, round(spec.seconds))
        command = [wrk, "-t1", f"-c{spec.connections}", f"-d{seconds}s", "--timeout", "10s"]
        command += ["-s", script.name, f"http://{HOST}:{spec.port}/"]
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    finally:
        Path(script.name).unlink()
    return _parse(out.stdout, out.stderr, command)


def _parse(stdout: str, stderr: str, command: list[str]) -> LoadResult:
    for line in stdout.splitlines():
        if line.startswith(_MARKER):
            return LoadResult(**json.loads(line[len(_MARKER) :]))
    raise RuntimeError(f"load generator gave no result: {' '.join(command)}\n{stdout}\n{stderr}")


# -- the Python fallback ---------------------------------------------------------------------


def _run_python(spec: LoadSpec, cpu: int | None) -> LoadResult:
    command = [sys.executable, str(Path(__file__)), json.dumps(asdict(spec))]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    timeout = spec.seconds + 60
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    return _parse(out.stdout, out.stderr, command)


def run_load(spec: LoadSpec, *, wrk: str | None, cpu: int | None = None) -> LoadResult:
    """Run one bounded load against 127.0.0.1 in a separate process and return what it measured."""
    return _run_wrk(wrk, spec, cpu) if wrk else _run_python(spec, cpu)


class _Tally:
    def __init__(self, limit: int) -> None:
        self.remaining = limit or sys.maxsize
        self.latencies: list[int] = []
        self.errors = 0
        self.counter = 0


_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


async def _connection(spec: LoadSpec, deadline: float, tally: _Tally) -> None:
    header_lines = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    try:
        reader, writer = await asyncio.open_connection(HOST, spec.port)
    except OSError:
        tally.errors += 1
        return
    try:
        while time.monotonic() < deadline and tally.remaining > 0:
            tally.remaining -= 1
            tally.counter = tally.counter % ID_RANGE + 1
            path = spec.path.replace("{n}", str(tally.counter))
            request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{spec.port}\r\n{header_lines}\r\n"
            started = time.perf_counter_ns()
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            if length:
                await reader.readexactly(int(length.group(1)))
            tally.latencies.append(time.perf_counter_ns() - started)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.1 3")):
                tally.errors += 1
            if spec.delay_ms:
                await asyncio.sleep(spec.delay_ms / 1000)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        tally.errors += 1
    finally:
        writer.close()


async def _python_load(spec: LoadSpec) -> LoadResult:
    tally = _Tally(spec.limit)
    started = time.monotonic()
    deadline = started + spec.seconds
    await asyncio.gather(*(_connection(spec, deadline, tally) for _ in range(spec.connections)))
    seconds = time.monotonic() - started
    latencies = sorted(tally.latencies) or [0]

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] / 1000

    return LoadResult(
        requests=len(tally.latencies),
        seconds=seconds,
        p50_us=percentile(50),
        p99_us=percentile(99),
        max_us=latencies[-1] / 1000,
        errors=tally.errors,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Python fallback load generator (one process)")
    parser.add_argument("spec", help="LoadSpec as JSON")
    spec = LoadSpec(**json.loads(parser.parse_args().spec))
    try:
        import uvloop

        result = uvloop.run(_python_load(spec))
    except ImportError:
        result = asyncio.run(_python_load(spec))
    print(_MARKER + json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main()
