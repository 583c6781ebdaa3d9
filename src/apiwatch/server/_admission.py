"""`Admission`: what an ingested event must satisfy besides being valid ECS.

Its time: no more than ``future_skew`` seconds ahead of the collector's clock (a sender's clock
may run a little fast), no more than ``max_event_age`` seconds behind it. And, for a key bound to
services or networks (``apiwatch keys create --service ... --network ...``), what the key may
report: ``service.name`` one of its services, ``source.ip`` inside one of its networks. An
event without ``source.ip`` names no address, so a network binding does not refuse it; a
service binding refuses an event without ``service.name``.

`Admission.problem` gives ``(kind, message)`` for an event that fails, the kind being one of
``future``, ``past`` and ``binding``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apiwatch.model import Event
from apiwatch.model.ecs import ip_address_of
from apiwatch.store import ApiKey

__all__ = ["Admission"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LATEST = datetime.max.replace(tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Admission:
    """The bounds and binding one ingest request's events are held to (see the module)."""

    earliest: datetime = _EARLIEST
    latest: datetime = _LATEST
    future_skew: float = 0.0
    max_age: float = 0.0
    key_name: str = ""
    services: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def at(
        cls, now: datetime, *, future_skew: float, max_age: float, key: ApiKey | None = None
    ) -> Admission:
        """The admission of a request arriving at ``now`` with ``key``."""
        return cls(
            earliest=_shifted(now, -max_age),
            latest=_shifted(now, future_skew),
            future_skew=future_skew,
            max_age=max_age,
            key_name=key.name if key is not None else "",
            services=key.services if key is not None else frozenset(),
            networks=tuple(ipaddress.ip_network(n) for n in key.networks) if key else (),
        )

    def problem(self, event: Event) -> tuple[str, str] | None:
        """``(kind, message)`` when ``event`` is out of bounds or outside the binding."""
        at = event.timestamp
        if at > self.latest:
            return "future", (
                f"@timestamp: {_iso(at)} is more than {self.future_skew:g} s ahead of the "
                "collector's clock (future_skew)"
            )
        if at < self.earliest:
            return "past", (
                f"@timestamp: {_iso(at)} is older than the collector keeps events for "
                f"({self.max_age / 86400:g} days, max_event_age)"
            )
        if self.services or self.networks:
            return self._outside(event)
        return None

    def _outside(self, event: Event) -> tuple[str, str] | None:
        if self.services:
            service = event.service.name if event.service is not None else None
            if service not in self.services:
                shown = "no service.name" if service is None else f"service.name {service!r}"
                return "binding", (
                    f"{shown}: key {self.key_name!r} may report only for "
                    f"{', '.join(sorted(self.services))}"
                )
        ip = event.source.ip if event.source is not None else None
        if self.networks and ip is not None:
            address = ip_address_of(ip)
            if address is None or not any(address in network for network in self.networks):
                return "binding", (
                    f"source.ip {ip!r}: key {self.key_name!r} may report only addresses in "
                    f"{', '.join(map(str, self.networks))}"
                )
        return None


def _shifted(now: datetime, seconds: float) -> datetime:
    """``now`` moved by ``seconds``, saturating at the ends of the datetime range."""
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        return _LATEST if seconds > 0 else _EARLIEST


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
