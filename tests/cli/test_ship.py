"""`apiwatch ship FILE...` against a real collector (uvicorn on a free port, SQLite store):
ECS NDJSON and gzip access logs are stored, in batches; a second run resumes and stores nothing
twice; rejected lines are reported; a wrong key is one clear line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from apiwatch.cli import cli
from apiwatch.server import ServerSettings, create_app
from apiwatch.store import EventFilter, open_store
from tests.server.conftest import Collector, add_keys, served
from tests.server.helpers import event


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    store = open_store(f"sqlite:///{tmp_path}/c.db", key_file=tmp_path / "keys")
    try:
        with served(create_app(store, ServerSettings(detect=False))) as url:
            yield Collector(url, store, add_keys(store))
    finally:
        store.close()


def ship(collector: Collector, tmp_path: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["ship", "--url", collector.url, "--key",
                                      collector.keys["ingest"], "--state",
                                      str(tmp_path / "state.json"), *args])  # fmt: skip
    assert "Traceback" not in result.output
    return result


def stored(collector: Collector) -> int:
    return collector.store.events.count()


def ecs_file(path: Path, count: int) -> Path:
    start = datetime.now(UTC) - timedelta(minutes=30)
    with path.open("w") as out:
        for n in range(count):
            out.write(json.dumps(event(ip="198.51.100.7", at=start + timedelta(seconds=n))) + "\n")
    return path


def test_ecs_and_gzip_access_logs_are_stored_in_batches(
    collector: Collector, tmp_path: Path
) -> None:
    """Both formats arrive whole; --batch-lines splits them into several requests."""
    ecs = ecs_file(tmp_path / "app.ndjson", 250)
    access = tmp_path / "access.log.gz"
    stamp = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    line = f'203.0.113.4 - - [{stamp}] "GET /items/{{n}} HTTP/1.1" 200 12 "-" "curl/8"\n'
    access.write_bytes(gzip.compress("".join(line.format(n=n) for n in range(120)).encode()))
    result = ship(collector, tmp_path, str(ecs), str(access), "--batch-lines", "100")
    assert result.exit_code == 0, result.output
    assert "shipped 370 events from 2 files" in result.output
    assert stored(collector) == 370
    page = collector.store.events.query(
        EventFilter(source_ip="203.0.113.4"), cursor=None, limit=500
    )
    assert len(page.lines) == 120


def test_a_second_run_resumes_after_the_last_line_sent(
    collector: Collector, tmp_path: Path
) -> None:
    """Run again: nothing is sent; lines appended since are sent alone; --restart sends all
    again and the collector stores none twice (same event ids)."""
    path = ecs_file(tmp_path / "app.ndjson", 50)
    assert ship(collector, tmp_path, str(path)).exit_code == 0
    again = ship(collector, tmp_path, str(path))
    assert "resuming after line 50" in again.output
    assert "shipped 0 events" in again.output
    with path.open("a") as out:
        out.write(json.dumps(event(ip="198.51.100.8", at=datetime.now(UTC))) + "\n")
    more = ship(collector, tmp_path, str(path))
    assert "shipped 1 event from 1 file:" in more.output
    assert stored(collector) == 51
    whole = ship(collector, tmp_path, str(path), "--restart")
    assert whole.exit_code == 0
    assert "51 already stored" in whole.output
    assert stored(collector) == 51


def test_a_lost_answer_is_not_stored_twice(collector: Collector, tmp_path: Path) -> None:
    """A batch stored but not recorded in the state (its answer lost) is sent again with the
    same Idempotency-Key on the next run and not stored again."""
    path = ecs_file(tmp_path / "app.ndjson", 30)
    assert ship(collector, tmp_path, str(path)).exit_code == 0
    (tmp_path / "state.json").unlink()  # as if the run died before recording the batch
    again = ship(collector, tmp_path, str(path))
    assert again.exit_code == 0, again.output
    assert stored(collector) == 30


def test_rejected_lines_are_reported_with_their_file_line(
    collector: Collector, tmp_path: Path
) -> None:
    """A line the collector rejects is named by file and line; the others are stored."""
    path = ecs_file(tmp_path / "app.ndjson", 3)
    with path.open("a") as out:
        out.write('{"event": "not an object"}\n')
    result = ship(collector, tmp_path, str(path))
    assert result.exit_code == 0, result.output
    assert f"{path}:4: not stored" in result.output
    assert "1 rejected" in result.output
    assert stored(collector) == 3


def test_a_wrong_key_or_a_down_collector_is_one_line(collector: Collector, tmp_path: Path) -> None:
    """401 stops the run naming the answer; a collector that is down, after the retries."""
    path = ecs_file(tmp_path / "app.ndjson", 3)
    wrong = CliRunner().invoke(cli, ["ship", "--url", collector.url, "--key", "nope",
                                     "--state", str(tmp_path / "s"), str(path)])  # fmt: skip
    assert wrong.exit_code == 1
    assert "the collector answered 401" in wrong.output
    assert "Traceback" not in wrong.output
    down = CliRunner().invoke(cli, ["ship", "--url", "http://127.0.0.1:9", "--key", "k",
                                    "--retries", "0", "--state", str(tmp_path / "s"),
                                    str(path)])  # fmt: skip
    assert down.exit_code == 1
    assert "cannot reach" in down.output
    missing = CliRunner().invoke(cli, ["ship", "--url", collector.url, "--key", "k",
                                       str(tmp_path / "none.log")])  # fmt: skip
    assert missing.exit_code == 1
    assert "cannot read" in missing.output


def _access_log(path: Path, route: str, count: int, ip: str = "203.0.113.9") -> Path:
    stamp = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    path.write_text("".join(f'{ip} - - [{stamp}] "POST {route} HTTP/1.1" 401 12 "-" '
                            f'"python-requests/2.31"\n' for _ in range(count)))  # fmt: skip
    return path


def _actions(collector: Collector, ip: str = "203.0.113.9") -> list[str]:
    page = collector.store.events.query(EventFilter(source_ip=ip), cursor=None, limit=100)
    return sorted(json.loads(line)["event"]["action"] for line in page.lines)


def test_login_path_makes_posts_to_that_route_login_attempts(
    collector: Collector, tmp_path: Path
) -> None:
    """`ship --login-path REGEX` (as `scan` takes it) turns 401 POSTs to that route into
    authn_login_fail events; without it the same route is a plain http_request."""
    plain = _access_log(tmp_path / "plain.log", "/api/v2/auth/begin", 3, ip="203.0.113.8")
    result = ship(collector, tmp_path, str(plain))
    assert result.exit_code == 0, result.output
    assert _actions(collector, "203.0.113.8") == ["http_request"] * 3
    login = _access_log(tmp_path / "login.log", "/api/v2/auth/begin", 3, ip="203.0.113.9")
    result = ship(collector, tmp_path, str(login), "--login-path", r"/auth/begin$")
    assert result.exit_code == 0, result.output
    assert "shipped 3 events from 1 file:" in result.output
    assert _actions(collector, "203.0.113.9") == ["authn_login_fail"] * 3


def test_a_bad_login_path_is_a_usage_error_and_sends_nothing(
    collector: Collector, tmp_path: Path
) -> None:
    """An invalid --login-path regex is one usage line naming the option; nothing is sent."""
    log = _access_log(tmp_path / "access.log", "/login", 2)
    result = ship(collector, tmp_path, str(log), "--login-path", "(unclosed")
    assert result.exit_code == 2
    assert "--login-path" in result.output and "not a valid regular expression" in result.output
    assert stored(collector) == 0


def test_a_syslog_wrapped_log_of_another_format_is_parsed_as_scan_reads_it(
    collector: Collector, tmp_path: Path
) -> None:
    """Every format `scan` reads ships: here nginx lines inside syslog, a login route among
    them, each stored as its event."""
    stamp = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    log = tmp_path / "syslog"
    log.write_text("".join(
        f'Nov  2 08:00:0{n} web1 nginx[42]: 203.0.113.9 - - [{stamp}] "POST /login HTTP/1.1" '
        f'401 12 "-" "curl/8"\n' for n in range(4)))  # fmt: skip
    result = ship(collector, tmp_path, str(log))
    assert result.exit_code == 0, result.output
    assert "shipped 4 events from 1 file: 0 already stored, 0 rejected, 0 unparsable lines" in (
        result.output
    )
    assert _actions(collector) == ["authn_login_fail"] * 4
