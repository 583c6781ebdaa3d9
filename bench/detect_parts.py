"""Where detection's instructions go, per part of the engine's work on an event (callgrind).

`detect_instructions.py` gives the engine's total per event; this splits it. Each part is called
through its own C-level trampoline (``operator.call``, ``Context.run``, ``functools.partial``
...), whose *inclusive* cost ``callgrind_annotate --inclusive=yes`` reports: Python functions
are invisible to callgrind, C functions are not. Same stream, markers and warm-up as
`detect_instructions.py` (seed 7; ``os.getppid()`` zeroes the counters, ``os.getpgrp()`` dumps
them). Parts:

- ``flatten`` (``to_record``), ``match`` (the compiled matcher), ``synthetic``, ``profile``
  (login timing, account origins, /64 crowds);
- ``login memory`` (`LoginMemory.see`), ``route`` (correlations, baselines, replays and the
  single-event rules a match reaches, with the findings they report), ``silence``
  (`SilenceState.see`), ``incidents`` (`IncidentTracker.on_event`), ``tick`` (baseline samples
  and verdicts, silence checks, sweeps); ``incidents from findings`` (`on_finding`, a share of
  ``route`` and ``tick``).

Each figure includes its trampoline's own cost per call, and a call's: what a no-op method costs
through the same trampoline is printed in brackets (550 to 1,800 instructions; measured in a
second run). The rest of the total is the engine's loop (reorder buffer, `Hit`).
A run takes several minutes.

Usage: ``.venv/bin/python bench/detect_parts.py [--events N] [--warm N]``.
"""

from __future__ import annotations

import argparse
import collections
import contextvars
import functools
import itertools
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apiwatch.detect.engine as engine_module
from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.model import decode_event

sys.path.insert(0, str(Path(__file__).parent))
from detect_instructions import _stream

_CONTEXT = contextvars.copy_context()
_SENTINEL = object()


def _trampoline(kind: str, target: Callable[..., Any]) -> Callable[..., Any]:  # noqa: PLR0911 - one per kind
    """``target`` called through the C function named by ``kind`` (see `TRAMPOLINES`)."""
    if kind == "call":
        return lambda *a: operator.call(target, *a)
    if kind == "context":
        return lambda *a: _CONTEXT.run(target, *a)
    if kind == "partial":
        return functools.partial(target)
    if kind == "static":
        return staticmethod(target)
    if kind == "uncached":
        return functools.lru_cache(maxsize=0)(target)
    if kind == "starmap":
        return lambda *a: next(itertools.starmap(target, (a,)))
    if kind == "iter":
        return lambda *a: next(iter(lambda: target(*a), _SENTINEL))
    if kind == "reduce":
        return lambda *a: functools.reduce(lambda _x, _y: target(*a), (None,), None)
    if kind == "missing":
        return lambda *a: collections.defaultdict[int, Any](lambda: target(*a))[0]
    if kind == "accumulate":
        return lambda *a: list(itertools.accumulate((None, None), lambda _x, _y: target(*a)))[1]
    raise ValueError(kind)


TRAMPOLINES = {
    "call": "_operator_call",
    "context": "context_run",
    "partial": "partial_vectorcall",
    "static": "sm_call",
    "uncached": "uncached_lru_cache_wrapper",
    "starmap": "starmap_next",
    "iter": "calliter_iternext",
    "reduce": "functools_reduce",
    "missing": "defdict_missing",
    "accumulate": "accumulate_next",
}
"""Trampoline kind -> the C function whose inclusive cost is its part's."""

PARTS = (
    ("flatten", "call"),
    ("synthetic", "context"),
    ("profile", "partial"),
    ("login memory", "static"),
    ("match", "uncached"),
    ("route", "starmap"),
    ("silence", "iter"),
    ("incidents", "reduce"),
    ("tick", "missing"),
    ("incidents from findings", "accumulate"),
)


def _wire(engine: Engine) -> None:
    """Route each part of ``engine``'s work through its trampoline (`PARTS`)."""
    kinds = dict(PARTS)
    engine_module.to_record = _trampoline(kinds["flatten"], engine_module.to_record)  # type: ignore[attr-defined]
    engine._synthetic = _trampoline(kinds["synthetic"], engine._synthetic)  # type: ignore[method-assign]
    engine._profile = _trampoline(kinds["profile"], engine._profile)  # type: ignore[method-assign]
    engine.memory.see = _trampoline(kinds["login memory"], engine.memory.see)  # type: ignore[method-assign]
    engine.match_all = _trampoline(kinds["match"], engine.match_all)
    engine._route = _trampoline(kinds["route"], engine._route)  # type: ignore[method-assign]
    for silence in engine.silences:
        silence.see = _trampoline(kinds["silence"], silence.see)  # type: ignore[method-assign]
    tracker = engine.tracker
    tracker.on_event = _trampoline(kinds["incidents"], tracker.on_event)  # type: ignore[method-assign]
    engine._tick = _trampoline(kinds["tick"], engine._tick)  # type: ignore[method-assign]
    tracker.on_finding = _trampoline(kinds["incidents from findings"], tracker.on_finding)  # type: ignore[method-assign]


def _inner_engine(path: Path, warm: int) -> None:
    with path.open("rb") as lines:
        events = [decode_event(line) for line in lines]
    engine = Engine(load_rules([builtin_dir()]))
    for event in events[:warm]:
        engine.feed(event)
    _wire(engine)
    counted = events[warm:]
    os.getppid()
    for event in counted:
        engine.feed(event)
    os.getpgrp()


def _inner_calibrate(calls: int) -> None:
    """Each trampoline around a no-op method, ``calls`` times: its own cost per call."""

    class _Noop:
        def method(self, first: object, second: object) -> None:
            return None

    wrapped = [_trampoline(kind, _Noop().method) for kind in TRAMPOLINES]
    os.getppid()
    for _ in range(calls):
        for call in wrapped:
            call(1, 2)
    os.getpgrp()


def _inclusive(valgrind: str, annotate: str, args: list[str]) -> tuple[int, dict[str, int]]:
    """The total, and each trampoline's inclusive cost, of a run of this script's ``args``."""
    with tempfile.TemporaryDirectory(prefix="apiwatch-cg-") as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            [
                valgrind, "--tool=callgrind", "--zero-before=os_getppid",
                "--dump-before=os_getpgrp", f"--callgrind-out-file={out}",
                sys.executable, __file__, *args,
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        dump = min(Path(tmp).glob("cg.out.*"))  # the dump made at the second marker
        text = subprocess.run(
            [annotate, "--inclusive=yes", "--threshold=100", str(dump)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        total = int(re.search(r"^summary: (\d+)", dump.read_text(errors="replace"), re.M)[1])  # type: ignore[index]
    costs: dict[str, int] = {}
    for kind, symbol in TRAMPOLINES.items():
        found = re.search(rf"^\s*([\d,]+) .*[:/]{symbol} \[", text, re.M)
        costs[kind] = int(found[1].replace(",", "")) if found else 0
    return total, costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=6_000, help="counted events")
    parser.add_argument("--warm", type=int, default=3_000, help="uncounted events before")
    parser.add_argument("--inner", choices=("engine", "calibrate"), help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner == "engine":
        _inner_engine(args.stream, args.warm)
        return
    if args.inner == "calibrate":
        _inner_calibrate(args.events)
        return
    valgrind, annotate = shutil.which("valgrind"), shutil.which("callgrind_annotate")
    if valgrind is None or annotate is None:
        print("detect_parts: valgrind is not installed (apt-get install valgrind)")
        return
    with tempfile.TemporaryDirectory(prefix="apiwatch-stream-") as tmp:
        stream = Path(tmp) / "events.ndjson"
        _stream(stream, args.warm, args.events)
        inner = ["--stream", str(stream), "--warm", str(args.warm)]
        total, costs = _inclusive(valgrind, annotate, ["--inner", "engine", *inner])
    _, calibration = _inclusive(
        valgrind, annotate, ["--inner", "calibrate", "--events", str(args.events)]
    )
    print(f"Instructions per event by part (callgrind), {args.events:,} events after {args.warm:,}")
    print(f"  total (with trampolines)  {total / args.events:>10,.0f}")
    for part, kind in PARTS:
        own = calibration[kind] / args.events
        print(f"  {part:<25} {costs[kind] / args.events:>10,.0f}   (a no-op: {own:,.0f})")


if __name__ == "__main__":
    main()
