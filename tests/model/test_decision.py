"""Decision values in canonical form, and the Go durations bouncers read."""

from __future__ import annotations

import pytest

from apiwatch.model import go_duration, normalise_value


@pytest.mark.parametrize(
    ("scope", "value", "canonical"),
    [
        ("Ip", " 2001:DB8:0::1 ", "2001:db8::1"),
        ("Range", "198.51.100.7/24", "198.51.100.0/24"),
        ("Username", " alice ", "alice"),
    ],
)
def test_values_are_canonical(scope: str, value: str, canonical: str) -> None:
    """Addresses and networks take their standard form; account names are trimmed."""
    assert normalise_value(scope, value) == canonical


@pytest.mark.parametrize(
    ("scope", "value"),
    [
        ("Ip", "fe80::1%eth0"),
        ("Ip", "2001:db8::1%x;\nallow all"),
        ("Range", "fe80::%eth0/64"),
        ("Ip", "203.0.113.300"),
        ("Range", "198.51.100.0/33"),
        ("Username", "  "),
        ("Country", "FR"),
    ],
)
def test_invalid_values_and_ipv6_zones_are_refused(scope: str, value: str) -> None:
    """A bad address, network, empty name or unknown scope is a ValueError; so is any IPv6 zone,
    whose text ``ipaddress`` would otherwise keep and carry into ban lists."""
    with pytest.raises(ValueError, match=r"zone|not an IP|not a network|empty|unknown scope"):
        normalise_value(scope, value)


def test_go_durations() -> None:
    """Durations are written as Go's time.Duration text, never negative."""
    assert [go_duration(s) for s in (14352, 61, 5, -3)] == ["3h59m12s", "1m1s", "5s", "0s"]
