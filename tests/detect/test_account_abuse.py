"""The engine's account-abuse machinery: derived fields, login timing, account origins, /64
aggregates with their crowd guard, the ``share`` condition and synthetic traffic."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiwatch.detect import Engine, SyntheticTraffic, builtin_dir, load_rules, to_record
from apiwatch.detect.profiles import LoginTiming
from apiwatch.model import ConfigError
from tests.detect.helpers import alerts_of, correlation, detection, event, load, login, rules, run

BUILTIN = load_rules([builtin_dir()])


def test_reset_route_answering_404_is_an_unknown_user() -> None:
    """A password-reset request answered 404 is flow reset with an unknown user."""
    values = to_record(event(path="/api/v1/password-reset", method="POST", status=404)).values
    assert values["apiwatch.flow"] == "reset"
    assert values["apiwatch.unknown_user"] is True


def test_app_reason_names_an_unknown_user_on_a_login() -> None:
    """A failed login whose event.reason is user_not_found has apiwatch.unknown_user."""
    values = to_record(
        event(action="authn_login_fail", **{"event.reason": "user_not_found"})
    ).values
    assert values["apiwatch.unknown_user"] is True


def test_owner_in_route_other_than_the_caller_is_foreign() -> None:
    """/users/{id}/... read by another user is foreign; by its owner it is not."""
    other = event(path="/api/v1/users/42/orders", user="mallory", **{"user.id": "7"})
    own = event(path="/api/v1/users/7/orders", user="mallory", **{"user.id": "7"})
    assert to_record(other).values["apiwatch.foreign"] is True
    assert to_record(own).values.get("apiwatch.foreign") is None
    assert to_record(own).values["apiwatch.owner_id"] == "7"


def test_user_target_id_names_the_owner() -> None:
    """ECS user.target.id different from the caller makes the read foreign."""
    values = to_record(event(user="mallory", **{"user.id": "7", "user.target.id": "9"})).values
    assert (values["apiwatch.owner_id"], values["apiwatch.foreign"]) == ("9", True)


@pytest.mark.parametrize(
    ("query", "offset"),
    [
        ("page=3&per_page=50", 100),
        ("offset=4000&limit=100", 4000),
        ("page=2", 20),
        ("q=page", None),
    ],
)
def test_page_offset_is_how_deep_a_list_read_goes(query: str, offset: int | None) -> None:
    """offset, or (page - 1) * page size (20 by default), from the query."""
    assert to_record(event(query=query)).values.get("apiwatch.page_offset") == offset


@pytest.mark.parametrize("query", ["page=" + "9" * 5000, "offset=\u00b2", "page=\u0663&limit=x"])
def test_hostile_page_numbers_are_no_offset(query: str) -> None:
    """A 5,000-digit page, superscript or non-ASCII digits give no offset and no error."""
    assert to_record(event(query=query)).values.get("apiwatch.page_offset") is None


def test_account_change_needs_an_accepted_write() -> None:
    """A 2xx PATCH of the account's e-mail is an e-mail change; a GET or a 400 is not."""
    route = "/api/v1/account/email"
    assert to_record(event(method="PATCH", path=route)).values["apiwatch.account_change"] == "email"
    assert "apiwatch.account_change" not in to_record(event(path=route)).values
    failed = event(method="PATCH", path=route, status=400)
    assert "apiwatch.account_change" not in to_record(failed).values


def test_password_reset_through_the_mail_is_no_account_change() -> None:
    """authn_password_change on a reset route, or with reason "password reset", is the owner's
    recovery: no apiwatch.account_change; from the account's settings it is one."""
    reset = event(action="authn_password_change", method="POST", path="/api/v1/password/reset")
    told = event(
        action="authn_password_change", path="/api/v1/me", **{"event.reason": "Password reset"}
    )
    changed = event(action="authn_password_change", method="POST", path="/api/v1/me/password")
    assert "apiwatch.account_change" not in to_record(reset).values
    assert "apiwatch.account_change" not in to_record(told).values
    assert to_record(changed).values["apiwatch.account_change"] == "password"


def test_user_updated_names_the_change_in_its_reason() -> None:
    """user_updated with reason "e-mail changed" is an e-mail change; "avatar" is none."""
    email = event(action="user_updated", path="/api/v1/me", **{"event.reason": "e-mail changed"})
    avatar = event(action="user_updated", path="/api/v1/me", **{"event.reason": "new avatar"})
    assert to_record(email).values["apiwatch.account_change"] == "email"
    assert to_record(avatar).values.get("apiwatch.account_change") is None


def test_net64_is_set_for_ipv6_only() -> None:
    """An IPv6 source gets its /64; an IPv4 source none."""
    assert to_record(event(ip="2001:db8:1:2:aa::1")).values["apiwatch.net64"] == "2001:db8:1:2::/64"
    assert "apiwatch.net64" not in to_record(event(ip="192.0.2.1")).values


def test_timing_marks_only_failures_far_faster_than_a_password_check() -> None:
    """After 20 successes near 250 ms, a 3 ms failure is an unknown user, a 200 ms one is not."""
    timing = LoginTiming()
    for n in range(20):
        timing({"event.duration": (240 + n) * 1_000_000}, "success")
    fast: dict[str, object] = {"event.duration": 3_000_000}
    slow: dict[str, object] = {"event.duration": 200_000_000}
    timing(fast, "fail")
    timing(slow, "fail")
    assert fast.get("apiwatch.unknown_user") is True
    assert "apiwatch.unknown_user" not in slow


def test_timing_waits_for_enough_successes() -> None:
    """With fewer than 20 successful logins seen, no failure is judged by its speed."""
    timing = LoginTiming()
    for _ in range(19):
        timing({"event.duration": 250_000_000}, "success")
    fast: dict[str, object] = {"event.duration": 1_000_000}
    timing(fast, "fail")
    assert "apiwatch.unknown_user" not in fast


def test_share_needs_a_value_count(tmp_path: Path) -> None:
    """A share option on an event_count correlation is an error naming the option."""
    share = "apiwatch: {share: {field: user.name, value: x, min: 0.5}}\n"
    text = rules(
        detection("base", "sel: {sc-status: 401}\ncondition: sel"),
        correlation("c", "type: event_count\nrules: [base]\ngroup-by: [source.ip]\ntimespan: 5m\n"
                    "condition: {gte: 2}") + share,
    )  # fmt: skip
    ruleset = load(tmp_path, text, clean=False)
    assert "c" not in ruleset.rules
    assert any("share needs a value_count" in str(p) for p in ruleset.problems)


@pytest.mark.parametrize(
    "share", ["{field: user.name, min: 0.5}", "{field: user.name, value: x, min: 2}"]
)
def test_a_malformed_share_is_an_error(tmp_path: Path, share: str) -> None:
    """share without a value, or with a min above 1, is an error and the rule is left out."""
    text = rules(
        detection("base", "sel: {sc-status: 401}\ncondition: sel"),
        correlation("c", "type: value_count\nrules: [base]\ngroup-by: [source.ip]\ntimespan: 5m\n"
                    "condition: {gte: 2, field: user.name}") + f"apiwatch: {{share: {share}}}\n",
    )  # fmt: skip
    ruleset = load(tmp_path, text, clean=False)
    assert "c" not in ruleset.rules
    assert any("share" in str(p) for p in ruleset.errors)


def test_share_holds_back_a_group_until_enough_values_are_marked(tmp_path: Path) -> None:
    """value_count with share fires only once half the distinct values were last seen marked."""
    text = rules(
        detection("base", "sel: {sc-status: [401, 404]}\ncondition: sel"),
        correlation("c", "type: value_count\nrules: [base]\ngroup-by: [source.ip]\ntimespan: 5m\n"
                    "condition: {gte: 4, field: user.name}")
        + "apiwatch: {share: {field: http.response.status_code, value: 404, min: 0.5}}\n",
    )  # fmt: skip
    ruleset = load(tmp_path, text)
    statuses = [401, 401, 401, 404, 404, 404]
    engine = Engine(ruleset, lateness=0)
    for n, status in enumerate(statuses):
        engine.feed(event(n, status=status, user=f"u{n}"))
        fired = alerts_of(engine, "c")
        assert bool(fired) == (n == 5), n  # four, five values: under half marked; six: half


def test_ipv6_rotation_in_one_64_is_one_source() -> None:
    """Forty tries from forty addresses of one /64 raise credential-stuffing-source for it."""
    events = [login(n * 5, f"2001:db8:66:1::{n + 1:x}", f"user{n}", ok=False) for n in range(40)]
    found = alerts_of(run(BUILTIN, events), "credential-stuffing-source")
    assert [a.group for a in found] == [{"apiwatch.net64": "2001:db8:66:1::/64"}]
    assert len(found[0].attackers) == 40


def test_one_ipv6_address_stays_a_per_source_matter() -> None:
    """One address failing 40 accounts raises the per-source alert only, not a /64 one."""
    events = [login(n * 5, "2001:db8:66:1::1", f"user{n}", ok=False) for n in range(40)]
    groups = [a.group for a in alerts_of(run(BUILTIN, events), "credential-stuffing-source")]
    assert groups == [{"source.ip": "2001:db8:66:1::1"}]


def test_declared_monitor_account_never_alerts() -> None:
    """A monitor account failing every 20 s (not strictly periodic) is never brute force."""
    events = [login(n * 20 + n % 3, "198.51.100.250", "canary", ok=False) for n in range(30)]
    monitors = SyntheticTraffic(monitor_accounts=("canary",))
    engine = run(BUILTIN, events, synthetic=monitors)
    assert alerts_of(engine) == []
    assert engine.stats.synthetic == 30
    assert alerts_of(run(BUILTIN, events), "brute-force-account") != []


def test_monitor_agent_outside_its_networks_is_not_trusted() -> None:
    """A monitor's user agent from outside monitor_networks is counted like anyone's."""
    events = [
        login(n * 20, "203.0.113.9", f"u{n}", ok=False, ua="UptimeRobot/2.0") for n in range(30)
    ]
    monitors = SyntheticTraffic(
        monitor_agents=("UptimeRobot/*",), monitor_networks=("198.51.100.0/24",)
    )
    assert alerts_of(run(BUILTIN, events, synthetic=monitors), "credential-stuffing-source") != []


def test_test_accounts_and_loadtest_networks_are_synthetic() -> None:
    """Declared test accounts (a pattern) and load-test networks feed no rule."""
    synthetic = SyntheticTraffic(
        test_accounts=("qa-*@example.com",), loadtest_networks=("10.20.0.0/16",)
    )
    stuffing = [login(n, "203.0.113.9", f"qa-{n}@example.com", ok=False) for n in range(40)]
    flood = [event(n * 0.1, ip="10.20.3.4", path=f"/x{n}", status=404) for n in range(300)]
    engine = run(BUILTIN, [*stuffing, *flood], synthetic=synthetic)
    assert alerts_of(engine) == []
    assert engine.stats.synthetic == 340


def test_a_bad_network_is_a_config_error() -> None:
    """A load-test network that is not a network is refused, naming the setting."""
    with pytest.raises(ConfigError, match="loadtest_networks"):
        SyntheticTraffic(loadtest_networks=("10.20.0.0/33",))


def test_periodic_canary_of_one_source_and_one_account_only() -> None:
    """A source failing two accounts on a strict period is no canary: brute force fires."""
    events = []
    for n in range(24):
        events.append(login(n * 30, "198.51.100.250", "canary", ok=False))
        events.append(login(n * 30 + 1, "198.51.100.250", "admin", ok=False))
    found = {a.group["user.name"] for a in alerts_of(run(BUILTIN, events), "brute-force-account")}
    assert found == {"canary", "admin"}


def test_geo_lookup_is_asked_for_successful_logins_only() -> None:
    """The engine asks its geo lookup about login successes, not about other events."""
    asked: list[str] = []

    def lookup(ip: str) -> tuple[str | None, int | None]:
        asked.append(ip)
        return "FR", 3215

    engine = Engine(BUILTIN, lateness=0, geo=lookup)
    engine.feed(event(0, ip="192.0.2.1"))
    engine.feed(login(1, "192.0.2.2", "alice", ok=False))
    engine.feed(login(2, "192.0.2.3", "alice", ok=True))
    assert asked == ["192.0.2.3"]


def test_takeover_joins_the_incident_of_the_attack_before_it() -> None:
    """A stuffing source's hit on an account with history, then an e-mail change: one incident
    holding the stuffing and the takeover, the account compromised."""
    home = [login(t, "192.0.2.10", "alice", ok=True) for t in (0, 600, 1200)]
    stuffing = [login(2000 + n * 3, "203.0.113.9", f"user{n}", ok=False) for n in range(20)]
    hit = login(2070, "203.0.113.9", "alice", ok=True)
    change = event(2100, ip="203.0.113.9", method="PATCH", path="/api/v1/me/email", user="alice")
    engine = run(BUILTIN, [*home, *stuffing, hit, change])
    [incident] = [i for i in engine.incidents() if "account-takeover-persistence" in i.rules]
    assert {"credential-stuffing-source", "account-takeover-persistence"} <= set(incident.rules)
    assert incident.attackers == ["203.0.113.9"]
    assert incident.accounts_compromised == ["alice"]
