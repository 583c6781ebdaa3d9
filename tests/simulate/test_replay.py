"""Replay against real uvicorn servers: what arrives, and what the real sensor makes of it."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apiwatch.model import event_to_dict
from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput
from apiwatch.simulate import TOKEN_KEY, ReplayError, Scenario, replay
from apiwatch.simulate.formats import HOST_NAMES, event_id, to_event
from tests.reliability.serving import free_port
from tests.simulate.conftest import served


class Recorder:
    """A tiny app that counts requests per raw path and per X-Forwarded-For, keeping bodies."""

    def __init__(self) -> None:
        self.paths: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.seen: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{rest:path}", self.record, methods=["GET", "POST"])])

    async def record(self, request: HttpRequest) -> Response:
        raw = request.scope["raw_path"].decode()
        query = request.scope["query_string"].decode()
        self.paths[raw] += 1
        self.forwarded[request.headers.get("x-forwarded-for", "")] += 1
        body = await request.body()
        self.seen.append(
            {
                "method": request.method,
                "target": f"{raw}?{query}" if query else raw,
                "xff": request.headers.get("x-forwarded-for"),
                "agent": request.headers.get("user-agent"),
                "auth": request.headers.get("authorization"),
                "request_id": request.headers.get("x-request-id"),
                "body": json.loads(body) if body else None,
            }
        )
        return Response(status_code=200)


def test_replay_sends_the_first_requests_with_their_clients(scenario: Scenario) -> None:
    """limit=200 sends exactly the first 200 shop requests: paths, client IPs, agents, tokens,
    login bodies with the account's real password and the request id of the simulated event."""
    recorder = Recorder()
    expected = list(scenario.shop_requests())[:200]
    with served(recorder.app) as url:
        result = replay(scenario, url, limit=200)
    assert result.sent == 200 and result.errors == 0 and result.statuses == {200: 200}
    assert recorder.paths == Counter(r.path for r in expected)
    assert recorder.forwarded == Counter(r.ip for r in expected)
    for sent, request in zip(recorder.seen, expected, strict=True):
        assert (sent["method"], sent["target"], sent["xff"], sent["agent"]) == (
            request.method,
            request.target,
            request.ip,
            request.user_agent,
        )
        assert sent["auth"] == (f"Bearer {request.token}" if request.token else None)
        if request.is_login:
            assert sent["body"] == {"username": request.user, "password": request.password}
            if request.status == 200:
                assert scenario.accounts[request.user or ""] == request.password
    assert recorder.seen[0]["request_id"] == event_id(scenario.config.seed, 0)


def test_replay_keeps_hostile_targets_as_simulated(scenario: Scenario) -> None:
    """Traversal and encoded probes reach the app byte for byte (no dot-segment clean-up)."""
    recorder = Recorder()
    probes = [r for r in scenario.requests if r.origin == "attack:scanner"]
    with served(recorder.app) as url:
        replay(probes, url)
    assert [seen["target"] for seen in recorder.seen] == [r.target for r in probes]
    assert "/../../etc/passwd" in recorder.paths


def _mirror_app(scenario: Scenario, sample: list[Any], memory: MemoryOutput) -> Any:
    """The shop's routes answering each request with its simulated status, behind the sensor."""
    status = {event_id(scenario.config.seed, i): r.status for i, r in enumerate(sample)}

    async def answer(request: HttpRequest) -> Response:
        await request.body()  # as a real login reads it: the sensor only sees what the app reads
        return JSONResponse({}, status_code=status[request.headers["x-request-id"]])

    def user_hook(scope: dict[str, Any]) -> tuple[str | None, str | None] | None:
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().partition(" ")[2]
        owner = scenario.tokens.get(token)
        return (owner, None) if owner else None

    routes = [
        Route(path, answer, methods=[method])
        for path, method in (
            ("/users/login", "POST"),
            ("/users/password-reset", "POST"),
            ("/orders/{id}", "GET"),
            ("/users/{id}/profile", "GET"),
            ("/products", "GET"),
            ("/health", "GET"),
        )
    ]
    return ApiwatchMiddleware(
        Starlette(routes=routes),
        service="shop",
        login_paths={"/users/login": "username"},
        trusted_proxies=["127.0.0.1/32"],
        token_key=TOKEN_KEY,
        outputs=[memory],
        user_hook=user_hook,
        host_name=HOST_NAMES["shop"],
    )


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """An event without what only the real run can know: times, durations, the event id."""
    document.pop("@timestamp")
    document["event"].pop("id")
    document["event"].pop("duration")
    return document


def test_the_real_sensor_writes_the_simulated_events(scenario: Scenario) -> None:
    """Replayed through ApiwatchMiddleware, every kind of request gives the event the
    simulation wrote (action, outcome, user, labels, path, query, status, ...)."""
    by_origin: dict[str, list[Any]] = {}
    for request in scenario.shop_requests():
        by_origin.setdefault(request.origin, []).append(request)
    # Forty of each actor, and every probe of the scanner (traversal, injections, tools).
    sample = [
        r
        for name, made in by_origin.items()
        for r in (made if name == "attack:scanner" else made[:40])
    ]
    sample.sort(key=lambda r: r.time_us)
    subset = dataclasses.replace(scenario, requests=sample)
    memory = MemoryOutput()
    with served(_mirror_app(scenario, sample, memory)) as url:
        result = replay(subset, url)
    assert result.sent == len(sample) and result.mismatched == 0
    seed = scenario.config.seed
    expected = [
        _comparable(event_to_dict(to_event(r, event_id(seed, i)))) for i, r in enumerate(sample)
    ]
    actual = [_comparable(json.loads(line)) for line in memory.lines]
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got == want


def test_replay_keeps_the_pace_it_is_given(scenario: Scenario) -> None:
    """speed=200 takes at least the scenario time of the replayed requests divided by 200."""
    recorder = Recorder()
    requests = list(scenario.shop_requests())[:30]
    span = (requests[-1].time_us - requests[0].time_us) / 1e6
    with served(recorder.app) as url:
        started = time.monotonic()
        replay(requests, url, speed=200)
        elapsed = time.monotonic() - started
    assert elapsed >= span / 200 * 0.95


def test_replay_to_nothing_raises_a_clear_error(scenario: Scenario) -> None:
    """When nothing listens, replay gives up with ReplayError instead of sending forever."""
    with pytest.raises(ReplayError, match="did not answer 20 requests"):
        replay(scenario, f"http://127.0.0.1:{free_port()}", limit=100)
