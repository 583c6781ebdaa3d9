"""The replay extension (`apiwatch.detect.replay`): a bearer token or session cookie used from a
new network with a new client between two of its owner's uses, run with the built-in rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apiwatch.detect import RuleSet, builtin_dir, load_rules
from apiwatch.detect.replay import FOREIGN
from apiwatch.model import Event
from tests.detect.helpers import alerts_of, event, load, login, run

TOKEN = "5d1c0ffee5d1c0ffee5d1c0ffee5d1c0"
OWNER = "julia.lee@example.org"
HOME = "192.0.2.44"
THIEVES = ("203.0.113.41", "198.51.100.77")
APP = "ShopApp/4.2.1 (Android 15; Pixel 9 Pro)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0 Safari/537.36"


@pytest.fixture(scope="module")
def builtin() -> RuleSet:
    return load_rules([builtin_dir()])


def use(t: float, ip: str, ua: str, **more: Any) -> Event:
    """One answered request carrying the token."""
    return event(t, ip=ip, ua=ua, user=OWNER, path="/api/v1/me", labels={"token_id": TOKEN},
                 **more)  # fmt: skip


def owner(start: float = 0, end: float = 3600, *, ip: str = HOME, **more: Any) -> list[Event]:
    """The owner's app refreshing every five minutes."""
    return [use(t, ip, APP, **more) for t in range(int(start), int(end), 300)]


def replay(ips: tuple[str, ...] = THIEVES, ua: str = BROWSER, **more: Any) -> list[Event]:
    """The token read from ``ips`` in turn, from 25 minutes in, for five minutes."""
    return [use(1500 + n * 40, ips[n % len(ips)], ua, **more) for n in range(8)]


def scan(ruleset: RuleSet, events: list[Event]) -> Any:
    return run(ruleset, sorted(events, key=lambda e: e.timestamp))


def test_a_token_replayed_from_two_servers_names_both_and_never_its_owner(
    builtin: RuleSet,
) -> None:
    """Two thieves interleaved with the owner's use are named; the owner's home is not; the
    owner's account is compromised; each thief carries its evidence in words."""
    engine = scan(builtin, owner() + replay())
    (alert,) = alerts_of(engine, "token-replayed")
    assert alert.attackers == sorted(THIEVES)
    assert alert.accounts == [OWNER]
    (incident,) = [i for i in engine.incidents() if "token-replayed" in i.rules]
    assert incident.attackers == sorted(THIEVES)
    assert HOME not in incident.attackers
    assert incident.accounts_compromised == [OWNER]
    for thief in THIEVES:
        why = " | ".join(incident.attacker_evidence[thief])
        assert "a network its owner never used it from" in why
        assert f"client its owner never used: {BROWSER}" in why
        assert f"its owner's use from {HOME}" in why


def test_the_owners_client_from_other_networks_is_the_owner(builtin: RuleSet) -> None:
    """The same replay with the owner's own client (a phone off the wifi, a partner's second
    server) raises nothing."""
    engine = scan(builtin, owner() + replay(ua=APP))
    assert alerts_of(engine, "token-replayed") == []


def test_a_browser_updated_on_the_way_is_not_a_new_client(builtin: RuleSet) -> None:
    """The app updated on the carrier and back home with the new version raises nothing; the
    old version still in use at home alongside the new one elsewhere is two installs: named."""
    new = APP.replace("4.2.1", "4.3.0")
    updated = owner(0, 1400) + replay(ips=("100.64.12.7",), ua=new) + [use(2000, HOME, new)]
    assert alerts_of(scan(builtin, updated), "token-replayed") == []
    (alert,) = alerts_of(scan(builtin, owner() + replay(ua=new)), "token-replayed")
    assert alert.attackers == sorted(THIEVES)


def test_another_client_on_the_owners_network_is_the_owner(builtin: RuleSet) -> None:
    """A laptop beside the phone on the home network (its /16) raises nothing."""
    engine = scan(builtin, owner() + replay(ips=("192.0.2.45", "192.0.77.9")))
    assert alerts_of(engine, "token-replayed") == []


def test_use_after_the_owner_left_is_not_interleaved(builtin: RuleSet) -> None:
    """The owner stopped 20 minutes before the other use and never came back: nothing; had
    the owner come back, the same use would have been named."""
    quiet = scan(builtin, owner(0, 300) + replay())
    assert alerts_of(quiet, "token-replayed") == []
    back = scan(builtin, owner(0, 300) + owner(1200, 1300) + replay() + owner(1900, 2000))
    assert alerts_of(back, "token-replayed")[0].attackers == sorted(THIEVES)


def test_with_geo_data_the_network_is_the_autonomous_system(builtin: RuleSet) -> None:
    """Another /16 of the owner's own AS is the owner's network; another AS is not."""
    same_as = owner(**{"source.as.number": 3320}) + replay(**{"source.as.number": 3320})
    assert alerts_of(scan(builtin, same_as), "token-replayed") == []
    other_as = owner(**{"source.as.number": 3320}) + replay(**{"source.as.number": 14061})
    assert alerts_of(scan(builtin, other_as), "token-replayed")[0].attackers == sorted(THIEVES)


def test_an_address_the_owner_logged_in_from_is_never_named(builtin: RuleSet) -> None:
    """An address the owner logged in from is the owner's, whatever client uses the token there."""
    office, thief = THIEVES
    events = [login(1000, office, OWNER, ok=True, ua=BROWSER), *owner(), *replay((office,))]
    events += [use(1530 + n * 40, thief, CHROME) for n in range(4)]
    (alert,) = alerts_of(scan(builtin, events), "token-replayed")
    assert alert.attackers == [thief]


def test_foreign_addresses_followed_per_token_are_bounded(builtin: RuleSet) -> None:
    """A token sprayed from a hundred addresses keeps at most `FOREIGN` of them in memory."""
    spray = tuple(f"100.{64 + n}.0.1" for n in range(100))
    engine = scan(builtin, owner() + [use(1500 + n, ip, BROWSER) for n, ip in enumerate(spray)])
    (state,) = [r for r in engine.replays if r.rule.meta.key == "token-replayed"]
    assert len(state.credentials[TOKEN].foreign) == FOREIGN


def test_a_token_idle_for_the_window_is_forgotten(builtin: RuleSet) -> None:
    """A token last used an hour ago holds no memory; one in use does."""
    later = [event(t, ip=HOME, ua=APP, labels={"token_id": "other"}) for t in range(0, 5400, 300)]
    engine = scan(builtin, owner(0, 1200) + later)
    (state,) = [r for r in engine.replays if r.rule.meta.key == "token-replayed"]
    assert list(state.credentials) == ["other"]


def test_token_many_ips_names_the_replaying_addresses_not_the_owner(builtin: RuleSet) -> None:
    """The alert of one token from five addresses leaves out where the token was first used."""
    ips = (HOME, *(f"100.{64 + n}.0.1" for n in range(5)))
    events = [use(n * 20, ip, APP) for n, ip in enumerate(ips)]
    (alert,) = alerts_of(scan(builtin, events), "token-many-ips")
    assert alert.attackers == sorted(ips[1:])


def test_a_replay_rule_groups_by_a_credential(tmp_path: Path) -> None:
    """A replay rule grouped by anything but a token or session fingerprint is refused."""
    ruleset = load(tmp_path, REPLAY_BY_USER, clean=False)
    assert "replay" not in ruleset.rules
    assert any("groups by a credential" in str(p) for p in ruleset.problems)


REPLAY_BY_USER = """
title: use
name: use
logsource: {category: webserver}
detection: {sel: {user.name|exists: true}, condition: sel}
---
title: replay
name: replay
apiwatch: {type: replay, rules: [use], group-by: user.name, timespan: 30m}
"""
