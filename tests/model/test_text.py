"""The escapers of `apiwatch.model.text`: the forms each caller relies on, byte for byte."""

from __future__ import annotations

import pytest

from apiwatch.model.text import printable_text, safe_line


def test_a_surrogate_carrying_a_byte_is_written_as_that_byte() -> None:
    """An invalid byte decoded with ``surrogateescape`` reads back as the byte, nginx-style."""
    assert printable_text("/a\udcff\x1b[31m") == "/a\\xff\\x1b[31m"


def test_without_surrogate_bytes_every_surrogate_is_a_unicode_escape() -> None:
    """``surrogate_bytes=False`` (the sensor's form) writes U+DCFF as ``\\udcff``, no byte."""
    assert printable_text("/a\udcff\x1b\u2028", surrogate_bytes=False) == "/a\\udcff\\x1b\\u2028"


@pytest.mark.parametrize("char", ["\r", "\n", "\x1b", "\x85", "\u2028", "\u202e", "\u2067"])
def test_safe_line_replaces_what_breaks_or_disguises_a_line(char: str) -> None:
    """Controls, line separators and bidi controls become U+FFFD in notification text."""
    assert safe_line(f"bob{char}x") == "bob\ufffdx"


def test_safe_line_keeps_other_format_characters() -> None:
    """A zero-width joiner or word joiner in a name is left as it is (only escaping shows it)."""
    assert safe_line("a\u200db\u2060c") == "a\u200db\u2060c"


def test_safe_line_cuts_to_its_limit_with_an_ellipsis() -> None:
    """Beyond ``limit`` characters the text is ``limit`` long, its last one an ellipsis."""
    assert safe_line("x" * 10, 5) == "xxxx\u2026"
    assert safe_line("x" * 5, 5) == "xxxxx"
