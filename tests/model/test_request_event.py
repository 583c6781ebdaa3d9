"""`apiwatch.model.request_event`: the one rule by which a request becomes an event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apiwatch.model import Action, Event, Source
from apiwatch.model.request_event import (
    UNKNOWN,
    Verdict,
    is_login_attempt,
    login_action,
    request_action,
    request_event,
    request_labels,
)

LOGIN = Action.AUTHN_LOGIN_SUCCESS
FAIL = Action.AUTHN_LOGIN_FAIL


def _event(
    verdict: Verdict | None,
    status: int,
    *,
    labels: dict[str, str] | None = None,
    attack_tool: str | None = None,
    **parts: str | None,
) -> Event:
    return request_event(
        verdict,
        status,
        attack_tool,
        timestamp=datetime(2026, 3, 2, tzinfo=UTC),
        event_id="e1",
        method="POST",
        path="/login",
        source=Source(ip="192.0.2.1"),
        labels=labels if labels is not None else {},
        **parts,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [("POST", "/login", True), ("PUT", "/login", True), ("PATCH", "/login", True),
     ("GET", "/login", False), ("POST", "/logout", False)],
)  # fmt: skip
def test_login_attempt_is_a_write_to_a_login_path(method: str, path: str, expected: bool) -> None:
    """A login attempt is a POST, PUT or PATCH to a login path, nothing else."""
    assert is_login_attempt(method, path, {"/login"}) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, Action.EXCESS_RATE_LIMIT_EXCEEDED), (500, None), (101, None), (401, FAIL),
     (302, UNKNOWN), (200, LOGIN)],
)  # fmt: skip
def test_login_action_follows_the_status(status: int, expected: Verdict | None) -> None:
    """A login's status: 429 a rate limit, 1xx/5xx no outcome, 4xx a failure, 3xx unknown."""
    assert login_action(status, LOGIN) == expected


def test_a_shown_failure_is_a_failure_whatever_the_answer() -> None:
    """A 2xx login whose response shows a failure is a failure, never a success."""
    assert login_action(200, LOGIN, failure_shown=True) is FAIL


def test_request_action_puts_logins_before_tools_and_tools_before_status() -> None:
    """The login's verdict wins over a tool's user agent, which wins over 403 and 429."""
    assert request_action(401, "sqlmap", FAIL) is FAIL
    assert request_action(403, "sqlmap") is Action.MALICIOUS_ATTACK_TOOL
    assert request_action(403, None) is Action.AUTHZ_FAIL
    assert request_action(429, None) is Action.EXCESS_RATE_LIMIT_EXCEEDED
    assert request_action(404, None) is Action.HTTP_REQUEST


def test_labels_keep_their_order_and_skip_what_is_unknown() -> None:
    """Labels are route, token, session, tool, in that order, each only when known."""
    labels = request_labels("/r", None, "s", "nikto")
    assert list(labels.items()) == [("route", "/r"), ("session_id", "s"), ("attack_tool", "nikto")]


def test_an_unknown_login_is_never_called_a_success() -> None:
    """A login of unknown outcome is an http_request with outcome and labels.login unknown."""
    event = _event(UNKNOWN, 302, labels={"route": "/login"}, login_user="ann", user_name="bob")
    assert (event.event.action, event.event.outcome) == ("http_request", "unknown")
    assert event.labels == {"route": "/login", "login": "unknown"}
    assert event.user is not None and event.user.name == "ann"


def test_a_login_event_names_the_account_tried() -> None:
    """A login event's user.name is the account tried; another request's is the user's."""
    login = _event(FAIL, 401, login_user="ann", user_name="bob")
    plain = _event(None, 200, login_user="ann", user_name="bob")
    assert login.user is not None and login.user.name == "ann"
    assert plain.user is not None and plain.user.name == "bob"
    assert (login.event.outcome, plain.event.outcome) == ("failure", "success")


def test_without_a_verdict_the_tool_and_status_decide() -> None:
    """No verdict: a tool's request is malicious_attack_tool, its outcome by the status."""
    event = _event(None, 200, attack_tool="sqlmap")
    assert (event.event.action, event.event.outcome) == ("malicious_attack_tool", "success")


def test_a_failed_request_has_a_failure_outcome_and_reason() -> None:
    """A failure given to the event makes its outcome failure whatever the status."""
    event = _event(None, 200, failure="the app raised")
    assert (event.event.outcome, event.event.reason) == ("failure", "the app raised")
