"""`Dispatcher`: incidents in, a few notifications out — without ever blocking the caller.

**One message per incident.** The first time an incident is submitted, each of its notifiers
is sent one message. Later submissions of the same incident (every alert that joins it) send
nothing, unless the incident *escalated* since the last message:

- its severity rose;
- its first compromised account appeared;
- new decisions were taken;
- its attackers at least doubled.

Then an update goes out, naming what changed. `recall` gives the dispatcher what was told
before it started (an incident as stored before a restart, re-derived since by detection): that
incident then counts as already told, and only an escalation from it sends an update.

Each notifier has its own worker thread and its own bounded queue of pending messages, at most
one per incident: a newer message about an incident replaces the pending one (coalesced).
Sending is retried with exponential backoff and jitter, a bounded number of times; a
per-notifier rate limit (``rate_limit`` messages per ``rate_window`` seconds) holds further
messages back, and updates arriving meanwhile are coalesced into the next one. `stats` gives the
counters (sent, failed, dropped, coalesced, retries) for metrics. A full queue drops and
counts; `submit` never waits.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from apiwatch.model import Decision, Incident, plural, severity_rank
from apiwatch.respond._redact import redact
from apiwatch.respond.notify import Message, Notifier
from apiwatch.respond.policy import ResponseConfig
from apiwatch.respond.responder import Decided

__all__ = ["Dispatcher", "NotifierStats"]

logger = logging.getLogger("apiwatch.respond")

_MAX_INCIDENTS: Final = 10_000


@dataclasses.dataclass(slots=True)
class NotifierStats:
    """Counters of one notifier (or, from `Dispatcher.totals`, of all)."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    coalesced: int = 0
    retries: int = 0

    def add(self, other: NotifierStats) -> None:
        """Add ``other``'s counts to these."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def _merge(older: Message, newer: Message) -> Message:
    """``newer``, still a first message if ``older`` was, with both messages' changes."""
    changes = tuple(dict.fromkeys([*older.changes, *newer.changes]))
    return dataclasses.replace(newer, update=older.update and newer.update, changes=changes)


class _Lane:
    """One notifier's queue and worker thread."""

    def __init__(
        self,
        name: str,
        notifier: Notifier,
        *,
        capacity: int,
        rate_limit: int,
        rate_window: float,
        attempts: int,
        backoff: float,
        max_backoff: float,
        jitter: Callable[[], float],
    ) -> None:
        self.name = name
        self.notifier = notifier
        self.capacity = capacity
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.jitter = jitter
        self.stats = NotifierStats()
        self.pending: dict[str, Message] = {}
        self.cond = threading.Condition()
        self.sent_at: deque[float] = deque()
        self.busy = False
        self.closing = False
        self.abort = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"apiwatch-notify-{name}", daemon=True
        )
        self.thread.start()

    def offer(self, message: Message) -> bool:
        """Queue ``message`` (replacing a pending one about the same incident); never waits."""
        with self.cond:
            older = self.pending.get(message.incident)
            if self.closing:
                self.stats.dropped += 1
                return False
            if older is not None:
                self.pending[message.incident] = _merge(older, message)
                self.stats.coalesced += 1
            elif len(self.pending) >= self.capacity:
                self.stats.dropped += 1
                return False
            else:
                self.pending[message.incident] = message
            self.cond.notify_all()
            return True

    def _rate_wait(self) -> float:
        now = time.monotonic()
        while self.sent_at and self.sent_at[0] <= now - self.rate_window:
            self.sent_at.popleft()
        if len(self.sent_at) < self.rate_limit:
            return 0.0
        return self.sent_at[0] + self.rate_window - now

    def _next(self) -> Message | None:
        """The next message due (waiting for one, and for the rate limit); None to stop."""
        with self.cond:
            while True:
                if self.abort.is_set() or (self.closing and not self.pending):
                    self.stats.dropped += len(self.pending)
                    self.pending.clear()
                    self.cond.notify_all()
                    return None
                if self.pending:
                    wait = self._rate_wait()
                    if wait <= 0:
                        break
                    self.cond.wait(wait)
                else:
                    self.cond.wait()
            incident = next(iter(self.pending))
            self.busy = True
            self.sent_at.append(time.monotonic())
            return self.pending.pop(incident)

    def _run(self) -> None:
        while (message := self._next()) is not None:
            delivered = self._deliver(message)
            with self.cond:
                self.busy = False
                if delivered:
                    self.stats.sent += 1
                else:
                    self.stats.failed += 1
                self.cond.notify_all()

    def _deliver(self, message: Message) -> bool:
        for attempt in range(1, self.attempts + 1):
            try:
                self.notifier.send(message)
            except Exception as exc:  # noqa: BLE001 (a notifier's failure must not end the lane)
                logger.warning(
                    "notifier %s: incident %s not delivered (attempt %d of %d): %s",
                    self.name,
                    message.incident,
                    attempt,
                    self.attempts,
                    redact(f"{type(exc).__name__}: {exc}"),
                )
                if attempt == self.attempts:
                    break
                with self.cond:
                    self.stats.retries += 1
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if self.abort.wait(delay * (0.5 + self.jitter() / 2)):  # "equal jitter"
                    break
            else:
                return True
        return False

    def idle(self, timeout: float | None) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: not self.pending and not self.busy, timeout)

    def stop_taking(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()

    def stop_now(self) -> None:
        self.abort.set()
        with self.cond:
            self.cond.notify_all()


@dataclasses.dataclass(slots=True)
class _Seen:
    """What the last message about an incident said (the baseline for escalation)."""

    severity: int
    attackers: int
    compromised: bool
    targets: list[str] = dataclasses.field(default_factory=list)
    told: set[str] = dataclasses.field(default_factory=set)
    decisions: dict[tuple[str, str], Decision] = dataclasses.field(default_factory=dict)
    suggestions: list[str] = dataclasses.field(default_factory=list)


class Dispatcher:
    """Sends incident notifications through ``notifiers`` (by name), one worker each.

    ``rate_limits`` overrides ``rate_limit`` (messages per ``rate_window`` seconds) by notifier
    name; ``queue_size`` bounds each notifier's pending messages; a failed send is tried
    ``attempts`` times in all, ``backoff * 2**n`` seconds apart (at most ``max_backoff``, with
    jitter). Close it (or use it as a context manager) to let pending messages go out.
    """

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        *,
        base_url: str = "http://127.0.0.1:8470",
        rate_limit: int = 20,
        rate_limits: Mapping[str, int] | None = None,
        rate_window: float = 60.0,
        queue_size: int = 1000,
        attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._lock = threading.Lock()
        self._incidents: OrderedDict[str, _Seen] = OrderedDict()
        self._unknown = NotifierStats()
        limits = dict(rate_limits or {})
        self._lanes = {
            name: _Lane(
                name,
                notifier,
                capacity=queue_size,
                rate_limit=limits.get(name, rate_limit),
                rate_window=rate_window,
                attempts=attempts,
                backoff=backoff,
                max_backoff=max_backoff,
                jitter=jitter,
            )
            for name, notifier in notifiers.items()
        }

    @classmethod
    def from_config(cls, config: ResponseConfig, notifiers: Mapping[str, Notifier]) -> Dispatcher:
        """A dispatcher with the ``[respond]`` settings (base URL, rate limits, retries)."""
        return cls(
            notifiers,
            base_url=config.base_url,
            rate_limits={name: s.rate_limit for name, s in config.notifiers.items()},
            queue_size=config.queue_size,
            attempts=config.attempts,
            backoff=config.backoff,
        )

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, incident: Incident, decided: Decided | None = None) -> int:
        """Consider ``incident`` (as it is now) and what `Responder.decide` made of it; queue a
        message to each notifier that is due one. Returns how many were queued (0 when nothing
        escalated). Never blocks."""
        decided = decided or Decided()
        with self._lock:
            seen, changes, first = self._update(incident, decided)
            due = [n for n in seen.targets if changes or first or n not in seen.told]
            if not due:
                return 0
            if changes or first:
                seen.severity = severity_rank(incident.severity)
                seen.attackers = len(incident.attackers)
                seen.compromised = bool(incident.accounts_compromised)

            def message(update: bool) -> Message:
                return Message.build(
                    incident,
                    seen.decisions.values(),
                    base_url=self.base_url,
                    suggestions=seen.suggestions,
                    update=update,
                    changes=changes,
                )

            fresh, update = message(False), message(True)
            queued = 0
            for name in due:
                lane = self._lanes.get(name)
                if lane is None:
                    self._unknown.dropped += 1
                    logger.warning("no notifier named %s: message dropped", name)
                    continue
                queued += lane.offer(update if name in seen.told else fresh)
                seen.told.add(name)
            return queued

    def recall(
        self, incident: Incident, *, told: Iterable[str], decisions: Iterable[Decision] = ()
    ) -> None:
        """Take ``incident`` as what the ``told`` notifiers were last told about it (with its
        ``decisions``), unless this dispatcher already knows it: the same incident submitted
        later sends nothing unless it escalated from there."""
        with self._lock:
            if incident.id in self._incidents:
                return
            seen = self._remember(incident)
            seen.targets = list(dict.fromkeys(told))
            seen.told = set(seen.targets)
            seen.decisions = {(d.scope, d.value): d for d in decisions}

    def _remember(self, incident: Incident) -> _Seen:
        """A new record of ``incident`` as it is now (forgetting the oldest beyond a bound)."""
        seen = _Seen(
            severity=severity_rank(incident.severity),
            attackers=len(incident.attackers),
            compromised=bool(incident.accounts_compromised),
        )
        self._incidents[incident.id] = seen
        while len(self._incidents) > _MAX_INCIDENTS:
            self._incidents.popitem(last=False)
        return seen

    def _update(self, incident: Incident, decided: Decided) -> tuple[_Seen, list[str], bool]:
        """Merge what is new into the incident's record; what escalated, and whether it is new."""
        seen = self._incidents.get(incident.id)
        first = seen is None
        if seen is None:
            seen = self._remember(incident)
        self._incidents.move_to_end(incident.id)
        seen.targets += [n for n in decided.notify if n not in seen.targets]
        seen.suggestions += [s for s in decided.suggestions if s not in seen.suggestions]
        new = [d for d in decided.decisions if (d.scope, d.value) not in seen.decisions]
        for decision in new:
            seen.decisions[(decision.scope, decision.value)] = decision
        if first:
            return seen, [], True
        changes = []
        if severity_rank(incident.severity) > seen.severity:
            changes.append(f"severity rose to {incident.severity}")
        if incident.accounts_compromised and not seen.compromised:
            changes.append("first compromised account")
        if new:
            changes.append(plural(len(new), "new decision"))
        if len(incident.attackers) >= 2 * max(seen.attackers, 1):
            changes.append(f"attackers grew from {seen.attackers} to {len(incident.attackers)}")
        return seen, changes, False

    def stats(self) -> dict[str, NotifierStats]:
        """A copy of each notifier's counters, by name."""
        result = {}
        for name, lane in self._lanes.items():
            with lane.cond:
                result[name] = dataclasses.replace(lane.stats)
        return result

    def totals(self) -> NotifierStats:
        """All notifiers' counters added up (messages for unknown notifiers count as dropped)."""
        total = dataclasses.replace(self._unknown)
        for stats in self.stats().values():
            total.add(stats)
        return total

    def join(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending or being sent; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for lane in self._lanes.values():
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not lane.idle(left):
                return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking messages, give pending ones ``timeout`` seconds to go out, then stop
        (what is still pending then is counted as dropped)."""
        deadline = time.monotonic() + timeout
        for lane in self._lanes.values():
            lane.stop_taking()
        for lane in self._lanes.values():
            lane.thread.join(max(deadline - time.monotonic(), 0.0))
        for lane in self._lanes.values():
            lane.stop_now()
            lane.thread.join(1.0)
