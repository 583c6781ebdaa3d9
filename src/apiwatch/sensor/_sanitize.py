"""Log-injection safety and redaction for every string that enters an event.

`clean` escapes what could forge a log line or drive a terminal (CR, LF, other C0/C1 controls,
ANSI escape sequences through their ESC byte, Unicode line separators and bidi overrides) and
truncates with a visible marker. `redact_text` removes secrets that appear inside free text: card
numbers (Luhn-checked), bearer/basic credentials, JWTs and ``password=...`` style pairs.
`mask_query` masks the values of secret-looking query parameters.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import unquote_plus

__all__ = [
    "REDACTED",
    "clean",
    "is_secret_key",
    "mask_query",
    "redact_text",
    "sanitize",
]

REDACTED = "[REDACTED]"
# Lone surrogates (from surrogateescape-decoded bytes) are escaped too: they cannot be encoded.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}

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
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?![\d.])")
# Cheap substring tests that gate the regular expressions: most fields contain none of these.
_SCHEME_WORDS = ("bearer", "basic", "token", "digest")
_PAIR_WORDS = ("pass", "pwd", "secret", "token", "key", "authorization")
_DIGITS = "0123456789"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: str, limit: int) -> str:
    """``value`` with control characters escaped, cut to ``limit`` characters plus a marker."""
    if not value.isprintable():  # False for every C0/C1 control, line separator and bidi mark
        value = _CONTROL.sub(_escape, value)
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
    if "eyJ" in value:
        value = _JWT.sub(REDACTED, value)
    lower = value.lower()
    if any(word in lower for word in _SCHEME_WORDS):
        value = _SCHEME.sub(_keep_prefix, value)
    if any(word in lower for word in _PAIR_WORDS):
        value = _PAIR.sub(_keep_prefix, value)
    if sum(map(value.count, _DIGITS)) >= 13:
        value = _CARD.sub(_mask_card, value)
    return value


def sanitize(value: str, limit: int) -> str:
    """Redacted, then escaped and truncated: what every free-text field goes through."""
    return clean(redact_text(value), limit)


def is_secret_key(name: str, extra: Collection[str] = ()) -> bool:
    """Whether a parameter or field called ``name`` holds a secret."""
    normal = _NON_ALNUM.sub("", name.lower())
    if normal in _SECRET_NAMES or normal in extra:
        return True
    return any(word in normal for word in _SECRET_WORDS)


def mask_query(query: str, extra_keys: Collection[str] = ()) -> str:
    """A raw query string with the value of every secret-looking parameter masked."""
    if not query:
        return query
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, sep, value = part.partition("=")
        if sep and value and is_secret_key(unquote_plus(name), extra_keys):
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)
