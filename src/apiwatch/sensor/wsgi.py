"""`WSGIMiddleware`: the sensor for any WSGI app (Flask and Django glue build on it or its parts).

The event is emitted when the response body reaches the ``Content-Length`` the app declared, before
that last chunk is handed to the server (a client that has the whole answer implies an emitted
event); a body of unknown length is reported when the server closes the response iterable, so
streamed responses are timed to their end and an exception while streaming is still reported.

With decision enforcement on, a request a decision refuses gets the block's small JSON response
and the app is never called. On a login route, while flagged accounts exist, a body with a
``CONTENT_LENGTH`` of at most ``max_login_body`` is read before the app (which then reads the same
bytes from memory); a body of unknown or larger size is judged after the app, as before.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from apiwatch.sensor._base import SensorMiddleware
from apiwatch.sensor._block import Block
from apiwatch.sensor._context import RequestContext, enter_request, restore_request
from apiwatch.sensor._environ import begin_from_environ, native_to_text, request_id_key
from apiwatch.sensor._login import BodyTee
from apiwatch.sensor._sensor import RAISED_AFTER_START, Sensor

__all__ = ["WSGIMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class WSGIMiddleware(SensorMiddleware):
    """Emit one ECS security event per request of a WSGI app; options as in `SensorConfig`.

    ``app.wsgi_app = WSGIMiddleware(app.wsgi_app, service="shop", login_paths={...})``
    """

    app: WSGIApp

    def _setup(self) -> None:
        self._request_id_key = request_id_key(self.sensor.config.request_id_header)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter_ns()
        try:
            ctx = self._begin(environ)
        except Exception as exc:  # noqa: BLE001 - never break the app
            self.sensor.failed(exc)
            return self.app(environ, start_response)
        if self.sensor.enforcer is not None:
            block = self._gate(ctx, environ)
            if block is not None:
                return self._refuse(ctx, block, start_response, started)
        request = _Request(self.sensor, ctx, environ, start_response, started)
        previous = enter_request(ctx)
        try:
            result = self.app(environ, request.start_response)
        except BaseException:
            restore_request(previous)
            request.finish(failed=True)
            raise
        restore_request(previous)
        return _ClosingIterable(result, request)

    def _begin(self, environ: Environ) -> RequestContext:
        path = native_to_text(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "GET")
        ctx = begin_from_environ(self.sensor, environ, method, path or "/", self._request_id_key)
        if self.sensor.wants_login_body(ctx) and "wsgi.input" in environ:
            tee = BodyTee(self.sensor.config.max_login_body)
            environ["wsgi.input"] = _TeeInput(environ["wsgi.input"], tee)
            environ["apiwatch.login_tee"] = tee
        return ctx

    def _gate(self, ctx: RequestContext, environ: Environ) -> Block | None:
        sensor = self.sensor
        block = sensor.gate(ctx, environ, _remote_user)
        if block is None and "apiwatch.login_tee" in environ and sensor.gates_login():
            block = self._gate_login(ctx, environ)
        return block

    def _gate_login(self, ctx: RequestContext, environ: Environ) -> Block | None:
        """Read a bounded login body before the app and check the account it names."""
        sensor = self.sensor
        tee = environ["apiwatch.login_tee"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if not 0 < length <= sensor.config.max_login_body:
            return None
        try:
            environ["wsgi.input"].read(length)  # through the tee, which keeps the bytes
        except Exception as exc:  # noqa: BLE001 - a client gone mid-body: the app sees the same
            sensor.failed(exc)
        environ["wsgi.input"] = io.BytesIO(tee.body())
        sensor.read_login_account(ctx, tee.body(), environ.get("CONTENT_TYPE", ""))
        return sensor.gate_login(ctx)

    def _refuse(
        self, ctx: RequestContext, block: Block, start_response: StartResponse, started: int
    ) -> list[bytes]:
        """Answer with the block's response instead of calling the app, and report it."""
        try:
            start_response(block.status_line, block.headers())
        finally:
            self.sensor.finish(ctx, block.status, time.perf_counter_ns() - started)
        return [block.body]


class _Request:
    """Per-request state: status from ``start_response``, and the one call to `Sensor.finish`."""

    __slots__ = ("ctx", "done", "environ", "length", "sensor", "start", "started", "status")

    def __init__(
        self,
        sensor: Sensor,
        ctx: RequestContext,
        environ: Environ,
        start: StartResponse,
        started: int,
    ) -> None:
        self.sensor, self.ctx, self.environ, self.started = sensor, ctx, environ, started
        self.start = start
        self.status: int | None = None
        self.length: int | None = None  # the declared Content-Length, when there is one
        self.done = False

    def start_response(self, status: str, headers: Any, exc_info: Any = None) -> Any:
        try:
            self.status = int(status.split(" ", 1)[0])
        except ValueError:
            self.status = None
        self.length = _content_length(headers)
        if self.ctx.login is not None:
            self._saw_login_response(headers)
        if exc_info is not None:
            return self.start(status, headers, exc_info)
        return self.start(status, headers)

    def finish(self, *, failed: bool = False) -> None:
        if self.done:
            return
        self.done = True
        # An exception after start_response: the status stands, but the request failed.
        failure = RAISED_AFTER_START if failed and self.status is not None else None
        self._complete()
        self.sensor.finish(
            self.ctx, self.status or 500, time.perf_counter_ns() - self.started, failure=failure
        )

    def _saw_login_response(self, headers: Any) -> None:
        login, wanted = self.ctx.login, self.sensor.config.login_failure_header
        if login is None:
            return
        try:
            names = [str(name).lower() for name, _ in headers]
            media = next((str(v) for n, v in headers if str(n).lower() == "content-type"), "")
            login.saw_response(media, marked=wanted is not None and wanted in names)
        except Exception as exc:  # noqa: BLE001
            self.sensor.failed(exc)

    def body_limit(self) -> int:
        """Bytes of the response body to keep: only for logins, with a body marker configured."""
        config = self.sensor.config
        if self.ctx.login is None or not config.login_failure_body:
            return 0
        return config.max_login_body

    def _complete(self) -> None:
        sensor, ctx, environ = self.sensor, self.ctx, self.environ
        try:
            if ctx.login is not None:
                ctx.login.saw_request(environ.get("CONTENT_TYPE"))
            sensor.note_user(ctx, environ, _remote_user)
            tee = environ.get("apiwatch.login_tee")
            if tee is not None:
                sensor.read_login_account(ctx, tee.body(), environ.get("CONTENT_TYPE", ""))
        except Exception as exc:  # noqa: BLE001
            sensor.failed(exc)


class _ClosingIterable:
    """The app's response iterable; reports the request once, when it is exhausted or closed.

    PEP 3333 servers call ``close()``; reporting at exhaustion as well means a server or test
    client that forgets to close still gets every request reported.
    """

    def __init__(self, inner: Iterable[bytes], request: _Request) -> None:
        self._inner = inner
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        request = self._request
        limit = request.body_limit()
        login = request.ctx.login
        keep = login if limit and login is not None else None
        sent = 0
        try:
            for chunk in self._inner:
                if keep is not None:
                    keep.keep_body(chunk, limit)
                sent += len(chunk)
                if request.length is not None and sent >= request.length:
                    request.finish()  # the last chunk: reported before the server sends it
                yield chunk
        except BaseException:
            request.finish(failed=True)
            raise
        request.finish()

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._request.finish()


class _TeeInput:
    """``wsgi.input`` that keeps a bounded copy of what the app reads (login routes only)."""

    def __init__(self, stream: Any, tee: BodyTee) -> None:
        self._stream = stream
        self._tee = tee

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read(size) if size is not None else self._stream.read()
        self._tee.add(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        reader = getattr(self._stream, "readinto", None)
        if reader is None:
            data = self.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        count: int = reader(buffer) or 0
        self._tee.add(bytes(buffer[:count]))
        return count

    def readline(self, size: int = -1) -> bytes:
        data: bytes = self._stream.readline(size)
        self._tee.add(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(hint)
        for line in lines:
            self._tee.add(line)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self._tee.add(line)
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _content_length(headers: Any) -> int | None:
    try:
        for name, value in headers:
            if name.lower() == "content-length":
                return int(value)
    except (TypeError, ValueError):
        pass
    return None


def _remote_user(environ: Environ) -> tuple[str | None, str | None] | None:
    user = environ.get("REMOTE_USER")
    return (native_to_text(str(user)), None) if user else None
