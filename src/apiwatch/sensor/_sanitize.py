"""Log-injection safety and redaction for every string that enters an event.

`clean` escapes what could forge a log line, drive a terminal or hide text in a viewer: every
character Python does not call printable except the plain space (CR, LF, other C0/C1 controls,
ANSI escape sequences through their ESC byte, Unicode line and paragraph separators, format
characters such as bidi marks and overrides, zero-width spaces and the BOM, lone surrogates) with
`apiwatch.model.printable_text`, and truncates with a visible marker. `redact_text` removes
secrets that appear inside free text: card numbers (Luhn-checked), bearer/basic credentials, JWTs
and ``password=...`` style pairs.
`mask_query` masks the values of secret-looking query parameters.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import unquote_plus

from apiwatch.model.text import printable_text

__all__ = [
    "REDACTED",
    "clean",
    "is_secret_key",
    "mask_query",
    "normal_key",
    "redact_text",
    "sanitize",
]

REDACTED = "[REDACTED]"

# Words that make a parameter or field name secret wherever they appear in it (after lower-casing
# and removing separators), and whole names that are secret only on their own.
_SECRET_WORDS = (
    "pass", "pwd", "secret", "token", "apikey", "auth", "session", "signature", "credential",
    "privatekey", "accesskey", "otp", "cookie", "jwt", "bearer", "cvv", "cvc", "pin", "ssn",
)  # fmt: skip
_SECRET_NAMES = frozenset({"key", "sig", "code", "sid", "card", "cardnumber", "pan"})
_NON_ALNUM = re.compile(r"[^a-z0-9]")

_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_SCHEME = re.compile(r"\b((?:bearer|basic|token|digest)\s+)[\w.~+/=-]{6,}", re.IGNORECASE)
_PAIR = re.compile(
    r"\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|refresh[_-]?token"
    r"|client[_-]?secret|authorization)[\"']?\s*[=:]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s&,;]+)",
    re.IGNORECASE,
)
# A full stop may end a sentence after a card number; only a digit after it makes a decimal.
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?!\d|\.\d)")
# Cheap substring tests gate the regular expressions (see `redact_text`): most fields contain
# none of the words those need, nor 13 digits.
_CARD_DIGITS = 13  # the fewest digits a card number has
# At least 13 ASCII digits anywhere (the two parts cannot overlap, so no backtracking blow-up).
_ENOUGH_DIGITS = re.compile(r"(?:[^0-9]*[0-9]){13}")


def clean(value: str, limit: int) -> str:
    """``value`` with non-printable characters escaped, cut to ``limit`` characters plus a marker.

    Every character that ``str.isprintable`` rejects, except the plain space, becomes ``\\r``,
    ``\\n``, ``\\t``, ``\\xNN``, ``\\uNNNN`` (or ``\\UNNNNNNNN`` beyond the BMP): controls,
    line and paragraph separators, format characters (bidi marks, zero-width spaces, the BOM) and
    lone surrogates (all of them as ``\\uNNNN``).
    """
    if not value.isprintable():  # the common case, all printable, costs one C-level scan
        value = printable_text(value, surrogate_bytes=False)
    if len(value) > limit:
        value = f"{value[:limit]}...[truncated {len(value) - limit} chars]"
    return value


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    text = match.group()
    return REDACTED if _luhn_ok(text.replace(" ", "").replace("-", "")) else text


def _keep_prefix(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


def redact_text(value: str) -> str:
    """``value`` with card numbers, credentials, JWTs and ``secret=value`` pairs replaced."""
    # Every path and user agent goes through here: the gates are plain substring tests, spelt
    # out (a generator per gate, or a count per digit, cost several times the tests).
    if "eyJ" in value:
        value = _JWT.sub(REDACTED, value)
    lower = value.lower()
    if "bearer" in lower or "basic" in lower or "token" in lower or "digest" in lower:
        value = _SCHEME.sub(_keep_prefix, value)
    if (
        "pass" in lower
        or "pwd" in lower
        or "secret" in lower
        or "token" in lower
        or "key" in lower
        or "authorization" in lower
    ):
        value = _PAIR.sub(_keep_prefix, value)
    if len(value) >= _CARD_DIGITS and _ENOUGH_DIGITS.match(value):
        value = _CARD.sub(_mask_card, value)
    return value


def sanitize(value: str, limit: int) -> str:
    """Redacted, then escaped and truncated: what every free-text field goes through."""
    return clean(redact_text(value), limit)


def normal_key(name: str) -> str:
    """A parameter or field name as secret names are compared: lower case, letters and digits."""
    return _NON_ALNUM.sub("", name.lower())


def is_secret_key(name: str, extra: Collection[str] = ()) -> bool:
    """Whether a parameter or field called ``name`` holds a secret."""
    normal = normal_key(name)
    if normal in _SECRET_NAMES or normal in extra:
        return True
    return any(word in normal for word in _SECRET_WORDS)


def _holds_secret(raw_value: str) -> bool:
    """Whether a query value, once decoded, contains a card number, credential or JWT.

    Encoding (``+`` for spaces, ``%2F``, ``%3D``) hides a secret from `redact_text` on the raw
    string, so the decoded value is checked and the whole raw value masked.
    """
    value = unquote_plus(raw_value)
    return redact_text(value) != value


def mask_query(query: str, extra_keys: Collection[str] = ()) -> str:
    """A raw query string with the value of every secret-looking parameter masked."""
    if not query:
        return query
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, sep, value = part.partition("=")
        if (
            sep
            and value
            and (is_secret_key(unquote_plus(name), extra_keys) or _holds_secret(value))
        ):
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)
