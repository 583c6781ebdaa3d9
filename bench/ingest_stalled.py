"""Stalled uploads against well-behaved senders: does one key's stalled uploads starve the others?

One ``apiwatch serve`` process (SQLite, detection off, its default limits) on 127.0.0.1. Two
phases in the same run, against the same server:

1. **baseline**: ``--requests`` ingest requests (NDJSON batches of ``--events`` events) from key
   B, ``--concurrency`` at a time, with nothing else going on;
2. **stalled**: first ``--stalled`` uploads from key A, each declaring a 100 kB body and sending
   one byte of it, then silent (raw sockets held open); then the same requests from key B.

Printed per phase: how many of key B's requests were stored (202), told to retry (503) or
failed otherwise, and their latency (p50, p95, max) with the ratio to the baseline. Then what
became of the stalled uploads: answered 408 (cut off), 503 (refused a slot), or still unanswered
``--patience`` seconds after they stalled, and when they were answered.

Run it against another tree to compare (the "before" of a change), e.g.
``PYTHONPATH=/path/to/other/src .venv/bin/python bench/ingest_stalled.py``: the header names the
apiwatch it ran. A benchmark reports; the exit status does not depend on the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"
Answer = tuple[int, float]  # a stalled upload's status, and when it came (s after stalling)


@dataclass
class Phase:
    """Key B's requests in one phase: statuses and latencies (seconds)."""

    name: str
    statuses: list[int]
    seconds: list[float]

    def count(self, status: int) -> int:
        return self.statuses.count(status)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _keys(db: str) -> tuple[str, str]:
    """Ingest keys A (the staller) and B (the well-behaved sender) in a fresh store."""
    from apiwatch.store import open_store

    store = open_store(db)
    try:
        return store.keys.create("a", ["ingest"])[1], store.keys.create("b", ["ingest"])[1]
    finally:
        store.close()


def _serve(db: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIWATCH_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "apiwatch", "serve", "--db", db, "--port", str(port),
         "--no-detect"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("apiwatch serve did not start")


def _body(events: int) -> bytes:
    lines = []
    for _ in range(events):
        doc = {
            "@timestamp": "2026-11-26T12:00:00Z",
            "event": {"action": "http_request", "id": uuid.uuid4().hex, "outcome": "success"},
            "source": {"ip": "198.51.100.7"},
            "url": {"path": "/orders/1"},
            "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
            "service": {"name": "shop"},
        }
        lines.append(json.dumps(doc))
    return ("\n".join(lines) + "\n").encode()


def _send(url: str, secret: str, events: int) -> tuple[int, float]:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"}
    body = _body(events)
    started = time.perf_counter()
    try:
        status = httpx.post(f"{url}/v1/events", content=body, headers=headers, timeout=60)
        code = status.status_code
    except httpx.HTTPError:
        code = 0
    return code, time.perf_counter() - started


def _phase(name: str, url: str, secret: str, args: argparse.Namespace) -> Phase:
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(lambda _: _send(url, secret, args.events), range(args.requests)))
    return Phase(name, [status for status, _ in results], [seconds for _, seconds in results])


def _stall(url: str, secret: str) -> socket.socket:
    """An upload declaring 100 kB of body, of which it sends one byte."""
    sock = socket.create_connection((HOST, int(url.rsplit(":", 1)[1])), timeout=60)
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {secret}\r\n"
        "Content-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{"
    )
    sock.sendall(head.encode())
    sock.setblocking(False)
    return sock


def _answers(sockets: list[socket.socket], since: float, patience: float) -> list[Answer]:
    """(status, seconds after stalling) of each stalled upload's answer; status 0 when closed
    without one, -1 when still unanswered at ``since + patience``."""
    found: dict[int, Answer] = {}
    received = dict.fromkeys(range(len(sockets)), b"")
    while len(found) < len(sockets) and time.monotonic() < since + patience:
        for i, sock in enumerate(sockets):
            if i in found:
                continue
            try:
                chunk = sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            received[i] += chunk
            if not chunk or b"\r\n" in received[i]:
                status = int(received[i].split(b" ", 2)[1]) if chunk else 0
                found[i] = (status, time.monotonic() - since)
        time.sleep(0.01)
    return [found.get(i, (-1, patience)) for i in range(len(sockets))]


def _print_phases(baseline: Phase, stalled: Phase, args: argparse.Namespace) -> None:
    print(f"key B: {args.requests} requests of {args.events} events, {args.concurrency} at a time")
    print(f"{'phase':<34} {'202':>5} {'503':>5} {'other':>6} {'p50 ms':>9} {'p95 ms':>9} "
          f"{'max ms':>9} {'p50 x':>7}")  # fmt: skip
    for phase in (baseline, stalled):
        other = len(phase.statuses) - phase.count(202) - phase.count(503)
        ratio = statistics.median(phase.seconds) / statistics.median(baseline.seconds)
        print(f"{phase.name:<34} {phase.count(202):>5} {phase.count(503):>5} {other:>6} "
              f"{phase.percentile(0.5) * 1000:>9.1f} {phase.percentile(0.95) * 1000:>9.1f} "
              f"{max(phase.seconds) * 1000:>9.1f} {ratio:>7.2f}")  # fmt: skip


def _print_stalled(answers: list[Answer], patience: float) -> None:
    names = {408: "408 (cut off)", 503: "503 (no slot)", 0: "closed", -1: "unanswered"}
    print(f"\nthe {len(answers)} stalled uploads of key A, watched for {patience:g} s:")
    for status in sorted({status for status, _ in answers}, reverse=True):
        times = [seconds for s, seconds in answers if s == status]
        when = "" if status == -1 else f", after {min(times):.1f}-{max(times):.1f} s"
        print(f"  {names.get(status, str(status))}: {len(times)}{when}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stalled", type=int, default=8, help="stalled uploads of key A")
    parser.add_argument("--requests", type=int, default=40, help="requests of key B per phase")
    parser.add_argument("--concurrency", type=int, default=8, help="key B's requests at once")
    parser.add_argument("--events", type=int, default=100, help="events per request")
    parser.add_argument("--patience", type=float, default=30.0,
                        help="seconds to watch the stalled uploads for an answer")  # fmt: skip
    args = parser.parse_args()
    import apiwatch

    print(f"apiwatch {apiwatch.__version__} from {Path(apiwatch.__file__).parent}")
    print(f"{args.stalled} stalled uploads of key A (1 byte of a 100 kB body each)\n")
    with tempfile.TemporaryDirectory(prefix="apiwatch-bench-") as tmp:
        workdir = Path(tmp)
        db = f"sqlite:///{workdir / 'collector.db'}"
        secret_a, secret_b = _keys(db)
        server, url = _serve(db, workdir)
        try:
            _phase("warm-up", url, secret_b, args)
            baseline = _phase("baseline (nothing stalled)", url, secret_b, args)
            sockets = [_stall(url, secret_a) for _ in range(args.stalled)]
            with ThreadPoolExecutor(1) as watcher:  # notes when each stalled upload is answered
                watched = watcher.submit(_answers, sockets, time.monotonic(), args.patience)
                time.sleep(1.0)  # they reach the server and take (or wait for) slots
                stalled = _phase(f"with {args.stalled} stalled uploads of A", url, secret_b, args)
                answers = watched.result()
            for sock in sockets:
                sock.close()
        finally:
            server.terminate()
            server.wait(timeout=60)
    _print_phases(baseline, stalled, args)
    _print_stalled(answers, args.patience)


if __name__ == "__main__":
    main()
