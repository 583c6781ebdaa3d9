"""A small, real HTTP collector for shipper tests: ``POST /v1/events`` on 127.0.0.1.

It checks the bearer key, gunzips and parses the NDJSON body, and records every line it accepts
and every request it sees. Its behaviour can be switched while a shipper is talking to it:

- ``mode = "normal"``: 202 ``{"accepted": n, "rejected": [...]}`` (lines that are not JSON
  objects are rejected one by one);
- ``"500"``, ``"429"``, ``"400"``: that status, nothing recorded as accepted;
- ``"slow"``: records the batch, then sleeps ``slow_delay`` seconds before answering 202, so a
  shipper with a shorter timeout sees a failure although the data is stored (its retry is a
  duplicate the collector must tolerate);
- `stop` closes the port (the collector is down); `start` opens it again on the same port.

``tls`` (an ``ssl.SSLContext`` for the server side) makes it serve HTTPS.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests._wait import wait_until

__all__ = ["Collector", "Received"]


@dataclass
class Received:
    """One request as the collector saw it."""

    status: int
    headers: dict[str, str]
    body_sha256: str = ""
    lines: list[bytes] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    collector: Collector

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up on a slow answer is expected here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: `stop` really cuts everyone off

    def do_POST(self) -> None:
        self.server.collector.handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


class Collector:
    """A threaded HTTP collector on 127.0.0.1; see the module docstring for its modes."""

    def __init__(self, api_key: str = "test-key", tls: ssl.SSLContext | None = None) -> None:
        self.api_key = api_key
        self.tls = tls
        self.mode = "normal"
        self.slow_delay = 1.0
        self.port = 0
        self.requests: list[Received] = []
        self.accepted: list[bytes] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> Collector:
        """Listen (again) on the same port as before, or on a free one the first time."""
        server = _Server(("127.0.0.1", self.port), _Handler)
        if self.tls:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        server.collector = self
        self.port = server.server_address[1]
        self._release.clear()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: new connections are refused until `start`."""
        server, self._server = self._server, None
        if server is None:
            return
        self._release.set()  # wake slow handlers so they finish now
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def release_slow(self) -> None:
        """Let requests sleeping in "slow" mode answer now."""
        self._release.set()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it received -------------------------------------------------------------------------

    def event_ids(self) -> list[str]:
        """``event.id`` of every accepted line, in arrival order, duplicates included."""
        with self._lock:
            lines = list(self.accepted)
        return [json.loads(line)["event"]["id"] for line in lines]

    def unique_event_ids(self) -> list[str]:
        """``event.id`` in order of first arrival, each once."""
        return list(dict.fromkeys(self.event_ids()))

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until `count` distinct events arrived."""
        return wait_until(lambda: len(self.unique_event_ids()) >= count, timeout)

    # -- one request -------------------------------------------------------------------------------

    def handle(self, request: _Handler) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = request.rfile.read(int(headers.get("content-length", "0")))
        mode = self.mode
        if request.path != "/v1/events":
            self._answer(request, Received(404, headers), {"error": "not found"})
        elif headers.get("authorization") != f"Bearer {self.api_key}":
            self._answer(request, Received(401, headers), {"error": "bad key"})
        elif mode in ("500", "429", "400"):
            self._answer(request, Received(int(mode), headers), {"error": mode})
        else:
            self._accept(request, headers, body, slow=mode == "slow")

    def _accept(
        self, request: _Handler, headers: dict[str, str], body: bytes, *, slow: bool
    ) -> None:
        raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        good, rejected = [], []
        for number, line in enumerate(lines, 1):
            if _is_object(line):
                good.append(line)
            else:
                rejected.append({"line": number, "error": "not a JSON object"})
        received = Received(202, headers, hashlib.sha256(raw).hexdigest(), good)
        with self._lock:
            self.accepted.extend(good)
        if slow:
            self._release.wait(self.slow_delay)
        self._answer(request, received, {"accepted": len(good), "rejected": rejected})

    def _answer(self, request: _Handler, received: Received, doc: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(received)
        data = json.dumps(doc).encode()
        try:
            request.send_response(received.status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the shipper gave up waiting: expected in "slow" mode


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
