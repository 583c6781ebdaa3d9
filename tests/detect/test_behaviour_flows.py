"""What the login memory takes as an account in use from a source: an answered authenticated
request, never a password-reset or sign-up request naming the account asked about (an
enumerator's list would otherwise make it look like a crowd of users)."""

from __future__ import annotations

from apiwatch.detect.behaviour import LoginMemory

ENUMERATOR = "146.190.171.129"
OFFICE = "198.51.100.10"


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
