"""The exceptions apiwatch raises.

One root, so a caller can catch everything apiwatch raises with one clause::

    ApiwatchError
    ├── EventDecodeError      a line of ECS JSON that is not a valid event
    └── ConfigError           an option or setting that cannot work
"""

from __future__ import annotations

__all__ = ["ApiwatchError", "ConfigError", "EventDecodeError"]


class ApiwatchError(Exception):
    """Root of every exception apiwatch raises on purpose."""


class EventDecodeError(ApiwatchError, ValueError):
    """A line could not be decoded into an `Event`; `line` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.reason = message
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


class ConfigError(ApiwatchError, ValueError):
    """An option was given a value that cannot work; the message names the option."""
