"""Line-only outputs: the sensor writes request lines without building events, the same bytes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from apiwatch.model import decode_event, encode_event
from apiwatch.sensor import FileOutput, MemoryOutput

from .apps import fastapi_app, flask_app
from .asgi_helpers import call_asgi
from .conftest import sensor_of

FORGED = b'x\r\n{"event":{"action":"authn_login_success"}}\r\n'
ANSI = b"\x1b[2J\x1b[31mred\x1b]0;title\x07"
TRACE = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# (method, path, query, headers, body) of requests that take every branch of an event.
REQUESTS: list[tuple[str, str, bytes, list[tuple[bytes, bytes]], bytes]] = [
    ("GET", "/users/1", b"", [], b""),
    ("GET", "/users/1", b"token=s3cret&q=%0d%0a", [(b"user-agent", FORGED)], b""),
    ("GET", "/users/13", b"", [(b"user-agent", ANSI), (b"authorization", b"Bearer abc")], b""),
    ("GET", "/users/2", b"", [(b"user-agent", b"sqlmap/1.7"), (b"traceparent", TRACE)], b""),
    ("GET", "/users/3", b"", [(b"x-request-id", FORGED), (b"cookie", b"session=abc\r\n")], b""),
    ("GET", "/nowhere\r\n\u2028", b"", [], b""),
    ("GET", "/whoami", b"", [], b""),
    ("POST", "/users/login", b"", [(b"content-type", b"application/json")],
     b'{"username": "mallory\\r\\n", "password": "wrong"}'),
    ("POST", "/users/login", b"", [(b"content-type", b"application/json")],
     b'{"username": "alice", "password": "correct horse"}'),
    ("DELETE\r\n", "/users/1", b"", [], b""),
]  # fmt: skip
LOGIN_PATHS = {"/users/login": "username"}
# What differs between two runs of one request: the time, the ids made from the event id, the
# duration.
_VARYING = re.compile(rb'"@timestamp":"[^"]*"|"id":"[0-9a-f]{32}"|"duration":\d+')


def _run(outputs: list[Any]) -> Any:
    # One token key for every run, so that fingerprints compare equal.
    app = fastapi_app(outputs=outputs, login_paths=LOGIN_PATHS, token_key=b"k" * 32)
    for method, path, query, headers, body in REQUESTS:
        call_asgi(app, method, path, query=query, headers=headers, body=body)
    return app


def _blanked(lines: list[bytes]) -> list[bytes]:
    """The lines (request and audit events), the time, ids and durations blanked out."""
    return [_VARYING.sub(b"-", line) for line in lines]


def _file_lines(tmp_path: Path, name: str, outputs: list[Any]) -> tuple[list[bytes], Any]:
    output = FileOutput(tmp_path / name)
    app = _run([output, *outputs])
    output.close()
    return (tmp_path / name).read_bytes().splitlines(), app


def test_a_file_only_sensor_writes_lines_without_events(tmp_path: Path) -> None:
    """With only line outputs the sensor takes the line path; with a memory output it does not."""
    _, app = _file_lines(tmp_path, "only.log", [])
    assert sensor_of(app).reporter.lines_only
    _, app = _file_lines(tmp_path, "mixed.log", [MemoryOutput()])
    assert not sensor_of(app).reporter.lines_only


def test_line_path_writes_the_bytes_the_event_path_writes(tmp_path: Path) -> None:
    """Hostile requests give the same lines, byte for byte but time and ids, on both paths."""
    memory = MemoryOutput()
    fast, _ = _file_lines(tmp_path, "only.log", [])
    slow, _ = _file_lines(tmp_path, "mixed.log", [memory])
    assert sum(b'"http":{"request"' in line for line in fast) >= len(REQUESTS)
    assert _blanked(fast) == _blanked(slow)
    assert _blanked(slow) == _blanked(memory.lines)


def test_line_path_lines_are_the_canonical_encoding(tmp_path: Path) -> None:
    """Each line decodes to an `Event` that encodes back to the very same bytes."""
    lines, _ = _file_lines(tmp_path, "only.log", [])
    for line in lines:
        assert encode_event(decode_event(line)) == line


@pytest.mark.parametrize("needle", [b"\r", b"\n", b"\x1b", b"\x07", b"s3cret", b"abc"])
def test_line_path_forges_no_line_and_leaks_no_secret(tmp_path: Path, needle: bytes) -> None:
    """No raw CR, LF, ESC or BEL, nor a query secret or token, in a line-path line."""
    lines, _ = _file_lines(tmp_path, "only.log", [])
    assert len(lines) >= len(REQUESTS)
    for line in lines:
        assert needle not in line
        json.loads(line)


def test_wsgi_line_path_writes_the_bytes_the_event_path_writes(tmp_path: Path) -> None:
    """Under Flask (WSGI) too, a file-only sensor's lines are the event path's (time, ids aside)."""
    requests = [("/users/1", b'sqlmap/1.7 "q"\\'), ("/users/2", ANSI), ("/nowhere\r\n", b"curl/8")]

    def run(name: str, extra: list[Any]) -> list[bytes]:
        output = FileOutput(tmp_path / name)
        client = flask_app(outputs=[output, *extra], token_key=b"k" * 32).test_client()
        for path, agent in requests:
            client.get(path, headers={"User-Agent": agent.decode("latin-1")})
        client.post("/users/login", json={"username": "mallory\r\n", "password": "no"})
        output.close()
        return (tmp_path / name).read_bytes().splitlines()

    fast = run("only.log", [])
    assert len(fast) == len(requests) + 1
    assert _blanked(fast) == _blanked(run("mixed.log", [MemoryOutput()]))
    for line in fast:
        assert encode_event(decode_event(line)) == line
