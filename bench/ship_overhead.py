"""What shipping costs a deployed app: Flask under gunicorn, bare / sensor to stderr / sensor to
stderr and shipping to a real `apiwatch serve`, side by side.

Each variant is a gunicorn master with ``--workers`` sync workers (``bench/_flask_app.py``); wrk
(else the Python load generator) sends ``--requests`` keep-alive requests to ``GET /users/{id}``.
Per run: req/s, p99 latency and the workers' CPU time (user + system, all threads: the shipper's
thread included), read from /proc before the run and after the events had time to be sent. Rounds
interleave the variants and the median is reported, with ratios against the sensor writing to
stderr measured in the same run, and the collector's events per POST (its /metrics). The goal
(shipping adds at most 15 % worker CPU to the stderr sensor) is printed as PASS/FAIL; the exit
status does not depend on it.

Usage: ``.venv/bin/python bench/ship_overhead.py [--requests 20000] [--rounds 3] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _load import LoadSpec, find_wrk, run_load
from _server import free_port

from apiwatch.store import open_store

BENCH = Path(__file__).resolve().parent
VARIANTS = ("bare", "stderr", "shipping")
GOAL = 1.15


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=16)
    return parser.parse_args()


@contextmanager
def collector(workdir: Path) -> Iterator[tuple[str, str]]:
    """`apiwatch serve` on SQLite; yields its URL and an ingest key."""
    db = f"sqlite:///{workdir / 'collector.db'}"
    keys = workdir / "collector.keys"
    store = open_store(db, key_file=keys)
    _, key = store.keys.create("bench", ["ingest"])
    store.close()
    port = free_port()
    env = {**os.environ, "APIWATCH_KEY_FILE": str(keys)}
    command = [sys.executable, "-m", "apiwatch", "serve", "--db", db, "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{url}/readyz", timeout=1).status_code == 200)
        yield url, key
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait(ready: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


class App:
    """One gunicorn master serving one variant."""

    def __init__(
        self, variant: str, args: argparse.Namespace, workdir: Path, ship: tuple[str, str]
    ):
        self.port = free_port()
        env = {
            **os.environ,
            "APIWATCH_BENCH_VARIANT": variant,
            "APIWATCH_BENCH_COLLECTOR": ship[0],
            "APIWATCH_BENCH_KEY": ship[1],
            "APIWATCH_BENCH_SPOOL": str(workdir / "spool"),
        }
        command = [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "--chdir", str(BENCH)]
        command += ["-b", f"127.0.0.1:{self.port}", "--no-control-socket", "_flask_app:make()"]
        self.stderr = (workdir / f"{variant}.stderr").open("ab")  # the events, for two variants
        self.process = subprocess.Popen(command, env=env, stdout=self.stderr, stderr=self.stderr)
        _wait(lambda: httpx.get(f"http://127.0.0.1:{self.port}/ping", timeout=1).is_success)

    def worker_cpu(self) -> float:
        """CPU seconds (user + system) of the workers so far."""
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.stderr.close()


def events_per_post(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    found = dict(re.findall(r"^apiwatch_ingest_batch_size_(sum|count) ([0-9.e+]+)$", text, re.M))
    return float(found.get("sum", 0)) / max(float(found.get("count", 0)), 1.0)


def one_run(
    variant: str, args: argparse.Namespace, workdir: Path, ship: tuple[str, str], wrk: str | None
) -> tuple[float, float, float]:
    """req/s, p99 (ms), worker CPU seconds for ``--requests`` requests."""
    app = App(variant, args, workdir, ship)
    try:
        run_load(LoadSpec(app.port, "/users/{n}", args.connections, 2.0, limit=2000), wrk=wrk)
        time.sleep(1.0)  # the warm-up's events sent
        before = app.worker_cpu()
        spec = LoadSpec(app.port, "/users/{n}", args.connections, 120.0, limit=args.requests)
        result = run_load(spec, wrk=wrk)
        time.sleep(1.5)  # the shipper's last batches are part of the cost
        cpu = app.worker_cpu() - before
    finally:
        app.stop()
    return result.rps, result.p99_us / 1000, cpu


def main() -> int:
    args = parse_args()
    wrk = find_wrk(install=True)
    print(
        f"ship overhead: Flask under gunicorn -w {args.workers} (sync), {args.requests:,} "
        f"requests x {args.rounds} rounds, loadgen {'wrk' if wrk else 'python'}, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    runs: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="apiwatch-ship-") as tmp, collector(Path(tmp)) as ship:
        for number in range(1, args.rounds + 1):
            for variant in VARIANTS:
                run = one_run(variant, args, Path(tmp), ship, wrk)
                runs[variant].append(run)
                print(
                    f"  round {number} {variant:<9} {run[0]:>7,.0f} req/s  p99 {run[1]:6.2f} ms"
                    f"  worker CPU {run[2]:6.2f} s",
                    flush=True,
                )
        per_post = events_per_post(ship[0])
    print(f"\n{'variant':<10} {'req/s':>8} {'p99 ms':>8} {'CPU s':>7} {'CPU vs stderr':>14}")
    median = {
        v: tuple(statistics.median(r[i] for r in runs[v]) for i in range(3)) for v in VARIANTS
    }
    for variant in VARIANTS:
        rps, p99, cpu = median[variant]
        ratio = cpu / median["stderr"][2]
        print(f"{variant:<10} {rps:>8,.0f} {p99:>8.2f} {cpu:>7.2f} {ratio:>13.2f}x")
    print(f"\nevents per POST (collector /metrics): {per_post:,.0f}")
    added = median["shipping"][2] / median["stderr"][2]
    verdict = "PASS" if added <= GOAL else "FAIL"
    print(
        f"goal: shipping adds <= {GOAL - 1:.0%} worker CPU to the stderr sensor: "
        f"{added - 1:+.1%} {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
