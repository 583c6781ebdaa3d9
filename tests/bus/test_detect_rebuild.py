"""A detect role's engine rebuilt from the stream, without a bus: the detection thread's steps
(feed what was drained, move event time to the newest event plus the reorder window, save what
changed) over the simulated attack log, cut where a kill would cut them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apiwatch.detect import Engine, RuleSet, builtin_dir, load_rules
from apiwatch.model import Event
from apiwatch.model.alert import Alert, Incident
from apiwatch.server.bus_roles.shards import split_rules
from apiwatch.simulate import generate
from apiwatch.store import open_store
from tests.bus.cluster import all_records
from tests.bus.test_shards import SCENARIO

StoreIn = Callable[[str], "Saved"]

#: Events per bus message: the senders of the kill tests post the log in batches of 1000.
MESSAGE = 1000


class Saved:
    """A detect role's store (SQLite here): each save an upsert that keeps the version of an
    alert or incident whose last time is not older than the one stored, as PostgreSQL's does."""

    def __init__(self, path: Path) -> None:
        self.store = open_store(f"sqlite:///{path}/apiwatch.db", key_file=path / "keys")

    def step(self, engine: Engine, drained: Sequence[Event]) -> None:
        """One step of the detection thread (`apiwatch.server._detection`), events arriving
        without a pause: feed, advance, save."""
        for event in drained:
            engine.feed(event)
        newest = max(engine.newest_fed, engine.watermark)
        engine.advance(datetime.fromtimestamp(newest + engine.lateness, UTC))
        self.store.detections.save(engine.take_alerts(), engine.take_incidents())

    def alerts(self) -> dict[str, Alert]:
        return {alert.id: alert for alert in all_records(self.store.detections.alerts)}

    def incidents(self) -> dict[str, Incident]:
        return {incident.id: incident for incident in all_records(self.store.detections.incidents)}


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


@pytest.fixture
def store_in(tmp_path: Path) -> Iterator[Callable[[str], Saved]]:
    """Makes a `Saved` store in a directory of its own; closes them all after the test."""
    opened: list[Saved] = []

    def make(name: str) -> Saved:
        (tmp_path / name).mkdir()
        opened.append(Saved(tmp_path / name))
        return opened[-1]

    yield make
    for saved in opened:
        saved.store.close()


def run(ruleset: RuleSet, events: Sequence[Event], drain: int, saved: Saved) -> Saved:
    """One engine fed ``events`` in drains of ``drain`` events, saving in ``saved``."""
    engine = live_engine(ruleset)
    for start in range(0, len(events), drain):
        saved.step(engine, events[start : start + drain])
    return saved


Stored = tuple[dict[str, Alert], dict[str, Incident]]


@pytest.fixture(scope="module")
def undisturbed(
    events: list[Event], population: RuleSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stored]:
    """What one engine fed the log a message at a time stores."""
    saved = Saved(tmp_path_factory.mktemp("undisturbed"))
    try:
        run(population, events, MESSAGE, saved)
        yield saved.alerts(), saved.incidents()
    finally:
        saved.store.close()


def surges(alerts: dict[str, Alert]) -> list[Alert]:
    return [a for a in alerts.values() if a.rule == "credential-stuffing-distributed"]


@pytest.mark.parametrize("drain", [64, 7 * MESSAGE])
def test_what_is_saved_does_not_depend_on_where_the_drains_end(
    events: list[Event], population: RuleSet, drain: int, store_in: StoreIn, undisturbed: Stored
) -> None:
    """Drained a few events at a time or seven messages at once, the population rules save the
    alerts and incidents they save a message at a time: a surge's count and last time too,
    which grow with every failure while it lasts."""
    assert len(surges(undisturbed[0])) == 2
    got = run(population, events, drain, store_in("drained"))
    assert (got.alerts(), got.incidents()) == undisturbed


@pytest.mark.parametrize("killed_after", [3, 6, 9, 13])
def test_an_engine_rebuilt_from_the_stream_saves_what_an_undisturbed_one_saves(
    events: list[Event],
    population: RuleSet,
    killed_after: int,
    store_in: StoreIn,
    undisturbed: Stored,
) -> None:
    """The population engine killed after ``killed_after`` messages (before, during and after
    the surges), a new one fed those again in one drain (`DetectRole.rebuild`: the replay
    consumer's fetches come faster than the detection thread drains), then the rest: the store
    ends as an undisturbed engine's, the surge's attackers, accounts and count included."""
    saved, cut = store_in("killed"), killed_after * MESSAGE
    first = live_engine(population)
    for start in range(0, cut, MESSAGE):
        saved.step(first, events[start : start + MESSAGE])
    rebuilt = live_engine(population)
    saved.step(rebuilt, events[:cut])
    for start in range(cut, len(events), MESSAGE):
        saved.step(rebuilt, events[start : start + MESSAGE])
    assert (saved.alerts(), saved.incidents()) == undisturbed
