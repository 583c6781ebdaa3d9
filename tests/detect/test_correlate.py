"""Sigma correlations on event time: each type, group-by, aliases and chains fire as Sigma says."""

from __future__ import annotations

from pathlib import Path

from tests.detect.helpers import alerts_of, correlation, detection, event, load, login, rules, run

FAIL = detection("fail", "sel: {apiwatch.login: fail}\ncondition: sel")
OK = detection("ok", "sel: {apiwatch.login: success}\ncondition: sel")
RESET = detection("reset", "sel: {event.action: authn_password_change}\ncondition: sel")
ANY = detection("any", "sel: {http.request.method|exists: true}\ncondition: sel")
IP, OTHER = "203.0.113.5", "198.51.100.7"


def count_rule(group_by: str = "[source.ip]", *, generate: bool = False) -> str:
    """At least three failed logins within a minute, per group."""
    return correlation("many", f"""
        type: event_count
        rules: [fail]
        group-by: {group_by}
        timespan: 1m
        condition: {{gte: 3}}
        generate: {str(generate).lower()}
        """)  # fmt: skip


def test_event_count_fires_at_the_threshold(tmp_path: Path) -> None:
    """event_count raises one alert for the group once its events in the window reach the count."""
    ruleset = load(tmp_path, rules(FAIL, count_rule()))
    two = [login(0, IP, "a", ok=False), login(1, IP, "b", ok=False), login(2, OTHER, "c", ok=False)]
    assert not alerts_of(run(ruleset, two))
    three = [*two, login(3, IP, "a", ok=False)]
    (alert,) = alerts_of(run(ruleset, three))
    assert (alert.rule, alert.group, alert.count) == ("many", {"source.ip": IP}, 3)
    assert (alert.attackers, alert.accounts) == ([IP], ["a", "b"])


def test_window_is_event_time_and_one_second_outside_does_not_count(tmp_path: Path) -> None:
    """An event exactly one window old still counts; one a second older does not."""
    ruleset = load(tmp_path, rules(FAIL, count_rule()))
    inside = [login(t, IP, "a", ok=False) for t in (0, 30, 60)]
    outside = [login(t, IP, "a", ok=False) for t in (0, 30, 61)]
    assert alerts_of(run(ruleset, inside))
    assert not alerts_of(run(ruleset, outside))


def test_an_alert_is_updated_while_active_and_raised_again_after_quiet(tmp_path: Path) -> None:
    """Hits within a window of the alert's last update it; after a quiet window, a new alert."""
    ruleset = load(tmp_path, rules(FAIL, count_rule()))
    times = (0, 1, 2, 10, 20, 200, 201, 202)
    first, second = alerts_of(run(ruleset, [login(t, IP, "a", ok=False) for t in times]))
    assert (first.count, first.last_seen.second, second.count) == (5, 20, 3)
    assert first.id != second.id


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    """value_count fires on distinct values of the field, however often each repeats."""
    rule = correlation("spread", """
        type: value_count
        rules: [fail]
        group-by: [source.ip]
        timespan: 10m
        condition: {gte: 3, field: user.name}
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(FAIL, rule))
    repeats = [login(t, IP, name, ok=False) for t, name in enumerate("aabbab")]
    assert not alerts_of(run(ruleset, repeats))
    (alert,) = alerts_of(run(ruleset, [*repeats, login(9, IP, "c", ok=False)]))
    assert (alert.count, alert.accounts) == (3, ["a", "b", "c"])


def test_value_sum_and_value_avg(tmp_path: Path) -> None:
    """value_sum adds a numeric field over the window; value_avg averages it."""
    total = correlation("total", """
        type: value_sum
        rules: [any]
        group-by: [source.ip]
        timespan: 10m
        condition: {gte: 1000, field: sc-status}
        """)  # fmt: skip
    mean = correlation("mean", """
        type: value_avg
        rules: [any]
        group-by: [source.ip]
        timespan: 10m
        condition: {gte: 450, field: sc-status}
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(ANY, total, mean))
    assert not alerts_of(run(ruleset, [event(0, status=404), event(1, status=404)]))
    assert alerts_of(run(ruleset, [event(t, status=404) for t in range(3)]), "total")
    statuses = [200, 500, 500, 500, 500]  # averages 200, 350, 400, 425, 440
    assert not alerts_of(run(ruleset, [event(t, status=s) for t, s in enumerate(statuses)]), "mean")
    more = [event(t, status=s) for t, s in enumerate([*statuses, 500])]  # 450
    assert alerts_of(run(ruleset, more), "mean")


def test_temporal_needs_every_rule_in_the_window_in_any_order(tmp_path: Path) -> None:
    """temporal fires when each referenced rule was seen within the window, whatever the order."""
    rule = correlation("fail-and-reset", """
        type: temporal
        rules: [fail, reset]
        group-by: [user.name]
        timespan: 10m
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(FAIL, RESET, rule))
    reset_first = [event(0, action="authn_password_change", user="a"), login(60, IP, "a", ok=False)]
    assert alerts_of(run(ruleset, reset_first))
    too_far = [login(0, IP, "a", ok=False), event(601, action="authn_password_change", user="a")]
    assert not alerts_of(run(ruleset, too_far))
    other_user = [login(0, IP, "a", ok=False), event(60, action="authn_password_change", user="b")]
    assert not alerts_of(run(ruleset, other_user))


def test_temporal_ordered_needs_the_order(tmp_path: Path) -> None:
    """temporal_ordered fires only when the rules were seen in the listed order."""
    rule = correlation("fail-then-ok", """
        type: temporal_ordered
        rules: [fail, ok]
        group-by: [user.name]
        timespan: 10m
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(FAIL, OK, rule))
    assert alerts_of(run(ruleset, [login(0, IP, "a", ok=False), login(5, IP, "a", ok=True)]))
    assert not alerts_of(run(ruleset, [login(0, IP, "a", ok=True), login(5, IP, "a", ok=False)]))


def test_temporal_ordered_alert_leaves_out_what_came_before_the_sequence(tmp_path: Path) -> None:
    """An ordered alert names the sources of its sequence, not an earlier hit of the last step."""
    rule = correlation("fail-then-ok", """
        type: temporal_ordered
        rules: [fail, ok]
        group-by: [user.name]
        timespan: 10m
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(FAIL, OK, rule))
    owner = login(0, OTHER, "a", ok=True)
    (alert,) = alerts_of(
        run(ruleset, [owner, login(60, IP, "a", ok=False), login(65, IP, "a", ok=True)])
    )
    assert alert.attackers == [IP]


def test_group_by_several_fields(tmp_path: Path) -> None:
    """Groups are the combination of every group-by value."""
    ruleset = load(tmp_path, rules(FAIL, count_rule(group_by="[source.ip, user.name]")))
    pairs = [(IP, "a"), (IP, "a"), (OTHER, "a"), (OTHER, "a"), (IP, "b")]
    mixed = [login(t, ip, user, ok=False) for t, (ip, user) in enumerate(pairs)]
    assert not alerts_of(run(ruleset, mixed))
    (alert,) = alerts_of(run(ruleset, [*mixed, login(5, IP, "a", ok=False)]))
    assert alert.group == {"source.ip": IP, "user.name": "a"}


def test_aliases_group_rules_by_differently_named_fields(tmp_path: Path) -> None:
    """An alias names one group-by value that each rule reads from its own field."""
    rule = correlation("fail-and-reset", """
        type: temporal
        rules: [fail, reset]
        aliases:
          account:
            fail: user.name
            reset: labels.account
        group-by: [account]
        timespan: 10m
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(FAIL, RESET, rule))
    reset = event(30, action="authn_password_change", user=None, labels={"account": "a"})
    (alert,) = alerts_of(run(ruleset, [login(0, IP, "a", ok=False), reset]))
    assert alert.group == {"account": "a"}
    other = event(30, action="authn_password_change", user=None, labels={"account": "b"})
    assert not alerts_of(run(ruleset, [login(0, IP, "a", ok=False), other]))


def test_correlations_chain_on_correlations(tmp_path: Path) -> None:
    """A correlation of a correlation fires on its findings; both raise their own alerts."""
    chain = correlation("many-then-ok", """
        type: temporal_ordered
        rules: [many, ok]
        group-by: [source.ip]
        timespan: 10m
        """)  # fmt: skip
    ruleset = load(tmp_path, rules(FAIL, OK, count_rule(), chain))
    events = [*(login(t, IP, f"u{t}", ok=False) for t in range(3)), login(10, IP, "u9", ok=True)]
    found = {alert.rule: alert for alert in alerts_of(run(ruleset, events))}
    assert sorted(found) == ["many", "many-then-ok"]
    assert found["many-then-ok"].group == {"source.ip": IP}
    assert found["many-then-ok"].attackers == [IP]
    assert not alerts_of(run(ruleset, [login(0, IP, "u", ok=True), *events[:3]]), "many-then-ok")


def test_referenced_detections_alert_only_when_the_correlation_says_generate(
    tmp_path: Path,
) -> None:
    """A detection a correlation references is silent, unless the correlation says generate."""
    events = [login(t, IP, "a", ok=False) for t in range(3)]
    silent = load(tmp_path, rules(FAIL, count_rule()))
    assert [a.rule for a in alerts_of(run(silent, events))] == ["many"]
    loud = load(tmp_path, rules(FAIL, count_rule(generate=True)))
    assert sorted(a.rule for a in alerts_of(run(loud, events))) == ["fail", "many"]
