"""`Running`: an ASGI app under uvicorn in a thread, on a free port of 127.0.0.1 (the demo's
collector and shops; the end-to-end tests use it too). Needs the server extra.

uvicorn's own X-Forwarded-For handling is off: the app sees the peer of the connection as its
client, and believing a forwarded address is the app's choice (the demo shop's sensor does, from
the replay on 127.0.0.1, with ``trusted_proxies``), made in one place."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import click

__all__ = ["Running"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    """Starts ``app`` and waits until it serves; `stop` runs its lifespan shutdown."""

    def __init__(self, app: Any) -> None:
        import uvicorn  # noqa: PLC0415 - the server extra

        self.port = _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise click.ClickException("a server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
