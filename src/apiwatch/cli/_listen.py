"""What `apiwatch serve` checks before it makes anything: the TLS pair loads, and the address
can be listened on. Both raise `ConfigError` with one line; `listen` returns the bound socket,
which the server then serves on (so ``--port 0`` gets a real port the start can print)."""

from __future__ import annotations

import errno
import socket
import ssl

from apiwatch.model import ConfigError

__all__ = ["bound_port", "check_tls", "listen"]


def check_tls(cert: str, key: str) -> None:
    """The certificate and key load as a server's pair (uvicorn would otherwise fail later)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"tls: --tls-cert {cert} and --tls-key {key} do not load as a PEM certificate and "
            f"its private key (ssl: {exc.reason or 'unreadable'})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"tls: cannot read {exc.filename or cert}: {exc.strerror}") from None


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (0: a free port), ready for the server."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"host: cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # connections wait in the backlog until the server accepts them
    except OSError as exc:
        sock.close()
        hint = " (another process is using it)" if exc.errno == errno.EADDRINUSE else ""
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.set_inheritable(True)
    return sock


def bound_port(sock: socket.socket) -> int:
    """The port ``sock`` listens on (the real one after ``--port 0``)."""
    return int(sock.getsockname()[1])
