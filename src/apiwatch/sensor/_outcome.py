"""How a login ended: what a library said, else what the whole response shows, else unknown.

A `LoginAttempt` is attached to a request (``RequestContext.login``) when the request is known to
be a login: a configured ``login_paths`` route, a framework view the adapter recognises (Django's
admin and ``LoginView``, allauth, DRF and simplejwt token views, Flask-Login's ``login_view``), or
an authentication library that reported an outcome while the request ran.

`login_action` decides, in this order (a failure is never called a success):

1. a library's own word (a signal or hook: `LoginAttempt.outcome`) wins over everything;
2. the status, as every login is judged (`apiwatch.model.request_event.login_action`): 429 is a
   rate limit; a 5xx is no login outcome at all (the request failed); a 4xx is a failure;
3. a library that signals only success (Flask-Login, Django's session login views, the
   FastAPI-Users hook) handled the login but did not signal it: a failure;
4. the configured failure convention (``login_failure_header``, ``login_failure_body``) matched;
5. a redirect proves nothing (many apps redirect a failed login back to the form): unknown;
6. a 2xx: a form posted and answered with HTML is the form again, a failure; a JSON answer is a
   success; anything else is unknown.
"""

from __future__ import annotations

from apiwatch.model import Action
from apiwatch.model.request_event import UNKNOWN, Verdict
from apiwatch.model.request_event import login_action as status_login_action

__all__ = ["UNKNOWN", "LoginAttempt", "is_form", "login_action"]

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginAttempt:
    """What is known of one login attempt while its request runs; mutated by adapters and hooks."""

    __slots__ = ("awaits_success", "body", "content_type", "field", "form", "marked", "outcome")

    def __init__(self, field: str | None = None) -> None:
        #: The body field naming the account (configured, or the recognised view's own).
        self.field = field
        #: The outcome a library reported (success or failure); None until one does.
        self.outcome: Action | None = None
        #: A library that reports every successful login handles this one.
        self.awaits_success = False
        #: The request body was a form (urlencoded or multipart).
        self.form = False
        #: The response's media type, lower case, without parameters ("" when none).
        self.content_type = ""
        #: The configured failure header was in the response.
        self.marked = False
        #: The first bytes of the response body; kept only when a body marker is configured.
        self.body: bytearray | None = None

    def report(self, succeeded: bool) -> None:
        """A library's word on this login; the last one said in a request stands."""
        self.outcome = Action.AUTHN_LOGIN_SUCCESS if succeeded else Action.AUTHN_LOGIN_FAIL

    def saw_request(self, content_type: str | None) -> None:
        self.form = is_form(content_type)

    def saw_response(self, content_type: str | None, *, marked: bool = False) -> None:
        self.content_type = (content_type or "").split(";", 1)[0].strip().lower()
        self.marked = self.marked or marked

    def keep_body(self, chunk: bytes, limit: int) -> None:
        """Keep up to ``limit`` bytes of the response body (for a configured body marker)."""
        body = self.body
        if body is None:
            body = self.body = bytearray()
        if len(body) < limit:
            body += chunk[: limit - len(body)]


def is_form(content_type: str | None) -> bool:
    """Whether a request body of this ``Content-Type`` is an HTML form submission."""
    return bool(content_type) and str(content_type).lower().startswith(_FORMS)


def login_action(
    attempt: LoginAttempt, status: int, failure_body: bytes | None = None
) -> Verdict | None:
    """The action of a login request's event; None when the request is no login outcome (5xx)."""
    if attempt.outcome is not None:
        return attempt.outcome
    return status_login_action(
        status, _answer(attempt), failure_shown=_failure_shown(attempt, failure_body)
    )


def _failure_shown(attempt: LoginAttempt, failure_body: bytes | None) -> bool:
    """A library that signals success did not, or the configured failure convention matched."""
    if attempt.awaits_success or attempt.marked:
        return True
    body = attempt.body
    return failure_body is not None and body is not None and failure_body in body


def _answer(attempt: LoginAttempt) -> Verdict:
    kind = attempt.content_type
    if kind in {"text/html", "application/xhtml+xml"}:
        return Action.AUTHN_LOGIN_FAIL if attempt.form else UNKNOWN
    if kind == "application/json" or kind.endswith("+json"):
        return Action.AUTHN_LOGIN_SUCCESS
    return UNKNOWN
