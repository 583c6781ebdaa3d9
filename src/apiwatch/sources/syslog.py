"""A syslog receiver: RFC 5424 and RFC 3164 messages over UDP, TCP and TLS.

What rsyslog, syslog-ng, ``logger --server`` and network appliances send. Each message is one
syslog record whose text is a line ``scan`` reads (an nginx access line, an ECS JSON line, ...):
the record is decoded exactly as ``scan`` decodes a syslog-wrapped file (`LineDecoder`, the
syslog header peeled by `apiwatch.sources.formats`), each message on its own, so one receiver
takes several programs' formats at once.

Framing (RFC 6587): over TCP and TLS, a frame that starts with digits and a space is
**octet-counted** (``123 <165>1 ...``: the next 123 bytes); any other is **newline**-terminated
(``\\n``, a NUL is taken as one too). Over UDP a datagram is one message. A frame over
``max_message_bytes`` is refused (counted) and, when octet-counted, skipped; when not, the
connection is closed, since where the next message starts cannot be known.

Events reach the collector through ``deliver`` (an awaitable: TCP senders are slowed down, not
dropped, when the store falls behind); a UDP datagram that arrives while ``deliver`` is full is
dropped and counted as refused (UDP has no way to slow a sender).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

from apiwatch.model import ApiwatchError, Event, EventDecodeError
from apiwatch.sources.config import SourceConfig
from apiwatch.sources.live import LineDecoder, SourceStats
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["SyslogReceiver", "split_frames"]

logger = logging.getLogger("apiwatch.sources.syslog")

Deliver = Callable[[list[Event]], Awaitable[None]]
TryDeliver = Callable[[list[Event]], bool]
_MAX_DIGITS = 9


class FramingError(ApiwatchError, ValueError):
    """The stream cannot be framed any further (the connection is closed)."""


def split_frames(buffer: bytearray, max_bytes: int) -> tuple[list[bytes], int]:
    """Take the complete frames at the start of ``buffer`` (removed from it); and how many
    over-long frames were skipped. `FramingError` when an unframed message is over the limit."""
    frames: list[bytes] = []
    skipped = 0
    while buffer:
        space = buffer.find(b" ", 0, _MAX_DIGITS + 1)
        if space > 0 and buffer[:space].isdigit():
            size = int(buffer[:space])
            if len(buffer) < space + 1 + size:
                if size > max_bytes:  # never held in memory: skipped as it arrives
                    raise FramingError(f"an octet-counted frame of {size} bytes is over the limit")
                break
            frame = bytes(buffer[space + 1 : space + 1 + size])
            del buffer[: space + 1 + size]
            if size > max_bytes:
                skipped += 1
            else:
                frames.append(frame)
            continue
        end = _frame_end(buffer)
        if end < 0:
            if len(buffer) > max_bytes:
                raise FramingError(f"a message over {max_bytes} bytes without a line end")
            break
        frames.append(bytes(buffer[:end]))
        del buffer[: end + 1]
    return frames, skipped


def _frame_end(buffer: bytearray) -> int:
    ends = [i for i in (buffer.find(b"\n"), buffer.find(b"\x00")) if i >= 0]
    return min(ends) if ends else -1


class SyslogReceiver:
    """Listens as ``config`` says (``listen``, ``protocol``; see the module docstring)."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        stats: SourceStats,
        deliver: Deliver,
        try_deliver: TryDeliver,
        logins: LoginPatterns | None = DEFAULT_LOGINS,
        max_message_bytes: int = 65536,
    ) -> None:
        self.config = config
        self.stats = stats
        self.deliver = deliver
        self.try_deliver = try_deliver
        self.max_message_bytes = max_message_bytes
        self.decoder = LineDecoder(config.format, logins=logins, redetect=True)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and start listening (`OSError` when the address cannot be bound)."""
        host, port = self.config.address()
        loop = asyncio.get_running_loop()
        if self.config.protocol == "udp":
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, port)
            )
            self._udp = transport
            self.port = transport.get_extra_info("sockname")[1]
            return
        context = self._tls_context() if self.config.protocol == "tls" else None
        self._server = await asyncio.start_server(
            self._serve, host, port, ssl=context, limit=self.max_message_bytes
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.config.tls_cert or "", self.config.tls_key or "")
        return context

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        buffer = bytearray()
        try:
            while chunk := await reader.read(65536):
                buffer += chunk
                frames, skipped = split_frames(buffer, self.max_message_bytes)
                events, refused = self.decode(frames)
                self.stats.count(len(frames) + skipped, events, refused + skipped)
                if events:
                    await self.deliver(events)
            if buffer.strip():  # the last message of a sender that closed without a line end
                events, refused = self.decode([bytes(buffer)])
                self.stats.count(1, events, refused)
                if events:
                    await self.deliver(events)
        except FramingError as exc:
            self.stats.count(1, [], 1)
            logger.warning("syslog %s: %s; closing the connection", self.config.name, exc)
        except (ConnectionError, ssl.SSLError) as exc:
            logger.info("syslog %s: connection ended: %s", self.config.name, exc)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    def decode(self, frames: list[bytes]) -> tuple[list[Event], int]:
        """The events of ``frames`` and how many were refused."""
        events: list[Event] = []
        refused = 0
        for frame in frames:
            text = frame.decode("utf-8", "surrogateescape").rstrip("\r\n")
            if not text.strip():
                continue
            try:
                event = self.decoder(text)
            except EventDecodeError:
                refused += 1
                continue
            if event is not None:
                events.append(event)
        return events, refused

    def datagram(self, data: bytes) -> None:
        if len(data) > self.max_message_bytes:
            self.stats.count(1, [], 1)
            return
        events, refused = self.decode([data])
        if events and not self.try_deliver(events):
            refused += len(events)
            events = []
        self.stats.count(1, events, refused)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.receiver.datagram(data)
