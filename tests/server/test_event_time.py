"""Event times a collector refuses (far future, far past) and the ones live detection skips."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from apiwatch.detect import Engine
from apiwatch.server import ServerSettings, create_app
from tests._wait import wait_for
from tests.server.conftest import Collector, StoreFactory, add_keys, collector_with, served
from tests.server.helpers import NDJSON, event, ndjson

WAIT = 10.0


@contextmanager
def collector_and_engine(
    make_store: StoreFactory, settings: ServerSettings
) -> Iterator[tuple[Collector, Engine]]:
    """A collector, and the engine its detection thread runs (to look at its state)."""
    store = make_store()
    keys = add_keys(store)
    app = create_app(store, settings)
    with served(app) as url:
        detector = app.state.apiwatch.detector
        assert detector is not None
        yield Collector(url, store, keys), detector.engine


def metric(url: str, name: str, **labels: str) -> float:
    """The value of one sample in /metrics (0 when it is not there yet)."""
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    wanted = f"{name}{{{selector}}}" if labels else name
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{wanted} "):
            return float(line.split()[1])
    return 0.0


def wait_for_metric(url: str, name: str, value: float) -> None:
    wait_for(lambda: metric(url, name) >= value, f"{name} to reach {value}", WAIT, 0.05)


def post(collector: Collector, events: list[dict[str, Any]]) -> httpx.Response:
    with collector.client() as client:
        return client.post("/v1/events", content=ndjson(events), headers=NDJSON)


def test_events_dated_9999_and_1970_are_rejected_with_the_reason_and_counted(
    make_store: StoreFactory,
) -> None:
    """A line dated 9999 and one dated 1970 are rejected (the reason names the bound), counted
    by reason in /metrics, and never reach detection, whose state stays that of one event."""
    now = datetime.now(UTC)
    with collector_and_engine(make_store, ServerSettings()) as (collector, engine):
        response = post(collector, [
            event(at=datetime(9999, 1, 1, tzinfo=UTC)),
            event(at=datetime(1970, 1, 1, tzinfo=UTC)),
            event(at=now),
        ])  # fmt: skip
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["accepted"] == 1
        (future, past) = body["rejected"]
        assert future["line"] == 1 and "ahead of the collector's clock" in future["error"]
        assert past["line"] == 2 and "older than" in past["error"]
        url = collector.url
        assert metric(url, "apiwatch_events_rejected_by_reason_total", reason="future") == 1
        assert metric(url, "apiwatch_events_rejected_by_reason_total", reason="past") == 1
        wait_for_metric(url, "apiwatch_detect_events_total", 1)
        assert engine.watermark <= time.time() + 60
        assert all(state.samples < 1000 for state in engine.baselines.values())


def test_a_body_of_only_a_far_future_event_is_refused_with_the_reason(
    collector: Collector,
) -> None:
    """A body whose one line is dated 9999 gets 400, with that line's reason in ``rejected``."""
    response = post(collector, [event(at=datetime(9999, 12, 31, tzinfo=UTC))])
    assert response.status_code == 400
    (rejected,) = response.json()["rejected"]
    assert "ahead of the collector's clock" in rejected["error"]


def test_the_bounds_follow_the_settings(make_store: StoreFactory) -> None:
    """``future_skew`` and ``max_event_age`` set the bounds: a minute ahead is refused with a
    30 s skew, and a two-day-old event with a one-day maximum age."""
    now = datetime.now(UTC)
    settings = ServerSettings(future_skew=30, max_event_age=86400, detect=False)
    with collector_with(make_store, settings) as collector:
        response = post(collector, [
            event(at=now + timedelta(minutes=1)),
            event(at=now - timedelta(days=2)),
            event(at=now - timedelta(hours=23)),
            event(at=now + timedelta(seconds=10)),
        ])  # fmt: skip
        assert response.status_code == 202, response.text
        assert [r["line"] for r in response.json()["rejected"]] == [1, 2]
        assert response.json()["accepted"] == 2


def test_an_event_far_behind_live_detection_is_stored_but_not_detected_and_counted(
    make_store: StoreFactory,
) -> None:
    """A backfilled event more than ``detect_max_lag`` behind detection's newest event is stored
    and counted in ``apiwatch_detect_too_old_events_total``, not fed to the rules."""
    now = datetime.now(UTC)
    settings = ServerSettings(detect_max_lag=3600)
    with collector_and_engine(make_store, settings) as (collector, engine):
        assert post(collector, [event(at=now)]).status_code == 202
        wait_for_metric(collector.url, "apiwatch_detect_events_total", 1)
        response = post(collector, [event(at=now - timedelta(hours=2))])
        assert response.status_code == 202 and response.json()["accepted"] == 1
        wait_for_metric(collector.url, "apiwatch_detect_too_old_events_total", 1)
        assert engine.stats.events == 1
