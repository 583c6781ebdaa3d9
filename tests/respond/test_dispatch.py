"""`Dispatcher`: one message per incident, updates only on escalation, never blocking."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from apiwatch.model import Incident
from apiwatch.respond import (
    Decided,
    Dispatcher,
    MemoryNotifier,
    Message,
    Responder,
    parse_config,
)

from .helpers import NOW, incident, policy


def config(**respond: Any) -> Any:
    return parse_config(
        {
            "notifiers": {"ops": {"type": "webhook", "url": "https://ops.example/hook"}},
            "policy": [policy(notify=["ops"])],
            **respond,
        }
    )


@pytest.fixture
def memory() -> MemoryNotifier:
    return MemoryNotifier()


@pytest.fixture
def dispatcher(memory: MemoryNotifier) -> Iterator[Dispatcher]:
    with Dispatcher({"ops": memory}, backoff=0.001, base_url="https://aw.example") as created:
        yield created


def submit(dispatcher: Dispatcher, case: Incident, existing: set[tuple[str, str]]) -> Decided:
    """Decide ``case`` as the server would (only new values) and submit it."""
    decided = Responder(config()).decide(case, now=NOW, existing=existing)
    existing.update((d.scope, d.value) for d in decided.decisions)
    dispatcher.submit(case, decided)
    return decided


def test_an_incident_updated_by_50_alerts_gives_one_message(
    dispatcher: Dispatcher, memory: MemoryNotifier
) -> None:
    """Fifty alerts joining the same incident, nothing escalating: exactly one message."""
    existing: set[tuple[str, str]] = set()
    for n in range(50):
        case = incident(alerts=n + 1, requests=500 + n, last_seen=NOW + timedelta(seconds=n))
        submit(dispatcher, case, existing)
    assert dispatcher.join(10)
    assert len(memory.messages) == 1
    (only,) = memory.messages
    assert only.update is False
    assert len(only.decisions) == 3
    assert dispatcher.totals().sent == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"severity": "critical"}, "severity rose to critical"),
        ({"severity": "critical", "accounts_compromised": ["bob"]}, "first compromised account"),
        (
            {"attackers": ["203.0.113.9", "203.0.113.10", "198.51.100.7", "192.0.2.1"]},
            "1 new decision",
        ),
        (
            {"attackers": [f"192.0.2.{i}" for i in range(6)]},
            "attackers grew from 3 to 6",
        ),
    ],
)
def test_escalation_sends_an_update(
    dispatcher: Dispatcher, memory: MemoryNotifier, change: dict[str, Any], expected: str
) -> None:
    """Severity rising, a first compromise, new decisions, doubled attackers: one update each."""
    existing: set[tuple[str, str]] = set()
    submit(dispatcher, incident(), existing)
    assert dispatcher.join(10)  # else the update is coalesced into the pending first message
    submit(dispatcher, incident(**change), existing)
    submit(dispatcher, incident(**change), existing)  # the same again: nothing new
    assert dispatcher.join(10)
    first, update = memory.messages
    assert not first.update
    assert update.update
    assert expected in update.changes


def test_updates_carry_every_decision_so_far(
    dispatcher: Dispatcher, memory: MemoryNotifier
) -> None:
    """An update lists all decisions about the incident, not only the new ones."""
    existing: set[tuple[str, str]] = set()
    submit(dispatcher, incident(), existing)
    assert dispatcher.join(10)
    grown = incident(attackers=[*incident().attackers, "192.0.2.1"])
    submit(dispatcher, grown, existing)
    assert dispatcher.join(10)
    assert len(memory.messages[1].decisions) == 4


def test_a_recalled_incident_is_notified_only_on_escalation(
    dispatcher: Dispatcher, memory: MemoryNotifier
) -> None:
    """Recalled as told (a restart), the same incident sends nothing and a grown one an update
    that still lists the decisions taken before; recalling a known incident changes nothing."""
    existing: set[tuple[str, str]] = set()
    before = Responder(config()).decide(incident(), now=NOW)
    existing.update((d.scope, d.value) for d in before.decisions)
    dispatcher.recall(incident(), told=["ops"], decisions=before.decisions)
    submit(dispatcher, incident(), existing)
    assert dispatcher.join(10)
    assert memory.messages == []
    grown = incident(accounts_compromised=["bob"])
    dispatcher.recall(incident(), told=["ops"])  # known by now: ignored
    submit(dispatcher, grown, existing)
    assert dispatcher.join(10)
    (update,) = memory.messages
    assert update.update and update.changes == ("first compromised account",)
    assert len(update.decisions) == 3


def test_rate_limited_updates_are_coalesced_into_the_next() -> None:
    """Over the rate limit, later updates of an incident wait and go out as one message."""
    memory = MemoryNotifier()
    with Dispatcher({"ops": memory}, rate_limit=1, rate_window=1.0) as dispatcher:
        existing: set[tuple[str, str]] = set()
        submit(dispatcher, incident(), existing)
        assert dispatcher.join(5)
        submit(dispatcher, incident(severity="critical"), existing)
        submit(dispatcher, incident(severity="critical", accounts_compromised=["bob"]), existing)
        submit(
            dispatcher,
            incident(
                severity="critical",
                accounts_compromised=["bob"],
                attackers=[*incident().attackers, "192.0.2.1"],
            ),
            existing,
        )
        assert len(memory.messages) == 1  # held back by the limit
        assert dispatcher.join(5)
        stats = dispatcher.stats()["ops"]
    assert len(memory.messages) == 2
    update = memory.messages[1]
    assert update.changes == (
        "severity rose to critical",
        "first compromised account",
        "1 new decision",
    )
    assert update.accounts_compromised == ("bob",)
    assert (stats.sent, stats.coalesced) == (2, 2)


def test_an_update_arriving_before_the_first_message_left_is_merged_into_it() -> None:
    """An escalation while the first message is still queued makes one, up-to-date message."""
    stuck = Blocking()
    with Dispatcher({"ops": stuck}) as dispatcher:
        dispatcher.submit(incident(id="inc-0"), Decided(notify=["ops"]))  # occupies the worker
        dispatcher.submit(incident(), Decided(notify=["ops"]))
        dispatcher.submit(incident(severity="critical"), Decided(notify=["ops"]))
        stuck.release.set()
        assert dispatcher.join(5)
    _, merged = stuck.messages
    assert (merged.severity, merged.update) == ("critical", False)
    assert merged.changes == ("severity rose to critical",)


def test_failed_sends_are_retried_with_backoff() -> None:
    """A notifier failing twice gets the message on the third attempt."""
    flaky = MemoryNotifier(fail=2)
    with Dispatcher({"ops": flaky}, attempts=3, backoff=0.001) as retrying:
        retrying.submit(incident(), Decided(notify=["ops"]))
        assert retrying.join(5)
        stats = retrying.stats()["ops"]
    assert len(flaky.messages) == 1
    assert (flaky.attempts, stats.sent, stats.retries, stats.failed) == (3, 1, 2, 0)


def test_retries_are_bounded_and_failures_counted(caplog: pytest.LogCaptureFixture) -> None:
    """A notifier that keeps failing is tried ``attempts`` times, then counted as failed."""
    broken = MemoryNotifier(fail=100)
    with Dispatcher({"ops": broken}, attempts=3, backoff=0.001) as retrying:
        retrying.submit(incident(), Decided(notify=["ops"]))
        assert retrying.join(5)
        stats = retrying.stats()["ops"]
    assert broken.attempts == 3
    assert (stats.sent, stats.failed, stats.retries) == (0, 1, 2)
    assert "notifier ops: incident inc-1 not delivered (attempt 3 of 3)" in caplog.text


class Blocking:
    """A notifier that holds every send until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.messages: list[Message] = []

    def send(self, message: Message) -> None:
        self.release.wait(10)
        self.messages.append(message)


def test_submit_never_blocks_and_a_full_queue_drops() -> None:
    """With the notifier stuck and its queue full, submit returns at once and counts a drop."""
    stuck = Blocking()
    with Dispatcher({"ops": stuck}, queue_size=1) as dispatcher:
        started = time.monotonic()
        queued = [
            dispatcher.submit(incident(id=f"inc-{n}"), Decided(notify=["ops"])) for n in range(4)
        ]
        elapsed = time.monotonic() - started
        time.sleep(0.05)
        stats = dispatcher.stats()["ops"]
        stuck.release.set()
        assert dispatcher.join(5)
    assert elapsed < 0.5
    assert queued[0] == 1  # taken by the worker, sending
    assert stats.dropped >= 2
    assert len(stuck.messages) == 4 - stats.dropped


def test_a_notifier_added_by_a_later_policy_gets_the_first_message() -> None:
    """A notifier named only once the incident grew gets its own first (non-update) message."""
    ops, soc = MemoryNotifier(), MemoryNotifier()
    with Dispatcher({"ops": ops, "soc": soc}) as dispatcher:
        dispatcher.submit(incident(), Decided(notify=["ops"]))
        dispatcher.submit(incident(), Decided(notify=["ops", "soc"]))
        assert dispatcher.join(5)
    assert len(ops.messages) == 1
    assert [m.update for m in soc.messages] == [False]


def test_dispatcher_from_config_uses_the_respond_settings() -> None:
    """`from_config` takes the base URL and per-notifier rate limits from ``[respond]``."""
    memory = MemoryNotifier()
    settings = config(base_url="https://aw.example/")
    with Dispatcher.from_config(settings, {"ops": memory}) as dispatcher:
        dispatcher.submit(incident(), Responder(settings).decide(incident(), now=NOW))
        assert dispatcher.join(5)
    assert memory.messages[0].link == "https://aw.example/v1/incidents/inc-1"
