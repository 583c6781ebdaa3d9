"""The scale-out roles of ``apiwatch serve --role``: which combinations of settings are valid,
and the writer and detect processes (they run until SIGTERM or Ctrl-C, answering only
``/healthz``, ``/readyz`` and ``/metrics`` on host:port: `apiwatch.server.bus_roles.ops`).

The ingest role is the HTTP collector with a bus publisher in place of the committer
(`apiwatch.cli.serve`); see `apiwatch.server.bus_roles` for what each role does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

import click

from apiwatch.cli._config import Settings
from apiwatch.model import ConfigError

if TYPE_CHECKING:
    from apiwatch.bus import Bus
    from apiwatch.server import ServerSettings
    from apiwatch.server.bus_roles.metrics import RoleMetrics
    from apiwatch.server.bus_roles.ops import RoleHealth
    from apiwatch.store import SqlStore

__all__ = ["check_bus", "check_role", "run_role"]

_REPORT_EVERY = 30.0
_RETRY_SECONDS = 2.0


def check_role(settings: Settings) -> str:
    """The role to run; `ConfigError` for a role without a bus or PostgreSQL, or a bus given to
    the embedded collector."""
    role = settings.role
    if role == "all":
        if settings.bus:
            raise ConfigError(
                "bus is set: start each scale-out role with --role ingest, writer or detect "
                "(role all is the embedded collector, without a bus)"
            )
        return role
    if not settings.bus:
        raise ConfigError(
            f'--role {role} needs a bus: set bus = "nats://host:4222" (APIWATCH_BUS, --bus)'
        )
    if not settings.db.startswith(("postgresql:", "postgres:")):
        raise ConfigError(
            f"--role {role}: the scale-out roles share one PostgreSQL store; set db to a "
            "postgresql:// URL (APIWATCH_DB, --db)"
        )
    try:
        import nats  # noqa: F401, PLC0415 - the bus extra

        from apiwatch.bus import check_stream_name  # noqa: PLC0415
    except ImportError:
        raise click.ClickException(
            "the scale-out roles need the bus extra (nats-py): pip install 'apiwatch[bus]'"
        ) from None
    check_stream_name(settings.bus_stream)
    return role


def check_bus(settings: Settings) -> None:
    """Connect to the bus once (creating the stream when missing) and disconnect: the ingest
    role refuses to start, in one line, when NATS cannot be reached."""
    from apiwatch.bus import Bus  # noqa: PLC0415

    async def probe() -> None:
        bus = await Bus.connect(settings.bus or "", settings.bus_stream, name="apiwatch-check")
        await bus.close()

    asyncio.run(probe())


def run_role(role: str, settings: Settings, store: SqlStore, collector: ServerSettings,
             ruleset: Any, *, sock: socket.socket) -> None:  # fmt: skip
    """Run the writer or detect role over ``store`` until SIGTERM or SIGINT, with its
    operations endpoints served on the listening socket ``sock``."""
    level = "DEBUG" if settings.log_level == "trace" else settings.log_level.upper()
    logging.basicConfig(level=level, format="%(levelname)s: %(name)s: %(message)s")
    from apiwatch.bus import bus_label  # noqa: PLC0415
    from apiwatch.server.bus_roles.metrics import RoleMetrics  # noqa: PLC0415
    from apiwatch.server.bus_roles.ops import OpsServer, RoleHealth, ops_app  # noqa: PLC0415

    metrics, health = RoleMetrics(role), RoleHealth(store)
    ops = OpsServer(ops_app(health, metrics), sock, log_level=settings.log_level,
                    log_config=None, ssl_certfile=settings.tls_cert,
                    ssl_keyfile=settings.tls_key)  # fmt: skip
    scheme = "https" if settings.tls_cert else "http"
    click.echo(f"apiwatch: {role} role on {bus_label(settings.bus or '')}, stream "
               f"{settings.bus_stream}; /healthz, /readyz, /metrics at "
               f"{scheme}://{settings.host}:{sock.getsockname()[1]}", err=True)  # fmt: skip
    ops.start()
    try:
        asyncio.run(_main(role, settings, store, collector, ruleset, ops=(metrics, health)))
    finally:
        ops.stop()


async def _main(role: str, settings: Settings, store: SqlStore, collector: ServerSettings,
                ruleset: Any, *, ops: tuple[RoleMetrics, RoleHealth]) -> None:  # fmt: skip
    from apiwatch.bus import Bus, BusError  # noqa: PLC0415

    metrics, health = ops

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logger = logging.getLogger("apiwatch.server")
    while not stop.is_set():
        try:
            bus = await Bus.connect(settings.bus or "", settings.bus_stream,
                                    name=f"apiwatch-{role}")  # fmt: skip
        except BusError as exc:  # NATS down or busy: a role waits for it, as senders wait
            logger.warning("%s; retrying in %.0f s", exc, _RETRY_SECONDS)
            await _sleep_unless(stop, _RETRY_SECONDS)
            continue
        health.bus = bus
        try:
            if role == "writer":
                await _write(bus, store, metrics, stop)
            else:
                await _detect(bus, store, collector, ruleset, metrics=metrics, stop=stop,
                              shard=settings.detect_shard,
                              replay=settings.detect_replay)  # fmt: skip
        except (BusError, TimeoutError) as exc:  # nats-py may raise a bare TimeoutError
            logger.warning("bus: %s; reconnecting in %.0f s", exc or "timeout", _RETRY_SECONDS)
            await _sleep_unless(stop, _RETRY_SECONDS)
        finally:
            health.bus = None
            await bus.close()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _write(bus: Bus, store: SqlStore, metrics: RoleMetrics, stop: asyncio.Event) -> None:
    from apiwatch.server.bus_roles import Writer  # noqa: PLC0415

    writer = Writer(store, metrics=metrics)
    reporter = asyncio.create_task(_report(lambda: writer.stats, stop))
    try:
        await writer.run(bus, stop)
    finally:
        reporter.cancel()


async def _detect(bus: Bus, store: SqlStore, collector: ServerSettings, ruleset: Any,
                  *, metrics: RoleMetrics, stop: asyncio.Event, shard: str,
                  replay: float) -> None:  # fmt: skip
    from apiwatch.server.app import _responder  # noqa: PLC0415
    from apiwatch.server.bus_roles import DetectRole  # noqa: PLC0415
    from apiwatch.server.bus_roles.shards import parse_shard, split_rules  # noqa: PLC0415

    part = parse_shard(shard)
    responder = _responder(store, collector)
    population = None
    if part.count > 1:
        ruleset, population_rules = split_rules(ruleset)
        if part.population:
            population = _detector(store, collector, population_rules, metrics, responder)
    detector = _detector(store, collector, ruleset, metrics, responder)
    if population is not None:  # one gauge for both engines' queues
        queues = (detector, population)
        metrics.detect_queue.set_function(lambda: sum(d.backlog for d in queues))
    if responder:
        responder.start()
    role = DetectRole(detector, store.keyring, max_backlog=collector.detect_queue_events // 2,
                      metrics=metrics, shard=part, population=population,
                      replay=replay)  # fmt: skip
    reporter = asyncio.create_task(_report(lambda: f"fed {role.fed} events", stop))
    try:
        await role.run(bus, stop)
    finally:
        reporter.cancel()
        if responder:
            await asyncio.to_thread(responder.close)


def _detector(store: SqlStore, collector: ServerSettings, ruleset: Any, metrics: RoleMetrics,
              responder: Any) -> Any:  # fmt: skip
    """A `Detector` running ``ruleset`` live, saving to ``store`` and responding."""
    from apiwatch.detect import Engine  # noqa: PLC0415
    from apiwatch.server._detection import Detector  # noqa: PLC0415

    engine = Engine(ruleset, lateness=collector.lateness, keep_closed_incidents=False,
                    max_lag=collector.detect_max_lag)  # fmt: skip
    return Detector(engine, store.detections.save, metrics,
                    capacity=collector.detect_queue_events,
                    respond=responder.on_incidents if responder else None,
                    recall=responder.recall if responder else None)  # fmt: skip


async def _report(state: Any, stop: asyncio.Event) -> None:
    """One progress line every half minute."""
    logger = logging.getLogger("apiwatch.server")
    started = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(_REPORT_EVERY)
        logger.info("%s after %.0f s", state(), time.monotonic() - started)
