"""Prometheus metrics of one collector app, in a registry of its own (two apps never collide).

Ingest: events accepted, rejected (also by kind of reason), duplicate; batch sizes; commit latency
and group sizes; uploads cut off because their body stopped arriving. Requests whose client went
away before they were read are counted apart (``apiwatch_client_disconnects``), not as server
errors. Detection (``apiwatch_detect_*``): events the engine processed (and how many were late,
and how many it skipped as too old), alerts
raised, incidents opened, records saved, correlation state keys and evictions, events waiting in
the detection queue, and committed events detection skipped because that queue was full.
Decisions: those in force by scope (``apiwatch_decisions_active``, read from the store when
scraped), the stream pulls and decision queries bouncers make, and how often the answer to a
full pull had to be built anew.

`Metrics.middleware` counts HTTP requests by route template (never the raw path, so a scanner
cannot blow up the label set) and status, learning the status by wrapping ``send``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]

_SIZE_BUCKETS = (1, 10, 100, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000)
_GROUP_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128)
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_DECISION_SCOPES = ("Ip", "Range", "Username")

logger = logging.getLogger("apiwatch.server")


class Rejected(Protocol):
    """A rejected ingest line, as far as the metrics care (`apiwatch.server.ingest.Rejection`)."""

    @property
    def reason(self) -> str: ...


class _ActiveDecisions(Collector):
    """``apiwatch_decisions_active{scope}``, counted by the store at each scrape."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.counts = counts

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "apiwatch_decisions_active", "Decisions in force (not simulated), by scope.",
            labels=["scope"],
        )  # fmt: skip

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        try:
            counts = self.counts()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail with the store
            logger.warning("metrics: cannot count the active decisions (%s)", exc)
            return [family]
        for scope in sorted({*_DECISION_SCOPES, *counts}):
            family.add_metric([scope], counts.get(scope, 0))
        return [family]


class Metrics:
    """The collector's counters and histograms (names start with ``apiwatch_``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter("apiwatch_events_accepted", "Events stored.", registry=r)
        self.rejected = Counter("apiwatch_events_rejected", "Lines rejected.", registry=r)
        self.rejected_by_reason = Counter(
            "apiwatch_events_rejected_by_reason",
            "Lines rejected, by kind of reason: invalid, duplicate_key, ecs, future, past, "
            "binding.", ["reason"], registry=r,
        )  # fmt: skip
        self.duplicates = Counter(
            "apiwatch_events_duplicate", "Events not stored again (already stored).", registry=r
        )
        self.batch_size = Histogram(
            "apiwatch_ingest_batch_size", "Lines per ingest request.", buckets=_SIZE_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "apiwatch_commit_seconds", "Duration of one durable group commit.",
            buckets=_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.commit_group_size = Histogram(
            "apiwatch_commit_group_size", "Ingest requests committed together in one transaction.",
            buckets=_GROUP_BUCKETS, registry=r,
        )  # fmt: skip
        self.commit_events = Histogram(
            "apiwatch_commit_events", "Events per group commit.", buckets=_SIZE_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.http_requests = Counter(
            "apiwatch_http_requests", "HTTP requests answered.", ["route", "status"], registry=r
        )
        self.client_disconnects = Counter(
            "apiwatch_client_disconnects",
            "Requests whose client went away before they were read (status 499 above).",
            ["route"], registry=r,
        )  # fmt: skip
        self.body_timeouts = Counter(
            "apiwatch_ingest_body_timeouts",
            "Ingest requests cut off (408) because their body stopped arriving.", registry=r,
        )  # fmt: skip
        self._detection_metrics()
        self.decision_streams = Counter(
            "apiwatch_decision_stream_requests",
            "Decision stream pulls answered (GET /v1/decisions/stream), by startup or delta.",
            ["startup"], registry=r,
        )  # fmt: skip
        self.decision_queries = Counter(
            "apiwatch_decision_queries", "Decision lookups answered (GET /v1/decisions).",
            registry=r,
        )  # fmt: skip
        self.decisions_served = Counter(
            "apiwatch_decisions_served", "Decisions sent to bouncers, by stream section.",
            ["section"], registry=r,
        )  # fmt: skip
        self.decision_snapshots = Counter(
            "apiwatch_decision_snapshots_built",
            "Full-pull answers built (once per change of the decisions and set of filters; "
            "the pulls in between share it).",
            registry=r,
        )  # fmt: skip

    def watch_decisions(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export ``apiwatch_decisions_active`` from ``counts`` (scope -> decisions in force),
        called at each scrape (from a worker thread: it may read the store)."""
        self.registry.register(_ActiveDecisions(counts))

    def _detection_metrics(self) -> None:
        r = self.registry
        self.detect_events = Counter(
            "apiwatch_detect_events", "Events the detection engine processed.", registry=r
        )
        self.detect_late = Counter(
            "apiwatch_detect_late_events",
            "Events processed after later ones (beyond the lateness window).", registry=r,
        )  # fmt: skip
        self.detect_alerts = Counter(
            "apiwatch_detect_alerts", "Alerts raised (not counting updates).", registry=r
        )
        self.detect_incidents = Counter(
            "apiwatch_detect_incidents", "Incidents opened since the collector started.", registry=r
        )
        self.detect_saved = Counter(
            "apiwatch_detect_saved", "Alert and incident records saved (new or updated).",
            ["kind"], registry=r,
        )  # fmt: skip
        self.detect_evicted = Counter(
            "apiwatch_detect_evicted", "Correlation groups evicted at the state limit.", registry=r
        )
        self.detect_state_keys = Gauge(
            "apiwatch_detect_state_keys", "Keys the engine tracks (groups, sources, baselines).",
            registry=r,
        )  # fmt: skip
        self.detect_buffered = Gauge(
            "apiwatch_detect_buffered_events", "Events held in the engine's reorder buffer.",
            registry=r,
        )  # fmt: skip
        self.detect_queue = Gauge(
            "apiwatch_detect_queue_events", "Committed events waiting for detection.", registry=r
        )
        self.detect_too_old = Counter(
            "apiwatch_detect_too_old_events",
            "Stored events detection skipped: older than detect_max_lag behind its newest event.",
            registry=r,
        )  # fmt: skip
        self.detect_skipped = Counter(
            "apiwatch_detect_skipped_events",
            "Committed events detection skipped because its queue was full.", registry=r,
        )  # fmt: skip
        self.detect_errors = Counter(
            "apiwatch_detect_errors",
            "Detection failures: an event the engine failed on, or a save that failed (retried).",
            ["stage"], registry=r,
        )  # fmt: skip

    def count_rejections(self, rejections: Iterable[Rejected]) -> None:
        """Count rejected lines by their kind of reason."""
        counts: dict[str, int] = {}
        for rejection in rejections:
            counts[rejection.reason] = counts.get(rejection.reason, 0) + 1
        for reason, count in counts.items():
            self.rejected_by_reason.labels(reason).inc(count)

    def observe_commit(self, batches: int, events: int, seconds: float) -> None:
        """A `apiwatch.server.committer.CommitObserver`."""
        self.commit_seconds.observe(seconds)
        self.commit_group_size.observe(batches)
        self.commit_events.observe(events)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware counting every HTTP response by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before it starts answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(template, str(status)).inc()
