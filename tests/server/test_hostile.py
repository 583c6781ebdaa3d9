"""Hostile lines are rejected one by one, with a reason, while the lines around them are stored."""

from __future__ import annotations

import json

from tests.server.conftest import Collector
from tests.server.helpers import NDJSON, event


def line(doc: dict[str, object]) -> bytes:
    return json.dumps(doc).encode()


def test_hostile_lines_are_rejected_per_line_and_their_neighbours_stored(
    collector: Collector,
) -> None:
    """Huge, deeply nested, mistyped, non-UTF-8, split and unstorable lines: each its reason."""
    valid = [event(user=f"neighbour{i}") for i in range(7)]
    huge = line(event(message="x" * (1024 * 1024)))
    deep = b'{"event": {"action": "x"}, "a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    deep_objects = b'{"a": ' * 10_000 + b"1" + b"}" * 10_000
    wrong_types = line({"event": {"action": ["not", "a", "string"]}, "source": {"port": "x"}})
    bad_utf8 = line(event()).replace(b'"shop"', b'"sh\xff\xfep"')
    lone_surrogate = line(event()).replace(b'"shop"', b'"\\ud800"')
    split = b'{"event": {"action": "x", "reason": "first\r\nsecond"}}'
    huge_status = line(event(status=2**64 - 1))
    body = b"\n".join(
        [
            line(valid[0]),  # 1
            huge,  # 2
            line(valid[1]),  # 3
            deep,  # 4
            deep_objects,  # 5
            line(valid[2]),  # 6
            wrong_types,  # 7
            line(valid[3]),  # 8
            bad_utf8,  # 9
            line(valid[4]),  # 10
            lone_surrogate,  # 11
            line(valid[5]),  # 12
            split,  # 13 and 14: a raw CR/LF splits the line in two broken halves
            line(valid[6]),  # 15
            huge_status,  # 16
        ]
    )
    with collector.client() as client:
        response = client.post("/v1/events", content=body, headers=NDJSON)
    assert response.status_code == 202
    answer = response.json()
    reasons = {r["line"]: r["error"] for r in answer["rejected"]}
    assert answer["accepted"] == 7
    assert sorted(reasons) == [2, 4, 5, 7, 9, 11, 13, 14, 16]
    assert "limit" in reasons[2]
    assert "deep" in reasons[4] or "nested" in reasons[4]
    assert "deep" in reasons[5] or "nested" in reasons[5]
    assert "event.action" in reasons[7]
    assert "UTF-8" in reasons[9]
    assert "JSON" in reasons[11]
    assert "JSON" in reasons[13]
    assert "JSON" in reasons[14]
    assert "http.response.status_code" in reasons[16]
    with collector.client("read") as client:
        back = client.get("/v1/events", params={"limit": "100"}).json()["events"]
    assert [e["user"]["name"] for e in back] == [f"neighbour{i}" for i in range(7)]


def test_escaped_line_breaks_inside_strings_are_kept(collector: Collector) -> None:
    """An escaped CR/LF inside a string is data, not a line break: the event is stored intact."""
    sent = event(message="line one\r\nline two")
    with collector.client() as client:
        response = client.post("/v1/events", content=line(sent), headers=NDJSON)
    assert response.json()["accepted"] == 1
    with collector.client("read") as client:
        (back,) = client.get("/v1/events").json()["events"]
    assert back["message"] == "line one\r\nline two"
