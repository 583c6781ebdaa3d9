"""Decisions made by hand: checked first, then refused by the same guard as the automatic path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apiwatch.model import AllowEntry, ConfigError
from apiwatch.respond import (
    MANUAL,
    AllowEntries,
    DecisionRefusedError,
    manual_allow_entry,
    manual_decision,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NOBODY = AllowEntries(())


def test_a_public_address_is_banned_by_hand_for_the_duration() -> None:
    """A valid public address becomes a manual ban, canonical, until now + duration."""
    decision = manual_decision(
        "ip", " 2001:DB8::9 ", allowlist=NOBODY, duration="1h30m", reason="seen", now=NOW
    )
    assert (decision.type, decision.scope, decision.origin) == ("ban", "Ip", MANUAL)
    assert decision.value == "2001:db8::9"
    assert (decision.until - decision.created).total_seconds() == 5400


def test_an_internal_address_is_refused_naming_the_network() -> None:
    """An address in a protected network is refused by hand, whatever the configuration."""
    with pytest.raises(DecisionRefusedError, match=r"internal network 10\.0\.0\.0/8"):
        manual_decision("ip", "10.1.2.3", allowlist=NOBODY, duration="1h", reason="x", now=NOW)


def test_an_allowlisted_account_is_refused() -> None:
    """An account on the allowlist cannot be flagged by hand."""
    allowed = AllowEntries([AllowEntry(scope="Username", value="Alice", reason="ops", created=NOW)])
    with pytest.raises(DecisionRefusedError, match="allowlisted"):
        manual_decision("username", "alice", allowlist=allowed, duration="1h", reason="x", now=NOW)


def test_bad_input_is_reported_before_the_guard_is_asked() -> None:
    """A bad duration on an internal address is a ConfigError, not a refusal."""
    with pytest.raises(ConfigError, match="duration"):
        manual_decision("ip", "10.1.2.3", allowlist=NOBODY, duration="soon", reason="x", now=NOW)


def test_the_incident_is_kept() -> None:
    """A decision made from an incident's page names the incident."""
    decision = manual_decision(
        "range", "198.51.100.7/24", allowlist=NOBODY, duration="4h", reason="x", now=NOW,
        incident="inc-1",
    )  # fmt: skip
    assert (decision.value, decision.incident) == ("198.51.100.0/24", "inc-1")


def test_an_allowlist_entry_is_checked_and_canonical() -> None:
    """An allowlist entry made by hand is canonical; a zone is a ConfigError."""
    entry = manual_allow_entry("range", "10.0.0.9/8", reason="office", now=NOW)
    assert (entry.scope, entry.value) == ("Range", "10.0.0.0/8")
    with pytest.raises(ConfigError, match="zone"):
        manual_allow_entry("ip", "fe80::1%eth0", reason="x", now=NOW)
