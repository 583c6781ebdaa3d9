"""Raw-socket ingest clients for the server tests: uploads that stall or drop mid-body.

httpx cannot stop half-way through a body it was given; these write the request by hand, so a
test can hold a connection with one byte of a 100 kB body sent, or close it there.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

__all__ = ["read_answer", "read_status", "start_upload"]


def start_upload(
    url: str,
    secret: str,
    *,
    declared: int = 100_000,
    sent: bytes = b"{",
    headers: dict[str, str] | None = None,
) -> socket.socket:
    """A ``POST /v1/events`` declaring ``declared`` body bytes, of which only ``sent`` is sent;
    the socket is left open (close it to drop the upload)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    lines = [
        "POST /v1/events HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Authorization: Bearer {secret}",
        "Content-Type: application/x-ndjson",
        f"Content-Length: {declared}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + sent)
    return sock


def read_answer(sock: socket.socket, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of the answer on ``sock``, waiting up to ``timeout`` seconds
    for it; status 0 when the server closed the connection without answering."""
    sock.settimeout(timeout)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            return 0, {}, b""
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return int(status_line.split(" ", 2)[1]), headers, body


def read_status(sock: socket.socket, timeout: float = 30.0) -> int:
    """The status code of the answer on ``sock`` (0: closed without one); see `read_answer`."""
    return read_answer(sock, timeout)[0]
