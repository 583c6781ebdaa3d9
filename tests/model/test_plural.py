"""`plural`: a count and its noun agree (0 and 2 plural, 1 singular), never "noun(s)"."""

from __future__ import annotations

import pytest

from apiwatch.model import plural, plural_noun


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "event", "0 events"),
        (1, "event", "1 event"),
        (2, "event", "2 events"),
        (2_000, "event", "2,000 events"),
        (0, "address", "0 addresses"),
        (1, "address", "1 address"),
        (2, "match", "2 matches"),
        (2, "entry", "2 entries"),
        (2, "day", "2 days"),
        (2, "false positive", "2 false positives"),
        (1, "false positive", "1 false positive"),
    ],
)
def test_a_count_agrees_with_its_noun(count: int, noun: str, expected: str) -> None:
    """0 and 2 take the plural (regular English forms), 1 the singular; thousands separated."""
    assert plural(count, noun) == expected


def test_an_irregular_plural_is_given() -> None:
    """An irregular or phrase plural is used as given, for every count but 1."""
    forms = ("banned address or range", "banned addresses or ranges")
    assert [plural(n, *forms) for n in (0, 1, 2)] == [
        "0 banned addresses or ranges",
        "1 banned address or range",
        "2 banned addresses or ranges",
    ]


def test_plural_noun_is_the_noun_alone() -> None:
    """`plural_noun` gives the agreeing noun without the count (for "3/4 attacks")."""
    assert [plural_noun(n, "attack") for n in (0, 1, 2)] == ["attacks", "attack", "attacks"]
