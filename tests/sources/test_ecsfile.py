"""ECS NDJSON lines become Events through the model's codec; bad lines raise clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apiwatch.model import EventDecodeError
from apiwatch.sources import parse_ecs_line

LINE = (
    '{"@timestamp": "2026-10-10T13:55:36+02:00", "event": {"action": "authn_login_fail", '
    '"category": "authentication"}, "source.ip": "203.0.113.7", "user": {"name": "alice"}, '
    '"cloud": {"region": "eu-west-1"}}\n'
)


def test_ecs_line_decodes_with_the_codec() -> None:
    """A nested/dotted ECS line gives the event, time in UTC, unknown fields kept in extra."""
    event = parse_ecs_line(LINE)
    assert event is not None
    assert event.timestamp == datetime(2026, 10, 10, 11, 55, 36, tzinfo=UTC)
    assert event.event.action == "authn_login_fail"
    assert event.event.category == ["authentication"]
    assert event.source is not None and event.source.ip == "203.0.113.7"
    assert event.user is not None and event.user.name == "alice"
    assert event.extra == {"cloud": {"region": "eu-west-1"}}


@pytest.mark.parametrize("line", ["", "\n", "  \r\n"])
def test_blank_line_gives_none(line: str) -> None:
    """A blank line is no event and no error."""
    assert parse_ecs_line(line) is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"@timestamp": "2026-10-10T13:55:36Z", "event": ', "not valid JSON"),
        ('["@timestamp"]', "must be a JSON object"),
        ('{"@timestamp": "yesterday", "event": {"action": "x"}}', "@timestamp"),
        ('{"event": {"action": "http_request"}}', "no @timestamp"),
        ('{"@timestamp": "2026-10-10T13:55:36Z", "url": {"path": "/\udcff"}}', "UTF-8"),
    ],
)
def test_bad_ecs_line_raises_naming_the_problem(line: str, problem: str) -> None:
    """Invalid JSON, non-objects, bad fields, a missing @timestamp and bad UTF-8 are errors."""
    with pytest.raises(EventDecodeError) as caught:
        parse_ecs_line(line)
    assert problem in caught.value.reason
