"""Tailing throughput: lines/s through a live file source into the store, against reading.

One nginx access log of ``--lines`` lines (dated now, many clients and paths) is, in one run:

1. **read + parse** (the baseline): ``apiwatch.sources.read_events`` over the file, what
   ``apiwatch scan`` does before detection;
2. **tail only**: `FileTailer.poll` to the end of the file (reading, parsing, stable ids, no
   store);
3. **store only**: the same events, parsed beforehand, encoded, sealed and appended to a SQLite
   store in batches of 10,000 on one thread: the store's own rate, which a live source cannot
   beat;
4. **live source -> store**: a collector (`create_app` over SQLite, served by uvicorn in this
   process) with the file as a ``[[sources]]`` file source and detection off: from start until
   every line is durably stored (counted by the source's ``stored``); then the same with
   detection on.

Printed: lines/s of each (wall time) and the ratio to the baseline; and, robust to a machine
shared with other work, this process's CPU time per line (all its threads: the live runs' server
included) with the lines/s one core's worth of it allows, and its ratio to the baseline's. The
goal of issue 14 is at least 50,000 lines/s through a live file source into the store on one
core. Runs in well under a minute with
the defaults; it reports and exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import uvicorn

import apiwatch
from apiwatch.model import encode_event
from apiwatch.server import ServerSettings, create_app
from apiwatch.sources import read_events
from apiwatch.sources.config import parse_sources
from apiwatch.sources.live import SourceStats
from apiwatch.sources.tail import FileTailer
from apiwatch.store import Batch, StoredLine, open_store

GOAL = 50_000


def write_log(path: Path, lines: int) -> None:
    when = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    with path.open("w") as out:
        for i in range(lines):
            client = i * 7919 % 4000  # a few thousand clients, as real traffic has
            out.write(
                f"10.0.{client // 256}.{client % 256} - - [{when}] "
                f'"GET /api/items/{i % 5000}?page={i % 7} HTTP/1.1" {200 + (i % 5 == 0) * 204}'
                f' {i % 4000} "-" "Mozilla/5.0 (bench {i % 50})"\n'
            )


class Rate(NamedTuple):
    """Lines per second of wall time, and this process's CPU seconds per line (every thread)."""

    wall: float
    cpu: float

    @classmethod
    def since(cls, lines: int, wall: float, cpu: float) -> Rate:
        return cls(lines / (time.perf_counter() - wall), (time.process_time() - cpu) / lines)


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def read_parse(path: Path) -> Rate:
    started = _clocks()
    count = sum(1 for _ in read_events(path))
    return Rate.since(count, *started)


def tail_only(path: Path, lines: int) -> Rate:
    tailer = FileTailer([str(path)], stats=SourceStats("bench", "file"))
    started = _clocks()
    read = 0
    while read < lines:
        read += tailer.poll().lines
    tailer.close()
    return Rate.since(lines, *started)


def store_only(path: Path, workdir: Path) -> Rate:
    """The store's own rate for these events: parsed beforehand, then sealed and appended in
    batches of 10,000 on one thread (what a live source cannot go faster than)."""
    events = list(read_events(path))
    store = open_store(f"sqlite:///{workdir / 'raw.db'}", key_file=workdir / "raw.keys")
    started = _clocks()
    try:
        for start in range(0, len(events), 10_000):
            lines = [StoredLine(e, encode_event(e)) for e in events[start : start + 10_000]]
            store.events.append([Batch(store.events.seal(lines, "source:bench"), "source:bench")])
    finally:
        store.close()
    return Rate.since(len(events), *started)


def live(path: Path, lines: int, workdir: Path, *, detect: bool) -> Rate:
    store = open_store(f"sqlite:///{workdir / 'bench.db'}", key_file=workdir / "bench.keys")
    sources = parse_sources(
        [{"name": "bench", "type": "file", "paths": [str(path)], "poll_interval": 0.01}], "bench"
    )
    settings = ServerSettings(
        sources=sources, sources_state_dir=str(workdir / "state"), detect=detect
    )
    app = create_app(store, settings)
    stats = app.state.apiwatch.sources.stats["bench"]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    started = _clocks()
    thread.start()
    try:
        while stats.stored < lines:
            if time.perf_counter() - started[0] > 120:
                print(f"  (gave up after 120 s at {stats.stored:,} stored)")
                break
            time.sleep(0.01)
        rate = Rate.since(max(1, stats.stored), *started)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        store.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"apiwatch {apiwatch.__version__} from {Path(apiwatch.__file__).parent}; "
        f"Python {sys.version.split()[0]}; {cpus} CPUs; {args.lines:,} nginx lines"
    )
    with tempfile.TemporaryDirectory(prefix="apiwatch-tail-bench-") as tmp:
        workdir = Path(tmp)
        log = workdir / "access.log"
        write_log(log, args.lines)
        baseline = read_parse(log)
        rows = [
            ("read + parse (scan's reading; baseline)", baseline),
            ("tail only (FileTailer, no store)", tail_only(log, args.lines)),
            ("store only (encode, seal, append; parsed before)", store_only(log, workdir)),
        ]
        for detect in (False, True):
            run = workdir / f"live-{detect}"
            run.mkdir()
            label = f"live source -> SQLite store, detection {'on' if detect else 'off'}"
            rows.append((label, live(log, args.lines, run, detect=detect)))
    _report(rows, baseline)


def _report(rows: list[tuple[str, Rate]], baseline: Rate) -> None:
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}; wall: lines/s and x the baseline's; CPU: this process's "
          "CPU per line (all threads), and the lines/s one core's worth of it allows")  # fmt: skip
    width = max(len(label) for label, _ in rows)
    for label, rate in rows:
        print(f"  {label:<{width}}  {rate.wall:>8,.0f} lines/s {rate.wall / baseline.wall:5.2f}x"
              f"   CPU {rate.cpu * 1e6:6.1f} us/line = {1 / rate.cpu:>8,.0f}/s per core "
              f"{baseline.cpu / rate.cpu:5.2f}x")  # fmt: skip
    live_rows = [rate for label, rate in rows if label.startswith("live")]
    best = max(rate.wall for rate in live_rows)
    core = max(1 / rate.cpu for rate in live_rows)
    store_rate = next(rate for label, rate in rows if label.startswith("store only"))
    print(f"the live source runs at {best / store_rate.wall:.2f}x the store's own rate (wall)")
    for what, value in (("wall", best), ("one core's CPU", core)):
        verdict = "meets" if value >= GOAL else "is below"
        print(f"goal: >= {GOAL:,} lines/s into the store on one core: by {what} the live source "
              f"{verdict} it ({value:,.0f} lines/s, the better live run)")  # fmt: skip


if __name__ == "__main__":
    main()
