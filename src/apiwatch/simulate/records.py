"""`Request`: one simulated HTTP request and its answer, the record both writers and replay use.

A request holds what the client sent (raw path and query, headers that matter, the login body's
account and password) and what the server answered (status, size, duration). The writers turn it
into an nginx access-log line and into the ECS event the apiwatch sensor would emit; `replay`
sends it over HTTP.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Final

import msgspec

__all__ = ["LOGIN_PATH", "RESET_PATH", "TOKEN_KEY", "Request", "token_fingerprint"]

LOGIN_PATH: Final = "/users/login"
RESET_PATH: Final = "/users/password-reset"

TOKEN_KEY: Final = b"apiwatch-simulate-token-key"
"""The token-fingerprint key of the simulation: a sensor configured with ``token_key=TOKEN_KEY``
writes the same ``labels.token_id`` for a replayed request as the simulated event has."""


@lru_cache(maxsize=1 << 16)
def token_fingerprint(token: str) -> str:
    """``labels.token_id`` of a bearer token: the sensor's keyed BLAKE2b, keyed with `TOKEN_KEY`."""
    return hashlib.blake2b(token.encode(), key=TOKEN_KEY, digest_size=16).hexdigest()


class Request(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One request of the scenario.

    ``time_us`` is event time in microseconds since the Unix epoch. ``path`` and ``query`` are
    raw, as on the request line (percent-encoding kept). ``user`` is the attempted account on a
    login or password reset and the authenticated account otherwise (None when anonymous or the
    token is not valid). ``origin`` says who sent it: ``benign``, ``trap:<kind>``,
    ``attack:<id>`` or ``service:<name>``; it is never written to an output.
    """

    time_us: int
    ip: str
    method: str
    path: str
    status: int
    size: int
    user_agent: str
    origin: str
    duration_us: int
    query: str = ""
    referer: str = "-"
    route: str | None = None
    user: str | None = None
    token: str | None = None
    password: str | None = None
    tool: str | None = None
    service: str = "shop"

    @property
    def target(self) -> str:
        """The request target as on the request line: path, then ``?query`` when there is one."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def is_login(self) -> bool:
        return self.method == "POST" and self.path == LOGIN_PATH
