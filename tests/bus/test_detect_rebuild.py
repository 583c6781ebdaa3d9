"""A detect role's engine rebuilt from the stream, without a bus: the detection thread's steps
(feed what was drained, move event time to the newest event plus the reorder window, save what
changed) over the simulated attack log, cut where a kill would cut them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from apiwatch.detect import Engine, RuleSet, builtin_dir, load_rules
from apiwatch.model import Event
from apiwatch.model.alert import Alert, Incident
from apiwatch.server.bus_roles.shards import split_rules
from apiwatch.simulate import generate
from tests.bus.test_shards import SCENARIO

#: Events per bus message: the senders of the kill tests post the log in batches of 1000.
MESSAGE = 1000


class Saved:
    """What a detect role's store holds: the last version of each alert and incident."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.incidents: dict[str, Incident] = {}

    def step(self, engine: Engine, drained: Sequence[Event]) -> None:
        """One step of the detection thread (`apiwatch.server._detection`), events arriving
        without a pause: feed, advance, save."""
        for event in drained:
            engine.feed(event)
        newest = max(engine.newest_fed, engine.watermark)
        engine.advance(datetime.fromtimestamp(newest + engine.lateness, UTC))
        self.alerts.update((alert.id, alert) for alert in engine.take_alerts())
        self.incidents.update((i.id, i) for i in engine.take_incidents())


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(generate(SCENARIO).events())


@pytest.fixture(scope="module")
def population() -> RuleSet:
    """The population shard's rules: the distributed surge among them."""
    return split_rules(load_rules([builtin_dir()]))[1]


def live_engine(ruleset: RuleSet) -> Engine:
    """An engine made as the detect role makes it (`apiwatch.cli._roles`)."""
    return Engine(ruleset, keep_closed_incidents=False, max_lag=3600.0)


def run(ruleset: RuleSet, events: Sequence[Event], drain: int) -> Saved:
    """One engine fed ``events`` in drains of ``drain`` events."""
    saved, engine = Saved(), live_engine(ruleset)
    for start in range(0, len(events), drain):
        saved.step(engine, events[start : start + drain])
    return saved


def surges(saved: Saved) -> list[Alert]:
    return [a for a in saved.alerts.values() if a.rule == "credential-stuffing-distributed"]


@pytest.mark.parametrize("drain", [64, 7 * MESSAGE])
def test_what_is_saved_does_not_depend_on_where_the_drains_end(
    events: list[Event], population: RuleSet, drain: int
) -> None:
    """Drained a few events at a time or seven messages at once, the population rules save the
    alerts and incidents they save a message at a time: a surge's count and last time too,
    which grow with every failure while it lasts."""
    expected = run(population, events, MESSAGE)
    assert len(surges(expected)) == 2
    got = run(population, events, drain)
    assert got.alerts == expected.alerts
    assert got.incidents == expected.incidents


@pytest.mark.parametrize("killed_after", [3, 6, 9, 13])
def test_an_engine_rebuilt_from_the_stream_saves_what_an_undisturbed_one_saves(
    events: list[Event], population: RuleSet, killed_after: int
) -> None:
    """The population engine killed after ``killed_after`` messages (before, during and after
    the surges), a new one fed those again in one drain (`DetectRole.rebuild`: the replay
    consumer's fetches come faster than the detection thread drains), then the rest: the store
    ends as an undisturbed engine's, the surge's attackers, accounts and count included."""
    expected = run(population, events, MESSAGE)
    saved, cut = Saved(), killed_after * MESSAGE
    first = live_engine(population)
    for start in range(0, cut, MESSAGE):
        saved.step(first, events[start : start + MESSAGE])
    rebuilt = live_engine(population)
    saved.step(rebuilt, events[:cut])
    for start in range(cut, len(events), MESSAGE):
        saved.step(rebuilt, events[start : start + MESSAGE])
    assert saved.alerts == expected.alerts
    assert saved.incidents == expected.incidents
