"""Durations written as text, read into seconds: one parser for what people write, one for Go's.

- `parse_duration` reads what people write in configuration, rule files and commands: a number
  of seconds (an ``int`` or ``float``), or text made of one or more parts, each a number and a
  unit — ``ms``, ``s``, ``m``, ``h``, ``d``, ``w`` — as ``"30s"``, ``"15m"``, ``"1.5h"``,
  ``"1h30m"``, ``"7d"`` (spaces around the text and between a number and its unit are allowed;
  units are lower case). It takes any value, zero and negative numbers included: how long is too
  short or too long is the caller's rule.
- `parse_go_duration` reads the ``duration`` of a decision on the CrowdSec wire, a Go
  ``time.Duration`` string (``"3h59m12s"``, ``"1.5ms"``, ``"-4s"``), exactly as Go's
  ``time.ParseDuration`` does: no days, no spaces.

Both raise ValueError with the offending value in the message.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["parse_duration", "parse_go_duration"]

_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 MICRO SIGN
    "μs": 1e-6,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}

_NUMBER: Final = r"\d+(?:\.\d+)?"
_UNIT: Final = r"(?:ms|s|m|h|d|w)"
_WRITTEN: Final = re.compile(rf"(?:{_NUMBER}\s*{_UNIT})+")
_WRITTEN_PART: Final = re.compile(rf"({_NUMBER})\s*({_UNIT})")

_GO_NUMBER: Final = r"(?:\d+\.?\d*|\.\d+)"
_GO_UNIT: Final = r"(?:ns|us|µs|μs|ms|s|m|h)"
_GO: Final = re.compile(rf"[-+]?(?:0|(?:{_GO_NUMBER}{_GO_UNIT})+)")
_GO_PART: Final = re.compile(rf"({_GO_NUMBER})({_GO_UNIT})")


def _sum(parts: re.Pattern[str], text: str) -> float:
    """The seconds of every (number, unit) part of ``text``, which its grammar has accepted."""
    return sum(float(number) * _SECONDS[unit] for number, unit in parts.findall(text))


def parse_duration(value: object) -> float:
    """Seconds in ``"30s"``, ``"15m"``, ``"4h"``, ``"7d"``, ``"1h30m"`` (or a number of seconds).

    Raises ValueError ``not a duration: '4x' (use e.g. 30m, 4h, 7d)`` for anything else.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = value.strip() if isinstance(value, str) else ""
    if not _WRITTEN.fullmatch(text):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30m, 4h, 7d)")
    return _sum(_WRITTEN_PART, text)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.Duration`` string (``"3h59m12s"``, ``"1.5ms"``, ``"-4s"``).

    Raises ValueError for anything Go's ``time.ParseDuration`` would refuse.
    """
    if not isinstance(text, str) or not _GO.fullmatch(text):
        raise ValueError(f"not a Go duration: {text!r}")
    seconds = _sum(_GO_PART, text)
    return -seconds if text.startswith("-") else seconds
