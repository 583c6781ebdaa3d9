"""Decisions and allowlist entries made by hand (``apiwatch decisions add``, ``POST
/v1/decisions``): the input checked. Whether a valid value may be decided on at all (allowlist,
protected networks) is `apiwatch.respond.check_decidable`'s call, the same guard the automatic
response uses.

Exceptions::

    ApiwatchError
    └── ConfigError             an address, network, duration, type or reason that is not valid
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from apiwatch.model import (
    DECISION_TYPES,
    AllowEntry,
    ConfigError,
    Decision,
    normalise_value,
)
from apiwatch.model.duration import parse_duration as parse_any_duration
from apiwatch.store._decisions import scope_name

__all__ = [
    "MANUAL",
    "manual_allow_entry",
    "manual_decision",
    "parse_duration",
]

MANUAL: Final = "manual"
"""The ``origin`` and ``scenario`` of a decision added by hand."""

_LONGEST: Final = timedelta(days=3650)
_MAX_REASON: Final = 1000


def parse_duration(text: str) -> timedelta:
    """``"4h"``, ``"30m"``, ``"1h30m"``, ``"7d"``, ``"90s"`` (units ms s m h d w, any case) as a
    timedelta; `ConfigError` for anything else, zero, or more than ten years."""
    try:
        seconds = parse_any_duration(text.lower())
    except ValueError:
        problem = f"duration: {text!r} is not a duration (use e.g. 30m, 4h, 1h30m, 7d)"
        raise ConfigError(problem) from None
    if seconds < 1:
        raise ConfigError(f"duration: {text!r} is too short (at least 1s)")
    if seconds > _LONGEST.total_seconds():
        raise ConfigError(f"duration: {text!r} is too long (at most 3650d)")
    return timedelta(seconds=seconds)


def _scope_and_value(scope: str, value: str) -> tuple[str, str]:
    name = scope_name(scope)
    if name is None:
        raise ConfigError(f"scope: {scope!r} is not one of ip, range, username")
    try:
        return name, normalise_value(name, value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ConfigError("reason: say why (it is kept, encrypted, with the decision)")
    if len(text) > _MAX_REASON or not text.isprintable():
        raise ConfigError(f"reason: one line of printable text, at most {_MAX_REASON} characters")
    return text


def manual_decision(
    scope: str,
    value: str,
    *,
    duration: str,
    reason: str,
    now: datetime,
    type: str | None = None,
) -> Decision:
    """A decision to add by hand (``id`` 0, origin and scenario `MANUAL`): ``type`` defaults to
    ``ban`` for an address or network and ``flag`` for an account. `ConfigError` names what is
    not valid."""
    name, canonical = _scope_and_value(scope, value)
    kind = type or ("flag" if name == "Username" else "ban")
    if kind not in DECISION_TYPES:
        raise ConfigError(f"type: {kind!r} is not one of {', '.join(DECISION_TYPES)}")
    return Decision(
        id=0,
        type=kind,
        scope=name,
        value=canonical,
        created=now,
        until=now + parse_duration(duration),
        origin=MANUAL,
        scenario=MANUAL,
        reason=_reason(reason),
    )


def manual_allow_entry(scope: str, value: str, *, reason: str, now: datetime) -> AllowEntry:
    """An allowlist entry to add by hand; `ConfigError` names what is not valid."""
    name, canonical = _scope_and_value(scope, value)
    return AllowEntry(scope=name, value=canonical, reason=_reason(reason), created=now)
