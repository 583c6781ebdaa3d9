"""`Where`: the store's one filter → SQL ``WHERE`` builder.

Each query filter (`EventFilter`, `DetectionFilter`, `DecisionFilter`) adds its criteria to a
`Where` one clause at a time, with the clause's placeholders written ``{m}`` and filled in with
the back end's (``?`` or ``%s``); the parameters follow in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from apiwatch.model import ConfigError
from apiwatch.store._rows import ip_range, micros

__all__ = ["Where", "network"]


class Where:
    """Clauses (all of which must hold) and their parameters, in order."""

    def __init__(self, mark: str) -> None:
        self.mark = mark
        self.clauses: list[str] = []
        self.params: list[object] = []

    def add(self, clause: str, *params: object) -> None:
        """Add ``clause`` (placeholders as ``{m}``) with its ``params``."""
        self.clauses.append(clause.format(m=self.mark))
        self.params.extend(params)

    def span(self, column: str, since: datetime | None, until: datetime | None) -> None:
        """``column`` (µs since the epoch) at or after ``since`` and before ``until``, each
        when given."""
        if since is not None:
            self.add(f"{column} >= {{m}}", micros(since))
        if until is not None:
            self.add(f"{column} < {{m}}", micros(until))

    def any_of(self, column: str, values: Sequence[object]) -> None:
        """``column`` equal to one of ``values``; no clause when there are none."""
        if values:
            self.clauses.append(f"{column} IN ({', '.join([self.mark] * len(values))})")
            self.params.extend(values)

    def any_clause(self, other: Where) -> None:
        """One of ``other``'s clauses holds (none: nothing matches)."""
        self.clauses.append(f"({other.sql(' OR ')})" if other.clauses else "1 = 0")
        self.params.extend(other.params)

    def sql(self, joiner: str = " AND ") -> str:
        """The clauses joined by ``joiner`` (without ``WHERE``)."""
        return joiner.join(self.clauses)

    def where(self) -> str:
        """``WHERE`` and the clauses, or nothing when there are none."""
        return f"WHERE {self.sql()}" if self.clauses else ""


def network(name: str, text: str) -> tuple[bytes, bytes]:
    """The inclusive 16-byte range of an address or CIDR network given for the filter field
    ``name``; `ConfigError` naming the field for anything else."""
    try:
        return ip_range(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not an address or a CIDR network") from None
