"""Terminal tables that never cut a word: an address, account, key name or rule id is shown
whole, wrapped only between words.

rich shrinks a table that is too wide for the terminal by narrowing its widest columns, below
their longest word if it must, and then folds or ellipsizes the words ("very-long-na…").
`print_table` instead gives every column at least its longest word and shares what room is left
among the columns in proportion to what more they could use. When even the longest words do not
fit the terminal, a table would have to be cut or run past the edge (and the terminal would
fold every line of it into a jumble): it is then printed as records instead, one block per row
with a ``header: value`` line per column, each value whole.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

__all__ = ["console", "print_table"]

# When the output is piped and no COLUMNS says otherwise, a width that fits most tables on
# one line each: what reads it (less, a file, grep) does not wrap.
_PIPED_WIDTH = 160
_UNBOUNDED = 1 << 16


def console(*, markup: bool = True, stderr: bool = False) -> Console:
    """A console for tables: no emoji codes or highlighting guesses; as wide as the terminal,
    or ``$COLUMNS``, or 160 when piped."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and not os.environ.get("COLUMNS", "").isdigit()
    return Console(markup=markup, highlight=False, emoji=False, stderr=stderr,
                   width=_PIPED_WIDTH if piped else None)  # fmt: skip


def print_table(out: Console, table: Table, *, empty: str | None = None) -> None:
    """Print ``table`` (rows added) on ``out`` with no word cut inside (see the module); a
    table without rows as the line ``empty`` instead, when given ("no incidents match")."""
    if empty is not None and not table.row_count:
        out.print(empty, markup=False, highlight=False)
        return
    bounds = [_bounds(out, column) for column in table.columns]
    overhead = _overhead(out, table, [low for low, _ in bounds])
    if sum(low for low, _ in bounds) + overhead > out.width:
        _print_records(out, table)
        return
    widths = _shared(bounds, out.width - overhead)
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    out.print(table)


def _print_records(out: Console, table: Table) -> None:
    """``table`` as one block per row: its title, then a ``header: value`` line per column (a
    value of several lines indented under its first; a table without headers labels each row
    with its first cell instead), rows apart by a blank line. Nothing is wrapped by rich, so a
    value longer than the terminal is folded by the terminal alone, never cut."""
    if table.title:
        out.print(table.title, soft_wrap=True)
    cells = [[_text(out, cell) for cell in column.cells] for column in table.columns]
    headers = [Text(str(column.header)) for column in table.columns]
    for row in range(table.row_count):
        values = [column[row] for column in cells]
        if table.show_header or row == 0:  # a headerless table's rows are its fields
            out.print()
        pairs = (list(zip(headers, values, strict=True)) if table.show_header
                 else [(values[0], Text(" ").join(values[1:]))])  # fmt: skip
        for label, value in pairs:
            _print_field(out, label.plain, value)


def _text(out: Console, cell: object) -> Text:
    return out.render_str(cell) if isinstance(cell, str) else Text(str(cell))


def _print_field(out: Console, label: str, value: Text) -> None:
    first, *more = value.split("\n") or [Text()]
    head = Text(f"{label}:", style="bold")
    out.print(head + " " + first if first.plain else head, soft_wrap=True)
    for line in more:
        out.print(Text(" " * (len(label) + 2)) + line, soft_wrap=True)


def _bounds(out: Console, column: Column) -> tuple[int, int]:
    """The column's content width: its longest word and its longest line (header included)."""
    if column.width is not None:
        return column.width, column.width
    options = out.options.update_width(_UNBOUNDED)
    sizes = [Measurement.get(out, options, cell) for cell in (column.header, *column.cells)]
    longest_line = max(size.maximum for size in sizes)
    if column.no_wrap:
        return longest_line, longest_line
    return max(size.minimum for size in sizes), longest_line


def _overhead(out: Console, table: Table, widths: list[int]) -> int:
    """What the table adds to its columns' content: padding and borders."""
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    options = out.options.update_width(_UNBOUNDED)
    return Measurement.get(out, options, table).maximum - sum(widths)


def _shared(bounds: list[tuple[int, int]], room: int) -> list[int]:
    """Each column's longest word, plus a share of ``room`` left over in proportion to how much
    wider its longest line is; every longest line when they all fit."""
    widths = [low for low, _ in bounds]
    wants = [high - low for low, high in bounds]
    spare = room - sum(widths)
    if spare <= 0:
        return widths
    if sum(wants) <= spare:
        return [high for _, high in bounds]
    shares = [spare * want // sum(wants) for want in wants]
    left = spare - sum(shares)  # the rounding remainder, one column at a time, the neediest first
    for index in sorted(range(len(wants)), key=lambda i: wants[i] - shares[i], reverse=True):
        if left == 0:
            break
        if shares[index] < wants[index]:
            shares[index] += 1
            left -= 1
    return [width + share for width, share in zip(widths, shares, strict=True)]
