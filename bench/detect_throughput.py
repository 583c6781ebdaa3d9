"""Detection throughput: the engine with the built-in pack, and ``apiwatch scan`` on nginx logs.

Three figures, each against a baseline measured in the same run, on one core (the process and the
``scan`` child are pinned to one CPU when the machine has several):

1. **Engine** — a simulated labelled stream (``apiwatch.simulate``: benign users, the benign traps
   and every attack type of the pack) fed through ``Engine`` with the whole built-in pack.
   Baseline: the same events only flattened into the fields rules read (``to_record``), the least
   any rule engine must do per event. Goal: >= 100,000 events/s.
2. **scan** — ``apiwatch scan --json --quiet`` as a real subprocess on a 1,000,000-line nginx
   combined log of the same simulator, against a plain Python read-and-regex-parse of the same file.
   Goal: >= 50,000 lines/s.
3. **Memory per tracked key** — the engine's allocations (tracemalloc) while it runs the stream,
   divided by the keys it tracks at the end (correlation groups, suppression groups, baseline
   entries, sources). Goal: <= 1 KB per key.

A benchmark reports; the exit status does not depend on the goals.

Usage: ``.venv/bin/python bench/detect_throughput.py [--lines N] [--events N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from apiwatch.detect import Engine, builtin_dir, load_rules, to_record
from apiwatch.model import Event
from apiwatch.simulate import ScenarioConfig, generate, write_scenario

COMBINED = re.compile(
    r'^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) (?P<bytes>\S+) "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"'
)


def _pin() -> str:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
        return "pinned to CPU 0"
    return "not pinned (one CPU)"


def _best(runs: int, work: object) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def _engine_figures(events: list[Event], runs: int) -> None:
    ruleset = load_rules([builtin_dir()])

    def flatten_only() -> None:
        for event in events:
            event.timestamp.timestamp()
            to_record(event)

    def engine() -> None:
        run = Engine(ruleset)
        for event in events:
            run.feed(event)
        run.flush()

    base = _best(runs, flatten_only)
    full = _best(runs, engine)
    count = len(events)
    print(f"engine: {len(ruleset.rules)} rules, {count:,} simulated events (best of {runs})")
    print(f"  flatten only (baseline) {count / base:>12,.0f} events/s")
    print(
        f"  engine, whole pack      {count / full:>12,.0f} events/s   "
        f"= {base / full:.2f} x baseline   goal >= 100,000/s: "
        f"{'MET' if count / full >= 100_000 else 'NOT MET'}"
    )

    tracemalloc.start()
    run = Engine(ruleset)
    before = tracemalloc.get_traced_memory()[0]
    for event in events:
        run.feed(event)
    run.flush()
    incidents = run.incidents()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    keys = max(run.state_keys(), 1)
    print(
        f"  memory: {used / 1024:,.0f} KiB engine state for {keys:,} tracked keys = "
        f"{used / keys:,.0f} bytes/key   goal <= 1,024: "
        f"{'MET' if used / keys <= 1024 else 'NOT MET'}"
        f"   ({len(incidents)} incidents)"
    )


def _scan_figures(log: Path, runs: int) -> None:
    lines = sum(1 for _ in log.open("rb"))

    def regex_parse() -> None:
        with log.open(encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                match = COMBINED.match(line)
                if match is not None:
                    match.group("ip", "time", "request", "status", "agent")

    apiwatch = Path(sys.executable).with_name("apiwatch")

    def scan() -> None:
        subprocess.run(
            [str(apiwatch), "scan", "--json", "--quiet", str(log)],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    base = _best(runs, regex_parse)
    full = _best(runs, scan)
    print(
        f"scan: {lines:,}-line nginx combined log, "
        f"{log.stat().st_size / 1e6:,.0f} MB (best of {runs})"
    )
    print(f"  read + regex parse (baseline) {lines / base:>10,.0f} lines/s")
    print(
        f"  apiwatch scan --json          {lines / full:>10,.0f} lines/s   "
        f"= {base / full:.2f} x baseline ({full / base:.1f} x its time)   goal >= 50,000/s: "
        f"{'MET' if lines / full >= 50_000 else 'NOT MET'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="nginx lines for scan")
    parser.add_argument(
        "--events", type=int, default=300_000, help="simulated events for the engine"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100k lines, 100k events, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.events, args.runs = 100_000, 100_000, 1
    print(f"detect_throughput: Python {sys.version.split()[0]}, {_pin()}")
    scenario = generate(ScenarioConfig(seed=7, lines=args.events))
    events = list(scenario.events())
    _engine_figures(events, args.runs)
    del events, scenario
    with tempfile.TemporaryDirectory(prefix="apiwatch-bench-") as tmp:
        paths = write_scenario(ScenarioConfig(seed=11, lines=args.lines), Path(tmp))
        Path(paths.events).unlink()
        _scan_figures(Path(paths.access_log), args.runs)


if __name__ == "__main__":
    main()
