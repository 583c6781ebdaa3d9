"""`create_app`: the collector as an ASGI application over a `Store`.

Nothing starts at import or at creation: the commit thread, the detection thread, the
forwarders' threads (``settings.forward``) and retention (``settings.retention_days``) run from the
app's startup to its shutdown (the ASGI lifespan); shutdown commits every batch already
submitted, then lets detection finish what was committed and save it, before it ends. The caller
owns the store and closes it after the server has stopped.

With ``settings.detect`` the rules are loaded here: `create_app` raises `ConfigError` naming
every rule file error (see `apiwatch.server._detection`).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import apiwatch
from apiwatch.detect import Engine, RuleSet
from apiwatch.respond import Dispatcher, build_notifiers
from apiwatch.server import (
    _decisions_api,
    _detect_api,
    _errors,
    _ingest_api,
    _ops_api,
    _otlp_api,
    _query_api,
)
from apiwatch.server._detection import Clock, Detector, load_ruleset
from apiwatch.server._forwarding import Forwarding, ForwardMetrics
from apiwatch.server._respond import Exports, ResponseService
from apiwatch.server._retention import Retention
from apiwatch.server._schemas import drop_validation_errors, event_schemas
from apiwatch.server._sources import LiveSources, with_silence_rules
from apiwatch.server._state import ServerState
from apiwatch.server.auth import Authenticator
from apiwatch.server.bus_roles import BusPublisher
from apiwatch.server.committer import Committer
from apiwatch.server.console import mount_console
from apiwatch.server.metrics import Metrics, MetricsMiddleware
from apiwatch.server.settings import ServerSettings
from apiwatch.sources.geoip import GeoIP
from apiwatch.store import Store

__all__ = ["create_app"]

_DESCRIPTION = """\
The apiwatch collector: authenticated, durable ingest of ECS security events (NDJSON), searching
them (every read is audited), the sources that send them, the alerts and incidents that live
detection finds in them, the ban and flag decisions that enforcement points pull (compatible
with CrowdSec bouncers), the allowlist, and health and metrics.

Authenticate with `Authorization: Bearer <key>`; keys carry the scopes `ingest`, `read`,
`bouncer` and `admin` (`apiwatch keys create`). The decision routes bouncers call also take the
key in `X-Api-Key`, as CrowdSec bouncers send it. Every error is JSON `{"error": "..."}`.
"""


@contextmanager
def _startup_heap_frozen() -> Iterator[None]:
    """While the collector runs: what exists once it has started (modules, the app, rules,
    caches: what lives as long as the process) is kept out of the cyclic collector's reach
    (`gc.freeze`), so that its full collections scan what ingest and the live sources allocate,
    not the whole heap again every few thousand events (a quarter of a live file source's
    reading time went to them). Nothing is done when collection is off."""
    if not gc.isenabled():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def create_app(
    store: Store,
    settings: ServerSettings | None = None,
    *,
    ruleset: RuleSet | None = None,
    publisher: BusPublisher | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The collector over ``store`` (see the module docstring), limited by ``settings``;
    detection runs ``ruleset`` when given, else the rules `load_ruleset` loads for ``settings``.

    With ``publisher`` (the scale-out ingest role) accepted batches go to the bus instead of
    the store, and this process runs neither detection nor response (the detect role does).
    ``clock`` (the wall clock by default) is what the decision routes take as now."""
    settings = settings or ServerSettings()
    metrics = Metrics()
    metrics.watch_decisions(lambda: store.decisions.active_counts(datetime.now(UTC)))
    embedded = publisher is None
    responder = _responder(store, settings) if embedded else None
    detector = _detector(store, settings, metrics, ruleset, responder) if embedded else None
    committer = Committer(
        store.events.append,
        max_events=settings.commit_max_events,
        max_wait=settings.commit_max_wait_ms / 1000,
        observer=metrics.observe_commit,
        on_commit=detector.offer if detector else None,
    )
    state = ServerState(
        store=store,
        settings=settings,
        committer=publisher or committer,
        authenticator=Authenticator(store.keys.authenticate, ttl=settings.auth_cache_seconds),
        metrics=metrics,
        sources=LiveSources(store, committer, settings, metrics),
        clock=clock or partial(datetime.now, UTC),
        detector=detector,
    )

    forwarding = (
        Forwarding(store, settings.forward, ForwardMetrics(metrics.registry))
        if settings.forward
        else None
    )
    retention = _retention(store, settings) if embedded else None  # else the writer role's
    workers = [worker for worker in (forwarding, retention) if worker]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if detector:
            detector.start()
        if responder:
            responder.start()
        if publisher is None:
            committer.start()
            for worker in workers:
                worker.start()
        else:
            await publisher.open()
        try:
            await state.sources.start()
            with _startup_heap_frozen():
                yield
        finally:
            await state.sources.stop()
            await run_in_threadpool(committer.stop)
            if publisher is not None:
                await publisher.close()
            if detector:
                await run_in_threadpool(detector.stop)
            if responder:
                await run_in_threadpool(responder.close)
            for worker in workers:  # forwarders stop after the batch in flight
                await run_in_threadpool(worker.stop)

    app = FastAPI(
        title="apiwatch collector",
        version=apiwatch.__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.apiwatch = state
    _errors.install(app, settings.retry_after_seconds)
    app.include_router(_ingest_api.router)
    app.include_router(_otlp_api.router)
    app.include_router(_query_api.router(settings.query_max_limit))
    app.include_router(_detect_api.router(settings.query_max_limit))
    app.include_router(_decisions_api.router())
    app.include_router(_ops_api.router)
    mount_console(app)  # the web console, under / (see apiwatch.server.console)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _complete_openapi(app)
    return app


def _detector(
    store: Store,
    settings: ServerSettings,
    metrics: Metrics,
    ruleset: RuleSet | None,
    responder: ResponseService | None,
) -> Detector | None:
    if not settings.detect:
        return None
    # Incidents are saved as they change: closed ones need not stay in memory for ever.
    loaded = ruleset if ruleset is not None else load_ruleset(settings)
    rules = with_silence_rules(loaded, settings.sources)
    engine = Engine(rules,
                    lateness=settings.lateness, keep_closed_incidents=False,
                    max_lag=settings.detect_max_lag, synthetic=settings.synthetic,
                    geo=GeoIP(settings.geoip) if settings.geoip else None)  # fmt: skip
    return Detector(
        engine,
        store.detections.save,
        metrics,
        capacity=settings.detect_queue_events,
        respond=responder.on_incidents if responder else None,
        recall=responder.recall if responder else None,
    )


def _responder(store: Store, settings: ServerSettings) -> ResponseService | None:
    """Response to incidents, when ``[respond]`` is configured (see `ResponseService`)."""
    if settings.respond is None:
        return None
    exports = Exports(
        nginx=Path(settings.export_nginx) if settings.export_nginx else None,
        nftables=Path(settings.export_nftables) if settings.export_nftables else None,
        ipset=Path(settings.export_ipset) if settings.export_ipset else None,
    )
    notifiers = build_notifiers(settings.respond, environ=settings.respond_environ)
    dispatcher = Dispatcher.from_config(settings.respond, notifiers)
    return ResponseService(store, settings.respond, exports=exports, dispatcher=dispatcher)


def _retention(store: Store, settings: ServerSettings) -> Retention | None:
    """Retention of stored events, when ``retention_days`` is set (see `Retention`)."""
    return Retention(store.events, settings.retention_days) if settings.retention_days else None


def _complete_openapi(app: FastAPI) -> None:
    """The OpenAPI document, generated once: with the ECS `Event`, `Alert`, `Incident`,
    `Decision` and `AllowEntry` schemas the bodies and results refer to, and without FastAPI's
    422 (this API answers 400)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = drop_validation_errors(generate())
            document.setdefault("components", {}).setdefault("schemas", {}).update(event_schemas())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
