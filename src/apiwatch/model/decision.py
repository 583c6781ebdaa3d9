"""What response produces: a `Decision` (ban an address or range, flag an account) and the
`AllowEntry` no decision may override.

The fields follow CrowdSec's Local API, so bouncers written for CrowdSec read apiwatch's decisions
unchanged: ``type`` (``ban``, ``captcha``, ``throttle``; apiwatch adds ``flag`` for accounts),
``scope`` (``Ip``, ``Range``; apiwatch adds ``Username``), ``value``, ``origin``, ``scenario`` and a
``duration`` written as a Go duration (``"3h59m12s"``) counted from the moment it is served.
Times are UTC; ``until`` is when the decision stops applying.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from apiwatch.model.address import parse_address, parse_network

__all__ = [
    "DECISION_SCOPES",
    "DECISION_TYPES",
    "AllowEntry",
    "Decision",
    "go_duration",
    "normalise_value",
    "scope_name",
]

DECISION_TYPES: Final = ("ban", "captcha", "throttle", "flag")
"""``ban``/``captcha``/``throttle`` are CrowdSec's; ``flag`` (step-up, review) is for accounts."""

DECISION_SCOPES: Final = ("Ip", "Range", "Username")
"""CrowdSec's scope names (``Ip``, ``Range``) plus ``Username`` for account decisions."""

_SCOPE_NAMES: Final = {scope.lower(): scope for scope in DECISION_SCOPES}


class Decision(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One decision about one address, network or account, active from ``created`` to ``until``.

    ``id`` is a positive integer, increasing in creation order (CrowdSec bouncers keep decisions
    by id). ``incident`` names the incident that led to it (empty for a decision added by hand);
    ``reason`` is for people; ``simulated`` marks a decision taken in dry-run mode, which is
    recorded and reported but never served to an enforcement point.
    """

    id: int
    type: str
    scope: str
    value: str
    created: datetime
    until: datetime
    origin: str = "apiwatch"
    scenario: str = ""
    reason: str = ""
    incident: str = ""
    simulated: bool = False
    deleted: datetime | None = None

    def active(self, now: datetime) -> bool:
        """Whether the decision applies at ``now`` (not expired, not deleted, not simulated)."""
        return not self.simulated and self.deleted is None and self.created <= now < self.until


class AllowEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An address, network or account that no policy may act against, with why."""

    scope: str
    value: str
    reason: str
    created: datetime
    id: int = 0


def go_duration(seconds: float) -> str:
    """A Go ``time.Duration`` string, as CrowdSec bouncers parse it (``"3h59m12s"``)."""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def scope_name(text: str) -> str | None:
    """The `DECISION_SCOPES` name of ``text`` (``ip``, ``IP`` → ``Ip``), or None."""
    return _SCOPE_NAMES.get(text.strip().lower())


def normalise_value(scope: str, value: str) -> str:
    """The canonical text of a decision's value: an address or network in its standard form
    (``2001:db8::1``, ``198.51.100.0/24``), an account name as given. Raises ValueError with a
    clear message for an invalid address or network, or an unknown scope.

    An IPv6 zone (``fe80::1%eth0``) is refused (see `parse_address`): a decision never needs
    one, and its text would reach nginx and nft configuration files and bouncers."""
    if scope == "Ip":
        return str(parse_address(value))
    if scope == "Range":
        return str(parse_network(value))
    if scope == "Username":
        name = value.strip()
        if not name:
            msg = "an account name must not be empty"
            raise ValueError(msg)
        return name
    msg = f"unknown scope {scope!r} (one of {', '.join(DECISION_SCOPES)})"
    raise ValueError(msg)
