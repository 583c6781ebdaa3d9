"""A small, real decision server for the sensor's sync tests: the LAPI stream on 127.0.0.1.

It serves ``GET /v1/decisions/stream?startup=true|false`` as the collector does (a Starlette app
under uvicorn, in a thread), checking ``X-Api-Key``. Per key it remembers which decisions that
puller has been told about, so ``startup=false`` answers exactly the delta: decisions added since
(``new``) and those deleted or expired since (``deleted``). ``duration`` is the time left, as a Go
duration with milliseconds (``"3599.873s"``).

Switches: ``mode = "normal" | "500" | "garbage"``; `stop` closes the port, `start` opens it again
on the same port; ``tls`` (``(cert_file, key_file)``) serves HTTPS.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["DecisionServer", "Pull"]


@dataclass(frozen=True)
class Pull:
    """One request as the server saw it."""

    startup: str | None
    api_key: str | None
    status: int


class DecisionServer:
    """The decision stream on a free loopback port; see the module docstring."""

    def __init__(self, api_key: str = "bouncer-key", tls: tuple[Path, Path] | None = None) -> None:
        self.api_key = api_key
        self.tls = tls
        self.mode = "normal"
        self.port = 0
        self.pulls: list[Pull] = []
        self._decisions: dict[int, dict[str, Any]] = {}  # id -> doc, with "until" (epoch)
        self._told: dict[str, set[int]] = {}  # key -> ids that puller holds
        self._next_id = 1
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # -- decisions -----------------------------------------------------------------------------

    def add(self, scope: str, value: str, seconds: float = 3600.0, type: str = "ban") -> int:
        """A new decision; its id."""
        with self._lock:
            decision_id = self._next_id
            self._next_id += 1
            self._decisions[decision_id] = {
                "id": decision_id,
                "origin": "apiwatch",
                "type": type,
                "scope": scope,
                "value": value,
                "scenario": "test/scenario",
                "until": time.time() + seconds,
            }
        return decision_id

    def delete(self, decision_id: int) -> None:
        with self._lock:
            self._decisions.pop(decision_id, None)

    def clear(self) -> None:
        with self._lock:
            self._decisions.clear()
            self._told.clear()

    def pulls_since(self, index: int) -> list[Pull]:
        with self._lock:
            return list(self.pulls[index:])

    # -- serving -------------------------------------------------------------------------------

    def start(self) -> DecisionServer:
        """Listen (again) on the same port as before, or on a free one the first time."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/v1/decisions/stream", self._stream)])
        tls: dict[str, Any] = {}
        if self.tls:
            tls = {"ssl_certfile": str(self.tls[0]), "ssl_keyfile": str(self.tls[1])}
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", ws="none", **tls
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the decision server did not start")
            time.sleep(0.01)
        self._server, self._thread, self._socket = server, thread, sock
        return self

    def stop(self) -> None:
        """Close the port: connections are refused until `start`."""
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._socket.close()

    def __enter__(self) -> DecisionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _stream(self, request: Request) -> Response:
        key = request.headers.get("x-api-key")
        startup = request.query_params.get("startup")
        status = 200
        if key != self.api_key:
            status = 403
        elif self.mode == "500":
            status = 500
        with self._lock:
            self.pulls.append(Pull(startup, key, status))
            if status != 200:
                return JSONResponse({"message": "no"}, status_code=status)
            if self.mode == "garbage":
                return Response(b"<html>not json</html>", media_type="text/html")
            return JSONResponse(self._answer(key, startup == "true"))

    def _answer(self, key: str, startup: bool) -> dict[str, Any]:
        now = time.time()
        active = {i: d for i, d in self._decisions.items() if d["until"] > now}
        told = set() if startup else self._told.get(key, set())
        new = [_wire(d, now) for i, d in active.items() if i not in told]
        deleted = [
            {"id": i, "scope": "Ip", "value": "", "duration": "0s"} for i in told - set(active)
        ]
        self._told[key] = set(active)
        return {"new": new or None, "deleted": deleted or None}


def _wire(doc: dict[str, Any], now: float) -> dict[str, Any]:
    wire = {k: v for k, v in doc.items() if k != "until"}
    wire["duration"] = f"{doc['until'] - now:.3f}s"
    return wire
