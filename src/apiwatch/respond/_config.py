"""Strict reading of a TOML-shaped table: every error names the exact key, unknown keys refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from apiwatch.model import ConfigError
from apiwatch.model.duration import parse_duration as parse_any_duration

__all__ = ["Table", "http_url", "parse_duration"]

_MISSING: Final = object()


def parse_duration(value: object) -> float:
    """Seconds in ``"30s"``, ``"15m"``, ``"4h"``, ``"7d"``, ``"1h30m"`` (or a number of seconds).

    Raises ValueError with the offending text for anything else, zero and negatives included.
    """
    seconds = parse_any_duration(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"must be a positive duration, not {value!r}")
    return seconds


class Table:
    """One table of the configuration, read key by key; ``done()`` refuses keys nobody read."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
            raise ConfigError(f"{path}: must be a table, not {type(data).__name__}")
        self.data: Mapping[str, object] = data
        self.path = path
        self._read: set[str] = set()

    def key(self, key: str) -> str:
        """The full dotted name of ``key``, as error messages give it."""
        return f"{self.path}.{key}"

    def error(self, key: str, problem: str) -> ConfigError:
        """A ConfigError naming ``key``."""
        return ConfigError(f"{self.key(key)}: {problem}")

    def has(self, key: str) -> bool:
        """Whether ``key`` was given."""
        return key in self.data

    def raw(self, key: str, default: object = _MISSING) -> object:
        """The value as given; a missing required key is an error."""
        self._read.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, "required")
        return default

    def string(self, key: str, default: str | None = None) -> str:
        """A non-empty string; a missing key gives ``default`` (``None``: the key is required)."""
        self._read.add(key)
        if key not in self.data:
            if default is None:
                raise self.error(key, "required")
            return default
        value = self.data[key]
        if value == "" and default == "":
            return ""  # an optional string left empty is the same as not given
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean (``true``/``false``; never a number or a string)."""
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {value!r}")
        if not low <= value <= high:
            raise self.error(key, f"must be between {low} and {high}, not {value}")
        return value

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        """A number in ``[low, high]``."""
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {value!r}")
        if not low <= value <= high:
            raise self.error(key, f"must be between {low:g} and {high:g}, not {value!r}")
        return float(value)

    def duration(self, key: str, default: str | float) -> float:
        """Seconds, from a duration such as ``"4h"``."""
        value = self.raw(key, default)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of non-empty strings (a missing key is the empty list)."""
        value = self.raw(key, [])
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise self.error(key, f"must be a list of strings, not {value!r}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(f"{self.key(key)}[{index}]: must be a non-empty string")
        return tuple(item.strip() for item in value)

    def tables(self, key: str) -> list[Table]:
        """An array of tables (``[[respond.policy]]``), each read as a `Table`."""
        value = self.raw(key, [])
        if not isinstance(value, list | tuple):
            raise self.error(key, "must be an array of tables ([[...]])")
        return [Table(item, f"{self.key(key)}[{index}]") for index, item in enumerate(value)]

    def named_tables(self, key: str) -> dict[str, Table]:
        """A table of tables (``[respond.notifiers.ops]``), by name."""
        value = self.raw(key, {})
        outer = Table(value, self.key(key))
        outer._read.update(outer.data)
        return {name: Table(item, f"{outer.path}.{name}") for name, item in outer.data.items()}

    def done(self) -> None:
        """Refuse any key that was not read (a typo must not be silently ignored)."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise self.error(unknown[0], f"unknown key (known here: {known})")


def http_url(table: Table, key: str, default: str | None = None) -> str:
    """An ``http://`` or ``https://`` URL with a host (``default``: as `Table.string`)."""
    url = table.string(key, default)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error(key, "must be an http:// or https:// URL")
    return url
