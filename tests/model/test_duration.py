"""Durations read from text: what people write (config, rules, commands) and Go's wire form."""

from __future__ import annotations

import pytest

from apiwatch.model.duration import parse_duration, parse_go_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("7d", 604800),
        ("2w", 1209600),
        ("250ms", 0.25),
        (" 15 m ", 900),
        ("0s", 0),
        (90, 90),
        (2.5, 2.5),
        (-5, -5),
    ],
)
def test_written_durations_parse_to_seconds(value: object, seconds: float) -> None:
    """One or more number-and-unit parts (ms s m h d w), or a number of seconds, become seconds."""
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "  ", "soon", "4x", "90", "4 hours", "1h 30m", "5M", "-5s",
                                   ".5h", "1d!", None, True, ["5m"]])  # fmt: skip
def test_what_is_not_a_written_duration_is_refused_with_a_hint(value: object) -> None:
    """Anything else raises ValueError naming the value and showing how to write one."""
    with pytest.raises(ValueError, match=r"^not a duration: .* \(use e\.g\. 30m, 4h, 7d\)$"):
        parse_duration(value)


# -- Go durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3h59m12s", 3 * 3600 + 59 * 60 + 12),
        ("1h2m3.5s", 3723.5),
        ("4m", 240),
        ("1.5ms", 0.0015),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("10ns", 1e-8),
        (".5h", 1800),
        ("0", 0),
        ("+2s", 2),
        ("-4s", -4),
        ("-1h0m0.25s", -3600.25),
        ("3599.873s", 3599.873),
    ],
)
def test_go_durations_parse_to_seconds(text: str, seconds: float) -> None:
    """Go durations (h, m, s, ms, us, ns, fractions, signs) become seconds; negative = expired."""
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "1d", "1h 2m", "s1", "1.2.3s", "--1s", "1hh"])
def test_malformed_go_durations_are_refused(text: str) -> None:
    """What Go's ParseDuration refuses raises ValueError."""
    with pytest.raises(ValueError, match="Go duration"):
        parse_go_duration(text)
