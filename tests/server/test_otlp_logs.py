"""POST /v1/logs with the OpenTelemetry Python SDK's own OTLP/HTTP log exporter as the client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._wait import wait_for
from tests.server.conftest import StoreFactory
from tests.server.live_helpers import Live, access_line, live_collector, stored_events

pytest.importorskip("opentelemetry.sdk._logs")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http._log_exporter")

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

ATTACKER = "203.0.113.50"


@contextmanager
def otel_logger(live: Live, key: str = "ingest") -> Iterator[Any]:
    """An SDK logger exporting synchronously to the collector with ``key``."""
    provider = LoggerProvider(
        resource=Resource.create({"service.name": "shop", "host.name": "web-1"})
    )
    exporter = OTLPLogExporter(
        endpoint=f"{live.url}/v1/logs",
        timeout=10,
        headers={"Authorization": f"Bearer {live.keys[key]}"},
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    try:
        yield provider.get_logger("shop.auth")
    finally:
        provider.shutdown()


def _login(logger: Any, account: str, status: int, at_ns: int) -> None:
    logger.emit(
        timestamp=at_ns,
        severity_text="WARN" if status >= 400 else "INFO",
        body=f"login {account}",
        attributes={
            "http.request.method": "POST",
            "url.path": "/api/login",
            "http.route": "/api/login",
            "http.response.status_code": status,
            "client.address": ATTACKER,
            "user_agent.original": "python-requests/2.32",
            "user.name": account,
            "enduser.id": f"id-{account}",
        },
    )


def test_the_sdk_exporter_sends_requests_that_become_an_incident(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """Logins exported by the SDK (protobuf) are ECS events by the semantic conventions, and
    credential stuffing in them is detected live."""
    with live_collector(make_store, [], tmp_path / "state") as live:
        start = time.time_ns() - 60 * 10**9
        with otel_logger(live) as logger:
            for n in range(20):
                _login(logger, f"victim-{n:02}", 401, start + n * 10**9)
            _login(logger, "victim-07", 200, start + 21 * 10**9)

        def compromised() -> list[Any]:
            with httpx.Client(
                base_url=live.url,
                timeout=10,
                headers={"Authorization": f"Bearer {live.keys['read']}"},
            ) as c:
                items = c.get("/v1/incidents", params={"attacker.ip": ATTACKER}).json()["items"]
            return [i for i in items if i["accounts_compromised"]]

        incident = wait_for(compromised, "the stuffing incident")[0]
        events = stored_events(live.store)
    assert incident["accounts_compromised"] == ["victim-07"]
    assert len(events) == 21
    failure = next(e for e in events if e["user"]["name"] == "victim-00")
    assert failure["event"]["action"] == "authn_login_fail"
    assert failure["source"]["ip"] == ATTACKER
    assert failure["http"] == {"request": {"method": "POST"}, "response": {"status_code": 401}}
    assert failure["user"]["id"] == "id-victim-00"
    assert failure["service"]["name"] == "shop" and failure["host"]["name"] == "web-1"
    assert failure["user_agent"]["original"] == "python-requests/2.32"
    assert failure["labels"]["route"] == "/api/login"
    assert failure["log"]["level"] == "warn"


def test_a_body_that_is_an_access_log_line_is_read_as_one(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """A record without HTTP attributes whose body is an nginx line is that line's event; a
    record apiwatch cannot read is refused and counted."""
    with live_collector(make_store, [], tmp_path / "state") as live:
        with otel_logger(live) as logger:
            logger.emit(body=access_line("198.51.100.4", "/from-body", 404))
            logger.emit(body="cache warmed in 3 ms")
        events = wait_for(lambda: stored_events(live.store), "the event")
        otlp = live.app.state.apiwatch.sources.otlp
        assert (otlp.read, otlp.parsed, otlp.refused) == (2, 1, 1)
    assert events[0]["url"]["path"] == "/from-body"
    assert events[0]["service"]["name"] == "shop"


def test_otlp_json_is_taken_too_and_a_retry_stores_nothing_twice(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """OTLP/JSON (hex trace id, int64 as strings) gives the same mapping; the same export sent
    twice (an exporter's retry) is stored once; a refused record is in partialSuccess."""
    now = str(time.time_ns())
    record = {
        "timeUnixNano": now,
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "attributes": [
            {"key": "http.request.method", "value": {"stringValue": "GET"}},
            {"key": "url.full", "value": {"stringValue": "https://shop/o/7?x=1"}},
            {"key": "http.response.status_code", "value": {"intValue": "200"}},
            {"key": "client.address", "value": {"stringValue": "198.51.100.8"}},
        ],
    }
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            record,
                            {"timeUnixNano": now, "body": {"stringValue": "no request here"}},
                        ]
                    }
                ],
            }
        ]
    }
    with live_collector(make_store, [], tmp_path / "state") as live:
        headers = {"Authorization": f"Bearer {live.keys['ingest']}"}
        for _ in range(2):
            answer = httpx.post(f"{live.url}/v1/logs", json=body, headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["partialSuccess"]["rejectedLogRecords"] == 1
        events = stored_events(live.store)
    assert len(events) == 1
    assert events[0]["url"] == {"path": "/o/7", "query": "x=1"}
    assert events[0]["trace"]["id"] == "5b8efff798038103d269b633813fc60c"
    assert events[0]["service"]["name"] == "orders"


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("read", 403)])
def test_logs_need_an_ingest_key(
    make_store: StoreFactory, tmp_path: Path, key: str | None, status: int
) -> None:
    """/v1/logs is authenticated like /v1/events: no key is 401, a read key 403."""
    with live_collector(make_store, [], tmp_path / "state") as live:
        headers = {"Authorization": f"Bearer {live.keys[key]}"} if key else {}
        answer = httpx.post(f"{live.url}/v1/logs", json={"resourceLogs": []}, headers=headers)
        assert answer.status_code == status
        assert live.store.events.count() == 0


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/x-protobuf", b"\xff\xff\xff", 400),
        ("application/json", b"[1]", 400),
        ("text/plain", b"hello", 415),
    ],
)
def test_a_body_that_is_not_otlp_is_refused(
    make_store: StoreFactory, tmp_path: Path, content_type: str, body: bytes, status: int
) -> None:
    """Not OTLP: 400 (the exporter does not retry it); another media type: 415."""
    with live_collector(make_store, [], tmp_path / "state") as live:
        answer = httpx.post(
            f"{live.url}/v1/logs",
            content=body,
            headers={
                "Authorization": f"Bearer {live.keys['ingest']}",
                "Content-Type": content_type,
            },
        )
    assert answer.status_code == status
    assert "error" in answer.json()
