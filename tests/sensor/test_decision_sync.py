"""Pulling decisions from a real HTTP server speaking the LAPI stream; fail-open and fail-closed."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from apiwatch.model import ConfigError
from apiwatch.sensor import MemoryOutput, Sensor, SensorConfig, SensorStats
from apiwatch.sensor._decision_sync import DecisionSync
from apiwatch.sensor._decisions import DecisionCache
from tests._wait import wait_until
from tests.tls_helpers import write_self_signed

from .conftest import decoded, sensor_of
from .decision_helpers import KEY, caught_up, enforcing, server_fixture  # noqa: F401
from .decision_server import DecisionServer
from .test_enforcement import BANNED, BENIGN, shop


@pytest.fixture
def manual(server: DecisionServer) -> Iterator[tuple[DecisionSync, httpx.Client]]:
    """A sync without its thread, driven one `pull` at a time, and an HTTP client."""
    sync = DecisionSync(
        server.url,
        api_key=KEY,
        cache=DecisionCache(),
        stats=SensorStats(),
        interval=0.5,
        start=False,
    )
    with httpx.Client(timeout=5) as client:
        yield sync, client


def ids(cache: DecisionCache, *addresses: str) -> list[int | None]:
    now = float("-inf")
    found = [cache.ip(address, now) for address in addresses]
    return [hit.id if hit else None for hit in found]


def test_first_pull_is_startup_then_deltas_with_the_bouncer_key(
    server: DecisionServer, manual: tuple[DecisionSync, httpx.Client]
) -> None:
    """startup=true first, then startup=false deltas, each with X-Api-Key; new decisions land."""
    sync, client = manual
    first = server.add("Ip", "203.0.113.1")
    seen = len(server.pulls)
    assert sync.pull(client) == 0.5
    second = server.add("Range", "192.0.2.0/24")
    sync.pull(client)
    pulls = server.pulls_since(seen)
    assert [(p.startup, p.api_key, p.status) for p in pulls] == [
        ("true", KEY, 200),
        ("false", KEY, 200),
    ]
    assert ids(sync.cache, "203.0.113.1", "192.0.2.9") == [first, second]
    assert sync.stats.decision_syncs == 2


def test_deleted_decisions_are_applied_by_id(
    server: DecisionServer, manual: tuple[DecisionSync, httpx.Client]
) -> None:
    """A decision the collector deletes is gone from the cache after the next delta."""
    sync, client = manual
    kept, dropped = server.add("Ip", "203.0.113.1"), server.add("Ip", "203.0.113.2")
    sync.pull(client)
    server.delete(dropped)
    sync.pull(client)
    assert ids(sync.cache, "203.0.113.1", "203.0.113.2") == [kept, None]
    assert len(sync.cache) == 1


@pytest.mark.parametrize("mode", ["500", "garbage", "wrong-key"])
def test_failed_pulls_keep_decisions_back_off_and_resync_from_startup(
    server: DecisionServer, manual: tuple[DecisionSync, httpx.Client], mode: str
) -> None:
    """5xx, a non-stream answer or a refused key: counted, decisions kept, then startup again."""
    sync, client = manual
    decision = server.add("Ip", "203.0.113.1")
    sync.pull(client)
    if mode == "wrong-key":
        server.api_key = "another-key"
    else:
        server.mode = mode
    delays = [sync.pull(client) for _ in range(6)]
    assert sync.stats.decision_sync_failures == 6
    assert all(0.5 <= d <= 7.5 for d in delays)  # interval up to 15 x interval
    assert max(delays) > 0.5
    assert ids(sync.cache, "203.0.113.1") == [decision]
    server.mode, server.api_key = "normal", KEY
    seen = len(server.pulls)
    sync.pull(client)
    assert server.pulls_since(seen)[0].startup == "true"


def test_collector_down_fails_open_with_the_last_decisions(
    server: DecisionServer, memory: MemoryOutput
) -> None:
    """With the collector gone, bans stay in force, everyone else is served, failures counted."""
    server.add("Ip", BANNED)
    app = shop([], memory, **enforcing(server))
    with TestClient(app, client=(BANNED, 1)) as banned:
        sensor = sensor_of(app)
        caught_up(sensor)
        server.stop()
        assert wait_until(lambda: sensor.stats.decision_sync_failures >= 3)
        assert banned.get("/hello").status_code == 403
        assert TestClient(app, client=(BENIGN, 1)).get("/hello").status_code == 200
    assert sensor.stats.as_dict()["decision_sync_failures"] >= 3


def test_fail_closed_answers_503_after_max_stale_and_recovers(
    server: DecisionServer, memory: MemoryOutput
) -> None:
    """fail_closed: 503 to everyone once no pull succeeded for max_stale; served again after."""
    app = shop([], memory, **enforcing(server, fail_closed=True, decisions_max_stale=0.4))
    with TestClient(app, client=(BENIGN, 1)) as http:
        sensor = sensor_of(app)
        caught_up(sensor)
        assert http.get("/hello").status_code == 200
        server.stop()
        assert wait_until(lambda: http.get("/hello").status_code == 503)
        response = http.get("/hello")
        assert response.json() == {"error": "unavailable"}
        server.start()
        assert wait_until(lambda: http.get("/hello").status_code == 200, timeout=10)
    unavailable = [e for e in decoded(memory) if e["http"]["response"]["status_code"] == 503]
    assert unavailable
    event = unavailable[0]
    assert event["event"]["action"] == "authz_fail"
    assert event["event"]["outcome"] == "failure"
    assert "fail_closed" in event["event"]["reason"]
    assert event["labels"]["blocked"] == "true"
    assert "decision_id" not in event["labels"]


def test_fail_closed_gives_the_first_pull_max_stale_seconds(
    server: DecisionServer, memory: MemoryOutput
) -> None:
    """A fail-closed sensor that never reached its collector serves until max_stale, then 503."""
    server.stop()
    app = shop([], memory, **enforcing(server, fail_closed=True, decisions_max_stale=0.5))
    with TestClient(app, client=(BENIGN, 1)) as http:
        assert http.get("/hello").status_code == 200
        assert wait_until(lambda: http.get("/hello").status_code == 503)


def test_tls_pulls_with_ca_file_and_fails_on_an_unknown_certificate(tmp_path: Path) -> None:
    """Over HTTPS, ca_file makes the collector's certificate trusted; without it, pulls fail."""
    cert_file, key_file = write_self_signed(tmp_path)
    with DecisionServer(api_key=KEY, tls=(cert_file, key_file)) as tls_server:
        decision = tls_server.add("Ip", "203.0.113.1")
        trusting = DecisionSync(
            tls_server.url,
            api_key=KEY,
            cache=DecisionCache(),
            stats=SensorStats(),
            ca_file=str(cert_file),
            interval=0.05,
        )
        doubting = DecisionSync(
            tls_server.url, api_key=KEY, cache=DecisionCache(), stats=SensorStats(), interval=0.05
        )
        try:
            assert wait_until(lambda: trusting.stats.decision_syncs >= 1)
            assert wait_until(lambda: doubting.stats.decision_sync_failures >= 1)
        finally:
            trusting.close()
            doubting.close()
    assert ids(trusting.cache, "203.0.113.1") == [decision]
    assert doubting.stats.decision_syncs == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_restarts_its_own_sync(server: DecisionServer) -> None:
    """In a child forked after the sync started, the first request restarts pulling there."""
    server.add("Ip", BANNED)
    sensor = Sensor.from_options(service="shop", outputs=[], **enforcing(server))
    enforcer = sensor.enforcer
    assert enforcer is not None
    caught_up(sensor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: what gunicorn does
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            inherited = enforcer.cache.ip(BANNED, 0.0) is not None and enforcer.sync.thread is None
            enforcer.sync.ensure_running()
            before = sensor.stats.decision_syncs
            pulled = wait_until(lambda: sensor.stats.decision_syncs >= before + 2)
            alive = enforcer.sync.thread is not None and enforcer.sync.thread.is_alive()
            code = 0 if inherited and pulled and alive else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 0
        assert enforcer.sync.thread is not None
        assert enforcer.sync.thread.is_alive()
    finally:
        sensor.close()


# -- options ----------------------------------------------------------------------------------


def test_decisions_url_defaults_to_the_collector(tmp_path: Path) -> None:
    """Given a bouncer key and a collector, decisions are pulled from the collector."""
    config = SensorConfig.from_options(
        service="shop", collector="https://c.example:8470", api_key="ingest", decisions_key="b"
    )
    assert (config.decisions_url, config.enforce, config.block_status) == (
        "https://c.example:8470",
        True,
        403,
    )
    assert not SensorConfig.from_options(service="shop").pulls_decisions


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"decisions_key": "k"}, "decisions_url"),
        ({"decisions_url": "https://c.example"}, "decisions_key"),
        ({"fail_closed": True}, "fail_closed"),
        ({"decisions_key": "k", "decisions_url": "http://x", "block_status": 401}, "block_status"),
        ({"decisions_key": "k", "decisions_url": "http://x", "block_status": True}, "block_status"),
        ({"decisions_key": "k", "decisions_url": "http://x", "decisions_interval": 0}, "interval"),
        ({"decisions_key": "k", "decisions_url": "http://x", "enforce": "yes"}, "enforce"),
        ({"decisions_key": "k", "decisions_url": "http://x", "decisions_max_stale": -1}, "stale"),
    ],
)
def test_bad_enforcement_options_fail_at_start_naming_the_option(
    options: dict[str, object], named: str
) -> None:
    """Each impossible enforcement option raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=named):
        SensorConfig.from_options(service="shop", **options)


@pytest.mark.parametrize(
    ("url", "key", "named"),
    [
        ("ftp://c.example", "k", "decisions_url"),
        ("https://c.example", "two words", "decisions_key"),
    ],
)
def test_bad_decision_url_or_key_fails_when_the_sensor_is_made(
    url: str, key: str, named: str
) -> None:
    """A URL that is not http(s), or a key unfit for a header, is refused at start."""
    with pytest.raises(ConfigError, match=named):
        Sensor.from_options(service="shop", outputs=[], decisions_url=url, decisions_key=key)
