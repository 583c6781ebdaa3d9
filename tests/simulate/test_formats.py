"""The outputs: strict nginx combined lines, ECS events the codec decodes, mirroring the sensor."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from apiwatch.model import Event, EventDecodeError, decode_ndjson
from apiwatch.sensor._tools import attack_tool
from apiwatch.simulate import (
    GroundTruth,
    Request,
    Scenario,
    ScenarioPaths,
    action_of,
    nginx_line,
    to_event,
    token_fingerprint,
)

COMBINED = re.compile(
    r'^(?P<ip>\d{1,3}(?:\.\d{1,3}){3}) - (?P<user>-|[^\s"]+) '
    r"\[(?P<time>\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}"
    r":\d{2}:\d{2}:\d{2} \+0000)\] "
    r'"(?P<method>[A-Z]+) (?P<target>/[\x21\x23-\x5b\x5d-\x7e]*) HTTP/1\.1" '
    r"(?P<status>[1-5]\d\d) (?P<bytes>\d+) "
    r'"(?P<referer>(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\x[0-9A-F]{2})*)" '
    r'"(?P<agent>(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\x[0-9A-F]{2})*)"$'
)


def _request(**changes: object) -> Request:
    fields: dict[str, object] = {
        "time_us": 1_793_606_400_000_000,
        "ip": "203.0.113.5",
        "method": "GET",
        "path": "/health",
        "status": 200,
        "size": 15,
        "user_agent": "curl/8.5.0",
        "origin": "benign",
        "duration_us": 1500,
    }
    fields.update(changes)
    return Request(**fields)  # type: ignore[arg-type]


def test_every_access_log_line_is_strict_combined_format(
    written: ScenarioPaths, scenario: Scenario
) -> None:
    """Each line matches the combined format; lines are in time order, one per shop request."""
    lines = written.access_log.read_text(encoding="ascii").splitlines()
    assert len(lines) == scenario.truth.counts["shop_requests"]
    times = []
    for line in lines:
        match = COMBINED.match(line)
        assert match, line
        times.append(datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z"))
    assert times == sorted(times)
    assert times[0] >= scenario.start and times[-1] < scenario.end


def test_nginx_line_is_exactly_what_nginx_writes() -> None:
    """A request renders as nginx's combined line, byte for byte."""
    request = _request(
        method="POST",
        path="/users/login",
        status=401,
        size=36,
        referer="https://shop.example/",
        user_agent="Mozilla/5.0 (X11)",
    )
    assert nginx_line(request) == (
        '203.0.113.5 - - [02/Nov/2026:08:00:00 +0000] "POST /users/login HTTP/1.1" 401 36 '
        '"https://shop.example/" "Mozilla/5.0 (X11)"'
    )


def test_nginx_escapes_quotes_backslashes_and_non_ascii() -> None:
    """``"``, ``\\`` and non-ASCII bytes become ``\\xHH`` as in nginx's default escaping."""
    line = nginx_line(_request(user_agent='a"b\\c é\x01'))
    assert line.endswith('"a\\x22b\\x5Cc \\xC3\\xA9\\x01"')
    assert COMBINED.match(line)


def test_every_ecs_line_decodes_with_the_codec(written: ScenarioPaths, scenario: Scenario) -> None:
    """events.ndjson decodes line by line into Events, in time order, with unique ids."""
    decoded = list(decode_ndjson(written.events.read_bytes()))
    assert not [e for e in decoded if isinstance(e, EventDecodeError)]
    events = [e for e in decoded if isinstance(e, Event)]
    assert len(events) == scenario.truth.counts["ecs_events"]
    stamps = [e.timestamp for e in events]
    assert stamps == sorted(stamps)
    assert len({e.event.id for e in events}) == len(events)
    assert {e.service.name for e in events if e.service} == {"shop", "billing"}


def test_truth_file_round_trips(written: ScenarioPaths, scenario: Scenario) -> None:
    """truth.json loads back into the GroundTruth the scenario holds."""
    assert GroundTruth.load(written.truth) == scenario.truth
    assert GroundTruth.from_json(scenario.truth.to_json()).to_json() == scenario.truth.to_json()


def test_actions_follow_the_sensor(scenario: Scenario) -> None:
    """Login routes give authn_login_success/fail, tool agents malicious_attack_tool, 403
    authz_fail, anything else http_request."""
    seen: Counter[str] = Counter()
    for request in scenario.requests:
        action = action_of(request).value
        seen[action] += 1
        if request.is_login:
            expected = "authn_login_success" if request.status < 400 else "authn_login_fail"
        elif request.tool:
            expected = "malicious_attack_tool"
        elif request.status == 403:
            expected = "authz_fail"
        else:
            expected = "http_request"
        assert action == expected, request
    assert set(seen) == {
        "authn_login_success",
        "authn_login_fail",
        "malicious_attack_tool",
        "authz_fail",
        "http_request",
    }


def test_tool_labels_agree_with_the_sensors_detector(scenario: Scenario) -> None:
    """For every user agent in the scenario, the tool label is what the sensor would detect."""
    tools = {r.user_agent: r.tool for r in scenario.requests}
    assert {agent: attack_tool(agent) for agent in tools} == tools


def test_event_fields_mirror_the_sensor() -> None:
    """A login failure names the attempted account; tokens become fingerprints; paths decode."""
    login = to_event(
        _request(
            method="POST",
            path="/users/login",
            status=401,
            route="/users/login",
            user="mallory",
            password="x",
        ),
        "e1",
    )
    assert login.event.action == "authn_login_fail" and login.event.outcome == "failure"
    assert login.user is not None and login.user.name == "mallory"
    assert login.labels == {"route": "/users/login"}
    assert login.http is not None and login.http.request is not None
    assert login.http.request.id == "e1"
    probe = to_event(
        _request(
            path="/%2e%2e%2fetc%2fpasswd",
            query="a=%27",
            status=404,
            user_agent="sqlmap/1.8",
            tool="sqlmap",
            token="t0k",
        ),
        "e2",
    )
    assert (
        probe.url is not None and probe.url.path == "/../etc/passwd" and probe.url.query == "a=%27"
    )
    assert probe.event.action == "malicious_attack_tool" and probe.event.outcome == "failure"
    assert probe.labels == {"token_id": token_fingerprint("t0k"), "attack_tool": "sqlmap"}
    assert probe.user is None  # a token nobody owns names no one
    reset = to_event(_request(method="POST", path="/users/password-reset", user="bob"), "e3")
    assert reset.user is None and reset.event.action == "http_request"
