"""Text that is safe to show: what could drive a terminal, forge a line or hide text is escaped.

Every character ``str.isprintable`` rejects except the plain space — C0 and C1 controls
(ESC, so no ANSI sequence), DEL, line and paragraph separators (U+2028, U+2029), format
characters (bidi marks and overrides, zero-width spaces, the BOM), lone surrogates — is written
as an escape, in one of two forms:

- `printable_text` for plain text (log values, table cells): ``\\r``, ``\\n``, ``\\t``,
  ``\\xNN``, ``\\uNNNN``, ``\\UNNNNNNNN``; a lone surrogate U+DC80..U+DCFF (how the
  ``surrogateescape`` error handler carries an invalid byte) as ``\\xNN``, the byte itself;
- `printable_json` for a JSON text (``apiwatch events``): ``\\uNNNN`` escapes, so the line
  is still JSON and decodes to the same value.

`plural` writes a count with its noun in agreement ("1 event", "2 events", "0 addresses"):
every message, table title and notification says it this way rather than "event(s)".
"""

from __future__ import annotations

from typing import Final

__all__ = ["plural", "plural_noun", "printable_json", "printable_text"]

_NAMED: Final = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
# "surrogateescape" decodes an invalid byte 0xNN as the lone surrogate U+DCNN.
_SURROGATE_BYTES: Final = range(0xDC80, 0xDD00)
# The only non-printable characters valid JSON holds raw are its whitespace between tokens
# (inside strings it escapes every control character): a space says the same.
_JSON_BLANKS: Final = {"\r": " ", "\n": " ", "\t": " "}


def _text_escape(char: str) -> str:
    if char.isprintable():  # True for the plain space, False for every other space separator
        return char
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"  # the original byte, as nginx would have written it
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json_escape(char: str) -> str:
    if char.isprintable():
        return char
    blank = _JSON_BLANKS.get(char)
    if blank is not None:
        return blank
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP JSON escapes a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def printable_text(text: str) -> str:
    """``text`` with every character ``str.isprintable`` rejects, except the space, escaped."""
    if text.isprintable():  # the common case costs one C-level scan
        return text
    return "".join(map(_text_escape, text))


def printable_json(text: str) -> str:
    """A JSON text with every non-printable character written as a ``\\uNNNN`` escape (raw
    whitespace between tokens as a space): the same JSON value, safe to write to a terminal."""
    if text.isprintable():
        return text
    return "".join(map(_json_escape, text))


def plural_noun(count: int, singular: str, plural: str | None = None) -> str:
    """``singular`` for a count of exactly 1, else its plural: ``plural`` if given, else the
    regular English one (``+es`` after s, x, z, ch, sh; ``-y`` to ``-ies`` after a consonant;
    else ``+s``), made on the last word: ``plural_noun(2, "bad line")`` is ``bad lines``."""
    if count == 1:
        return singular
    if plural is not None:
        return plural
    if singular.endswith(("s", "x", "z", "ch", "sh")):
        return singular + "es"
    if len(singular) > 1 and singular.endswith("y") and singular[-2] not in "aeiou":
        return singular[:-1] + "ies"
    return singular + "s"


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` (with thousands separators) and its noun in agreement: ``plural(1, "event")``
    is ``1 event``, ``plural(2_000, "address")`` ``2,000 addresses``, ``plural(0, "entry")``
    ``0 entries``; ``plural`` gives an irregular plural."""
    return f"{count:,} {plural_noun(count, singular, plural)}"
