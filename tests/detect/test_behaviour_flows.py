"""What the login memory takes as an account in use from a source (an answered authenticated
request, never a password-reset or sign-up request naming the account asked about: an
enumerator's list would otherwise look like a crowd of users), and who a brute force against
one account names: never its owner mistyping once."""

from __future__ import annotations

from apiwatch.detect import builtin_dir, load_rules
from apiwatch.detect.behaviour import LoginMemory
from tests.detect.helpers import event, login, run

ENUMERATOR = "146.190.171.129"
OFFICE = "198.51.100.10"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"


def _request(ip: str, account: str, path: str, status: int, flow: str | None) -> dict[str, object]:
    values: dict[str, object] = {"source.ip": ip, "user.name": account, "url.path": path}
    values["http.response.status_code"] = status
    if flow is not None:
        values["apiwatch.flow"] = flow
    return values


def test_reset_requests_naming_accounts_do_not_make_a_crowd() -> None:
    """A source asking password reset about many existing accounts is not a crowd."""
    memory = LoginMemory()
    for n in range(40):
        asked = f"user{n}@example.org"
        memory.see(_request(ENUMERATOR, asked, "/api/v1/password/forgot", 202, "reset"), float(n))
    assert not memory.is_crowd(ENUMERATOR)
    assert not memory.established(f"user{3}@example.org", ENUMERATOR)


def test_authenticated_requests_of_many_accounts_are_a_crowd() -> None:
    """The same number of accounts each making an answered request from one address is."""
    memory = LoginMemory()
    for n in range(40):
        memory.see(_request(OFFICE, f"user{n}@example.org", "/api/v1/orders", 200, None), float(n))
    assert memory.is_crowd(OFFICE)


def test_the_owner_typing_during_a_brute_force_is_no_attacker_and_the_guess_is_a_takeover() -> None:
    """A brute force against one account while its owner mistypes once and gets in: the owner
    is not named, and the attacker's own guessed login (after the owner's) is the compromise."""
    attacker, owner = "203.0.113.204", "198.51.100.77"
    events = [login(float(n * 10), attacker, "ibrandt", ok=False) for n in range(30)]
    events += [login(305.0, owner, "ibrandt", ok=False, ua=BROWSER)]
    events += [login(310.0, owner, "ibrandt", ok=True, ua=BROWSER)]
    events += [
        event(315.0 + n * 20, ip=owner, path=f"/api/v1/orders/{n}", user="ibrandt", ua=BROWSER)
        for n in range(4)
    ]
    events += [login(400.0 + n * 10, attacker, "ibrandt", ok=False) for n in range(9)]
    events += [login(500.0, attacker, "ibrandt", ok=True)]
    events += [event(506.0, ip=attacker, path="/api/v1/orders/9", user="ibrandt")]
    engine = run(load_rules([builtin_dir()]), sorted(events, key=lambda e: e.timestamp))
    (incident,) = [i for i in engine.incidents() if "ibrandt" in i.accounts_targeted]
    assert owner not in incident.attackers
    assert attacker in incident.attackers
    assert incident.accounts_compromised == ["ibrandt"]
