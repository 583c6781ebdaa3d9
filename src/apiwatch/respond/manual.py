"""Decisions and allowlist entries made by hand (``apiwatch decisions add``, ``POST
/v1/decisions``, the console's ban and allowlist forms): the input checked, then — for a
decision — whether the value may be decided on at all (allowlist, protected networks), by the
same `Guard` the automatic response uses (`manual_decision`). The store only keeps the result.

A decision made by hand is always checked against `PROTECTED_NETWORKS`, whatever
``protect_internal`` says: that setting is for the automatic response and the ban lists.

Exceptions::

    ApiwatchError
    ├── ConfigError             an address, network, duration, type or reason that is not valid
    └── DecisionRefusedError    a valid value that is allowlisted or in a protected network
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
    scope_name,
)
from apiwatch.model.duration import parse_duration as parse_any_duration
from apiwatch.respond.guard import Allowlist, check_decidable

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
    allowlist: Allowlist,
    duration: str,
    reason: str,
    now: datetime,
    type: str | None = None,
    incident: str = "",
) -> Decision:
    """A decision to add by hand (``id`` 0, origin and scenario `MANUAL`): ``type`` defaults to
    ``ban`` for an address or network and ``flag`` for an account; ``incident`` names the
    incident it answers, if any. `ConfigError` names what is not valid; then
    `DecisionRefusedError` (one line saying why) refuses a value allowlisted in ``allowlist``
    or overlapping a protected network (`check_decidable`, the automatic response's guard)."""
    name, canonical = _scope_and_value(scope, value)
    kind = type or ("flag" if name == "Username" else "ban")
    if kind not in DECISION_TYPES:
        raise ConfigError(f"type: {kind!r} is not one of {', '.join(DECISION_TYPES)}")
    decision = Decision(
        id=0,
        type=kind,
        scope=name,
        value=canonical,
        created=now,
        until=now + parse_duration(duration),
        origin=MANUAL,
        scenario=MANUAL,
        reason=_reason(reason),
        incident=incident,
    )
    check_decidable(allowlist, decision.scope, decision.value)
    return decision


def manual_allow_entry(scope: str, value: str, *, reason: str, now: datetime) -> AllowEntry:
    """An allowlist entry to add by hand; `ConfigError` names what is not valid."""
    name, canonical = _scope_and_value(scope, value)
    return AllowEntry(scope=name, value=canonical, reason=_reason(reason), created=now)
