"""Login attempts are inferred from access-log routes: defaults and user-configured patterns."""

from __future__ import annotations

import pytest

from apiwatch.model import Action, ConfigError, Event
from apiwatch.sources import DEFAULT_LOGINS, LoginPatterns, parse_access_line
from apiwatch.sources.logins import FailureSize


def line(method: str, target: str, status: int) -> str:
    return (
        f'203.0.113.7 - - [10/Oct/2026:13:55:36 +0000] "{method} {target} HTTP/1.1" {status} 45 '
        '"-" "python-requests/2.31.0"'
    )


def parse(text: str, logins: LoginPatterns | None = DEFAULT_LOGINS) -> Event:
    event = parse_access_line(text, logins=logins)
    assert event is not None
    return event


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/api/v1/users/login",
        "/api/v1/users/login/",
        "/signin",
        "/auth/sign-in",
        "/session",
        "/api/sessions",
        "/token",
        "/oauth/token",
        "/v2/auth",
        "/Account/Login",
    ],
)
def test_default_patterns_match_common_login_routes(path: str) -> None:
    """A POST answered 401 on any default login route is an authn_login_fail."""
    assert parse(line("POST", path, 401)).event.action == "authn_login_fail"


@pytest.mark.parametrize("path", ["/loginhelp", "/login/reset", "/blog/login.html", "/tokens"])
def test_default_patterns_do_not_match_lookalikes(path: str) -> None:
    """Paths that merely contain a login word stay plain requests."""
    assert parse(line("POST", path, 401)).event.action == "http_request"


def test_login_failure_has_the_vocabulary_categorisation() -> None:
    """401 and 403 on a login route give the spec's category/type, outcome failure, severity."""
    spec = Action.AUTHN_LOGIN_FAIL.spec
    for status in (401, 403):
        meta = parse(line("POST", "/api/login", status)).event
        assert meta.action == "authn_login_fail"
        assert meta.category == list(spec.category) == ["authentication"]
        assert meta.type == list(spec.type)
        assert meta.outcome == "failure"
        assert meta.severity == spec.severity


@pytest.mark.parametrize("status", [200, 204, 302])
def test_login_success_on_2xx_and_3xx(status: int) -> None:
    """2xx and 3xx on a login route are authn_login_success with outcome success."""
    meta = parse(line("POST", "/api/login", status)).event
    assert (meta.action, meta.outcome) == ("authn_login_success", "success")
    assert meta.category == list(Action.AUTHN_LOGIN_SUCCESS.spec.category)
    assert meta.type == list(Action.AUTHN_LOGIN_SUCCESS.spec.type)


@pytest.mark.parametrize("status", [400, 404, 429, 500])
def test_other_statuses_on_a_login_route_stay_http_request(status: int) -> None:
    """A login route answering neither 401/403 nor 2xx/3xx stays an http_request."""
    meta = parse(line("POST", "/api/login", status)).event
    assert (meta.action, meta.category) == ("http_request", ["web"])


def test_query_string_does_not_hide_a_login() -> None:
    """The route is matched on the path only, so a query string does not hide a login."""
    assert parse(line("POST", "/login?next=/home", 401)).event.action == "authn_login_fail"


def test_get_on_a_login_route_is_not_a_login() -> None:
    """Only the configured methods count: GET /login (the form page) is a plain request."""
    assert parse(line("GET", "/login", 401)).event.action == "http_request"


def test_none_disables_inference() -> None:
    """logins=None leaves every request an http_request."""
    assert parse(line("POST", "/login", 401), logins=None).event.action == "http_request"


def test_custom_patterns_and_methods() -> None:
    """User patterns replace the defaults; methods are matched case-insensitively as given."""
    logins = LoginPatterns.from_strings([r"^/rpc/authenticate$", r"/2fa/verify"], ("put", "POST"))
    assert parse(line("PUT", "/rpc/authenticate", 403), logins).event.action == "authn_login_fail"
    assert parse(line("POST", "/x/2fa/verify", 200), logins).event.action == "authn_login_success"
    assert parse(line("POST", "/login", 401), logins).event.action == "http_request"
    assert parse(line("PUT", "/v1/rpc/authenticate", 401), logins).event.action == "http_request"


def test_bad_custom_pattern_is_named_in_the_error() -> None:
    """An invalid regular expression raises ConfigError naming that pattern."""
    with pytest.raises(ConfigError, match=r"'/login\(' is not a valid regular expression"):
        LoginPatterns.from_strings(["/ok", "/login("])


def test_empty_patterns_or_methods_are_rejected() -> None:
    """No patterns or no methods is a configuration error, not a silent no-op."""
    with pytest.raises(ConfigError, match="none given"):
        LoginPatterns.from_strings([])
    with pytest.raises(ConfigError, match="login methods"):
        LoginPatterns.from_strings(["/login"], methods=())


def test_matches_is_usable_directly() -> None:
    """LoginPatterns.matches answers for a method and path without parsing a line."""
    assert DEFAULT_LOGINS.matches("POST", "/api/v1/users/login")
    assert not DEFAULT_LOGINS.matches(None, "/login")
    assert not DEFAULT_LOGINS.matches("DELETE", "/session")


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("/login$:48", 48, 48), ("/login$:<=64", 0, 64), ("/api/auth:40-80", 40, 80)],
)
def test_a_failure_size_is_read_as_a_byte_range(text: str, low: int, high: int) -> None:
    """``ROUTE:SIZE`` gives the route and the byte range of its 2xx failure answers."""
    failure = FailureSize.parse(text)
    assert (failure.low, failure.high) == (low, high)
    assert failure.failed(text.rpartition(":")[0].rstrip("$"), low)
    assert not failure.failed("/elsewhere", low)
    assert not failure.failed(text.rpartition(":")[0].rstrip("$"), high + 1)


@pytest.mark.parametrize("text", ["/login", "/login:big", "/login:80-40", "(:12"])
def test_a_bad_failure_size_is_a_config_error(text: str) -> None:
    """A convention without a size, with a size that is no byte count or range, or with a
    route that is no regex is refused with a message."""
    with pytest.raises(ConfigError, match="login failure"):
        FailureSize.parse(text)


def test_a_2xx_answer_of_the_failure_size_parses_as_a_failed_login() -> None:
    """An access-log line answering 200 with the route's failure size is authn_login_fail;
    with another size it stays a success."""
    logins = DEFAULT_LOGINS.with_failures(["/login$:<=64"])
    template = (
        '203.0.113.4 - - [02/Mar/2026:09:00:00 +0000] "POST /api/login HTTP/1.1" 200 {} "-" "x"'
    )
    failed = parse_access_line(template.format(48), logins=logins)
    passed = parse_access_line(template.format(900), logins=logins)
    assert failed is not None and failed.event.action == "authn_login_fail"
    assert passed is not None and passed.event.action == "authn_login_success"
