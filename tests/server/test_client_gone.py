"""A sender that goes away mid-upload is the network's doing, not a server error."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.conftest import Collector
from tests.server.raw_http import start_upload


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of the collector's and uvicorn's loggers (uvicorn's do not propagate)."""
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def _ingest_metrics(collector: Collector) -> list[str]:
    """The /metrics lines about POST /v1/events, once the server has finished with it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = httpx.get(f"{collector.url}/metrics", timeout=10).text
        lines = [
            line
            for line in text.splitlines()
            if 'route="/v1/events"' in line and not line.startswith("#")
        ]
        if lines:
            return lines
        time.sleep(0.05)
    raise AssertionError("the server never finished with the dropped upload")


def test_a_sender_dropping_mid_upload_is_one_info_line_and_its_own_count(
    collector: Collector, server_log: pytest.LogCaptureFixture
) -> None:
    """A connection closed half-way through its body logs one line below WARNING naming the
    route, is counted in apiwatch_client_disconnects_total, and is no 500 and no traceback."""
    sock = start_upload(collector.url, collector.keys["ingest"])
    time.sleep(0.3)  # the server is reading the body when the sender goes away
    sock.close()
    lines = _ingest_metrics(collector)
    assert 'apiwatch_client_disconnects_total{route="/v1/events"} 1.0' in lines
    assert not [line for line in lines if 'status="500"' in line]
    records = [r for r in server_log.records if r.name.startswith(("apiwatch", "uvicorn"))]
    assert [r.levelno for r in records if r.levelno >= logging.WARNING] == []
    gone = [r for r in records if "went away" in r.getMessage()]
    assert len(gone) == 1
    assert gone[0].exc_info is None
    assert "/v1/events" in gone[0].getMessage()
