"""Foreign log text made safe to hold in an event: non-printable characters become escapes.

Log files are written by the attacker as much as by the server. nginx and Apache already escape
``"``, ``\\`` and bytes outside printable ASCII as ``\\xNN`` (Apache: ``\\"``), and those escapes
are kept verbatim — as data, never decoded. Whatever still is not printable (ESC from a log written
by other tooling, C1 controls, bidi overrides, U+2028, invalid UTF-8 carried as lone surrogates by
the ``surrogateescape`` error handler) is escaped here, the same way `apiwatch.sensor` does it, so
no value can drive a terminal or forge a line when an event is shown or written out.
"""

from __future__ import annotations

__all__ = ["safe"]

_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
# "surrogateescape" decodes an invalid byte 0xNN as the lone surrogate U+DCNN.
_SURROGATE_BYTES = range(0xDC80, 0xDD00)


def _escape(char: str) -> str:
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


def safe(text: str) -> str:
    """``text`` with every character ``str.isprintable`` rejects, except the space, escaped."""
    if text.isprintable():  # the common case costs one C-level scan
        return text
    return "".join(map(_escape, text))
