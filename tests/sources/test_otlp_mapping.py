"""OTLP log records (JSON mapping) to ECS: the semantic conventions, old names, refusals."""

from __future__ import annotations

from typing import Any

from apiwatch.sources.otlp import otlp_events

NOW = "1796377000000000000"


def _attrs(**values: Any) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        kind = "intValue" if isinstance(value, int) else "stringValue"
        out.append({"key": key.replace("__", "."), "value": {kind: value}})
    return out


def _request(*records: dict[str, Any]) -> dict[str, Any]:
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": list(records)}]}]}


def test_older_http_attribute_names_are_mapped_too() -> None:
    """http.method, http.target, http.status_code, http.client_ip, http.user_agent (the
    conventions before 1.21) give the same fields."""
    record = {
        "timeUnixNano": NOW,
        "attributes": _attrs(
            http__method="POST",
            http__target="/login?next=/",
            http__status_code=401,
            http__client_ip="2001:db8::7",
            http__user_agent="curl/8",
        ),
    }
    event = otlp_events(_request(record)).events[0]
    assert event.http.request.method == "POST"  # type: ignore[union-attr]
    assert (event.url.path, event.url.query) == ("/login", "next=/")  # type: ignore[union-attr]
    assert event.source.ip == "2001:db8::7"  # type: ignore[union-attr]
    assert event.event.action == "authn_login_fail"


def test_event_action_given_wins_and_a_record_without_a_request_may_carry_one() -> None:
    """An OWASP action named in event.action is taken, with or without an HTTP request."""
    record = {
        "timeUnixNano": NOW,
        "attributes": _attrs(
            event__action="authz_fail", event__outcome="failure", user__name="bob"
        ),
    }
    event = otlp_events(_request(record)).events[0]
    assert (event.event.action, event.event.outcome) == ("authz_fail", "failure")
    assert event.user.name == "bob"  # type: ignore[union-attr]


def test_records_apiwatch_cannot_read_are_refused_with_a_reason() -> None:
    """No time, no request and no readable body, a status that is not HTTP: refused, named."""
    batch = otlp_events(
        _request(
            {"attributes": _attrs(http__request__method="GET", url__path="/")},
            {"timeUnixNano": NOW, "body": {"stringValue": "hello"}},
            {
                "timeUnixNano": NOW,
                "attributes": _attrs(
                    http__request__method="GET", url__path="/", http__response__status_code=7
                ),
            },
        )
    )
    assert batch.records == 3 and batch.events == []
    assert "no time" in batch.refused[0]
    assert "no HTTP request" in batch.refused[1]
    assert "not an HTTP status" in batch.refused[2]


def test_hostile_values_are_made_inert() -> None:
    """Control characters in attributes are escaped, never kept raw."""
    record = {
        "timeUnixNano": NOW,
        "attributes": _attrs(
            http__request__method="GET", url__path="/a\x1b[2J", user_agent__original="x\r\ny"
        ),
    }
    event = otlp_events(_request(record)).events[0]
    assert "\x1b" not in event.url.path  # type: ignore[union-attr, operator]
    assert "\r" not in event.user_agent.original  # type: ignore[union-attr, operator]


def test_the_same_record_gets_the_same_id() -> None:
    """An exporter's retry: equal records, equal event ids; different records, different ids."""
    one = {"timeUnixNano": NOW, "attributes": _attrs(http__request__method="GET", url__path="/1")}
    two = {"timeUnixNano": NOW, "attributes": _attrs(http__request__method="GET", url__path="/2")}
    first = otlp_events(_request(one, two)).events
    again = otlp_events(_request(one)).events
    assert first[0].event.id == again[0].event.id != first[1].event.id
