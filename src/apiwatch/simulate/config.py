"""`ScenarioConfig`: everything that shapes a simulated scenario, with defaults that keep it small.

The default scenario is four hours of a shop API (2026-11-02 08:00-12:00 UTC) with 300 regular
users, the benign traps and every attack: about 60,000 events. ``scale`` multiplies the regular
population (the attacks keep their sizes); ``lines`` asks for an exact number of shop requests
(the nginx log's line count) and picks the scale itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from apiwatch.model import ConfigError, plural_noun

__all__ = ["ATTACK_TYPES", "DEFAULT_START", "TRAP_KINDS", "ScenarioConfig"]

DEFAULT_START: Final = datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC)

ATTACK_TYPES: Final = (
    "brute_force",
    "credential_stuffing",
    "distributed_credential_stuffing",
    "password_spraying",
    "object_enumeration",
    "scanner",
    "error_flood",
    "token_reuse",
    "logging_stopped",
)
"""The attack types a scenario can contain. ``account_takeover`` is not generated on its own: the
scheduled successful logins of brute force and stuffing are the takeovers, listed as
``accounts_compromised`` in the ground truth."""

TRAP_KINDS: Final = (
    "office_nat",
    "monitoring_probe",
    "crawler_404_burst",
    "password_reset",
    "support_agent",
    "mobile_roaming",
)
"""The benign traps: traffic that looks like an attack to a careless rule but is not one."""


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """The seed, the time span, the population, and which attacks happen at what size.

    Invalid values raise `ConfigError` naming the field. Equal configs give byte-identical
    scenarios.
    """

    seed: int = 1
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(hours=4)
    users: int = 300
    scale: float = 1.0
    lines: int | None = None
    attacks: tuple[str, ...] = ATTACK_TYPES
    traps: bool = True
    # benign population
    office_users: int = 40
    office_typos: int = 4
    support_reads: int = 150
    # brute force: one account, one IP; a variant against another account from several IPs
    brute_force_attempts: int = 40
    brute_force_succeeds: bool = True
    brute_force_variant_ips: int = 5
    brute_force_variant_attempts: int = 35
    # single-source credential stuffing
    stuffing_accounts: int = 50
    stuffing_attempts: int = 80
    stuffing_successes: int = 2
    # distributed credential stuffing
    distributed_ips: int = 300
    distributed_accounts: int = 400
    distributed_successes: int = 3
    distributed_outliers: float = 0.05
    # password spraying
    spraying_accounts: int = 30
    spraying_span: timedelta = timedelta(hours=2)
    # object enumeration (BOLA)
    enumeration_ids: int = 250
    enumeration_exposed: int = 5
    # scanner, error flood, token reuse
    scanner_requests: int = 150
    error_flood_requests: int = 350
    token_reuse_ips: int = 10
    # a second service that stops logging
    billing_interval: timedelta = timedelta(seconds=30)
    billing_silence: timedelta = timedelta(minutes=75)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ConfigError("start: give a timezone-aware time, e.g. 2026-11-02T08:00:00Z")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        unknown = [name for name in self.attacks if name not in ATTACK_TYPES]
        if unknown:
            raise ConfigError(
                f"attacks: unknown {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(ATTACK_TYPES)}"
            )
        # A canonical order, so that equal selections give equal scenarios and truth files.
        object.__setattr__(self, "attacks", tuple(a for a in ATTACK_TYPES if a in self.attacks))
        self._check_sizes()

    def _check_sizes(self) -> None:
        for name in ("users", "office_users", "support_reads", "distributed_ips"):
            _at_least(self, name, 1)
        for name, minimum in _DEFINING_SIZES.items():
            _at_least(self, name, minimum)
        if self.brute_force_variant_ips:
            _at_least(self, "brute_force_variant_ips", 2)
            _at_least(self, "brute_force_variant_attempts", 30)
        problems = (
            (timedelta(hours=2) <= self.duration <= timedelta(days=7),
             "duration: expected between 2 hours and 7 days"),
            (0 < self.scale <= 1000, "scale: expected a number above 0 and at most 1000"),
            (round(self.users * self.scale) >= 20,
             "users x scale: expected at least 20 regular users"),
            (self.lines is None or self.lines >= 1000, "lines: expected at least 1000"),
            (self.stuffing_attempts <= 2 * self.stuffing_accounts,
             "stuffing_attempts: at most 2 tries per account (2 x stuffing_accounts)"),
            (self.distributed_accounts <= 3 * self.distributed_ips,
             "distributed_accounts: at most 3 attempts per IP (3 x distributed_ips)"),
            (0 <= self.distributed_outliers <= 0.5,
             "distributed_outliers: expected a share between 0 and 0.5"),
            (self.brute_force_variant_ips >= 0, "brute_force_variant_ips: expected 0 or more"),
            (self.enumeration_exposed < self.enumeration_ids // 4,
             "enumeration_exposed: most enumerated ids must fail"),
            (timedelta(minutes=60) <= self.billing_silence <= self.duration / 2,
             "billing_silence: expected at least 60 minutes and at most half the duration"),
            (self.spraying_span <= self.duration * 0.7,
             "spraying_span: expected at most 70% of the duration"),
        )  # fmt: skip
        for ok, message in problems:
            if not ok:
                raise ConfigError(message)

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    def replace(self, **changes: Any) -> ScenarioConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON types only: times as ISO 8601, durations as seconds."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, timedelta):
                value = value.total_seconds()
            elif isinstance(value, tuple):
                value = list(value)
            out[item.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioConfig:
        """The inverse of `to_dict`; unknown keys raise `ConfigError`."""
        kinds = {item.name: str(item.type) for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(kinds))
        if unknown:
            raise ConfigError(
                f"unknown config {plural_noun(len(unknown), 'field')}: {', '.join(unknown)}"
            )
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "start":
                values[name] = datetime.fromisoformat(str(value))
            elif isinstance(value, int | float) and kinds[name] == "timedelta":
                values[name] = timedelta(seconds=value)
            elif isinstance(value, list):
                values[name] = tuple(value)
            else:
                values[name] = value
        return cls(**values)


# The sizes that make each attack what it is: below them it is no longer that attack.
_DEFINING_SIZES = {
    "brute_force_attempts": 30,
    "stuffing_accounts": 40,
    "stuffing_attempts": 60,
    "spraying_accounts": 5,
    "enumeration_ids": 200,
    "scanner_requests": 40,
    "error_flood_requests": 300,
    "token_reuse_ips": 8,
}


def _at_least(config: ScenarioConfig, name: str, minimum: int) -> None:
    if getattr(config, name) < minimum:
        raise ConfigError(f"{name}: expected at least {minimum}")
