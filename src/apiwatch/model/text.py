"""Text that is safe to show: what could drive a terminal, forge a line or hide text is escaped.

Every character ``str.isprintable`` rejects except the plain space — C0 and C1 controls
(ESC, so no ANSI sequence), DEL, line and paragraph separators (U+2028, U+2029), format
characters (bidi marks and overrides, zero-width spaces, the BOM), lone surrogates — is written
as an escape, in one of two forms:

- `printable_text` for plain text (log values, table cells): ``\\r``, ``\\n``, ``\\t``,
  ``\\xNN``, ``\\uNNNN``, ``\\UNNNNNNNN``; a lone surrogate U+DC80..U+DCFF (how the
  ``surrogateescape`` error handler carries an invalid byte) as ``\\xNN``, the byte itself —
  or, with ``surrogate_bytes=False`` (what the sensor's events have always carried), as
  ``\\uNNNN`` like every other character;
- `printable_json` for a JSON text (``apiwatch events``): ``\\uNNNN`` escapes, so the line
  is still JSON and decodes to the same value.

`safe_line` is for text a person reads in a notification (a mail header, a chat message): it
does not escape but replaces, with U+FFFD, only what breaks or disguises a line — C0 and C1
controls, DEL, line and paragraph separators, bidi embeddings, overrides and isolates — and
leaves other format characters (zero-width joiners in a name) as they are.

`plural` writes a count with its noun in agreement ("1 event", "2 events", "0 addresses"):
every message, table title and notification says it this way rather than "event(s)".
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["plural", "plural_noun", "printable_json", "printable_text", "safe_line"]

_NAMED: Final = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
# "surrogateescape" decodes an invalid byte 0xNN as the lone surrogate U+DCNN.
_SURROGATE_BYTES: Final = range(0xDC80, 0xDD00)
# The only non-printable characters valid JSON holds raw are its whitespace between tokens
# (inside strings it escapes every control character): a space says the same.
_JSON_BLANKS: Final = {"\r": " ", "\n": " ", "\t": " "}
_LINE_BREAKERS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _text_escape(char: str) -> str:
    code = ord(char)
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"  # the original byte, as nginx would have written it
    return _char_escape(char)


def _char_escape(char: str) -> str:
    if char.isprintable():  # True for the plain space, False for every other space separator
        return char
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
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


def printable_text(text: str, *, surrogate_bytes: bool = True) -> str:
    """``text`` with every character ``str.isprintable`` rejects, except the space, escaped;
    a lone surrogate U+DC80..U+DCFF as the byte it carries unless ``surrogate_bytes`` is False."""
    if text.isprintable():  # the common case costs one C-level scan
        return text
    return "".join(map(_text_escape if surrogate_bytes else _char_escape, text))


def printable_json(text: str) -> str:
    """A JSON text with every non-printable character written as a ``\\uNNNN`` escape (raw
    whitespace between tokens as a space): the same JSON value, safe to write to a terminal."""
    if text.isprintable():
        return text
    return "".join(map(_json_escape, text))


def safe_line(text: str, limit: int | None = None) -> str:
    """``text`` with controls, line separators and bidi controls each replaced by U+FFFD, and,
    beyond ``limit`` characters, cut to ``limit`` with an ellipsis (U+2026) as the last one."""
    text = _LINE_BREAKERS.sub("\ufffd", text)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "\u2026"


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
