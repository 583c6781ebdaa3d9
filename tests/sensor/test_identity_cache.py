"""The ASGI middleware resolves who is asking once per peer and identifying headers."""

from __future__ import annotations

from typing import Any

from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput
from apiwatch.sensor._identity import (
    MAX_CACHED_VALUE,
    MAX_IDENTITIES,
    SLOTS,
    USER_AGENT,
    IdentityCache,
)

from .asgi_helpers import call_asgi
from .conftest import decoded

_UA = b"Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"


async def _ok(_scope: Any, _receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _middleware(memory: MemoryOutput, **options: Any) -> ApiwatchMiddleware:
    return ApiwatchMiddleware(_ok, service="shop", outputs=[memory], **options)


def _cache(app: ApiwatchMiddleware) -> IdentityCache:
    cache = app._identities
    assert isinstance(cache, IdentityCache)
    return cache


def test_requests_with_the_same_identity_share_one_resolution(memory: MemoryOutput) -> None:
    """Two requests from one client resolve once; their events still say the same as before."""
    app = _middleware(memory)
    headers = [(b"user-agent", _UA), (b"authorization", b"Bearer tok-one-123456")]
    call_asgi(app, path="/a", headers=headers)
    call_asgi(app, path="/b", headers=headers)
    assert len(_cache(app)) == 1
    first, second = decoded(memory)
    assert first["source"] == second["source"] == {"ip": "203.0.113.7"}
    assert first["user_agent"] == second["user_agent"] == {"original": _UA.decode()}
    assert first["labels"]["token_id"] == second["labels"]["token_id"]
    assert first["event"]["id"] != second["event"]["id"]


def test_a_different_token_or_peer_is_a_different_identity(memory: MemoryOutput) -> None:
    """Another bearer token or another peer address is never served from the cache."""
    app = _middleware(memory)
    call_asgi(app, headers=[(b"authorization", b"Bearer tok-one-123456")])
    call_asgi(app, headers=[(b"authorization", b"Bearer tok-two-123456")])
    call_asgi(app, headers=[(b"authorization", b"Bearer tok-two-123456")], client=("::1", 5))
    events = decoded(memory)
    assert events[0]["labels"]["token_id"] != events[1]["labels"]["token_id"]
    assert events[2]["source"] == {"ip": "::1"}
    assert len(_cache(app)) == 3


def test_a_forwarding_header_from_a_trusted_proxy_is_part_of_the_identity(
    memory: MemoryOutput,
) -> None:
    """Behind a trusted proxy, each X-Forwarded-For value gives its own client address."""
    app = _middleware(memory, trusted_proxies=["10.0.0.0/8"])
    for client in (b"198.51.100.1", b"198.51.100.2"):
        call_asgi(app, headers=[(b"x-forwarded-for", client)], client=("10.0.0.5", 1))
    assert [e["source"]["ip"] for e in decoded(memory)] == ["198.51.100.1", "198.51.100.2"]


def test_long_values_bypass_the_cache_and_a_full_cache_starts_again(memory: MemoryOutput) -> None:
    """Over-long header values are never kept; the cache never holds more than its bound."""
    app = _middleware(memory)
    long_agent = b"A" * (MAX_CACHED_VALUE + 1)
    call_asgi(app, headers=[(b"user-agent", long_agent)])
    assert len(_cache(app)) == 0
    assert decoded(memory)[0]["user_agent"]["original"].startswith("AAAA")
    for number in range(MAX_IDENTITIES + 10):
        values: list[bytes | None] = [None] * SLOTS
        values[USER_AGENT] = b"agent %d" % number
        _cache(app).get(f"192.0.2.{number % 250}", values)
    assert 0 < len(_cache(app)) <= MAX_IDENTITIES


def test_repeated_headers_are_joined_and_the_last_request_id_wins(memory: MemoryOutput) -> None:
    """Two X-Forwarded-For headers read as one list; of two request ids, the last is kept."""
    app = _middleware(memory, trusted_proxies=["10.0.0.0/8"])
    headers = [
        (b"x-forwarded-for", b"198.51.100.9"),
        (b"x-request-id", b"first-id"),
        (b"x-forwarded-for", b"10.0.0.7"),
        (b"x-request-id", b"second-id"),
    ]
    call_asgi(app, headers=headers, client=("10.0.0.5", 1))
    event = decoded(memory)[0]
    assert event["source"]["ip"] == "198.51.100.9"
    assert event["http"]["request"]["id"] == "second-id"
