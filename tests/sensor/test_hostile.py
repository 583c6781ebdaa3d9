"""Hostile input never forges a log line, drives a terminal, or breaks the event."""

from __future__ import annotations

import json
import logging

import pytest

from apiwatch.sensor import EcsFormatter, MemoryOutput, Sensor
from apiwatch.sensor._sanitize import clean

from .apps import fastapi_app
from .asgi_helpers import call_asgi
from .conftest import decoded

FORGED = b'x\r\n{"event":{"action":"authn_login_success"}}\r\n'
ANSI = b"\x1b[2J\x1b[31mred\x1b]0;title\x07"


def _one_line_each(memory: MemoryOutput) -> None:
    for line in memory.lines:
        assert b"\n" not in line and b"\r" not in line and b"\x1b" not in line
        json.loads(line)


def test_crlf_in_user_agent_cannot_forge_a_line(memory: MemoryOutput) -> None:
    """CR/LF in a header is escaped: the event stays one JSON line and no forged event appears."""
    call_asgi(fastapi_app(outputs=[memory]), path="/users/1", headers=[(b"user-agent", FORGED)])
    _one_line_each(memory)
    ua = decoded(memory)[0]["user_agent"]["original"]
    assert "\r" not in ua and "\n" not in ua
    assert "\\r\\n" in ua


def test_ansi_escapes_are_neutralised(memory: MemoryOutput) -> None:
    """ESC and BEL bytes become visible escapes, so a terminal showing the log is not driven."""
    call_asgi(fastapi_app(outputs=[memory]), path="/users/1", headers=[(b"user-agent", ANSI)])
    ua = decoded(memory)[0]["user_agent"]["original"]
    assert "\x1b" not in ua and "\x07" not in ua
    assert ua.startswith("\\x1b[2J")


def test_script_tag_is_kept_as_inert_data(memory: MemoryOutput) -> None:
    """<script> in a user agent is stored as text; escaping for HTML is the console's job."""
    ua = b"<script>alert(document.cookie)</script>"
    call_asgi(fastapi_app(outputs=[memory]), path="/users/1", headers=[(b"user-agent", ua)])
    assert decoded(memory)[0]["user_agent"]["original"] == ua.decode()


def test_huge_headers_are_truncated_with_a_marker(memory: MemoryOutput) -> None:
    """A 100 KB user agent is cut to max_field_length with a visible truncation marker."""
    huge = b"A" * 100_000
    app = fastapi_app(outputs=[memory], max_field_length=256)
    call_asgi(app, path="/users/1", headers=[(b"user-agent", huge), (b"x-request-id", huge)])
    event = decoded(memory)[0]
    ua = event["user_agent"]["original"]
    assert ua.startswith("A" * 256)
    assert ua.endswith("...[truncated 99744 chars]")
    assert len(event["http"]["request"]["id"]) < 200
    assert len(memory.lines[0]) < 2_000


def test_invalid_utf8_everywhere_is_escaped(memory: MemoryOutput) -> None:
    """Invalid UTF-8 in path, query, headers and the login body becomes \\xNN text."""
    app = fastapi_app(outputs=[memory])
    call_asgi(
        app,
        path="/nope/\udcff",
        raw_path=b"/nope/\xff",
        query=b"q=\xfe\xfd",
        headers=[(b"user-agent", b"bot\xc3\x28"), (b"x-request-id", b"\xff\xfe")],
    )
    _one_line_each(memory)
    event = decoded(memory)[0]
    assert event["user_agent"]["original"] == "bot\\xc3("
    assert event["url"]["query"] == "q=\\xfe\\xfd"
    assert event["http"]["request"]["id"] == "\\xff\\xfe"
    assert event["url"]["path"] == "/nope/\\udcff"


def test_hostile_login_name_is_escaped(memory: MemoryOutput) -> None:
    """An attempted account name with CR/LF/ANSI is escaped before it reaches user.name."""
    body = json.dumps({"username": "eve\r\n\x1b[0madmin", "password": "x"}).encode()
    call_asgi(
        fastapi_app(outputs=[memory]),
        method="POST",
        path="/users/login",
        headers=[(b"content-type", b"application/json")],
        body=body,
    )
    assert decoded(memory)[0]["user"]["name"] == "eve\\r\\n\\x1b[0madmin"


def test_unicode_line_separators_and_bidi_overrides_are_escaped() -> None:
    """U+2028/U+2029 and bidi overrides cannot split or reorder a line in a viewer."""
    assert clean("a\u2028b\u2029c\u202ed", 100) == "a\\u2028b\\u2029c\\u202ed"


def test_formatter_escapes_app_log_messages() -> None:
    """EcsFormatter escapes CR/LF in ordinary app log records too."""
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "user %s", ("a\nb",), None)
    line = EcsFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["message"] == "user a\\nb"


@pytest.mark.parametrize(
    "content_type", [b"application/json", b"application/x-www-form-urlencoded"]
)
def test_oversized_login_body_is_read_only_up_to_the_limit(
    memory: MemoryOutput, content_type: bytes
) -> None:
    """The sensor keeps at most max_login_body bytes of a login body; the app still gets it all."""
    body = b'{"username": "' + b"u" * 200_000 + b'", "password": "p"}'
    if content_type != b"application/json":
        body = b"username=" + b"u" * 200_000 + b"&password=p"
    response = call_asgi(
        fastapi_app(outputs=[memory], max_login_body=1024),
        method="POST",
        path="/users/login",
        headers=[(b"content-type", content_type)],
        body=body,
    )
    assert response.status == 401
    event = decoded(memory)[0]
    assert event["event"]["action"] == "authn_login_fail"
    assert len(memory.lines[0]) < 4096


def test_long_header_and_path_values_are_not_cached(memory: MemoryOutput) -> None:
    """User agents and paths over 512 characters are sanitized without entering the caches."""
    sensor = Sensor.from_options(service="shop", outputs=[memory])
    long_agent, long_path = "Mozilla/" + "a" * 60_000, "/" + "p" * 60_000
    ctx = sensor.begin("GET", long_path, "192.0.2.1", {"user-agent": long_agent}, None)
    assert sensor._ua.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert sensor._path.cache_info().currsize == 0  # type: ignore[attr-defined]
    assert ctx.user_agent is not None and ctx.user_agent.endswith("[truncated 58984 chars]")
    assert ctx.path is not None and ctx.path.endswith("[truncated 58977 chars]")
    sensor.begin("GET", "/short", "192.0.2.1", {"user-agent": "curl/8"}, None)
    assert sensor._path.cache_info().currsize == 1  # type: ignore[attr-defined]


def test_hostile_http_method_is_escaped(memory: MemoryOutput) -> None:
    """A method with CR/LF or ANSI bytes is escaped and bounded in http.request.method."""
    call_asgi(fastapi_app(outputs=[memory]), method="GET\r\n\x1b[2J" + "X" * 100, path="/users/1")
    _one_line_each(memory)
    method = decoded(memory)[0]["http"]["request"]["method"]
    assert method.startswith("GET\\r\\n\\x1b[2J")
    assert method.endswith("...[truncated 82 chars]")
