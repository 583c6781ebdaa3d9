"""The sensor's cost per request in instructions (valgrind callgrind): repeatable on a busy host.

Wall-clock and even CPU-time figures swing when other processes share the CPUs; the number of
instructions a request executes does not. This script runs itself under ``valgrind
--tool=callgrind`` and drives the apps of `sensor_overhead.py` (``bench/_apps.py``) directly, with
the same synthetic ASGI scope as `sensor_profile.py` (no server, no sockets), then each step of
the sensor's work on its own. Callgrind counts only between two markers the inner process calls
(``os.getppid()`` zeroes the counters, ``os.getpgrp()`` dumps them: ``--zero-before`` and
``--dump-before``), so start-up, imports and warm-up are left out, and every thread's instructions
(the batched writer's too) are in the count.

Printed: instructions per request for each variant and what the sensor adds to the bare app, then
the breakdown of the sensor's work by step. Instructions are not time (cache misses and branch
mispredictions are not in them), but they move with the work done, and the same command gives the
same figures whatever else runs on the machine.

Usage: ``.venv/bin/python bench/sensor_instructions.py [--requests N] [--path /users/{n}]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _apps import VARIANTS, make_app
from _load import request_scope

Scope = dict[str, Any]
_BENCH = Path(__file__).resolve().parent
_WARMUP = 2000


def _scope(path: str, number: int) -> Scope:
    return request_scope(path, number, clients=32)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    pass


def _measured(label: str, work: Callable[[], None]) -> None:
    """Run ``work`` between the markers callgrind zeroes and dumps its counters at."""
    print(label, flush=True)
    os.getppid()  # --zero-before=os_getppid
    work()
    os.getpgrp()  # --dump-before=os_getpgrp


# -- the inner process (under valgrind) ------------------------------------------------------


def _requests(app: Any, path: str, start: int, count: int) -> Callable[[], None]:
    scopes = [_scope(path, number) for number in range(start, start + count)]

    async def drive() -> None:
        for scope in scopes:
            await app(scope, _receive, _send)

    return lambda: asyncio.run(drive())


def _flush(app: Any) -> None:
    """Write what a batched output still holds, so that its cost is inside the window."""
    from _apps import find_sensor

    sensor = find_sensor(app)
    for output in sensor.outputs if sensor is not None else ():
        flush = getattr(output, "flush", None)
        if callable(flush):
            flush()


def _then_flush(run: Callable[[], None], app: Any) -> Callable[[], None]:
    def work() -> None:
        run()
        _flush(app)

    return work


def inner(path: str, count: int, log_dir: str) -> None:
    for variant in VARIANTS:
        app = make_app(variant, os.path.join(log_dir, f"{variant}.log"))
        _requests(app, path, 0, _WARMUP)()
        _flush(app)
        _measured(f"variant {variant}", _then_flush(_requests(app, path, _WARMUP, count), app))
    for label, work in steps(path, count, log_dir):
        work()  # warm
        _measured(f"step {label}", work)


def steps(path: str, count: int, log_dir: str) -> list[tuple[str, Callable[[], None]]]:
    """Each part of the sensor's per-request work, called ``count`` times on its own."""
    import logging

    import apiwatch.sensor
    from apiwatch.model import encode_event
    from apiwatch.sensor import ApiwatchMiddleware, EcsFormatter, LoggingOutput, MemoryOutput

    app = make_app("bare", None)
    middleware = ApiwatchMiddleware(app, service="bench", outputs=[])
    sensor = middleware.sensor
    scope = _scope(path, 1)
    asyncio.run(app(scope, _receive, _send))  # the router fills in scope["route"]
    scopes = [dict(scope, client=("127.0.0.1", 40000 + n % 32)) for n in range(count)]
    ctx = middleware._begin(scope)
    middleware._complete(ctx, scope, None, None, 200)
    # A sensor whose output needs the `Event` (as logging does), for the steps that build one.
    events_middleware = ApiwatchMiddleware(app, service="bench", outputs=[MemoryOutput()])
    events_sensor = events_middleware.sensor
    events_ctx = events_middleware._begin(scope)
    events_middleware._complete(events_ctx, scope, None, None, 200)
    event = events_sensor._request_event(events_ctx, 200, 123_456, None)
    line = encode_event(event)
    handler = logging.FileHandler(os.path.join(log_dir, "step.log"), encoding="utf-8")
    handler.setFormatter(EcsFormatter())
    logger = logging.getLogger("bench.steps")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging_output = LoggingOutput("bench.steps")
    # Absent from older trees: PYTHONPATH=<old tree>/src measures a version before it.
    file_class = getattr(apiwatch.sensor, "FileOutput", None)
    file_output = file_class(os.path.join(log_dir, "step-batched.log")) if file_class else None

    def loop(call: Callable[[], object]) -> Callable[[], None]:
        def work() -> None:
            for _ in range(count):
                call()

        return work

    def begin() -> None:
        for one in scopes:
            middleware._begin(one)

    def batched() -> None:
        for _ in range(count):
            file_output(event, line)
        file_output.flush()

    steps = [
        ("headers + begin (ids, time, ip, user agent, token)", begin),
        ("after the app (route, user)", loop(lambda: middleware._complete(ctx, scope, None, None, 200))),  # noqa: E501
        ("build the Event", loop(lambda: events_sensor._request_event(events_ctx, 200, 123_456, None))),  # noqa: E501
        ("encode (msgspec)", loop(lambda: encode_event(event))),
        *_line_step(sensor, ctx, loop),
        ("output: stdlib logging to a file", loop(lambda: logging_output(event, line))),
    ]  # fmt: skip
    return [*steps, ("output: FileOutput (batched)", batched)] if file_output else steps


def _line_step(sensor: Any, ctx: Any, loop: Any) -> list[tuple[str, Callable[[], None]]]:
    """Making the line without the `Event` (what line-only outputs get); absent before it."""
    request_line = getattr(sensor, "_request_line", None)
    if request_line is None:
        return []
    return [
        (
            "line from cached fragments (no Event)",
            loop(lambda: request_line(ctx, 200, 123_456, None)),
        )
    ]


# -- the outer process -----------------------------------------------------------------------


def _totals(out_dir: Path, base: str) -> list[int]:
    """Each dump's instruction total, in dump order (callgrind numbers them .1, .2, ...)."""
    dumps = sorted(out_dir.glob(f"{base}.*"), key=lambda p: int(p.suffix[1:]))
    totals = []
    for dump in dumps:
        for text in dump.read_text(encoding="utf-8", errors="replace").splitlines():
            if text.startswith(("totals:", "summary:")):
                totals.append(int(text.split()[1]))
                break
    return totals


def outer(args: argparse.Namespace) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="apiwatch-instr-") as tmp:
        out_dir = Path(tmp)
        command = [
            valgrind, "--tool=callgrind", "--zero-before=os_getppid", "--dump-before=os_getpgrp",
            f"--callgrind-out-file={out_dir / 'cg.out'}", sys.executable, __file__, "--inner",
            "--requests", str(args.requests), "--path", args.path, "--log-dir", tmp,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        labels = [x for x in done.stdout.splitlines() if x.startswith(("variant ", "step "))]
        totals = _totals(out_dir, "cg.out")
        if done.returncode != 0 or len(totals) != len(labels):
            print(done.stdout, done.stderr[-4000:], sep="\n")
            raise SystemExit(f"the run under valgrind failed (exit {done.returncode})")
    report(args, dict(zip(labels, totals, strict=True)))
    return 0


def report(args: argparse.Namespace, totals: dict[str, int]) -> None:
    per = {label: total / args.requests for label, total in totals.items()}
    bare = per["variant bare"]
    print(f"Instructions per request (callgrind), GET {args.path}, {args.requests:,} requests")
    print("  direct ASGI calls, no server; every thread counted\n")
    print(f"  {'variant':<34}{'instr/req':>11}{'added':>10}")
    for label, value in per.items():
        if label.startswith("variant "):
            name = label.removeprefix("variant ")
            added = "-" if name == "bare" else f"{value - bare:+,.0f}"
            print(f"  {name:<34}{value:>11,.0f}{added:>10}")
    print("\n  the sensor's work by step (each called on its own):")
    parts = 0.0
    # A line-only output (the null variant's) gets the line without the Event being built.
    lines_only = "step line from cached fragments (no Event)" in per
    skipped = ("build the Event", "encode (msgspec)") if lines_only else ("line from",)
    for label, value in per.items():
        if label.startswith("step "):
            name = label.removeprefix("step ")
            print(f"  {name:<52}{value:>9,.0f}")
            if not name.startswith(("output", *skipped)):
                parts += value
    rest = per["variant null"] - bare - parts
    print(f"  {'ASGI wrapping and the rest (null - bare - steps)':<52}{rest:>9,.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--path", default="/ping", help="'{n}' counts up: /users/{n}")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.path, args.requests, args.log_dir)
        return 0
    return outer(args)


if __name__ == "__main__":
    sys.exit(main())
