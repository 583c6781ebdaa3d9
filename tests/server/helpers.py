"""Building ECS events and NDJSON bodies for the server tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from apiwatch.model import new_event_id

__all__ = ["NDJSON", "T0", "event", "ndjson"]

NDJSON = {"Content-Type": "application/x-ndjson"}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(
    action: str = "http_request",
    *,
    ip: str = "10.0.0.1",
    user: str | None = None,
    path: str = "/",
    status: int = 200,
    outcome: str = "success",
    at: datetime | None = None,
    service: str = "shop",
    host: str = "web-1",
    **extra: Any,
) -> dict[str, Any]:
    """One nested ECS event with a fresh event.id; ``extra`` adds top-level fields."""
    doc: dict[str, Any] = {
        "@timestamp": (at or T0).isoformat().replace("+00:00", "Z"),
        "event": {"action": action, "id": new_event_id(), "outcome": outcome},
        "source": {"ip": ip},
        "url": {"path": path},
        "http": {"request": {"method": "GET"}, "response": {"status_code": status}},
        "service": {"name": service},
        "host": {"name": host},
    }
    if user is not None:
        doc["user"] = {"name": user}
    doc.update(extra)
    return doc


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
