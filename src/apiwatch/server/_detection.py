"""Live detection: the engine on one thread of its own, fed what the committer stored.

After each durable group commit the committer hands the events it stored (never a duplicate or
a replayed batch: those were not stored) to `Detector.offer`, which only appends them to a
bounded queue and returns: ingest never waits for detection, and never fails because of it. When
the queue already holds ``capacity`` events, the new ones are not fed to detection (they are
stored all the same); they are counted in ``apiwatch_detect_skipped_events`` and a warning is
logged, at most once a minute.

The detection thread owns the `Engine` (which is not thread-safe). It drains the whole queue,
feeds the engine, and moves event time on (`Engine.advance`) after every drain and at least once
a second, which releases the reorder buffer and lets "logging stopped" fire. Event time moves
with the clock from the newest event fed: to that event's time plus the reorder window
(``lateness``) plus the seconds since events last arrived, never past the clock. Live traffic
(dated now) is thus on the clock, a batch of older events is processed at once, and a backlog
fed as fast as it is read (a log file caught up from its start) keeps its own time, so its
windows and baselines are those ``scan`` finds in the same lines. Before the first event, event
time does not move.
It then takes the new and updated alerts and incidents and saves them (`DetectionStore.save`,
an upsert by id), at most every ``save_interval`` seconds; a failed save is kept and retried.
The incidents saved are then handed to ``respond`` (policies, decisions, notifications), on the
same thread: a decision follows its incident within a save interval. Before they are saved, they
are handed to ``recall``, which can read what is stored under their ids before it is replaced
(`ResponseService.recall`: what was notified before a restart).

The engine starts empty: on a restart, correlation windows start afresh (an attack counted
half before the restart is counted anew), while the alerts and incidents already stored stay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from apiwatch.detect import Engine, RuleSet, builtin_dir, load_rules, sigmahq_dir
from apiwatch.model import ConfigError, Event, plural
from apiwatch.model import printable_text as safe
from apiwatch.model.alert import Alert, Incident, severity_rank
from apiwatch.model.throttle import Throttle
from apiwatch.server.metrics import Metrics
from apiwatch.server.settings import ServerSettings
from apiwatch.store import AppendResult

__all__ = ["Detector", "Throttled", "load_ruleset"]

logger = logging.getLogger("apiwatch.server.detect")

_MAX_REMEMBERED = 100_000  # incident ids remembered to count each opened incident once

Save = Callable[[Sequence[Alert], Sequence[Incident]], None]
Respond = Callable[[Sequence[Incident]], object]
Clock = Callable[[], datetime]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def load_ruleset(settings: ServerSettings) -> RuleSet:
    """The built-in pack, the ``rules`` directories and (with ``sigmahq``) the SigmaHQ pack.

    Raises `ConfigError` naming every rule file error; logs each unsupported rule (valid Sigma
    the engine cannot evaluate, left out) as a warning with its reason.
    """
    for given in settings.rules:
        if not Path(given).exists():
            raise ConfigError(f"rules: {given} does not exist")
    packs: list[str | Path] = [builtin_dir(), *settings.rules]
    if settings.sigmahq:
        packs.append(sigmahq_dir())
    ruleset = load_rules(packs, settings.placeholders)
    if ruleset.errors:
        listed = "\n".join(f"  {problem}" for problem in ruleset.errors)
        count = len(ruleset.errors)
        errors = "1 error in a rule file" if count == 1 else f"{count} errors in rule files"
        raise ConfigError(f"rules: {errors}:\n{listed}")
    for problem in ruleset.unsupported:
        logger.warning("rule left out: %s", problem)
    return ruleset


class Throttled:
    """Logs a warning at most once per ``every`` seconds, saying how many were held back."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._throttle = Throttle(every, clock)

    def warning(self, message: str, *args: object) -> None:
        held = self._throttle()
        if held is None:
            return
        suffix = f" ({held} similar warnings held back)" if held else ""
        logger.warning(message + suffix, *args)


class Detector:
    """Runs ``engine`` on a thread of its own (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        save: Save,
        metrics: Metrics,
        *,
        capacity: int = 100_000,
        tick: float = 1.0,
        save_interval: float = 0.2,
        clock: Clock = _wall_clock,
        respond: Respond | None = None,
        recall: Respond | None = None,
    ) -> None:
        self.engine = engine
        self._respond = respond
        self._recall = recall
        self._save = save
        self._metrics = metrics
        self._capacity = capacity
        self._tick = tick
        self._save_interval = save_interval
        self._clock = clock
        self._queue: list[Sequence[Event]] = []
        self._queued = 0
        self._stopping = False
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._skipped_warning = Throttled()
        self._failure_warning = Throttled()
        self._unsaved_alerts: dict[str, Alert] = {}
        self._unsaved_incidents: dict[str, Incident] = {}
        self._incidents_seen: dict[str, int] = {}  # id -> severity rank last logged
        self._counted = (0, 0, 0, 0, 0)  # engine events, late, alerts, evicted, too old: counted
        self._now = datetime.min.replace(tzinfo=UTC)
        self._last_arrival = time.monotonic()  # when events were last fed
        self._held = False  # events are on their way: event time waits for them (`hold`)
        self._end = True  # flush the engine when stopping (`stop`)
        self._last_save = float("-inf")
        metrics.detect_queue.set_function(lambda: self._queued)

    # -- the committer's side ------------------------------------------------------------------

    def offer(self, results: Sequence[AppendResult]) -> None:
        """Queue the events ``results`` stored, each batch unless the queue is full (never
        blocks: a batch that does not fit is skipped and counted)."""
        skipped = 0
        with self._wake:
            for result in results:
                count = len(result.events)
                if not count:
                    continue
                if self._stopping or self._queued + count > self._capacity:
                    skipped += count
                    continue
                self._queue.append(result.events)
                self._queued += count
            self._wake.notify()
        if skipped:
            self._metrics.detect_skipped.inc(skipped)
            self._skipped_warning.warning(
                "detection is behind: %s stored and not fed to it (its queue holds %s); see "
                "apiwatch_detect_skipped_events",
                plural(skipped, "event"),
                plural(self._capacity, "event"),
            )

    @property
    def backlog(self) -> int:
        """Events queued and not yet taken by the detection thread."""
        return self._queued

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="apiwatch-detect", daemon=True)
            self._thread.start()

    def stop(self, *, end: bool = True) -> None:
        """Feed what is queued, flush the engine (unless not ``end``: a bus role, whose stream
        goes on in the process started next, leaves the end-of-stream verdicts to it), save,
        and end the thread."""
        with self._wake:
            self._stopping = True
            self._end = end
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- the detection thread ------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batches, stopping = self._take()
            try:
                self._step(batches, final=stopping)
            except Exception:  # a bug must not end detection for good: log it, go on
                self._metrics.detect_errors.labels("engine").inc()
                logger.exception("detection failed; it goes on with the next events")

    def _take(self) -> tuple[list[Sequence[Event]], bool]:
        """Everything queued, once there is something or a tick has passed; and whether to stop."""
        with self._wake:
            if not self._queue and not self._stopping:
                self._wake.wait(self._tick)
            batches, self._queue, self._queued = self._queue, [], 0
            return batches, self._stopping

    def _step(self, batches: list[Sequence[Event]], *, final: bool) -> None:
        if batches:
            self._feed(batches)
            self._last_arrival = time.monotonic()
        if final and self._end:
            self.engine.flush()
        event_time = self._event_time()
        if event_time is not None:
            self._advance(event_time)
        for alert in self.engine.take_alerts():
            self._unsaved_alerts[alert.id] = alert
        for incident in self.engine.take_incidents():
            self._unsaved_incidents[incident.id] = incident
        if final or time.monotonic() - self._last_save >= self._save_interval:
            self._flush_saves()
        self._observe()

    def _feed(self, batches: list[Sequence[Event]]) -> None:
        feed = self.engine.feed
        for events in batches:
            for event in events:
                try:
                    feed(event)
                except Exception:  # noqa: BLE001 - one odd event must not stop the others
                    self._metrics.detect_errors.labels("engine").inc()
                    self._failure_warning.warning("the engine failed on event %s", event.event.id)

    def hold(self, held: bool) -> None:
        """While ``held``, event time does not move on with the clock: the events are known to
        be on their way (the bus role's NATS is down). Released, quiet time counts from then."""
        if self._held and not held:
            self._last_arrival = time.monotonic()
        self._held = held

    def _event_time(self) -> datetime | None:
        """The clock, or less while a backlog is fed: the newest event time fed, plus
        ``lateness``, plus the time since events last arrived (see the module docstring); None
        before any event (there is nothing to release or to find silent yet)."""
        now = self._clock()
        newest = max(self.engine.newest_fed, self.engine.watermark)
        if newest == float("-inf") or self._held:
            return None
        quiet = time.monotonic() - self._last_arrival
        try:
            following = datetime.fromtimestamp(newest + self.engine.lateness + quiet, UTC)
        except (OverflowError, OSError, ValueError):
            return now
        return min(now, following)

    def _advance(self, now: datetime) -> None:
        """Move event time on to ``now`` (never backwards: a clock step back is ignored)."""
        if now > self._now:
            self._now = now
            self.engine.advance(now)

    def _flush_saves(self) -> None:
        alerts = list(self._unsaved_alerts.values())
        incidents = list(self._unsaved_incidents.values())
        if not alerts and not incidents:
            return
        self._before_save(incidents)
        try:
            self._save(alerts, incidents)
        except Exception as exc:  # noqa: BLE001 - kept, and retried with the next save
            self._metrics.detect_errors.labels("save").inc()
            self._failure_warning.warning("saving alerts and incidents failed (will retry): %s",
                                          exc)  # fmt: skip
            return
        finally:
            self._last_save = time.monotonic()
        self._unsaved_alerts.clear()
        self._unsaved_incidents.clear()
        self._metrics.detect_saved.labels("alert").inc(len(alerts))
        self._metrics.detect_saved.labels("incident").inc(len(incidents))
        opened = {incident.id for incident in incidents} - self._incidents_seen.keys()
        if len(self._incidents_seen) + len(opened) > _MAX_REMEMBERED:
            self._incidents_seen.clear()  # bounded; an incident updated after this counts again
        self._log_incidents(incidents)
        self._metrics.detect_incidents.inc(len(opened))
        if self._respond is not None and incidents:
            try:
                self._respond(incidents)
            except Exception:  # response is best effort: detection goes on
                self._metrics.detect_errors.labels("respond").inc()
                logger.exception("responding to incidents failed")

    def _before_save(self, incidents: Sequence[Incident]) -> None:
        if self._recall is not None and incidents:
            try:
                self._recall(incidents)
            except Exception:  # best effort, as response is
                self._metrics.detect_errors.labels("respond").inc()
                logger.exception("recalling stored incidents failed")

    def _log_incidents(self, incidents: Sequence[Incident]) -> None:
        """One WARNING line per incident opened or escalated (its severity rose), so that a
        collector without notifiers still says what it found; event text in it is escaped."""
        for incident in incidents:
            rank = severity_rank(incident.severity)
            before = self._incidents_seen.get(incident.id)
            if before is not None and rank <= before:
                continue
            self._incidents_seen[incident.id] = rank
            logger.warning(
                "%s incident %s: %s: %s (rules %s; %d attackers, %d accounts targeted, "
                "%d compromised, %d objects exposed)",
                "new" if before is None else "escalated", safe(incident.id),
                safe(incident.severity), safe(incident.title), safe(", ".join(incident.rules)),
                len(incident.attackers), len(incident.accounts_targeted),
                len(incident.accounts_compromised), len(incident.objects_exposed),
            )  # fmt: skip

    def _observe(self) -> None:
        stats, metrics = self.engine.stats, self._metrics
        now = (stats.events, stats.late, stats.alerts, stats.evicted, stats.too_old)
        counters = (metrics.detect_events, metrics.detect_late, metrics.detect_alerts,
                    metrics.detect_evicted, metrics.detect_too_old)  # fmt: skip
        for counter, value, before in zip(counters, now, self._counted, strict=True):
            if value > before:
                counter.inc(value - before)
        self._counted = now
        metrics.detect_state_keys.set(self.engine.state_keys())
        metrics.detect_buffered.set(len(self.engine.buffer))
