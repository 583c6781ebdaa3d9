"""The ``[respond]`` configuration: policies, allowlist, notifiers — typed and checked at load.

`parse_config` turns the dict that ``[respond]`` in ``apiwatch.toml`` gives into a frozen
`ResponseConfig`. Every mistake raises `apiwatch.model.ConfigError` naming the exact key
(``respond.policy[1].duration: not a duration: '4x' ...``); unknown keys are refused, so a typo
never silently disables a ban. Each ``[respond.notifiers.<name>]`` is read by its notifier's
module (`apiwatch.respond.notifiers.parse_notifier`). Secrets are never read from the file: a
notifier names the environment variable that holds its secret (``secret_env``,
``password_env``, ``url_env``), and `apiwatch.respond.notifiers.build_notifiers` reads it when
the notifiers are made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from apiwatch.model import SEVERITIES, AllowEntry, ConfigError, normalise_value
from apiwatch.respond._config import Table, http_url
from apiwatch.respond.guard import PROTECTED_NETWORKS, Network
from apiwatch.respond.notifiers import NotifierSettings, parse_notifier

__all__ = ["ACTIONS", "CONFIGURED", "Policy", "ResponseConfig", "parse_config"]

ACTIONS: Final = ("ban_ip", "ban_range", "flag_account", "suggest_token_revocation", "notify")
"""What a policy does for a matching incident."""

CONFIGURED: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The ``created`` time of allowlist entries that come from the configuration file."""

_ATTACK: Final = re.compile(r"[a-z][a-z0-9_]*")
_SCOPES: Final = ("Ip", "Range", "Username")
_LONGEST: Final = 3650 * 86400.0


@dataclass(frozen=True, slots=True)
class Policy:
    """One ``[[respond.policy]]``: which incidents it matches and what it does about them.

    An incident matches when its severity is at least ``min_severity``, one of its rule keys
    matches one of the ``rules`` globs (empty: any rule) and it carries one of the ``attacks``
    types (empty: any attack). Durations are seconds.
    """

    name: str
    action: str
    rules: tuple[str, ...] = ()
    attacks: tuple[str, ...] = ()
    min_severity: str = "high"
    duration: float = 4 * 3600.0
    escalate: float = 2.0
    max_duration: float = 7 * 86400.0
    range_prefix: int = 24
    range_prefix_v6: int = 64
    min_range_attackers: int = 3
    notify: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseConfig:
    """The whole ``[respond]`` table."""

    dry_run: bool = False
    protect_internal: bool = True
    base_url: str = "http://127.0.0.1:8470"
    attempts: int = 5
    backoff: float = 1.0
    queue_size: int = 1000
    policies: tuple[Policy, ...] = ()
    allow: tuple[AllowEntry, ...] = ()
    notifiers: dict[str, NotifierSettings] = field(default_factory=dict)

    @property
    def protected(self) -> tuple[Network, ...]:
        """The networks the automatic response and the ban list exports never act on:
        `PROTECTED_NETWORKS`, or none when ``protect_internal`` is off."""
        return PROTECTED_NETWORKS if self.protect_internal else ()


def parse_config(data: object, *, path: str = "respond") -> ResponseConfig:
    """The `ResponseConfig` for a ``[respond]`` table (``None`` or ``{}``: respond to nothing)."""
    table = Table({} if data is None else data, path)
    notifiers = {
        name: parse_notifier(name, sub) for name, sub in table.named_tables("notifiers").items()
    }
    policies = tuple(_policy(sub, notifiers) for sub in table.tables("policy"))
    config = ResponseConfig(
        dry_run=table.boolean("dry_run", False),
        protect_internal=table.boolean("protect_internal", True),
        base_url=http_url(table, "base_url", "http://127.0.0.1:8470").rstrip("/"),
        attempts=table.integer("attempts", 5, low=1, high=20),
        backoff=table.duration("backoff", "1s"),
        queue_size=table.integer("queue_size", 1000, low=1, high=1_000_000),
        policies=policies,
        allow=tuple(_allow(sub) for sub in table.tables("allow")),
        notifiers=notifiers,
    )
    _unique_names(table, policies)
    table.done()
    return config


def _unique_names(table: Table, policies: tuple[Policy, ...]) -> None:
    seen: set[str] = set()
    for index, policy in enumerate(policies):
        if policy.name in seen:
            raise ConfigError(f"{table.key('policy')}[{index}].name: duplicate {policy.name!r}")
        seen.add(policy.name)


def _policy(table: Table, notifiers: dict[str, NotifierSettings]) -> Policy:
    action = table.string("action")
    if action not in ACTIONS:
        raise table.error("action", f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    min_severity = table.string("min_severity", "high")
    if min_severity not in SEVERITIES:
        raise table.error("min_severity", f"one of {', '.join(SEVERITIES)}, not {min_severity!r}")
    attacks = table.strings("attacks")
    for index, attack in enumerate(attacks):
        if not _ATTACK.fullmatch(attack):
            raise ConfigError(f"{table.key('attacks')}[{index}]: not an attack type: {attack!r}")
    notify = table.strings("notify")
    for index, name in enumerate(notify):
        if name not in notifiers:
            known = ", ".join(sorted(notifiers)) or "none defined"
            raise ConfigError(
                f"{table.key('notify')}[{index}]: unknown notifier {name!r} ({known})"
            )
    duration = table.duration("duration", "4h")
    max_duration = table.duration("max_duration", "7d")
    for key, seconds in (("duration", duration), ("max_duration", max_duration)):
        # Past this a ban's end overflows a datetime: every decision of the policy would fail.
        if seconds > _LONGEST:
            raise table.error(key, "must be at most 3650d")
    if max_duration < duration:
        raise table.error("max_duration", "must not be shorter than duration")
    policy = Policy(
        name=table.string("name"),
        action=action,
        rules=table.strings("rules"),
        attacks=attacks,
        min_severity=min_severity,
        duration=duration,
        escalate=table.number("escalate", 2.0, low=1.0, high=100.0),
        max_duration=max_duration,
        # Wider than /16 (v4) or /32 (v6) would ban whole providers: refused, not clamped.
        range_prefix=table.integer("range_prefix", 24, low=16, high=32),
        range_prefix_v6=table.integer("range_prefix_v6", 64, low=32, high=128),
        min_range_attackers=table.integer("min_range_attackers", 3, low=1, high=1_000_000),
        notify=notify,
    )
    table.done()
    return policy


def _allow(table: Table) -> AllowEntry:
    scope = table.string("scope")
    if scope not in _SCOPES:
        raise table.error("scope", f"one of {', '.join(_SCOPES)}, not {scope!r}")
    try:
        value = normalise_value(scope, table.string("value"))
    except ValueError as exc:
        raise table.error("value", str(exc)) from None
    entry = AllowEntry(
        scope=scope, value=value, reason=table.string("reason", ""), created=CONFIGURED
    )
    table.done()
    return entry
