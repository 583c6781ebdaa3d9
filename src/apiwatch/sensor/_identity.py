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

from collections.abc import Mapping

from apiwatch.sensor._sensor import Identity, Sensor

__all__ = ["MAX_CACHED_VALUE", "MAX_IDENTITIES", "IdentityCache"]

MAX_IDENTITIES = 4096
MAX_CACHED_VALUE = 512
_IDENTIFYING = ("user-agent", "authorization", "cookie")

_Key = tuple[str | None, bytes | None, bytes | None, bytes | None, bytes | None]


class IdentityCache:
    """``cache.get(peer, raw_headers)`` -> the sensor's `Identity` for them (see the module doc)."""

    def __init__(self, sensor: Sensor) -> None:
        self.sensor = sensor
        # The forwarding header matters only when proxies are trusted: else it is not read.
        resolver_header = sensor.config.proxy_header if sensor.config.trusted_proxies else None
        self._proxy_header = resolver_header
        self._entries: dict[_Key, Identity] = {}

    def get(self, peer: str | None, raw: Mapping[str, bytes]) -> Identity:
        get = raw.get
        agent, authorization, cookie = get("user-agent"), get("authorization"), get("cookie")
        forwarded = get(self._proxy_header) if self._proxy_header else None
        key = (peer, agent, authorization, cookie, forwarded)
        identity = self._entries.get(key)
        if identity is not None:
            return identity
        identity = self.sensor.identify(peer, _decoded(raw))
        if all(value is None or len(value) <= MAX_CACHED_VALUE for value in key[1:]):
            if len(self._entries) >= MAX_IDENTITIES:
                self._entries.clear()
            self._entries[key] = identity
        return identity

    def __len__(self) -> int:
        return len(self._entries)


def _decoded(raw: Mapping[str, bytes]) -> dict[str, str]:
    return {name: value.decode("utf-8", "backslashreplace") for name, value in raw.items()}
