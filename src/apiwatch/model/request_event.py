"""How an HTTP request becomes an event: the one rule the sensor, the traffic simulator and the
golden-case maker all follow (they import it; none keeps a copy).

- A request is a login attempt when it is a POST, PUT or PATCH to a login path
  (`is_login_attempt`).
- A login's response decides its action (`login_action`): 429 is a rate limit; a 1xx or 5xx is no
  login outcome (the request failed); a 4xx, or a failure the app showed, is a failure; a redirect
  proves nothing (many apps redirect a failed login back to the form): unknown; a 2xx is what its
  answer says.
- A request's action (`request_action`): the login's first, then a known attack tool's user agent
  ``malicious_attack_tool``, 403 ``authz_fail``, 429 ``excess_rate_limit_exceeded``, anything else
  ``http_request``.
- The event (`request_event`) carries the action's fixed fields (`ACTION_DEFAULTS`). Its outcome is
  ``failure`` when the request failed (``failure`` gives ``event.reason``), ``unknown`` for a login
  that cannot be judged (action ``http_request``, ``labels.login: unknown``: never called a
  success), else the action's own or the status code's. A login event names the account tried.
- Its labels (`request_labels`): the route template, the token and session fingerprints, the
  attack tool.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from apiwatch.model.defaults import ACTION_DEFAULTS, ActionDefaults
from apiwatch.model.event import Event, EventMeta, Http, HttpRequest, HttpResponse, Trace, Url, User
from apiwatch.model.vocabulary import Action

if TYPE_CHECKING:
    from apiwatch.model.event import Host, Service, Source, UserAgent

__all__ = [
    "LOGIN_METHODS",
    "UNKNOWN",
    "Verdict",
    "http_response",
    "is_login_attempt",
    "judge",
    "login_action",
    "request_action",
    "request_event",
    "request_labels",
]

#: The methods of a login attempt (a form post, or an API's create/update of a session).
LOGIN_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: The verdict on a login whose outcome cannot be told: never reported as a success.
UNKNOWN: Final = "unknown"

#: What a request's response says it was: an OWASP action, or a login of unknown outcome.
Verdict: TypeAlias = Action | Literal["unknown"]

# Enum members as plain globals: reading ``Action.X`` goes through the enum metaclass's
# ``__getattr__`` hook in CPython 3.11, several times the cost of a global, on every request.
_HTTP_REQUEST = Action.HTTP_REQUEST
_LOGIN_FAIL = Action.AUTHN_LOGIN_FAIL
_LOGIN_SUCCESS = Action.AUTHN_LOGIN_SUCCESS
_ATTACK_TOOL = Action.MALICIOUS_ATTACK_TOOL
_AUTHZ_FAIL = Action.AUTHZ_FAIL
_RATE_LIMITED = Action.EXCESS_RATE_LIMIT_EXCEEDED
_FIXED = ACTION_DEFAULTS
_FIXED_HTTP_REQUEST = ACTION_DEFAULTS[Action.HTTP_REQUEST]


def is_login_attempt(method: str, path: str, login_paths: Container[str]) -> bool:
    """Whether a request is a login attempt: a POST, PUT or PATCH to one of ``login_paths``."""
    return method in LOGIN_METHODS and path in login_paths


def login_action(status: int, answer: Verdict, *, failure_shown: bool = False) -> Verdict | None:
    """A login attempt's action from its response; None when it is no login outcome (1xx, 5xx).

    ``answer`` is what a 2xx answer says (a JSON API's is a success); ``failure_shown`` that the
    app said the login failed whatever the status (a failure header or body, say).
    """
    if status == 429:
        return _RATE_LIMITED
    if status >= 500 or status < 200:
        return None
    if status >= 400 or failure_shown:
        return _LOGIN_FAIL
    return UNKNOWN if status >= 300 else answer


def request_action(status: int, attack_tool: str | None, login: Verdict | None = None) -> Verdict:
    """A request's verdict: a login's own (`login_action`), then tools, 403, 429, else a request."""
    if login is not None:
        return login
    return _ATTACK_TOOL if attack_tool else _BY_STATUS.get(status, _HTTP_REQUEST)


_BY_STATUS: Final = {403: _AUTHZ_FAIL, 429: _RATE_LIMITED}


def request_labels(
    route: str | None, token_id: str | None, session_id: str | None, attack_tool: str | None
) -> dict[str, str]:
    """A request event's ``labels``: those of its parts that are known, in this order."""
    labels: dict[str, str] = {}
    if route:
        labels["route"] = route
    if token_id:
        labels["token_id"] = token_id
    if session_id:
        labels["session_id"] = session_id
    if attack_tool:
        labels["attack_tool"] = attack_tool
    return labels


def request_event(  # noqa: PLR0917 - positional: the sensor calls it on every request
    verdict: Verdict | None,
    status: int,
    attack_tool: str | None,
    timestamp: datetime,
    event_id: str,
    method: str | None,
    path: str | None,
    source: Source,
    labels: dict[str, str],
    service: Service | None = None,
    host: Host | None = None,
    request_id: str | None = None,
    query: str | None = None,
    duration: int | None = None,
    user_agent: UserAgent | None = None,
    user_name: str | None = None,
    login_user: str | None = None,
    user_id: str | None = None,
    trace_id: str | None = None,
    failure: str | None = None,
) -> Event:
    """The event of a request (see the module docstring).

    ``verdict`` is what a login's response (`login_action`) or a decision imposed on the request
    says it was; None classifies it by ``attack_tool`` and ``status`` as `request_action` does.
    ``labels`` is the event's own (an unknown login adds ``login: unknown`` to it); ``login_user``
    is the account a login attempt named, ``user_name`` the authenticated user. The arguments may
    be passed by position, in this order: the sensor does, once per request, because CPython
    3.11 matches keyword arguments to a Python function's parameters slowly.
    """
    fixed, outcome, is_login = judge(verdict, status, attack_tool, failure, labels)
    if is_login and login_user:
        user_name = login_user
    return Event(
        timestamp=timestamp,
        event=EventMeta(
            id=event_id,
            action=fixed.action,
            kind="event",
            category=fixed.category,
            type=fixed.type,
            outcome=outcome,
            duration=duration,
            severity=fixed.severity,
            reason=failure,
        ),
        log=fixed.log,
        source=source,
        http=Http(
            request=HttpRequest(method=method, id=request_id),
            response=_RESPONSES.get(status) or http_response(status),  # no call once cached
        ),
        url=Url(path=path, query=query),
        user_agent=user_agent,
        user=User(name=user_name, id=user_id) if user_name or user_id else None,
        trace=Trace(id=trace_id) if trace_id else None,
        service=service,
        host=host,
        labels=labels,
    )


def judge(
    verdict: Verdict | None,
    status: int,
    attack_tool: str | None,
    failure: str | None,
    labels: dict[str, str],
) -> tuple[ActionDefaults, str, bool]:
    """A request's fixed fields, outcome and whether it is a login, as `request_event` says.

    Adds ``login: unknown`` to ``labels`` for a login whose outcome cannot be told. Shared with
    `apiwatch.model.request_line`, which writes the same event without building it.
    """
    if verdict is None:  # `request_action` without a login, inlined: it runs on every request
        verdict = _ATTACK_TOOL if attack_tool else _BY_STATUS.get(status, _HTTP_REQUEST)
    if verdict is _HTTP_REQUEST:  # most requests: no dict lookup keyed by an enum
        is_login, fixed = False, _FIXED_HTTP_REQUEST
    elif isinstance(verdict, Action):
        is_login = verdict is _LOGIN_FAIL or verdict is _LOGIN_SUCCESS
        fixed = _FIXED[verdict]
    else:  # a login whose outcome cannot be told
        is_login, fixed = True, _FIXED_HTTP_REQUEST
        labels["login"] = UNKNOWN
    if failure:
        outcome = "failure"
    elif fixed is _FIXED_HTTP_REQUEST and is_login:
        outcome = UNKNOWN
    else:
        outcome = fixed.outcome or ("success" if status < 400 else "failure")
    return fixed, outcome, is_login


_RESPONSES: dict[int, HttpResponse] = {}


def http_response(status: int) -> HttpResponse:
    """``http.response`` for a status, built once per status code and shared by events."""
    part = _RESPONSES.get(status)
    if part is None:
        part = HttpResponse(status_code=status)
        if 100 <= status <= 999:  # a status code has three digits: a bounded cache
            _RESPONSES[status] = part
    return part
