"""`DecisionCache`: the collector's active decisions, looked up on every request without a lock.

What it holds
    Banned addresses (scope ``Ip``) and networks (``Range``, IPv4 and IPv6) and flagged accounts
    (``Username``), each as an `Active` with its decision ``id`` and ``until`` (seconds on the
    `steady_time` clock). Every type of decision on an address blocks: the sensor has no captcha
    and no throttle, so like CrowdSec bouncers' default ``fallback_remediation`` it bans.

Lookup (`DecisionCache.ip`)
    One dict lookup of the canonical address text (the form `ProxyResolver` gives ``source.ip``);
    then, only when ranges exist, the address as an integer (parsed once per distinct address,
    LRU-cached) probed in one dict per prefix length in use, keyed by the address shifted right by
    the host bits. Prefix lengths are grouped in bands (8 bits wide for IPv4, 16 for IPv6); a band
    of two or more lengths has a cover set of its ranges' ancestors at the band's floor, so an
    address outside every range of the band costs one set lookup instead of one per length.
    Without any decision a lookup is one dict lookup.

Expiry
    A decision stops applying at its ``until`` without any sync: lookups compare it with the
    ``now`` the caller passes. ``until`` is computed when the decision arrives, as that moment's
    `steady_time` plus the Go duration the collector sent (the time left), so a step of the wall
    clock (NTP) moves neither.

Concurrency
    Readers never lock: they read one immutable `_Snapshot`. Writers (the sync thread) build the
    changed dicts as copies under a writer lock and publish a new snapshot with one assignment,
    so a reader sees the old decisions or the new ones, never a half-applied sync.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import msgspec

from apiwatch.model import canonical_address, canonical_network
from apiwatch.model.duration import parse_go_duration

__all__ = ["Active", "DecisionCache", "WireDecision", "steady_time"]

# Wall-clock seconds that advance with the monotonic clock: immune to NTP steps, and the same
# in every process forked from this one.
_STEADY_BASE = time.time() - time.monotonic()


def steady_time() -> float:
    """Epoch seconds, advancing with ``time.monotonic`` (the clock ``until`` is kept on)."""
    return _STEADY_BASE + time.monotonic()


class WireDecision(msgspec.Struct):
    """A decision as the LAPI stream sends it; unknown fields are ignored."""

    id: int
    type: str = "ban"
    scope: str = "Ip"
    value: str = ""
    duration: str = "0s"
    origin: str = ""
    scenario: str = ""


_TableId = Any  # "ip", "account", or (ip version, prefix length)


class Active:
    """One decision in force: what `DecisionCache` lookups return (never mutated)."""

    __slots__ = ("id", "key", "scope", "table", "type", "until", "value")

    def __init__(
        self,
        id: int,
        *,
        type: str,
        scope: str,
        value: str,
        until: float,
        table: _TableId,
        key: Any,
    ) -> None:
        self.id = id
        self.type = type
        self.scope = scope
        self.value = value
        self.until = until
        self.table = table
        self.key = key

    def __repr__(self) -> str:
        return f"<Active {self.id} {self.type} {self.scope} {self.value} until={self.until:.0f}>"


def activate(wire: WireDecision, now: float) -> Active:
    """The `Active` form of a wire decision received at ``now``; ValueError when malformed."""
    until = now + parse_go_duration(wire.duration)
    scope = wire.scope.strip().lower()
    if scope == "ip":
        text = str(canonical_address(wire.value))
        return Active(
            wire.id, type=wire.type, scope="Ip", value=text, until=until, table="ip", key=text
        )
    if scope == "range":
        network = canonical_network(wire.value)
        table: _TableId = "ip"
        key: Any = str(network.network_address)
        if network.prefixlen < network.max_prefixlen:
            table = (network.version, network.prefixlen)
            key = int(network.network_address) >> (network.max_prefixlen - network.prefixlen)
        return Active(
            wire.id, type=wire.type, scope="Range", value=str(network), until=until,
            table=table, key=key,
        )  # fmt: skip
    if scope == "username":
        name = wire.value.strip()
        if not name:
            raise ValueError("an account decision without an account name")
        return Active(
            wire.id, type=wire.type, scope="Username", value=name, until=until,
            table="account", key=name.casefold(),
        )  # fmt: skip
    raise ValueError(f"unknown decision scope {wire.scope!r}")


@lru_cache(maxsize=16384)  # client addresses repeat; parsing costs more than the probes
def _ip_int(text: str) -> int | None:
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except (OSError, ValueError):
        return None
    return int.from_bytes(packed, "big")


_Probe = tuple[int, dict[int, Active]]  # (host bits to shift away, table for that length)
_Band = tuple[int, frozenset[int] | None, tuple[_Probe, ...]]  # (cover shift, cover, probes)
_BAND_WIDTH = {4: 8, 6: 16}
_BITS = {4: 32, 6: 128}


class _Snapshot:
    """One consistent, never-mutated view of every table."""

    __slots__ = ("accounts", "exact", "size", "v4", "v6")

    def __init__(
        self,
        exact: dict[str, Active],
        accounts: dict[str, Active],
        v4: tuple[_Band, ...],
        v6: tuple[_Band, ...],
        size: int,
    ) -> None:
        self.exact, self.accounts, self.v4, self.v6, self.size = exact, accounts, v4, v6, size


class DecisionCache:
    """Active decisions by address, network and account; see the module docstring."""

    def __init__(self) -> None:
        self._snapshot = _Snapshot({}, {}, (), (), 0)
        self._write = threading.Lock()
        self._by_id: dict[int, Active] = {}
        self._tables: dict[_TableId, dict[Any, Active]] = {}  # published: never mutated
        self._dupes: dict[tuple[_TableId, Any], list[Active]] = {}  # keys with 2+ decisions
        self._bands: dict[tuple[int, int], _Band] = {}

    # -- reading (any thread, no lock) -------------------------------------------------------

    def __len__(self) -> int:
        """Decisions held, including expired ones not yet pruned."""
        return self._snapshot.size

    @property
    def has_accounts(self) -> bool:
        return bool(self._snapshot.accounts)

    def ip(self, address: str, now: float) -> Active | None:
        """The decision in force at ``now`` on a canonical address, exact or by a range."""
        snap = self._snapshot
        hit = snap.exact.get(address)
        if hit is not None and hit.until > now:
            return hit
        bands = snap.v6 if ":" in address else snap.v4
        if not bands:
            return None
        number = _ip_int(address)
        if number is None:
            return None
        for cover_shift, cover, probes in bands:
            if cover is not None and number >> cover_shift not in cover:
                continue
            for shift, table in probes:
                hit = table.get(number >> shift)
                if hit is not None and hit.until > now:
                    return hit
        return None

    def account(self, name: str, now: float) -> Active | None:
        """The decision in force at ``now`` on an account (names compare case-insensitively)."""
        accounts = self._snapshot.accounts
        if not accounts:
            return None
        hit = accounts.get(name.strip().casefold())
        return hit if hit is not None and hit.until > now else None

    def get(self, decision_id: int) -> Active | None:
        """The decision with this id, expired or not, if held."""
        return self._by_id.get(decision_id)

    # -- writing (the sync thread) -----------------------------------------------------------

    def replace(self, decisions: Iterable[WireDecision], now: float) -> int:
        """Hold exactly these decisions (a startup sync); returns how many were malformed."""
        with self._write:
            self._by_id, self._tables, self._dupes, self._bands = {}, {}, {}, {}
            staged: dict[_TableId, dict[Any, Active]] = {}
            invalid = self._add_all(decisions, now, staged)
            self._publish(staged)
        return invalid

    def apply(
        self, new: Iterable[WireDecision], deleted: Iterable[WireDecision], now: float
    ) -> int:
        """Apply a delta: ``deleted`` by id, then ``new``; returns how many were malformed."""
        with self._write:
            staged: dict[_TableId, dict[Any, Active]] = {}
            for wire in deleted:
                self._remove(wire.id, staged)
            invalid = self._add_all(new, now, staged)
            self._publish(staged)
        return invalid

    def prune(self, now: float) -> int:
        """Forget decisions that expired before ``now``; returns how many."""
        with self._write:
            expired = [d.id for d in self._by_id.values() if d.until <= now]
            staged: dict[_TableId, dict[Any, Active]] = {}
            for decision_id in expired:
                self._remove(decision_id, staged)
            self._publish(staged)
        return len(expired)

    def _add_all(
        self, decisions: Iterable[WireDecision], now: float, staged: dict[_TableId, Any]
    ) -> int:
        invalid = 0
        for wire in decisions:
            try:
                active = activate(wire, now)
            except ValueError:
                invalid += 1
                continue
            self._remove(active.id, staged)  # a decision sent again replaces the old copy
            if active.until > now:
                self._add(active, staged)
        return invalid

    def _staged(self, staged: dict[_TableId, Any], table: _TableId) -> dict[Any, Active]:
        """The table's private copy for this write, made on first touch (copy on write)."""
        copy = staged.get(table)
        if copy is None:
            copy = staged[table] = dict(self._tables.get(table, ()))
        return copy

    def _add(self, active: Active, staged: dict[_TableId, Any]) -> None:
        self._by_id[active.id] = active
        table = self._staged(staged, active.table)
        current = table.get(active.key)
        if current is not None:
            # Several decisions on one key: the table holds the one that lasts longest, so that
            # the entry's expiry is the key's.
            group = self._dupes.setdefault((active.table, active.key), [current])
            group.append(active)
            if active.until <= current.until:
                return
        table[active.key] = active

    def _remove(self, decision_id: int, staged: dict[_TableId, Any]) -> None:
        active = self._by_id.pop(decision_id, None)
        if active is None:
            return
        table = self._staged(staged, active.table)
        group = self._dupes.get((active.table, active.key))
        if group is None:
            table.pop(active.key, None)
            return
        group.remove(active)
        table[active.key] = max(group, key=lambda d: d.until)
        if len(group) == 1:
            del self._dupes[(active.table, active.key)]

    def _publish(self, staged: dict[_TableId, dict[Any, Active]]) -> None:
        if not staged and self._snapshot.size == len(self._by_id):
            return
        for table_id, table in staged.items():
            if table:
                self._tables[table_id] = table
            else:
                self._tables.pop(table_id, None)
        touched = {(t[0], t[1] // _BAND_WIDTH[t[0]]) for t in staged if isinstance(t, tuple)}
        for band in touched:
            self._rebuild_band(*band)
        self._snapshot = _Snapshot(
            self._tables.get("ip", {}),
            self._tables.get("account", {}),
            self._band_list(4),
            self._band_list(6),
            len(self._by_id),
        )

    def _rebuild_band(self, version: int, band: int) -> None:
        width, bits = _BAND_WIDTH[version], _BITS[version]
        lengths = sorted(
            t[1]
            for t in self._tables
            if isinstance(t, tuple) and t[0] == version and t[1] // width == band
        )
        if not lengths:
            self._bands.pop((version, band), None)
            return
        # The most populated length first: where a hit is likeliest (order never changes a miss).
        tables = sorted(((bits - n, self._tables[(version, n)]) for n in lengths), key=_size)
        probes = tuple(tables)
        floor = band * width
        cover: frozenset[int] | None = None
        if len(lengths) > 1 and floor > 0:
            cover = frozenset(
                key >> (n - floor) for n in lengths for key in self._tables[(version, n)]
            )
        self._bands[(version, band)] = (bits - floor, cover, probes)

    def _band_list(self, version: int) -> tuple[_Band, ...]:
        return tuple(self._bands[k] for k in sorted(self._bands, reverse=True) if k[0] == version)


def _size(probe: _Probe) -> int:
    return -len(probe[1])
