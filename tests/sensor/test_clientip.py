"""source.ip through trusted proxies only: X-Forwarded-For and RFC 7239 Forwarded."""

from __future__ import annotations

import pytest

from apiwatch.model import ConfigError
from apiwatch.sensor import MemoryOutput
from apiwatch.sensor._clientip import ProxyResolver, parse_forwarded_for
from apiwatch.sensor._config import SensorConfig

from .apps import fastapi_app
from .asgi_helpers import call_asgi
from .conftest import decoded

TRUSTED = ["10.0.0.0/8", "2001:db8:ffff::/48"]


@pytest.fixture
def resolve() -> ProxyResolver:
    return ProxyResolver(TRUSTED)


def xff(value: str) -> dict[str, str]:
    return {"x-forwarded-for": value}


def fwd(value: str) -> dict[str, str]:
    return {"forwarded": value}


def test_spoofed_header_from_an_untrusted_peer_is_ignored(memory: MemoryOutput) -> None:
    """A client that sends X-Forwarded-For itself is still logged under its own address."""
    app = fastapi_app(outputs=[memory], trusted_proxies=TRUSTED)
    call_asgi(
        app,
        path="/users/1",
        headers=[(b"x-forwarded-for", b"1.2.3.4"), (b"forwarded", b"for=5.6.7.8")],
        client=("198.51.100.23", 5000),
    )
    assert decoded(memory)[0]["source"]["ip"] == "198.51.100.23"


def test_trusted_proxy_header_gives_the_client(memory: MemoryOutput) -> None:
    """Behind a trusted proxy the client is the nearest untrusted address in the chain."""
    app = fastapi_app(outputs=[memory], trusted_proxies=TRUSTED)
    call_asgi(
        app,
        path="/users/1",
        headers=[(b"x-forwarded-for", b"6.6.6.6, 192.0.2.44, 10.1.1.1")],
        client=("10.0.0.5", 5000),
    )
    assert decoded(memory)[0]["source"]["ip"] == "192.0.2.44"


def test_no_trusted_proxies_means_headers_are_never_read(resolve: ProxyResolver) -> None:
    """With no trusted_proxies configured, the peer address is always the client."""
    assert ProxyResolver()("10.0.0.5", xff("192.0.2.1")) == "10.0.0.5"


def test_client_prepended_fake_hops_do_not_win(resolve: ProxyResolver) -> None:
    """Addresses a client writes to the left of the real one are never chosen."""
    assert resolve("10.0.0.1", xff("127.0.0.1, 10.9.9.9, 192.0.2.9")) == "192.0.2.9"


def test_forwarded_header_with_ipv6_and_ports() -> None:
    """RFC 7239 Forwarded: quoted IPv6 with a port, and IPv4 with a port, are understood."""
    resolve = ProxyResolver(TRUSTED, "forwarded")
    header = 'for="[2001:db8:cafe::17]:4711";proto=https, for=10.2.2.2:80'
    assert resolve("10.0.0.1", fwd(header)) == "2001:db8:cafe::17"
    assert parse_forwarded_for("For=192.0.2.60;proto=http;by=203.0.113.43") == ["192.0.2.60"]


def test_only_the_configured_proxy_header_is_read(resolve: ProxyResolver) -> None:
    """The header not chosen by proxy_header is ignored, even from a trusted proxy."""
    both = {"x-forwarded-for": "192.0.2.1", "forwarded": "for=192.0.2.2"}
    assert resolve("10.0.0.1", both) == "192.0.2.1"
    assert resolve("10.0.0.1", fwd("for=192.0.2.2")) == "10.0.0.1"
    by_forwarded = ProxyResolver(TRUSTED, "forwarded")
    assert by_forwarded("10.0.0.1", both) == "192.0.2.2"
    assert by_forwarded("10.0.0.1", xff("192.0.2.1")) == "10.0.0.1"


def test_client_forwarded_header_through_an_appending_proxy_is_ignored(
    memory: MemoryOutput,
) -> None:
    """A client's own Forwarded header, passed through by an X-Forwarded-For proxy, is not used."""
    app = fastapi_app(outputs=[memory], trusted_proxies=TRUSTED)
    call_asgi(
        app,
        path="/users/1",
        headers=[(b"forwarded", b"for=6.6.6.6"), (b"x-forwarded-for", b"192.0.2.44")],
        client=("10.0.0.5", 5000),
    )
    assert decoded(memory)[0]["source"]["ip"] == "192.0.2.44"


def test_proxy_header_forwarded_option_reads_forwarded(memory: MemoryOutput) -> None:
    """With proxy_header="forwarded" the client comes from the RFC 7239 header only."""
    app = fastapi_app(outputs=[memory], trusted_proxies=TRUSTED, proxy_header="Forwarded")
    call_asgi(
        app,
        path="/users/1",
        headers=[(b"forwarded", b"for=192.0.2.44"), (b"x-forwarded-for", b"6.6.6.6")],
        client=("10.0.0.5", 5000),
    )
    assert decoded(memory)[0]["source"]["ip"] == "192.0.2.44"


def test_bad_proxy_header_option_is_a_clear_error() -> None:
    """A proxy_header other than x-forwarded-for or forwarded fails naming the option."""
    with pytest.raises(ConfigError, match=r"^proxy_header: .*'x-real-ip'"):
        SensorConfig.from_options(service="shop", proxy_header="x-real-ip")


def test_garbage_hop_stops_at_the_last_known_address(resolve: ProxyResolver) -> None:
    """An unparseable hop ("unknown", a name) yields the last trusted hop, never the garbage."""
    assert resolve("10.0.0.1", xff("not-an-ip, 10.3.3.3")) == "10.3.3.3"
    by_forwarded = ProxyResolver(TRUSTED, "forwarded")
    assert by_forwarded("10.0.0.1", fwd("for=unknown")) == "10.0.0.1"
    assert by_forwarded("10.0.0.1", fwd('for="_hidden"')) == "10.0.0.1"


def test_ipv4_mapped_ipv6_peer_is_unwrapped(resolve: ProxyResolver) -> None:
    """::ffff:10.0.0.1 is the trusted 10.0.0.1 and yields an IPv4 client."""
    assert resolve("::ffff:10.0.0.1", xff("192.0.2.7")) == "192.0.2.7"


def test_non_ip_peer_goes_to_source_address(memory: MemoryOutput) -> None:
    """A peer that is not an IP (a Unix socket, a test client) is source.address, not source.ip."""
    call_asgi(fastapi_app(outputs=[memory]), path="/users/1", client=("unix:/run/app.sock", 0))
    source = decoded(memory)[0]["source"]
    assert "ip" not in source
    assert source["address"] == "unix:/run/app.sock"


def test_bad_trusted_proxy_option_is_a_clear_error() -> None:
    """A typo in trusted_proxies fails at start-up naming the option and the value."""
    with pytest.raises(ConfigError, match=r"trusted_proxies: '10\.0\.0\.0/33'"):
        ProxyResolver(["10.0.0.0/33"])
