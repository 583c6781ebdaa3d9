"""`IdentityCache`: who is asking, resolved once per peer and identifying header values.

A client sends the same ``User-Agent``, ``Authorization``, ``Cookie`` and forwarding header on
every request of a connection, and usually of a session: resolving them (trusted-proxy walk, user
agent sanitising and attack-tool match, keyed token and session fingerprints) once per distinct
combination instead of once per request is most of what the sensor saves on a request's way in.

The cache is keyed by the peer address and the raw header bytes as the ASGI server gave them
(no decoding on a hit). It is bounded: values longer than `MAX_CACHED_VALUE` bytes bypass it
(hostile 60 KB headers must not fill memory, and such values do not repeat), and when it holds
`MAX_IDENTITIES` entries it is emptied and starts again (no per-hit bookkeeping, unlike an LRU).
It holds raw bearer tokens and cookies as keys, in this process's memory only, as the app itself
does while it serves the request; nothing of them is written anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from apiwatch.sensor._context import Identity
from apiwatch.sensor._sensor import Sensor

__all__ = [
    "AUTHORIZATION",
    "COOKIE",
    "FORWARDING",
    "MAX_CACHED_VALUE",
    "MAX_IDENTITIES",
    "REQUEST_ID",
    "SLOTS",
    "TRACEPARENT",
    "USER_AGENT",
    "IdentityCache",
    "IdentityKey",
]

MAX_IDENTITIES = 4096
MAX_CACHED_VALUE = 512

#: Where the adapter keeps each header it reads, in a list of raw values (list indexing is the
#: cheapest lookup there is; one list is filled per request).
USER_AGENT, AUTHORIZATION, COOKIE, FORWARDING, REQUEST_ID, TRACEPARENT = range(6)
SLOTS = 6

IdentityKey = tuple[str | None, bytes | None, bytes | None, bytes | None, bytes | None]


class IdentityCache:
    """Identities by `IdentityKey`: look up ``entries`` first, then `resolve` on a miss."""

    def __init__(self, sensor: Sensor) -> None:
        self.sensor = sensor
        #: The configured forwarding header, or None when no proxy is trusted (it is not read).
        self.proxy_header = sensor.config.proxy_header if sensor.config.trusted_proxies else None
        self.entries: dict[IdentityKey, Identity] = {}

    def key(self, peer: str | None, values: Sequence[bytes | None]) -> IdentityKey:
        """What an identity depends on: the peer and the identifying headers' raw values."""
        forwarded = values[FORWARDING] if self.proxy_header else None
        return (peer, values[USER_AGENT], values[AUTHORIZATION], values[COOKIE], forwarded)

    def get(self, peer: str | None, values: Sequence[bytes | None]) -> Identity:
        """The identity for a peer and the raw header values (slots as `USER_AGENT` ...)."""
        key = self.key(peer, values)
        return self.entries.get(key) or self.resolve(key)

    def resolve(self, key: IdentityKey) -> Identity:
        """Resolve a key the cache does not hold, and keep it when its values are short."""
        peer, agent, authorization, cookie, forwarded = key
        headers = {}
        for name, value in (
            ("user-agent", agent),
            ("authorization", authorization),
            ("cookie", cookie),
            (self.proxy_header, forwarded),
        ):
            if name is not None and value is not None:
                headers[name] = value.decode("utf-8", "backslashreplace")
        identity = self.sensor.identify(peer, headers)
        if all(value is None or len(value) <= MAX_CACHED_VALUE for value in key[1:]):
            if len(self.entries) >= MAX_IDENTITIES:
                self.entries.clear()
            self.entries[key] = identity
        return identity

    def __len__(self) -> int:
        return len(self.entries)
