"""Which requests of an access log are login attempts: configurable route patterns.

An access log names no account and says nothing about authentication, so the only evidence that a
request was a login is its route and method. `LoginPatterns` holds one compiled regular expression
over ``url.path`` (the path as logged, percent-encoding untouched, query excluded) and the set of
methods that count; `DEFAULT_LOGINS` covers the common API routes.

Patterns are *searched* (``re.search``), as nginx ``location ~`` regexes are: anchor them with
``^`` / ``$`` to match a whole path.

Some APIs answer a failed login with 200 and an error in the body. `FailureSize` is such a
route's convention, seen in an access log through the response size: ``ROUTE:SIZE`` where SIZE
is ``N`` (exactly), ``<=N`` or ``N-M`` bytes; a 2xx answer of that size on a login route of that
pattern is a failed login. (The app's own ``authn_login_fail`` events, when it sends them, say
so without any convention.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from apiwatch.model import ConfigError

__all__ = ["DEFAULT_LOGINS", "FailureSize", "LoginPatterns"]


@dataclass(frozen=True, slots=True)
class FailureSize:
    """A login route whose failures answer 2xx with a body of ``low``..``high`` bytes."""

    path: re.Pattern[str]
    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> FailureSize:
        """``ROUTE:SIZE`` (SIZE ``N``, ``<=N`` or ``N-M``); `ConfigError` says what is wrong."""
        route, sep, size = text.rpartition(":")
        if not sep or not route:
            raise ConfigError(f"login failure {text!r}: expected ROUTE:SIZE, e.g. '/login$:<=120'")
        try:
            pattern = re.compile(route)
        except re.error as exc:
            raise ConfigError(
                f"login failure route {route!r} is not a valid regex: {exc}"
            ) from None
        size = size.strip()
        try:
            if size.startswith("<="):
                low, high = 0, int(size[2:])
            elif "-" in size:
                first, _, last = size.partition("-")
                low, high = int(first), int(last)
            else:
                low = high = int(size)
        except ValueError:
            raise ConfigError(
                f"login failure size {size!r}: expected N, <=N or N-M bytes"
            ) from None
        if low < 0 or high < low:
            raise ConfigError(f"login failure size {size!r}: expected 0 <= N <= M")
        return cls(pattern, low, high)

    def failed(self, path: str, body_bytes: int | None) -> bool:
        """Whether a 2xx answer of ``body_bytes`` on ``path`` is a failed login."""
        return (
            body_bytes is not None
            and self.low <= body_bytes <= self.high
            and self.path.search(path) is not None
        )


@dataclass(frozen=True, slots=True)
class LoginPatterns:
    """Login routes: a request is a login attempt when its method is in ``methods`` and
    ``path.search(url_path)`` finds a match. ``methods`` are upper-case."""

    path: re.Pattern[str]
    methods: frozenset[str] = frozenset({"POST"})
    failures: tuple[FailureSize, ...] = ()

    def with_failures(self, conventions: Iterable[str]) -> LoginPatterns:
        """These patterns, with the 2xx failure conventions ``ROUTE:SIZE`` (`FailureSize`)."""
        parsed = tuple(FailureSize.parse(text) for text in conventions)
        return LoginPatterns(self.path, self.methods, self.failures + parsed)

    def failed(self, path: str, status: int, body_bytes: int | None) -> bool:
        """Whether a login attempt on ``path`` answered ``status`` failed: 401/403, or 2xx of
        a route's failure size."""
        if status in {401, 403}:
            return True
        return 200 <= status < 300 and any(f.failed(path, body_bytes) for f in self.failures)

    @classmethod
    def from_strings(
        cls, patterns: Iterable[str], methods: Iterable[str] = ("POST",)
    ) -> LoginPatterns:
        """Login routes from user-configured path regexes; `ConfigError` names a bad pattern."""
        given = list(patterns)
        if not given:
            raise ConfigError("login patterns: none given (pass logins=None to disable)")
        for pattern in given:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"login pattern {pattern!r} is not a valid regular expression: {exc}"
                ) from None
        named = list(methods)
        wanted = frozenset(method.strip().upper() for method in named)
        if not wanted or "" in wanted:
            raise ConfigError(f"login methods: expected HTTP method names, got {named!r}")
        combined = "|".join(f"(?:{pattern})" for pattern in given)
        return cls(re.compile(combined), wanted)

    def matches(self, method: str | None, path: str | None) -> bool:
        """Whether a request with this method and ``url.path`` is a login attempt."""
        return (
            method is not None
            and path is not None
            and method in self.methods
            and self.path.search(path) is not None
        )


DEFAULT_LOGINS = LoginPatterns(
    re.compile(
        r"/(?:login|signin|sign-in|sessions?|token|oauth/token|auth)/?$",
        re.IGNORECASE,
    )
)
"""POST to a path ending in ``/login``, ``/signin``, ``/sign-in``, ``/session(s)``, ``/token``,
``/oauth/token`` or ``/auth`` (trailing slash allowed, any prefix, any letter case)."""
