"""Terminal tables that wrap between words: a rule name, account or address is never cut."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["keep_words_whole"]

T = TypeVar("T")


def keep_words_whole(table: T, *headers: str) -> T:
    """``table`` (a rich Table, rows added) with the columns named by ``headers`` as wide as
    the longest word in them (or their header), so their cells wrap between words, never
    inside one; the other columns give up the room. (A minimum width would not do: rich
    shrinks the widest columns first and then widens them back past the console's width.)"""
    for column in getattr(table, "columns", ()):
        if column.header in headers:
            words = [word for cell in column.cells for word in str(cell).split()]
            column.width = max([len(str(column.header)), *map(len, words)])
    return table
