"""Real local receivers for notifier tests: HTTP (webhook, Slack, apprise json://), syslog over
UDP, TCP and TLS, all on 127.0.0.1 with free ports, each in its own thread."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One HTTP request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Answers each POST with the next of ``statuses`` (then 200) and records it."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """The requests once at least ``count`` arrived (fails the test on timeout)."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"expected {count} request(s), got {len(self.requests)}"
        return list(self.requests)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self.lock:
            status = self.statuses.pop(0) if self.statuses else 200
        handler.send_response(status)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")
        with self.arrived:
            self.requests.append(Request(handler.path, dict(handler.headers.items()), body))
            self.arrived.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self.server.receiver.handle(self)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


@contextmanager
def http_receiver(statuses: list[int] | None = None) -> Iterator[HttpReceiver]:
    """An HTTP receiver on a free port, shut down on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    receiver = HttpReceiver(port=server.server_address[1], statuses=list(statuses or []))
    server.receiver = receiver  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def udp_receiver() -> Iterator[socket.socket]:
    """A bound UDP socket on a free port (read it with ``recvfrom``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    try:
        yield sock
    finally:
        sock.close()


@dataclass
class StreamReceiver:
    """Accepts one connection and keeps everything sent on it until the sender closes."""

    port: int
    data: bytearray = field(default_factory=bytearray)
    done: threading.Event = field(default_factory=threading.Event)


@contextmanager
def stream_receiver(tls: ssl.SSLContext | None = None) -> Iterator[StreamReceiver]:
    """A TCP (or, with ``tls``, TLS) listener on a free port that reads one connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    receiver = StreamReceiver(port=listener.getsockname()[1])

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                sock: socket.socket = tls.wrap_socket(conn, server_side=True) if tls else conn
            except (ssl.SSLError, OSError):
                receiver.done.set()  # the client refused our certificate
                return
            try:
                while chunk := sock.recv(65536):
                    receiver.data.extend(chunk)
            except (ssl.SSLError, OSError):
                pass  # a TLS peer closing without close_notify: the data is already read
            finally:
                if sock is not conn:
                    sock.close()
        receiver.done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        listener.close()
        thread.join(5)
