"""Console sign-in: sessions, CSRF tokens, the login rate limit, roles, and the login events.

A session is a random 32-byte token in a cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure``
when the request came over TLS); the store keeps only its SHA-256, with the user, a CSRF token
and an absolute expiry (`SESSION_HOURS`). Every state-changing request carries the session's
CSRF token (a form field or the ``X-CSRF-Token`` header) and is refused without it; the login
form has its own, double-submitted in a short-lived cookie.

Failed logins are limited per address and per account (`LoginLimiter`); beyond the limit the
password is not even checked. Every attempt, refused or not, becomes an apiwatch security event
(``authn_login_fail`` / ``authn_login_success``, service ``apiwatch-console``) committed into the
collector's own event stream, so brute force against the console raises an incident.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from apiwatch.model import Event, encode_event
from apiwatch.model.event import (
    EventMeta,
    Http,
    HttpRequest,
    HttpResponse,
    Service,
    Source,
    Url,
    User,
    UserAgent,
)
from apiwatch.server._errors import peer
from apiwatch.server._state import ServerState, server_state
from apiwatch.server.console import _passwords
from apiwatch.server.console._web import Forbidden, NeedLogin
from apiwatch.store import ROLES, Batch, StoredLine

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "SESSION_HOURS",
    "LoginLimiter",
    "Principal",
    "check_csrf",
    "login",
    "logout",
    "need",
    "principal_of",
    "signed_in_user",
]

logger = logging.getLogger("apiwatch.server")

SESSION_COOKIE = "apiwatch_session"
LOGIN_COOKIE = "apiwatch_login"
SESSION_HOURS = 8
CONSOLE_SERVICE = "apiwatch-console"
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user of a request."""

    user: str
    role: str
    csrf: str
    token_hash: bytes

    def can(self, role: str) -> bool:
        """Whether this user's role is ``role`` or above (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role) if self.role in ROLES else False

    @property
    def reader(self) -> str:
        """How the read audit names this user."""
        return f"console:{self.user}"


class LoginLimiter:
    """At most ``limit`` failed logins per address and per account within ``window`` seconds."""

    def __init__(
        self, limit: int = 5, window: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, address: str, account: str) -> bool:
        with self._lock:
            return any(len(self._recent(key)) >= self.limit for key in self._keys(address, account))

    def failed(self, address: str, account: str) -> None:
        with self._lock:
            for key in self._keys(address, account):
                self._recent(key).append(self.clock())

    def _keys(self, address: str, account: str) -> tuple[str, str]:
        return (f"ip:{address}", f"user:{account.casefold()}")

    def _recent(self, key: str) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        horizon = self.clock() - self.window
        while found and found[0] < horizon:
            found.popleft()
        if len(self._failures) > 100_000:  # bounded: forget the quiet ones
            for stale in [k for k, v in self._failures.items() if not v]:
                del self._failures[stale]
        return found


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


async def principal_of(request: Request) -> Principal | None:
    """The request's session user, or None (no cookie, unknown, expired, user deleted)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    token_hash = _hash(token)
    store = server_state(request).store
    session = await run_in_threadpool(store.console.session, token_hash, datetime.now(UTC))
    if session is None:
        return None
    return Principal(session.user, session.role, session.csrf, token_hash)


async def check_csrf(request: Request, expected: str) -> None:
    """`Forbidden` unless the request carries ``expected`` (form field ``csrf`` or the
    ``X-CSRF-Token`` header) and, when it names one, comes from this origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("the request came from another site")
    given = request.headers.get("x-csrf-token")
    if given is None:
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("the form is out of date or was not sent from the console; reload it")


def signed_in_user(request: Request) -> Principal:
    """The `Principal` the route's `need` dependency found (routes always declare one)."""
    principal: Principal = request.state.console_principal
    return principal


def need(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the session's `Principal` when its role is ``role`` or above, with the CSRF
    token checked on every method but GET and HEAD; else `NeedLogin` or `Forbidden`."""

    async def signed_in(request: Request) -> Principal:
        principal = await principal_of(request)
        if principal is None:
            raise NeedLogin(request.url.path if request.method == "GET" else "/")
        if request.method not in ("GET", "HEAD"):
            await check_csrf(request, principal.csrf)
        if not principal.can(role):
            raise Forbidden(f"your role ({principal.role}) may not do this; it needs {role}")
        request.state.console_principal = principal
        return principal

    return signed_in


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A new session's token and expiry, or why there is none."""

    token: str | None
    expires: datetime | None = None
    refusal: str = ""


async def login(request: Request, limiter: LoginLimiter, name: str, password: str) -> LoginResult:
    """Check ``name`` and ``password`` within the rate limit; a session when they match. The
    attempt is emitted as a security event either way."""
    state = server_state(request)
    address = peer(request)
    name = name[:_MAX_NAME]
    if limiter.blocked(address, name):
        await _emit(state, request, name, success=False, reason="rate limited")
        return LoginResult(None, refusal="too many failed logins; wait a few minutes")
    user = await run_in_threadpool(state.store.console.user, name) if name else None
    ok = await run_in_threadpool(_passwords.verify, user.password_hash if user else None, password)
    if user is None or not ok:
        limiter.failed(address, name)
        await _emit(state, request, name, success=False, reason="wrong user name or password")
        return LoginResult(None, refusal="wrong user name or password")
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = now + timedelta(hours=SESSION_HOURS)
    csrf = secrets.token_urlsafe(32)
    await run_in_threadpool(
        state.store.console.add_session, _hash(token), user.name, csrf, expires, now
    )
    await _emit(state, request, name, success=True, reason="")
    return LoginResult(token, expires)


async def logout(request: Request, principal: Principal) -> None:
    store = server_state(request).store
    await run_in_threadpool(store.console.delete_session, principal.token_hash)


async def _emit(
    state: ServerState, request: Request, name: str, *, success: bool, reason: str
) -> None:
    """The attempt as an event in the collector's own stream (stored, chained, detected)."""
    action = "authn_login_success" if success else "authn_login_fail"
    event = Event(
        timestamp=datetime.now(UTC),
        event=EventMeta(
            action=action,
            kind="event",
            category=["authentication"],
            type=["start"],
            outcome="success" if success else "failure",
            reason=reason or None,
        ),
        source=Source(ip=peer(request)) if request.client else None,
        http=Http(
            request=HttpRequest(method="POST"),
            response=HttpResponse(status_code=303 if success else 401),
        ),
        url=Url(path="/login"),
        user_agent=UserAgent(original=request.headers.get("user-agent", "")[:1000] or None),
        user=User(name=name) if name else None,
        service=Service(name=CONSOLE_SERVICE),
    )
    line = StoredLine(event, encode_event(event))
    try:
        await state.committer.submit(Batch([line], CONSOLE_SERVICE))
    except Exception as exc:
        logger.exception("console: could not store a login event (%s)", type(exc).__name__)
