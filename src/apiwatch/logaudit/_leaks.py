"""What a log line must not hold: secrets found in it, named by where they sit, never shown.

`find_leaks` looks at one raw line and names each leak by its kind and field — a query-string
parameter (``password``, ``token``, ``sessionid`` ...), a ``;jsessionid=`` path parameter, a JSON
key (``user.password``), an ``Authorization`` value (``Bearer ...``), a JSON Web Token, or a
payment card number (13 to 19 digits with a card network's prefix that pass the Luhn check).
The value itself is never returned: a report of leaks must not leak.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, NamedTuple

__all__ = ["Leak", "find_leaks"]


class Leak(NamedTuple):
    """One kind of secret in one place: ``kind`` (password, token, session id, card number,
    authorization header, JWT) and ``field`` (where: ``url.query password``, ``JSON key
    user.password``, ...)."""

    kind: str
    field: str


_PARAM_KINDS: Final = (
    ("password", re.compile(r"^(?:pass(?:word|wd)?|pwd|passphrase|new_?password|old_?password)$")),
    (
        "token",
        re.compile(
            r"^(?:(?:access|refresh|id|auth|api|bearer|session)_?token|token"
            r"|api_?key|apikey|secret|client_secret|private_?key|signature|sig"
            r"|x-amz-signature|code|auth|authkey|auth_?hash)$"
        ),
    ),
    (
        "session id",
        re.compile(
            r"^(?:session_?id|sessid|sid|jsessionid|phpsessid|aspsessionid"
            r"|connect\.sid|session)$"
        ),
    ),
)
# key=value in a query string (after ?, & or ;), up to the next separator or a space.
_QUERY_PARAM: Final = re.compile(r"[?&;]([A-Za-z0-9_.\-\[\]]{1,64})=([^&\s\"'#]*)")
_JSON_KEY: Final = re.compile(r'"([A-Za-z0-9_.\-]{1,64})"\s*:\s*"([^"]*)"')
_AUTH_VALUE: Final = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*")
_JWT: Final = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# Runs of digits joined by single spaces or dashes (matched whole: no backtracking inside an
# id of 32 digits); a run of 13 to 19 digits is a candidate card number.
# Not inside a longer word: a hex request id or a hash often holds 13 or more digits in a row
# (nginx's $request_id: one log line in a few hundred), and some of those pass the Luhn check.
_DIGIT_RUN: Final = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){12,}(?![0-9A-Za-z])")
_CARD_PREFIX: Final = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5))")
_REDACTED: Final = frozenset(
    {"", "-", "***", "[redacted]", "redacted", "<redacted>", "xxx", "******", "null", "none"}
)


@lru_cache(maxsize=4096)
def _param_kind(name: str) -> str | None:
    lowered = name.lower().rsplit(".", 1)[-1].strip("[]")
    for kind, pattern in _PARAM_KINDS:
        if pattern.match(lowered):
            return kind
    return None


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _cards(line: str) -> bool:
    for match in _DIGIT_RUN.finditer(line):
        digits = match.group().replace(" ", "").replace("-", "")
        before = line[match.start() - 1 : match.start()]
        if before in {".", "-"} or not 13 <= len(digits) <= 19:
            continue
        if _CARD_PREFIX.match(digits) and _luhn(digits):
            return True
    return False


def find_leaks(line: str) -> set[Leak]:
    """Every leak in ``line`` (see the module docstring); empty when there is none."""
    found: set[Leak] = set()
    for name, value in _QUERY_PARAM.findall(line) if "=" in line else ():
        kind = _param_kind(name)
        if kind and value.lower() not in _REDACTED:
            found.add(Leak(kind, f"query parameter {name[:64]}"))
    for name, value in _JSON_KEY.findall(line):
        kind = _param_kind(name) or (
            "authorization header" if name.lower().endswith("authorization") else None
        )
        if kind and value.lower() not in _REDACTED and not value.startswith("#"):
            found.add(Leak(kind, f"JSON key {name[:64]}"))
    if ("Bearer" in line or "Basic" in line) and _AUTH_VALUE.search(line):
        found.add(Leak("authorization header", "Authorization value (Bearer/Basic)"))
    if "eyJ" in line and _JWT.search(line):
        found.add(Leak("token", "JSON Web Token"))
    if _cards(line):
        found.add(Leak("card number", "digits passing the Luhn check"))
    return found
