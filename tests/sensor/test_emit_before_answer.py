"""A request's event is handed to the outputs before the last byte of its answer goes out.

That is what lets the shipper promise that every answered request's event is on disk: a worker
killed after the client has its whole response has emitted the event already.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput
from apiwatch.sensor.wsgi import WSGIMiddleware


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await send({"type": "http.response.body", "body": b"end"})


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/thing",
        "headers": [],
        "query_string": b"",
        "client": ("203.0.113.9", 5000),
    }


def test_asgi_event_is_emitted_before_the_final_body_is_sent() -> None:
    """ASGI: the event exists when the final body message reaches the server, not only after."""
    memory = MemoryOutput()
    middleware = ApiwatchMiddleware(_asgi_app, service="shop", outputs=[memory])
    seen: list[tuple[bool, int]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            seen.append((message.get("more_body", False), len(memory.events)))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    asyncio.run(middleware(_scope(), receive, send))
    assert seen == [(True, 0), (False, 1)]
    assert len(memory.events) == 1
    assert memory.events[0].http is not None
    assert memory.events[0].http.response is not None
    assert memory.events[0].http.response.status_code == 201


def _wsgi_app(length: bool) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        headers = [("Content-Length", "7")] if length else []
        start_response("200 OK", headers)
        yield b"part"
        yield b"end"

    return app


def _chunks_and_events(length: bool) -> list[tuple[bytes, int]]:
    memory = MemoryOutput()
    middleware = WSGIMiddleware(_wsgi_app(length), service="shop", outputs=[memory])
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/thing", "REMOTE_ADDR": "203.0.113.9"}
    result = middleware(environ, lambda status, headers, exc_info=None: None)
    seen = [(chunk, len(memory.events)) for chunk in result]
    result.close()  # type: ignore[attr-defined]
    assert len(memory.events) == 1
    return seen


def test_wsgi_event_is_emitted_before_the_chunk_that_completes_content_length() -> None:
    """WSGI with Content-Length: the event exists when the server receives the last chunk."""
    assert _chunks_and_events(length=True) == [(b"part", 0), (b"end", 1)]


def test_wsgi_body_of_unknown_length_is_reported_when_it_ends() -> None:
    """WSGI without Content-Length: the event follows the last chunk (once, at the end)."""
    assert _chunks_and_events(length=False) == [(b"part", 0), (b"end", 0)]
