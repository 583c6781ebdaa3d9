"""Sigma features as the specification writes them, through the real loader and engine: time
modifiers, ``expand`` placeholders, ``utf16le``, percentile correlations, range conditions and
filters. Each rule matches what it should and not what it should not."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest

from apiwatch.detect import load_rules
from tests.detect.helpers import alerts_of, correlation, detection, event, load, rules, run

ANY = detection("any", "selection: {url.path|startswith: /}\ncondition: selection")


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "pack"
    folder.mkdir(exist_ok=True)
    (folder / "rules.yml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("modifier", "hit", "miss"),
    [
        ("minute", 5, 6),
        ("hour", 9, 10),
        ("day", 2, 3),
        ("week", 10, 11),
        ("month", 3, 4),
        ("year", 2026, 2025),
    ],
)
def test_time_modifiers_compare_a_part_of_the_timestamp(
    tmp_path: Path, modifier: str, hit: int, miss: int
) -> None:
    """``@timestamp|hour: 9`` matches events of 09:xx (UTC), not others; so for every part."""

    def rule(name: str, value: int) -> str:
        return detection(name, f'sel: {{"@timestamp|{modifier}": {value}}}\ncondition: sel')

    ruleset = load(tmp_path, rules(rule("hit", hit), rule("miss", miss)))
    fired = {a.rule for a in alerts_of(run(ruleset, [event(300)]))}  # 2026-03-02 09:05 UTC
    assert fired == {"hit"}


def test_a_list_of_time_parts_matches_any_of_them(tmp_path: Path) -> None:
    """``@timestamp|hour: [9, 10]`` matches 09:xx, not 12:xx (not a set lookup of raw numbers)."""
    ruleset = load(
        tmp_path,
        detection("h", 'selection:\n  "@timestamp|hour": [9, 10]\ncondition: selection'),
    )
    assert alerts_of(run(ruleset, [event(0)]), "h")
    assert not alerts_of(run(ruleset, [event(3 * 3600)]), "h")


def test_expand_takes_placeholder_values_from_settings(tmp_path: Path) -> None:
    """``source.ip|expand: '%admins%'`` matches the configured values (wildcards too), no other."""
    folder = _write(
        tmp_path, detection("admin", "sel: {url.path|expand: '%admin_paths%'}\ncondition: sel")
    )
    ruleset = load_rules([folder], placeholders={"admin_paths": ["/admin", "/internal/*"]})
    assert not ruleset.problems
    hits = [event(0, path="/admin"), event(1, path="/internal/x", ip="198.51.100.1")]
    assert len(alerts_of(run(ruleset, hits), "admin")) == 2
    assert not alerts_of(run(ruleset, [event(0, path="/api/v1/items")]), "admin")


def test_expand_without_a_value_is_refused_at_load(tmp_path: Path) -> None:
    """A placeholder no setting gives is reported unsupported (on its line), not left to fail."""
    folder = _write(
        tmp_path, detection("admin", "sel: {url.path|expand: '%admin_paths%'}\ncondition: sel")
    )
    ruleset = load_rules([folder])
    assert "admin" not in ruleset.rules
    (problem,) = ruleset.unsupported
    assert "%admin_paths%" in problem.message
    assert problem.line == 5  # the line of `sel:`


def test_utf16le_with_base64offset_finds_encoded_text(tmp_path: Path) -> None:
    """``utf16le|base64offset|contains`` finds text encoded as UTF-16LE then base64."""
    ruleset = load(
        tmp_path,
        detection("wide", "sel: {url.query|utf16le|base64offset|contains: whoami}\ncondition: sel"),
    )
    payload = base64.b64encode("cmd /c whoami".encode("utf-16-le")).decode()
    assert alerts_of(run(ruleset, [event(0, query=f"q={payload}")]), "wide")
    plain = base64.b64encode(b"cmd /c whoami").decode()
    assert not alerts_of(run(ruleset, [event(0, query=f"q={plain}")]), "wide")


def test_value_percentile_and_median_on_durations_and_body_sizes(tmp_path: Path) -> None:
    """p90 of event.duration and the median of http.response.body.bytes per source."""
    slow = correlation("slow", """
        type: value_percentile
        rules: [any]
        group-by: [source.ip]
        timespan: 10m
        condition: {field: event.duration, percentile: 90, gte: 5000000000}
        """)  # fmt: skip
    big = correlation("big", """
        type: value_median
        rules: [any]
        group-by: [source.ip]
        timespan: 10m
        condition: {field: http.response.body.bytes, gt: 100000}
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(ANY, slow, big))

    def request(t: int, seconds: float, size: int, ip: str = "203.0.113.5") -> object:
        return event(
            t, ip=ip, **{"event.duration": int(seconds * 1e9), "http.response.body.bytes": size}
        )

    quick = [request(t, 0.1, 500) for t in range(9)] + [request(9, 9.0, 500)]
    assert not alerts_of(run(ruleset, quick))  # p90 of nine 0.1 s and one 9 s: under 5 s
    slow_tail = [request(t, 0.1, 500) for t in range(8)] + [request(t, 9.0, 500) for t in (8, 9)]
    assert {a.rule for a in alerts_of(run(ruleset, slow_tail))} == {"slow"}
    dumps = [request(t, 0.1, 200_000 if t % 3 else 10) for t in range(5)]
    assert {a.rule for a in alerts_of(run(ruleset, dumps))} == {"big"}


def test_a_range_condition_fires_inside_the_range_only(tmp_path: Path) -> None:
    """``gt: 3`` with ``lte: 5``: four or five hits in the window fire, three or six do not."""
    ranged = correlation("ranged", """
        type: event_count
        rules: [any]
        group-by: [source.ip]
        timespan: 10m
        condition: {gt: 3, lte: 5}
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(ANY, ranged))
    assert not alerts_of(run(ruleset, [event(t) for t in range(3)]), "ranged")
    assert alerts_of(run(ruleset, [event(t) for t in range(4)]), "ranged")
    # Six at once (a burst on one timestamp counts hit by hit): the window is past the range
    # only after it fired at four; a fresh group that jumps past it never fires.
    assert len(alerts_of(run(ruleset, [event(t) for t in range(6)]), "ranged")) == 1


def test_a_filter_excludes_what_it_selects_from_the_rules_it_names(tmp_path: Path) -> None:
    """A Sigma filter document ANDs ``not`` its selection into the named rule, and only it."""
    notfound = detection("notfound", "sel: {sc-status: 404}\ncondition: sel")
    other = detection("other404", "sel: {sc-status: 404}\ncondition: sel")
    sigma_filter = textwrap.dedent("""\
        title: Health checks are not scanning
        name: health-check-filter
        logsource: {category: webserver}
        filter:
          rules: [notfound]
          selection:
            url.path|startswith: /health
          condition: not selection
        """)
    ruleset = load(tmp_path, rules(notfound, other, sigma_filter))
    fired = {a.rule for a in alerts_of(run(ruleset, [event(0, path="/healthz", status=404)]))}
    assert fired == {"other404"}
    fired = {a.rule for a in alerts_of(run(ruleset, [event(0, path="/api/x", status=404)]))}
    assert fired == {"notfound", "other404"}


def test_a_filter_naming_an_unknown_rule_is_an_error(tmp_path: Path) -> None:
    """A filter that would filter nothing (its rule is not loaded) is reported, not ignored."""
    folder = _write(
        tmp_path,
        textwrap.dedent("""\
            title: f
            name: f
            logsource: {category: webserver}
            filter:
              rules: [nosuchrule]
              selection: {url.path: /x}
              condition: not selection
            """),
    )
    ruleset = load_rules([folder])
    (problem,) = ruleset.errors
    assert "nosuchrule" in problem.message
