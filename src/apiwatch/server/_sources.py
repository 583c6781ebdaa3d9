"""Live sources in the collector: ``[[sources]]`` run from startup to shutdown, stored like ingest.

`LiveSources` starts one task per source on the server's event loop: file tailers and the
journal reader are polled (their reading and parsing run in a worker thread), syslog receivers
listen. Their events go through what ingest does to a line (event time within ``future_skew``
and ``max_event_age``, ECS checks; refused ones counted), are sealed off the event loop and
committed by the `Committer` under the key name ``source:<name>`` — so live detection, the
store's duplicate check and ``apiwatch status`` see them as one more sender. A file's offset or
the journal's cursor is saved only after the commit (`Delivery.checkpoint`).

A store failure (full, unavailable) pauses the source and reads again from the last checkpoint:
the events are re-read, never lost, and their stable ids keep them from being stored twice.

Each source's counters are exported at ``/metrics`` (`SourceMetrics`), and a source with
``silent_after`` gets a silence rule of its own (`silence_rules`): like the built-in
``logging-stopped``, an alert and an incident when event time passes its newest event by
``silent_after``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from apiwatch.detect import RuleSet
from apiwatch.detect.rules import RuleMeta, SilenceRule
from apiwatch.model import ConfigError, Event, encode_event
from apiwatch.model.ecs import ecs_problem
from apiwatch.server._admission import Admission
from apiwatch.server.committer import Committer
from apiwatch.server.metrics import Metrics
from apiwatch.server.settings import ServerSettings
from apiwatch.sources import DEFAULT_LOGINS, LoginPatterns
from apiwatch.sources._positions import Positions
from apiwatch.sources.config import SourceConfig
from apiwatch.sources.journald import JournalReader
from apiwatch.sources.live import Delivery, SourceStats
from apiwatch.sources.syslog import SyslogReceiver
from apiwatch.sources.tail import FileTailer
from apiwatch.store import AppendResult, Batch, Store, StoredLine, StoreFullError
from apiwatch.store import StoreUnavailableError as Unavailable

__all__ = [
    "SOURCE_LABEL",
    "LiveSources",
    "SourceMetrics",
    "check_positions",
    "positions_of",
    "silence_rules",
    "with_silence_rules",
]

logger = logging.getLogger("apiwatch.server.sources")

SOURCE_LABEL = "apiwatch_source"
"""The label (``labels.apiwatch_source``) naming the live source an event came from."""
_RETRY_PAUSE = 2.0
_QUEUE_EVENTS = 100_000
_NAMESPACE = uuid.UUID("5c0d7a52-8c39-4b4e-9a55-1a3c1fd3e7a1")


class LiveSources:
    """The configured sources, and the OTLP receiver's counters (see the module docstring)."""

    def __init__(
        self, store: Store, committer: Committer, settings: ServerSettings, metrics: Metrics
    ) -> None:
        self.store = store
        self.committer = committer
        self.settings = settings
        self.metrics = metrics
        self.stats = {c.name: SourceStats(c.name, c.type) for c in settings.sources}
        self.otlp = SourceStats("otlp", "otlp")
        self.receivers: dict[str, SyslogReceiver] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._logins = {c.name: _logins(c) for c in settings.sources}
        metrics.registry.register(SourceMetrics(self))

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every source; `OSError` when a receiver cannot listen, `ConfigError` when a
        saved position cannot be read (the start fails, naming it)."""
        check_positions(self.settings)
        for config in self.settings.sources:
            if config.type == "syslog":
                await self._start_syslog(config)
            elif config.type == "file":
                self._spawn(self._tail(config), config.name)
            else:
                self._spawn(self._journal(config).run(), config.name)

    async def stop(self) -> None:
        for receiver in self.receivers.values():
            await receiver.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(f"apiwatch-source-{name}")
        task.add_done_callback(_report_end)
        self._tasks.append(task)

    # -- storing -------------------------------------------------------------------------------

    async def store_events(
        self,
        key_name: str,
        events: Sequence[Event],
        stats: SourceStats,
        admission: Admission | None = None,
    ) -> AppendResult | None:
        """Check, seal and durably commit ``events`` under ``key_name``; refused ones counted."""
        if not events:
            return None
        lines = await asyncio.to_thread(self._prepare, key_name, events, stats, admission)
        return await self._commit(key_name, lines, stats)

    def _prepare(
        self,
        key_name: str,
        events: Sequence[Event],
        stats: SourceStats,
        admission: Admission | None = None,
    ) -> list[StoredLine]:
        """The events ingest would take, encoded and sealed (in a worker thread)."""
        settings = self.settings
        admission = admission or Admission.at(
            datetime.now(UTC), future_skew=settings.future_skew, max_age=settings.max_event_age
        )
        lines, refused = self._seal(key_name, events, admission, stats)
        if refused:
            self.metrics.rejected.inc(refused)
        return lines

    async def _commit(
        self, key_name: str, lines: list[StoredLine], stats: SourceStats
    ) -> AppendResult | None:
        if not lines:
            return None
        result = await self.committer.submit(Batch(lines, key_name))
        stats.stored += result.stored
        self.metrics.accepted.inc(result.stored)
        self.metrics.duplicates.inc(result.duplicates)
        return result

    def _seal(
        self, key_name: str, events: Sequence[Event], admission: Admission, stats: SourceStats
    ) -> tuple[list[StoredLine], int]:
        lines: list[StoredLine] = []
        refused = 0
        label = None if stats.kind == "otlp" else stats.name
        for event in events:
            if admission.problem(event) is not None or ecs_problem(event) is not None:
                refused += 1
                continue
            if label is not None:
                event.labels[SOURCE_LABEL] = label
            lines.append(StoredLine(event, encode_event(event)))
        if refused:
            stats.refused += refused
        return self.store.events.seal(lines, key_name), refused

    async def _deliver(self, config: SourceConfig, delivery: Delivery) -> None:
        await self.store_events(config.key_name, delivery.events, self.stats[config.name])
        await asyncio.to_thread(delivery.checkpoint)

    # -- the sources ---------------------------------------------------------------------------

    def _positions(self, config: SourceConfig) -> Positions:
        return positions_of(self.settings, config)

    async def _tail(self, config: SourceConfig) -> None:
        """Poll the files; after a store failure, start again from the saved positions."""
        while True:
            tailer = FileTailer(
                config.paths,
                stats=self.stats[config.name],
                positions=self._positions(config),
                format=config.format,
                logins=self._logins[config.name],
                start_at=config.start_at,
                max_line_bytes=self.settings.max_line_bytes,
            )
            try:
                await self._poll(config, tailer)
            except (StoreFullError, Unavailable) as exc:
                logger.warning(
                    "source %s: cannot store (%s); reading again from the last "
                    "saved position in %g s",
                    config.name,
                    exc,
                    _RETRY_PAUSE,
                )
            finally:
                tailer.close()
            await asyncio.sleep(_RETRY_PAUSE)

    async def _poll(self, config: SourceConfig, tailer: FileTailer) -> None:
        """Read and seal the next lines while the previous ones commit (one commit in flight,
        checkpoints in order)."""
        stats = self.stats[config.name]
        in_flight: asyncio.Future[None] | None = None

        def read() -> tuple[Delivery, list[StoredLine]]:
            delivery = tailer.poll()
            return delivery, self._prepare(config.key_name, delivery.events, stats)

        async def commit(delivery: Delivery, lines: list[StoredLine]) -> None:
            await self._commit(config.key_name, lines, stats)
            await asyncio.to_thread(delivery.checkpoint)

        try:
            while True:
                delivery, lines = await asyncio.to_thread(read)
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(commit(delivery, lines))
                if delivery.lines < tailer.max_lines:  # caught up: finish, then wait for more
                    await in_flight
                    in_flight = None
                    await asyncio.sleep(config.poll_interval)
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()

    def _journal(self, config: SourceConfig) -> JournalReader:
        async def deliver(delivery: Delivery) -> None:
            while True:
                try:
                    await self._deliver(config, delivery)
                except (StoreFullError, Unavailable) as exc:
                    logger.warning("source %s: cannot store (%s); retrying", config.name, exc)
                    await asyncio.sleep(_RETRY_PAUSE)
                else:
                    return

        return JournalReader(
            config,
            stats=self.stats[config.name],
            deliver=deliver,
            positions=self._positions(config),
            logins=self._logins[config.name],
        )

    async def _start_syslog(self, config: SourceConfig) -> None:
        queue: asyncio.Queue[list[Event]] = asyncio.Queue(maxsize=max(1, _QUEUE_EVENTS // 100))

        def try_deliver(events: list[Event]) -> bool:
            try:
                queue.put_nowait(events)
            except asyncio.QueueFull:
                return False
            return True

        receiver = SyslogReceiver(
            config,
            stats=self.stats[config.name],
            deliver=queue.put,
            try_deliver=try_deliver,
            logins=self._logins[config.name],
            max_message_bytes=self.settings.max_line_bytes,
        )
        await receiver.start()
        self.receivers[config.name] = receiver
        self._spawn(self._drain(config, queue), config.name)
        logger.info(
            "source %s: syslog over %s on port %d", config.name, config.protocol, receiver.port
        )

    async def _drain(self, config: SourceConfig, queue: asyncio.Queue[list[Event]]) -> None:
        while True:
            events = await queue.get()
            while not queue.empty() and len(events) < 10_000:
                events += queue.get_nowait()
            try:
                await self._deliver(config, Delivery(events))
            except (StoreFullError, Unavailable) as exc:
                logger.warning("source %s: %d events not stored: %s", config.name, len(events), exc)


def positions_of(settings: ServerSettings, config: SourceConfig) -> Positions:
    """Where ``config``'s source keeps its position: ``<sources_state_dir>/<name>.json``."""
    directory = settings.sources_state_dir
    if directory is None:
        raise ConfigError("sources_state_dir: needed to keep the live sources' positions")
    return Positions(Path(directory) / f"{config.name}.json")


def check_positions(settings: ServerSettings) -> None:
    """`ConfigError` naming a saved position file that cannot be read (checked before the
    collector starts, so that a damaged one is one clear line, not a failed startup)."""
    for config in settings.sources:
        if config.type != "syslog":
            positions_of(settings, config).load()


def _report_end(task: asyncio.Task[None]) -> None:
    """A source that stopped other than by shutdown says why, once, loudly."""
    if task.cancelled():
        return
    failure = task.exception()
    if failure is not None:
        logger.error("%s stopped: %s", task.get_name(), failure, exc_info=failure)


def _logins(config: SourceConfig) -> LoginPatterns:
    return LoginPatterns.from_strings(config.login_paths) if config.login_paths else DEFAULT_LOGINS


def silence_rules(sources: Iterable[SourceConfig]) -> dict[str, SilenceRule]:
    """A silence rule per source with ``silent_after``: fires when event time passes the
    source's newest event by that long (``logging-stopped`` for one source)."""
    rules = {}
    for config in sources:
        if config.silent_after is None:
            continue
        name = f"source-silent-{config.name}"
        meta = RuleMeta(
            id=str(uuid.uuid5(_NAMESPACE, config.name)),
            name=name,
            title=f"Live source {config.name} went silent",
            level="high",
            path="[[sources]]",
            attack="logging_stopped",
            tags=("attack.defense-evasion", "attack.t1562.008"),
            description=f"The live source {config.name} read nothing for "
            f"{config.silent_after:g} s of event time.",
            author="apiwatch",
        )
        rules[name] = SilenceRule(
            meta, f"labels.{SOURCE_LABEL}", config.silent_after, min_events=1, only=config.name
        )
    return rules


def with_silence_rules(ruleset: RuleSet, sources: Iterable[SourceConfig]) -> RuleSet:
    """``ruleset`` and the sources' silence rules."""
    extra = silence_rules(sources)
    if not extra:
        return ruleset
    return RuleSet(
        rules={**ruleset.rules, **extra},
        problems=ruleset.problems,
        files=ruleset.files,
        documents=ruleset.documents,
    )


class SourceMetrics(Collector):
    """``apiwatch_source_*{source,type}``: read at each scrape from the sources' counters."""

    def __init__(self, sources: LiveSources) -> None:
        self.sources = sources

    def describe(self) -> Iterable[Metric]:
        return []  # described by collect at registration: none, so nothing is scraped early

    def collect(self) -> Iterable[Metric]:
        labels = ["source", "type"]
        read = CounterMetricFamily(
            "apiwatch_source_lines_read",
            "Lines (messages, records) a live source read.",
            labels=labels,
        )
        parsed = CounterMetricFamily(
            "apiwatch_source_lines_parsed", "Lines that gave an event.", labels=labels
        )
        refused = CounterMetricFamily(
            "apiwatch_source_lines_refused",
            "Lines not stored: malformed, or refused as ingest refuses.",
            labels=labels,
        )
        stored = CounterMetricFamily(
            "apiwatch_source_events_stored",
            "Events stored (not counting those already stored).",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "apiwatch_source_lag_seconds",
            "The collector's clock minus the time of the newest event read.",
            labels=labels,
        )
        quiet = GaugeMetricFamily(
            "apiwatch_source_quiet_seconds",
            "Seconds since the source last read a line.",
            labels=labels,
        )
        backlog = GaugeMetricFamily(
            "apiwatch_source_backlog_bytes",
            "File sources: bytes written and not read yet.",
            labels=labels,
        )
        silent = GaugeMetricFamily(
            "apiwatch_source_silent",
            "1 when a source with silent_after has read nothing for that long.",
            labels=labels,
        )
        now = time.time()
        configs = {c.name: c for c in self.sources.settings.sources}
        for stats in [*self.sources.stats.values(), self.sources.otlp]:
            values = [stats.name, stats.kind]
            read.add_metric(values, stats.read)
            parsed.add_metric(values, stats.parsed)
            refused.add_metric(values, stats.refused)
            stored.add_metric(values, stats.stored)
            lag.add_metric(values, stats.lag(now) or 0.0)
            quiet.add_metric(values, stats.quiet(now))
            backlog.add_metric(values, stats.backlog_bytes)
            config = configs.get(stats.name)
            if config is not None and config.silent_after is not None:
                silent.add_metric(values, float(stats.quiet(now) > config.silent_after))
        return [read, parsed, refused, stored, lag, quiet, backlog, silent]
