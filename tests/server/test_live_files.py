"""Tailed files in a real collector: same incidents as ``scan``, metrics, the silent alarm."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.simulate import generate
from apiwatch.simulate.writers import write_scenario
from apiwatch.sources import read_events
from apiwatch.store import DetectionFilter
from tests._wait import wait_for
from tests.server.conftest import StoreFactory
from tests.server.live_helpers import access_line, live_collector, metric

ATTACKS = (
    "brute_force",
    "credential_stuffing",
    "password_spraying",
    "object_enumeration",
    "scanner",
    "error_flood",
)


def _scenario_log(directory: Path) -> tuple[Path, int]:
    """A simulated two-hour nginx log ending now (so that it is live traffic)."""
    now = datetime.now(UTC).replace(microsecond=0)
    scenario = generate(
        seed=3,
        start=now - timedelta(minutes=125),
        duration=timedelta(hours=2),
        attacks=ATTACKS,
        users=100,
        billing_silence=timedelta(minutes=60),
        spraying_span=timedelta(minutes=60),
    )
    paths = write_scenario(scenario, directory)
    return paths.access_log, scenario.truth.counts["shop_requests"]


def _scan(log: Path) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    engine = Engine(load_rules([builtin_dir()]), lateness=60)
    engine.feed_all(read_events(log))
    engine.flush()
    return {(tuple(i.rules), tuple(sorted(i.attackers))) for i in engine.incidents()}


def test_a_tailed_file_gives_the_incidents_scan_gives(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """The same simulated attack log, scanned and tailed by the collector: equal incidents."""
    log, lines = _scenario_log(tmp_path / "sim")
    expected = _scan(log)
    assert len(expected) >= 4
    table = {"name": "web", "type": "file", "paths": [str(log)]}
    with live_collector(make_store, [table], tmp_path / "state") as live:
        wait_for(lambda: live.stats("web").stored >= lines, "every line stored", 120)
    page = live.store.detections.incidents(DetectionFilter(), cursor=None, limit=1000)
    found = {(tuple(i.rules), tuple(sorted(i.attackers))) for i in page.items}
    assert found == expected


def test_source_metrics_count_lines_read_parsed_and_refused(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """/metrics has each source's lines read, parsed, refused and stored."""
    log = tmp_path / "access.log"
    good = [access_line("203.0.113.5", f"/p/{n}") for n in range(6)]
    log.write_text("\n".join([*good[:5], "not a log line \x1b[2J", good[5]]) + "\n")
    table = {"name": "web", "type": "file", "paths": [str(log)]}
    with live_collector(make_store, [table], tmp_path / "state") as live:
        wait_for(lambda: live.stats("web").stored == 6, "six events stored")
        text = live.metrics()
    assert metric(text, "apiwatch_source_lines_read_total", "web") == 7
    assert metric(text, "apiwatch_source_lines_parsed_total", "web") == 6
    assert metric(text, "apiwatch_source_lines_refused_total", "web") == 1
    assert metric(text, "apiwatch_source_events_stored_total", "web") == 6
    assert metric(text, "apiwatch_source_backlog_bytes", "web") == 0


def test_a_source_quiet_for_silent_after_raises_an_incident(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """silent_after: an incident of the source's silence rule once nothing came for that long,
    and apiwatch_source_silent is 1; a busy source beside it stays quiet."""
    quiet, busy = tmp_path / "quiet.log", tmp_path / "busy.log"
    quiet.write_text(access_line("203.0.113.5", "/a") + "\n")
    busy.write_text(access_line("203.0.113.6", "/b") + "\n")
    tables = [
        {"name": "quiet", "type": "file", "paths": [str(quiet)], "silent_after": "2s"},
        {"name": "busy", "type": "file", "paths": [str(busy)], "silent_after": "1h"},
    ]
    with live_collector(make_store, tables, tmp_path / "state") as live:

        def silent_incident() -> list[str]:
            page = live.store.detections.incidents(DetectionFilter(), cursor=None, limit=100)
            return [rule for i in page.items for rule in i.rules if rule.startswith("source-")]

        assert wait_for(silent_incident, "the silence incident") == ["source-silent-quiet"]

        def silent_metrics() -> str:
            text = live.metrics()
            return text if metric(text, "apiwatch_source_silent", "quiet") == 1 else ""

        text = wait_for(silent_metrics, "apiwatch_source_silent for quiet")
    assert metric(text, "apiwatch_source_silent", "busy") == 0


def test_hostile_text_in_a_tailed_line_is_stored_inert(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """ANSI escapes and markup in a tailed line are stored escaped, never as control codes."""
    log = tmp_path / "access.log"
    line = access_line("203.0.113.5", "/x").replace("live-test/1.0", "\x1b[31m<script>x</script>")
    log.write_text(line + "\n")
    with live_collector(
        make_store, [{"name": "web", "type": "file", "paths": [str(log)]}], tmp_path / "state"
    ) as live:
        events = wait_for(lambda: live.events("web"), "the event stored")
    agent = events[0]["user_agent"]["original"]
    assert "\x1b" not in agent and "\\x1b" in agent


@pytest.mark.parametrize(
    "table",
    [
        {"name": "web", "type": "file"},
        {"name": "web", "type": "file", "paths": ["x"], "listen": "127.0.0.1:1"},
        {"name": "w eb", "type": "file", "paths": ["x"]},
        {"name": "web", "type": "tape", "paths": ["x"]},
        {"name": "web", "type": "syslog", "listen": "127.0.0.1:1", "protocol": "tls"},
        {"name": "web", "type": "file", "paths": ["x"], "silent_after": "soon"},
        {"name": "web", "type": "file", "paths": ["x"], "colour": "red"},
    ],
)
def test_a_wrong_sources_table_is_refused_naming_the_key(table: dict[str, object]) -> None:
    """Each mistake in a [[sources]] table is a ConfigError that names the table."""
    from apiwatch.model import ConfigError
    from apiwatch.sources.config import parse_sources

    with pytest.raises(ConfigError, match=r"\[\[sources\]\] #1"):
        parse_sources([table], "apiwatch.toml")


def test_a_damaged_position_file_stops_serve_with_one_line(tmp_path: Path) -> None:
    """apiwatch serve refuses to start over a state file it did not write: exit 1, one line
    naming the file, no traceback, nothing read afresh."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "web.json").write_text("{not json")
    config = tmp_path / "apiwatch.toml"
    config.write_text(
        f'sources_state_dir = "{state}"\n[[sources]]\nname = "web"\n'
        f'type = "file"\npaths = ["{tmp_path}/access.log"]\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apiwatch",
            "serve",
            "--config",
            str(config),
            "--port",
            "0",
            "--db",
            f"sqlite:///{tmp_path}/a.db",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "web.json: not a source state apiwatch wrote" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "a.db").exists()
