"""Where the sensor's per-request time goes: direct ASGI calls, no server, no sockets.

Calls the same Starlette apps as `sensor_overhead.py` (``bench/_apps.py``) with a synthetic HTTP
scope in a loop, for the bare app and the three sensor variants, and prints the CPU microseconds per
request of each and the difference to the bare app; then runs the sensor variants again under
cProfile and lists the functions that take the time (cProfile adds its own cost to every call, so
read its figures as shares, and the first table as the absolute cost).

Usage: ``.venv/bin/python bench/sensor_profile.py [--requests N] [--path /users/{n}] [--top K]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from _apps import VARIANTS, make_app
from _load import request_scope

Scope = dict[str, Any]
App = Callable[[Scope, Any, Any], Coroutine[Any, Any, None]]
_SRC = str(Path(__file__).resolve().parent.parent / "src" / "apiwatch")


def _scopes(path: str, count: int) -> list[Scope]:
    """Fresh scopes (Starlette writes into them), the path's ``{n}`` counting up like wrk's."""
    return [request_scope(path, number, clients=20000) for number in range(count)]


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    pass


async def _drive(app: App, scopes: list[Scope]) -> None:
    for scope in scopes:
        await app(scope, _receive, _send)


def _run(app: App, scopes: list[Scope]) -> float:
    """CPU seconds to serve every scope once."""
    started = time.process_time()
    asyncio.run(_drive(app, scopes))
    return time.process_time() - started


def _apps(log_file: str) -> dict[str, App]:
    # The logging variant configures the ``apiwatch.events`` logger; the others do not read it.
    return {v: make_app(v, log_file) for v in VARIANTS}  # type: ignore[misc]


def timings(apps: dict[str, App], path: str, count: int, repeats: int) -> None:
    print(f"CPU time per request, direct ASGI calls to GET {path}, median of {repeats} x {count:,}")
    per_request: dict[str, float] = {}
    for variant, app in apps.items():
        _run(app, _scopes(path, min(count, 5000)))  # warm caches and code paths
        samples = [_run(app, _scopes(path, count)) / count * 1e6 for _ in range(repeats)]
        per_request[variant] = statistics.median(samples)
    for variant, micros in per_request.items():
        added = micros - per_request["bare"]
        extra = "" if variant == "bare" else f"   sensor adds {added:5.1f} us"
        print(f"  {variant:<7} {micros:6.1f} us/request{extra}")
    print()


def _short(func: tuple[str, int, str]) -> str:
    file, line, name = func
    if file.startswith(_SRC):
        return f"apiwatch/{file[len(_SRC) + 1 :]}:{line} {name}"
    if file == "~":
        return name
    return f"{Path(file).name}:{line} {name}"


def profile(app: App, variant: str, path: str, count: int, top: int) -> None:
    scopes = _scopes(path, count)
    _run(app, _scopes(path, min(count, 5000)))
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(_drive(app, scopes))
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values())
    print(f"cProfile, variant {variant}, {count:,} requests: top {top} by own time")
    print(f"  {'own %':>6} {'own us/req':>10} {'cum us/req':>10} {'calls/req':>9}  function")
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)
    for func, (_, calls, own, cumulative, _) in ranked[:top]:
        print(
            f"  {own / total:6.1%} {own / count * 1e6:10.2f} {cumulative / count * 1e6:10.2f}"
            f" {calls / count:9.2f}  {_short(func)}"
        )
    print("  apiwatch functions by cumulative time (cum us/req, calls/req):")
    mine = [(f, e) for f, e in entries.items() if f[0].startswith(_SRC)]
    for func, (_, calls, _own, cumulative, _) in sorted(mine, key=lambda i: -i[1][3])[:top]:
        print(f"    {cumulative / count * 1e6:8.2f} {calls / count:6.2f}  {_short(func)}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--path", default="/ping", help="'{n}' counts up: /users/{n}")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apiwatch-profile-") as tmp:
        log_file = os.path.join(tmp, "events.log")
        apps = _apps(log_file)
        timings(apps, args.path, args.requests, args.repeats)
        for variant in VARIANTS[1:]:
            profile(apps[variant], variant, args.path, args.requests, args.top)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
