"""What full decision pulls cost the collector: 100,000 active decisions, ``startup=true``.

Builds a SQLite store with 100,000 active decisions (90,000 IPv4 addresses, 10,000 /24 ranges)
and 30 bouncer keys, then serves it with `create_app` under uvicorn in its own process and
measures, from a second process:

- ``first pull``: the server's first ``GET /v1/decisions/stream?startup=true``, read to the
  end (where the answer is cached, this one builds it);
- ``one pull``: one more, the same way;
- ``30 at once``: 30 bouncers (30 keys) pulling ``startup=true`` at the same moment, the wall
  time until the last one has its whole answer.

For each: the wall time, and the server's peak RSS growth (``VmHWM`` over ``VmRSS`` before the
phase; the peak is reset through ``/proc/PID/clear_refs`` first). The baseline, measured in the
same run the same way, is a bare Starlette app under uvicorn answering the very same bytes (the
first pull's body) as one static response: the least any server can cost to send them. Ratios
are apiwatch / baseline.

The "before" figure of a change: run this file against the older code, e.g.
``git worktree add /tmp/base <commit>`` then ``PYTHONPATH=/tmp/base/src .venv/bin/python
bench/decisions_pull.py``. Usage: ``.venv/bin/python bench/decisions_pull.py [--decisions N]
[--pullers N]``. It reports; it never fails on the figures.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

HOST = "127.0.0.1"
BATCH = 5000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--pullers", type=int, default=30)
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "DIR"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- the store -------------------------------------------------------------------------------


def build_store(directory: Path, count: int, pullers: int) -> list[str]:
    """``count`` active decisions and ``pullers`` bouncer keys; returns the keys' secrets."""
    from apiwatch.model import Decision
    from apiwatch.store import open_store

    store = open_store(f"sqlite:///{directory}/apiwatch.db", key_file=directory / "keys")
    try:
        now = datetime.now(UTC)
        ranges = count // 10
        values = [("Range", str(ipaddress.IPv4Network((0x0B000000 + (n << 8), 24))))
                  for n in range(ranges)]  # fmt: skip
        addresses = range(0x2D000000, 0x2D000000 + count - ranges)
        values += [("Ip", str(ipaddress.IPv4Address(n))) for n in addresses]
        for start in range(0, len(values), BATCH):
            store.decisions.add([
                Decision(id=0, type="ban", scope=scope, value=value, created=now,
                         until=now + timedelta(hours=4, seconds=n), origin="apiwatch",
                         scenario="credential-stuffing-source", reason="bench")
                for n, (scope, value) in enumerate(values[start : start + BATCH], start)
            ])  # fmt: skip
        return [store.keys.create(f"bouncer-{n}", ["bouncer"])[1] for n in range(pullers)]
    finally:
        store.close()


# -- the servers (run in their own process: ``--serve KIND PORT DIR``) -----------------------


def serve(kind: str, port: int, directory: Path) -> None:
    import uvicorn

    if kind == "apiwatch":
        from apiwatch.server import ServerSettings, create_app
        from apiwatch.store import open_store

        store = open_store(f"sqlite:///{directory}/apiwatch.db", key_file=directory / "keys")
        app = create_app(store, ServerSettings(detect=False))
    else:
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        body = (directory / "body.json").read_bytes()

        async def answer(request: object) -> Response:
            return Response(body, media_type="application/json")

        async def health(request: object) -> Response:
            return Response(b"ok")

        app = Starlette(routes=[Route("/v1/decisions/stream", answer), Route("/healthz", health)])
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


class Server:
    """A server process of ``kind``; ``with`` stops it."""

    def __init__(self, kind: str, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://{HOST}:{self.port}"
        command = [sys.executable, __file__, "--serve", kind, str(self.port), str(directory)]
        self.process = subprocess.Popen(command)

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
            except httpx.TransportError:
                time.sleep(0.1)
            else:
                return self
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _status(self, field: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field}")

    def reset_peak(self) -> float:
        """Reset the peak RSS to the current RSS; the current RSS (MiB)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        return self._status("VmRSS")

    def peak(self) -> float:
        return self._status("VmHWM")


# -- the pulls -------------------------------------------------------------------------------


def pull(url: str, key: str, sizes: list[int]) -> None:
    size = 0
    with (
        httpx.Client(timeout=600) as client,
        client.stream(
            "GET",
            f"{url}/v1/decisions/stream",
            params={"startup": "true"},
            headers={"X-Api-Key": key},
        ) as answer,  # fmt: skip
    ):
        answer.raise_for_status()
        for chunk in answer.iter_raw():
            size += len(chunk)
    sizes.append(size)


def phase(server: Server, keys: list[str]) -> tuple[float, float, int]:
    """Wall seconds for ``keys`` pulling at once, peak RSS growth (MiB), bytes per answer."""
    before = server.reset_peak()
    sizes: list[int] = []
    threads = [threading.Thread(target=pull, args=(server.url, key, sizes)) for key in keys]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if len(sizes) != len(keys):
        raise RuntimeError("a pull failed")
    return wall, server.peak() - before, max(sizes)


def measure(server: Server, keys: list[str]) -> dict[str, tuple[float, float, int]]:
    """The first pull (a cache, if any, is built), one more, then ``keys`` at once."""
    return {"first pull": phase(server, keys[:1]), "one pull": phase(server, keys[:1]),
            f"{len(keys)} at once": phase(server, keys)}  # fmt: skip


def main() -> None:
    args = parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), Path(args.serve[2]))
        return
    import apiwatch

    print(f"apiwatch from {Path(apiwatch.__file__).parent}; cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="apiwatch-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        keys = build_store(directory, args.decisions, args.pullers)
        print(f"{args.decisions:,} decisions stored in {time.perf_counter() - started:.1f} s")
        with Server("apiwatch", directory) as server:
            ours = measure(server, keys)
            with httpx.Client() as client:  # the body the baseline serves
                body = client.get(f"{server.url}/v1/decisions/stream?startup=true",
                                  headers={"X-Api-Key": keys[0]}, timeout=600).content  # fmt: skip
            (directory / "body.json").write_bytes(body)
        with Server("static", directory) as server:
            baseline = measure(server, keys)
    print(f"answer: {len(body) / 1e6:.1f} MB\n")
    print(f"{'':14}{'apiwatch':>22}{'static baseline':>24}{'ratio':>16}")
    print(f"{'':14}{'wall s':>10}{'peak +MiB':>12}{'wall s':>12}{'peak +MiB':>12}{'wall':>8}"
          f"{'memory':>8}")  # fmt: skip
    for name, (wall, grown, _) in ours.items():
        base_wall, base_grown, _ = baseline[name]
        print(f"{name:14}{wall:10.2f}{grown:12.0f}{base_wall:12.2f}{base_grown:12.0f}"
              f"{wall / base_wall:8.1f}{grown / max(base_grown, 1.0):8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
