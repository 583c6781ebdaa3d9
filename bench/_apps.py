"""The server side of `sensor_overhead.py`: one Starlette app variant under uvicorn, one worker.

Run as ``python bench/_apps.py VARIANT PORT [--log-file PATH] [--stats-file PATH] [--cpu N]``:

- ``bare``: the app alone;
- ``null``: with `ApiwatchMiddleware` and an output that drops every event, so the figure is the
  cost of making events' lines (a line-only output, as the file output is);
- ``file``: with `ApiwatchMiddleware` and a `FileOutput`: ECS JSON lines appended to a file in
  batches by a writer thread (the sensor's own file output);
- ``logging``: with `ApiwatchMiddleware` logging through ``apiwatch.events`` to a
  `logging.FileHandler` with `EcsFormatter`, as an app that routes events through its logging
  configuration does (one write per event).

On shutdown (SIGINT/SIGTERM) the sensor's counters are written as JSON to ``--stats-file``, so the
driver can check that every request produced an event and the sensor reported no errors.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from apiwatch.sensor import ApiwatchMiddleware, EcsFormatter, FileOutput

VARIANTS = ("bare", "null", "file", "logging")


class NullOutput:
    """An output that drops every event: isolates making events from writing them.

    Like `FileOutput` and the shipper it needs only the line (``write_line``), so the sensor
    writes request events' lines without building the `Event`, as it does in production.
    """

    def __call__(self, event: object, line: bytes) -> None:
        pass

    def write_line(self, line: bytes) -> None:
        pass


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


async def user(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"user {request.path_params['id']}")


def make_app(variant: str, log_file: str | None) -> Starlette:
    app = Starlette(routes=[Route("/ping", ping), Route("/users/{id}", user)])
    if variant == "null":
        app.add_middleware(ApiwatchMiddleware, service="bench", outputs=[NullOutput()])
    elif variant == "file":
        output = FileOutput(log_file or os.devnull)
        app.add_middleware(ApiwatchMiddleware, service="bench", outputs=[output])
    elif variant == "logging":
        # Configured before the middleware exists, so the sensor keeps this handler and installs
        # no stderr handler of its own.
        logger = logging.getLogger("apiwatch.events")
        handler = logging.FileHandler(log_file or os.devnull, encoding="utf-8")
        handler.setFormatter(EcsFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        app.add_middleware(ApiwatchMiddleware, service="bench")
    elif variant != "bare":
        raise SystemExit(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return app


def find_sensor(app: Starlette) -> Any:
    """The `Sensor` inside the built middleware stack, or None (bare app, or never called)."""
    layer: Any = app.middleware_stack
    while layer is not None:
        if isinstance(layer, ApiwatchMiddleware):
            return layer.sensor
        layer = getattr(layer, "app", None)
    return None


def _write_stats(app: Starlette, path: str) -> None:
    sensor = find_sensor(app)
    stats: dict[str, object] = sensor.stats.as_dict() if sensor is not None else {}
    for output in sensor.outputs if sensor is not None else ():
        if isinstance(output, FileOutput):
            output.close()  # written out before the counters are read
            stats["file_output"] = output.stats.as_dict()
    stats["gc_collections"] = [generation["collections"] for generation in gc.get_stats()]
    Path(path).write_text(json.dumps(stats), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("port", type=int)
    parser.add_argument("--log-file")
    parser.add_argument("--stats-file")
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    app = make_app(args.variant, args.log_file)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )
    if args.stats_file:
        _write_stats(app, args.stats_file)


if __name__ == "__main__":
    main()
