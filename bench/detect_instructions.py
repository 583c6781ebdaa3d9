"""Detection's cost per event in instructions (valgrind callgrind): repeatable on a busy host.

`detect_throughput.py` times the engine; on a shared machine its rates swing by a third from run
to run. Instruction counts do not. This script runs itself under ``valgrind --tool=callgrind``
and counts only between two markers the inner process calls (``os.getppid()`` zeroes the
counters, ``os.getpgrp()`` dumps them), so start-up, rule loading, generating the stream and
warming up are left out. Two workloads, each in its own callgrind run, on the same simulated
stream (``apiwatch.simulate``, seed 7: benign users and traps, every attack type, long user
agents, query strings):

- **flatten only** (the baseline): ``to_record`` of every event, the least any rule engine does;
- **engine, whole pack**: ``Engine.feed`` of every event with the whole built-in pack.

The engine first takes ``--warm`` events uncounted (windows, look-back memory and the matcher's
memo fill up), then ``--events`` counted ones. The stream is generated outside valgrind and
handed over as ECS NDJSON (what ``apiwatch simulate`` writes). Another tree can be measured with
``PYTHONPATH=<tree>/src``. A run takes a few minutes (valgrind is ~50x slower than the CPU).

Usage: ``.venv/bin/python bench/detect_instructions.py [--events N] [--warm N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from apiwatch.detect import Engine, builtin_dir, load_rules, to_record
from apiwatch.model import decode_event, encode_event
from apiwatch.simulate import ScenarioConfig, generate

WORKLOADS = ("flatten", "engine")


def _stream(path: Path, warm: int, count: int) -> None:
    """Write the events to feed (``warm`` then ``count``) to ``path``, one ECS line each."""
    events = list(generate(ScenarioConfig(seed=7, lines=max(3 * (warm + count), 30_000))).events())
    start = len(events) // 3  # past the quiet start of the simulated day
    with path.open("wb") as out:
        for event in events[start - warm : start + count]:
            out.write(encode_event(event) + b"\n")


def _inner(workload: str, path: Path, warm: int) -> None:
    with path.open("rb") as lines:
        events = [decode_event(line) for line in lines]
    before, counted = events[:warm], events[warm:]
    if workload == "flatten":
        nothing: frozenset[str] = frozenset()
        for event in before:
            to_record(event, nothing)
        os.getppid()  # --zero-before=os_getppid
        for event in counted:
            to_record(event, nothing)
        os.getpgrp()  # --dump-before=os_getpgrp
        return
    engine = Engine(load_rules([builtin_dir()]))
    for event in before:
        engine.feed(event)
    os.getppid()
    for event in counted:
        engine.feed(event)
    os.getpgrp()


def _instructions(out_dir: Path) -> int:
    """The instruction total of the dump made at the second marker."""
    total = 0
    for dump in out_dir.glob("cg.out*"):
        for text in dump.read_text(encoding="utf-8", errors="replace").splitlines():
            if text.startswith(("summary:", "totals:")):
                total = max(total, int(text.split()[1]))
    return total


def _measure(valgrind: str, workload: str, stream: Path, warm: int) -> int:
    with tempfile.TemporaryDirectory(prefix="apiwatch-cg-") as tmp:
        out_dir = Path(tmp)
        subprocess.run(
            [
                valgrind, "--tool=callgrind", "--zero-before=os_getppid",
                "--dump-before=os_getpgrp", f"--callgrind-out-file={out_dir / 'cg.out'}",
                sys.executable, __file__, "--inner", workload, "--stream", str(stream),
                "--warm", str(warm),
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return _instructions(out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=6_000, help="counted events")
    parser.add_argument("--warm", type=int, default=3_000, help="uncounted events before")
    parser.add_argument("--inner", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args.inner, args.stream, args.warm)
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("detect_instructions: valgrind is not installed (apt-get install valgrind)")
        return
    print(f"Instructions per event (callgrind), {args.events:,} events after {args.warm:,}")
    with tempfile.TemporaryDirectory(prefix="apiwatch-stream-") as tmp:
        stream = Path(tmp) / "events.ndjson"
        _stream(stream, args.warm, args.events)
        base = _measure(valgrind, "flatten", stream, args.warm) / args.events
        full = _measure(valgrind, "engine", stream, args.warm) / args.events
    print(f"  flatten only (baseline) {base:>10,.0f}")
    print(f"  engine, whole pack      {full:>10,.0f}   = {full / base:.2f} x baseline")


if __name__ == "__main__":
    main()
