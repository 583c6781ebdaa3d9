"""What the sensor costs a real app: a Starlette app under uvicorn with and without the middleware.

Four server variants (``bench/_apps.py``), each one uvicorn worker (httptools, uvloop) in its own
process: the bare app, the app with `ApiwatchMiddleware` and a null output (the cost of building
and encoding events), the app with the middleware writing ECS JSON lines to a file through its
batched `FileOutput` (the cost a production app pays), and the same through ``apiwatch.events``
and a `logging.FileHandler` (one write per event). A second process (wrk, else a Python load
generator) loads them on 127.0.0.1 only, every run bounded in time and count:

1. throughput: saturating keep-alive load on ``GET /ping`` and ``GET /users/{id}``; rounds
   interleave the variants and the median round is reported, as req/s, p50/p99 latency, ratios
   to the bare app, and the microseconds added per request, both from throughput
   (``1e6/rps - 1e6/rps_bare``) and from the server's own CPU time per request;
2. latency: the same fixed load (half the slowest variant's capacity) offered to every variant;
3. soak: a fresh file-output server takes ``--soak`` requests (or ``--soak-seconds``, whichever
   comes first) while its RSS is sampled.

Figures are ratios against the bare app measured in the same run; the goals are printed as
PASS/FAIL and never change the exit status: a benchmark reports, it does not gate.
Usage: ``make bench`` or ``.venv/bin/python bench/sensor_overhead.py [--quick] [--duration S]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from _load import LoadSpec, find_wrk, run_load, wrk_version
from _report import (
    VARIANTS,
    Measured,
    Runs,
    SoakResult,
    Summary,
    goal_lines,
    is_noisy,
    noise_lines,
    paced_table,
    soak_lines,
    stats_line,
    throughput_table,
)
from _server import Server
from sensor_instructions import steps

ENDPOINTS = ("/ping", "/users/{n}")
PACED_DELAY_MS = 10  # long beside the latencies, so every variant gets about the same rate
REPO = Path(__file__).resolve().parent.parent


# -- setup -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, help="seconds per throughput run (10)")
    parser.add_argument("--rounds", type=int, help="rounds over all variants (3)")
    parser.add_argument("--soak", type=int, help="requests in the soak phase (1000000)")
    parser.add_argument("--soak-seconds", type=float, default=180.0, help="soak time bound")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c for saturation")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s rounds, 50k soak")
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (2.0 if quick else 10.0)
    args.rounds = args.rounds or (2 if quick else 3)
    args.soak = args.soak if args.soak is not None else (50_000 if quick else 1_000_000)
    args.warmup = 1.0 if quick else 2.0
    return args


def pick_cpus() -> tuple[int | None, int | None]:
    """Server on one CPU, load generator on another, when the machine has two."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    out = subprocess.run(
        # --no-optional-locks: never take index.lock, so a concurrent commit is never disturbed
        ["git", "--no-optional-locks", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else "?"


def _versions() -> str:
    names = ("apiwatch", "uvicorn", "starlette", "httptools", "uvloop", "msgspec")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


def header(args: argparse.Namespace, loadgen: str, cpus: tuple[int | None, int | None]) -> None:
    dirty = _git("status", "--porcelain", "--", "src").splitlines()
    pinning = f"server on CPU {cpus[0]}, load on CPU {cpus[1]}" if cpus[0] is not None else "none"
    print("apiwatch sensor overhead benchmark")
    print(f"  date       {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"  command    {shlex.join(sys.orig_argv)}")
    print(f"  python     {platform.python_implementation()} {platform.python_version()}")
    print(f"  cpu        {_cpu_model()} x {os.cpu_count()}; pinning: {pinning}")
    print(f"  load avg   {' '.join(Path('/proc/loadavg').read_text(encoding='ascii').split()[:3])}")
    print(f"  versions   {_versions()}")
    print(f"  src        {_git('rev-parse', '--short', 'HEAD')}", end="")
    print(f" + {len(dirty)} uncommitted file(s) under src/" if dirty else " (clean)")
    print(f"  loadgen    {loadgen}; saturation: {args.connections} keep-alive connections")
    print(f"  plan       {args.rounds} rounds x {args.duration:g} s per variant and endpoint;")
    print(f"             soak {args.soak:,} requests or {args.soak_seconds:g} s\n", flush=True)


# -- measuring -------------------------------------------------------------------------------


def _system_user_seconds() -> float:
    """User + nice time of the whole machine (first line of /proc/stat)."""
    fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()
    return (int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def _children_user_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime


class Driver:
    """Runs one bounded load from a second process and measures the server meanwhile."""

    def __init__(self, wrk: str | None, cpu: int | None) -> None:
        self.wrk = wrk
        self.cpu = cpu
        self.completed: Counter[int] = Counter()  # server port -> responses the load got

    def __call__(self, server: Server, spec: LoadSpec) -> Measured:
        cpu, user = server.cpu_seconds(), server.user_seconds()
        machine, children, started = _system_user_seconds(), _children_user_seconds(), time.time()
        result = run_load(spec, wrk=self.wrk, cpu=self.cpu)
        self.completed[server.port] += result.requests
        wall = time.time() - started
        ours = server.user_seconds() - user + _children_user_seconds() - children
        others = (_system_user_seconds() - machine - ours) / wall
        cpu_us = (server.cpu_seconds() - cpu) * 1e6 / max(result.requests, 1)
        return Measured(result, cpu_us, max(others, 0.0))


# -- phases ----------------------------------------------------------------------------------


def warm_up(servers: dict[str, Server], args: argparse.Namespace, measure: Driver) -> None:
    for server in servers.values():
        for path in ENDPOINTS:
            measure(server, LoadSpec(server.port, path, args.connections, args.warmup))


def throughput(
    servers: dict[str, Server], args: argparse.Namespace, measure: Driver
) -> dict[str, Runs]:
    """Interleaved rounds (bare, null, file, bare, ...) of saturating load on each endpoint."""
    runs: dict[str, Runs] = {path: {v: [] for v in servers} for path in ENDPOINTS}
    for number in range(1, args.rounds + 1):
        for path in ENDPOINTS:
            for variant, server in servers.items():
                run = measure(server, LoadSpec(server.port, path, args.connections, args.duration))
                runs[path][variant].append(run)
                print(
                    f"  round {number}/{args.rounds}  {path:<11} {variant:<7}"
                    f" {run.load.rps:>8,.0f} req/s  p50 {run.load.p50_us:>6,.0f} us"
                    f"  p99 {run.load.p99_us:>6,.0f} us  CPU {run.cpu_us:5.1f} us/req"
                    f"  others {run.others:4.2f} CPU  errors {run.load.errors}",
                    flush=True,
                )
    return runs


def paced(
    servers: dict[str, Server], args: argparse.Namespace, measure: Driver, rate: float
) -> Runs:
    """The same offered load on /ping for every variant: connections that pause between requests.

    wrk is closed-loop, so each connection sends one request per (pause + latency); a pause long
    beside the latencies keeps the offered rate nearly the same for a slower variant.
    """
    connections = max(1, round(rate * (PACED_DELAY_MS + 0.5) / 1000))
    print(
        f"  target {rate:,.0f} req/s: {connections} connections, each pausing "
        f"{PACED_DELAY_MS} ms after every response",
        flush=True,
    )
    runs: Runs = {v: [] for v in servers}
    seconds = max(2.0, args.duration / 2)
    for _ in range(args.rounds):
        for variant, server in servers.items():
            spec = LoadSpec(server.port, "/ping", connections, seconds, delay_ms=PACED_DELAY_MS)
            runs[variant].append(measure(server, spec))
    return runs


def soak(
    args: argparse.Namespace, workdir: Path, cpus: tuple[int | None, int | None], measure: Driver
) -> SoakResult:
    """A fresh file-output server; RSS after warm-up and at 10%, 50% and 100% of the count."""
    with Server("file", workdir, cpus[0], tag="-soak") as server:
        measure(server, LoadSpec(server.port, "/users/{n}", args.connections, args.warmup))
        result = SoakResult([(0, server.rss_mb())], 0, 0.0, 0, stopped_by_time=False)
        started = time.monotonic()
        for mark in (0.1, 0.5, 1.0):
            left = args.soak_seconds - (time.monotonic() - started)
            target = int(args.soak * mark) - result.requests
            if left < 1:
                result.stopped_by_time = True
                break
            spec = LoadSpec(server.port, "/users/{n}", args.connections, left, limit=target)
            run = measure(server, spec).load
            result.requests += run.requests
            result.errors += run.errors
            result.samples.append((result.requests, server.rss_mb()))
            print(
                f"  {result.requests:>9,} requests, RSS {result.samples[-1][1]:.1f} MiB", flush=True
            )
            if run.requests < target:
                result.stopped_by_time = True
                break
        result.seconds = time.monotonic() - started
    result.stats, result.log_bytes = server.stats, server.log_bytes()
    result.completed = measure.completed[server.port]
    return result


def breakdown(workdir: Path, count: int = 20_000) -> list[str]:
    """The sensor's work by step, in this process: thread CPU time per call, median of 3.

    The same steps `sensor_instructions.py` counts instructions of; hot in the caches, so below
    what a step costs inside the loaded server, but their shares are the server's.
    """
    lines = [f"Breakdown: the sensor's work by step, direct calls, CPU us per request ({count:,})"]
    for label, work in steps("/ping", count, str(workdir)):
        work()  # warm
        samples = []
        for _ in range(3):
            started = time.thread_time_ns()
            work()
            samples.append((time.thread_time_ns() - started) / count / 1000)
        lines.append(f"  {label:<52}{sorted(samples)[1]:7.2f}")
    lines.append(
        "  (instructions per step, repeatable on a busy machine: bench/sensor_instructions.py)"
    )
    return lines


# -- main ------------------------------------------------------------------------------------


def _loadgen(args: argparse.Namespace) -> tuple[str | None, str]:
    wrk = None if args.loadgen == "python" else find_wrk(install=True)
    if args.loadgen == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed and could not be installed (apt-get install wrk)")
    if wrk:
        return wrk, wrk_version(wrk)
    return None, "Python (uvloop) fallback: it may saturate before the server, hiding overhead"


def report(
    args: argparse.Namespace,
    measure: Driver,
    *,
    servers: dict[str, Server],
    saturated: dict[str, Runs],
    fixed: Runs,
    soaked: SoakResult | None,
) -> list[str]:
    how = f"saturation (-c{args.connections}), median of {args.rounds} rounds x {args.duration:g} s"
    lines = [
        "",
        *throughput_table(f"GET /ping: {how}", saturated["/ping"]),
        "",
        *throughput_table(f"GET /users/{{id}} (100k distinct ids): {how}", saturated["/users/{n}"]),
        "",
        *paced_table("GET /ping at the same offered load, median of rounds", fixed),
        "",
        *noise_lines([*saturated.values(), fixed]),
        "",
        "Sensor counters after the warm-up, throughput and latency phases (the server sees a few",
        "more requests than the load generator counts: the readiness probe, and requests in",
        "flight when each run stops):",
    ]
    for variant in ("null", "file", "logging"):
        server = servers[variant]
        log_bytes = server.log_bytes() if variant != "null" else 0
        completed = measure.completed[server.port]
        lines.append(stats_line(VARIANTS[variant], server.stats, completed, log_bytes))
    if soaked is not None:
        lines += ["", *soak_lines(soaked, args.soak, args.soak_seconds)]
    noisy = is_noisy([*saturated.values(), fixed])
    return [*lines, "", *goal_lines(saturated["/ping"], fixed, soaked, noisy=noisy)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk, loadgen = _loadgen(args)
    cpus = pick_cpus()
    measure = Driver(wrk, cpus[1])
    header(args, loadgen, cpus)
    with tempfile.TemporaryDirectory(prefix="apiwatch-bench-") as tmp:
        workdir = Path(tmp)
        with ExitStack() as stack:
            servers = {v: stack.enter_context(Server(v, workdir, cpus[0])) for v in VARIANTS}
            print("Warming up ...", flush=True)
            warm_up(servers, args, measure)
            print("Throughput rounds:", flush=True)
            saturated = throughput(servers, args, measure)
            slowest = min(Summary.of(runs).rps for runs in saturated["/ping"].values())
            print("Fixed-load latency rounds:", flush=True)
            fixed = paced(servers, args, measure, slowest / 2)
        parts = breakdown(workdir)
        soaked = None
        if args.soak > 0:
            print("Soak:", flush=True)
            soaked = soak(args, workdir, cpus, measure)
        print(
            "\n".join(
                [
                    *report(
                        args,
                        measure,
                        servers=servers,
                        saturated=saturated,
                        fixed=fixed,
                        soaked=soaked,
                    ),
                    "",
                    *parts,
                ]
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
