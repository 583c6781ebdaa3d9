"""Which requests of an access log are login attempts: configurable route patterns.

An access log names no account and says nothing about authentication, so the only evidence that a
request was a login is its route and method. `LoginPatterns` holds one compiled regular expression
over ``url.path`` (the path as logged, percent-encoding untouched, query excluded) and the set of
methods that count; `DEFAULT_LOGINS` covers the common API routes.

Patterns are *searched* (``re.search``), as nginx ``location ~`` regexes are: anchor them with
``^`` / ``$`` to match a whole path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from apiwatch.model import ConfigError

__all__ = ["DEFAULT_LOGINS", "LoginPatterns"]


@dataclass(frozen=True, slots=True)
class LoginPatterns:
    """Login routes: a request is a login attempt when its method is in ``methods`` and
    ``path.search(url_path)`` finds a match. ``methods`` are upper-case."""

    path: re.Pattern[str]
    methods: frozenset[str] = frozenset({"POST"})

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
