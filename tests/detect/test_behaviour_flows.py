"""What the login memory takes as an account in use from a source (an answered authenticated
request, never a password-reset or sign-up request naming the account asked about: an
enumerator's list would otherwise look like a crowd of users), what is no crowd (a source where
most logins fail), and who a brute force against one account names: never its owner mistyping
once."""

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


def _login(ip: str, account: str, outcome: str) -> dict[str, object]:
    return {"source.ip": ip, "user.name": account, "url.path": "/login", "apiwatch.login": outcome}


def test_a_source_where_most_logins_fail_is_no_crowd_however_high_the_site_ratio() -> None:
    """A stuffing source that got into four accounts (one check each) is no crowd while a run
    elsewhere pushes the site's failure ratio to 0.6: more than half its logins failed."""
    memory = LoginMemory()
    for n in range(600):  # the run elsewhere
        memory.see(_login(f"100.64.{n // 250}.{n % 250}", f"leaked{n}@x.example", "fail"), n)
    for n in range(400):  # ordinary customers
        memory.see(_login(f"10.0.{n // 250}.{n % 250}", f"c{n}@x.example", "success"), n)
    for n in range(20):
        memory.see(_login("203.0.113.9", f"combo{n}@x.example", "fail"), 700.0 + n)
    for n in range(4):
        memory.see(_login("203.0.113.9", f"c{n}@x.example", "success"), 720.0 + n)
        memory.see(
            _request("203.0.113.9", f"c{n}@x.example", "/api/v1/orders", 200, None), 720.5 + n
        )
    assert memory.site_failure_ratio() > 0.55
    assert not memory.is_crowd("203.0.113.9")
    assert memory.judge("203.0.113.9").attacker
