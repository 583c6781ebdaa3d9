"""Reading log files: gzip by magic bytes, stdin, format detection, bad lines, progress."""

from __future__ import annotations

import gzip
import io
import os
import sys
from pathlib import Path

import pytest

from apiwatch.model import ConfigError, EventDecodeError
from apiwatch.sources import LogFile, detect_format, open_log, read_events


def access(n: int, status: int = 200) -> str:
    return (
        f'203.0.113.{n} - - [10/Oct/2026:13:55:{n:02d} +0000] "GET /item/{n} HTTP/1.1" {status} '
        f'5 "-" "curl/8.5.0"\n'
    )


ECS = '{"@timestamp": "2026-10-10T13:55:36Z", "event": {"action": "http_request"}}\n'
COMMON = '192.0.2.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326\n'


class Errors:
    """Collects on_error reports."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    def __call__(self, number: int, message: str) -> None:
        self.seen.append((number, message))


def paths_of(path: Path, on_error: Errors | None = None) -> list[str | None]:
    return [e.url.path if e.url else None for e in read_events(path, on_error=on_error)]


def test_plain_file_events_come_in_file_order(tmp_path: Path) -> None:
    """A plain access log yields one event per line, in file order."""
    log = tmp_path / "access.log"
    log.write_text("".join(access(n) for n in range(1, 6)))
    assert paths_of(log) == [f"/item/{n}" for n in range(1, 6)]


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    """A gzip file without .gz is decompressed; a plain file named .gz is read as text."""
    hidden = tmp_path / "access.log.1"
    hidden.write_bytes(gzip.compress(access(1).encode() + access(2).encode()))
    fake = tmp_path / "access.log.2.gz"
    fake.write_text(access(3))
    assert paths_of(hidden) == ["/item/1", "/item/2"]
    assert paths_of(fake) == ["/item/3"]


def test_concatenated_gzip_members_are_read_as_one_stream(tmp_path: Path) -> None:
    """`cat a.gz b.gz` (as logrotate users do) reads both members."""
    log = tmp_path / "both.gz"
    log.write_bytes(gzip.compress(access(1).encode()) + gzip.compress(access(2).encode()))
    assert paths_of(log) == ["/item/1", "/item/2"]


def test_truncated_gzip_is_reported_and_ends_the_file(tmp_path: Path) -> None:
    """A gzip file cut short yields the lines before the cut, then reports the damage."""
    data = gzip.compress("".join(access(n % 50 + 1) for n in range(3000)).encode())
    log = tmp_path / "cut.gz"
    log.write_bytes(data[: len(data) // 2])
    errors = Errors()
    events = list(read_events(log, on_error=errors))
    assert 0 < len(events) < 3000
    assert len(errors.seen) == 1
    number, message = errors.seen[0]
    assert number == len(events) + 1
    assert "compressed data damaged or cut short" in message


def test_open_log_gives_text_with_invalid_utf8_kept_as_surrogates(tmp_path: Path) -> None:
    """open_log decodes UTF-8 with surrogateescape: invalid bytes are kept, recoverable."""
    log = tmp_path / "bin.log"
    log.write_bytes(gzip.compress(b"caf\xc3\xa9 \xff\n"))
    with open_log(log) as text:
        assert text.read() == "café \udcff\n"


def test_invalid_utf8_becomes_hex_escape_in_the_event(tmp_path: Path) -> None:
    """An invalid byte in a request line reaches the event as \\xNN, and the line is kept."""
    log = tmp_path / "access.log"
    log.write_bytes(access(1).replace("/item/1", "/\xff").encode("latin-1"))
    assert paths_of(log) == ["/\\xff"]


def test_stray_cr_inside_a_line_does_not_split_it(tmp_path: Path) -> None:
    """Only LF ends a line: a CR inside one is escaped data; CRLF endings are accepted."""
    log = tmp_path / "access.log"
    log.write_bytes(
        (access(1).replace("curl", "cu\rrl") + access(2)).replace("\n", "\r\n").encode()
    )
    events = list(read_events(log))
    assert len(events) == 2
    assert events[0].user_agent is not None
    assert events[0].user_agent.original == "cu\\rrl/8.5.0"


def test_bad_lines_are_reported_and_the_scan_continues(tmp_path: Path) -> None:
    """Malformed lines go to on_error with their 1-based number; every good line still comes."""
    log = tmp_path / "access.log"
    log.write_text(
        access(1) + "garbage\n\n" + access(2) + access(3).replace(" 200 ", " OK ") + access(4)
    )
    errors = Errors()
    assert paths_of(log, on_error=errors) == ["/item/1", "/item/2", "/item/4"]
    assert [number for number, _ in errors.seen] == [2, 5]
    assert "$status is not 3 digits" in errors.seen[1][1]


def test_bad_lines_without_on_error_are_skipped(tmp_path: Path) -> None:
    """With no on_error, malformed lines are skipped and the scan still completes."""
    log = tmp_path / "access.log"
    log.write_text(access(1) + "garbage\n" + access(2))
    assert paths_of(log) == ["/item/1", "/item/2"]


def test_ecs_file_is_detected_and_read(tmp_path: Path) -> None:
    """An NDJSON file of ECS events is detected as ecs; its bad lines are reported."""
    log = tmp_path / "events.json"
    log.write_text("\n" + ECS + "{not json\n" + ECS)
    errors = Errors()
    with LogFile(log) as opened:
        events = list(opened.events(on_error=errors))
        assert opened.format == "ecs"
    assert len(events) == 2
    assert [number for number, _ in errors.seen] == [3]


def test_given_format_skips_detection(tmp_path: Path) -> None:
    """format="nginx" on an ECS file reports every line instead of guessing."""
    log = tmp_path / "events.json"
    log.write_text(ECS + ECS)
    errors = Errors()
    assert list(read_events(log, format="nginx", on_error=errors)) == []
    assert [number for number, _ in errors.seen] == [1, 2]


def test_unknown_format_is_a_config_error(tmp_path: Path) -> None:
    """An unknown format name raises ConfigError listing the known ones."""
    log = tmp_path / "x.log"
    log.write_text(access(1))
    with pytest.raises(ConfigError, match="nginx, ecs"):
        list(read_events(log, format="syslog"))


def test_undetectable_file_raises(tmp_path: Path) -> None:
    """A file that is neither format raises EventDecodeError showing its first line."""
    log = tmp_path / "x.log"
    log.write_text("Oct 10 13:55:36 host sshd[1]: Failed password\n")
    with pytest.raises(EventDecodeError, match="Failed password"):
        list(read_events(log))


def test_empty_file_gives_no_events(tmp_path: Path) -> None:
    """An empty or all-blank file is no events and no error."""
    log = tmp_path / "empty.log"
    log.write_text("\n\n  \n")
    assert list(read_events(log)) == []


def test_detect_format() -> None:
    """JSON objects are ecs; combined and common lines are nginx; the first known line decides."""
    assert detect_format([ECS]) == "ecs"
    assert detect_format(["", access(1)]) == "nginx"
    assert detect_format([COMMON]) == "nginx"
    assert detect_format(["{broken", "", access(1)]) == "nginx"


def test_detect_format_names_what_it_saw() -> None:
    """Unrecognised samples raise EventDecodeError quoting the first line, safely escaped."""
    with pytest.raises(EventDecodeError, match="cannot tell the log format") as caught:
        detect_format(["\x1b[31mhello", "[1, 2]"])
    assert "\\x1b[31mhello" in str(caught.value)
    with pytest.raises(EventDecodeError, match="no non-blank lines"):
        detect_format(["", " \n"])


def test_size_and_position_track_the_bytes_on_disk(tmp_path: Path) -> None:
    """LogFile.size is the compressed size; position() reaches it once the file is read."""
    log = tmp_path / "big.gz"
    # random paths, so that the compressed file spans several read buffers
    lines = (access(1).replace("/item/1", f"/{os.urandom(8).hex()}") for _ in range(20000))
    log.write_bytes(gzip.compress("".join(lines).encode()))
    with LogFile(log) as opened:
        assert opened.compressed
        assert opened.size == log.stat().st_size
        positions = [opened.position() for _ in opened.events()]
    assert len(positions) == 20000
    assert positions == sorted(positions)
    assert 0 < positions[0] < positions[-1] == opened.size


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "-" reads stdin, gzip detected there too; stdin is left open."""
    stdin = io.TextIOWrapper(io.BytesIO(gzip.compress(access(7).encode())))
    monkeypatch.setattr(sys, "stdin", stdin)
    with LogFile("-") as opened:
        assert opened.name == "<stdin>"
        assert opened.size is None
        assert [e.url.path for e in opened.events() if e.url] == ["/item/7"]
    assert not stdin.closed
