"""`Bus` and `Consumer` over nats-py: one JetStream stream (file storage), publish with
``Nats-Msg-Id``, durable pull consumers acknowledged message by message (``AckPolicy.EXPLICIT``).

Not cumulatively (``AckPolicy.ALL``): a consumer process that dies holding messages leaves them
pending, and the next process's acknowledgement of a later message would then acknowledge them
too, unwritten."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from apiwatch.model import ApiwatchError, ConfigError

__all__ = [
    "DUPLICATE_WINDOW_SECONDS",
    "MAX_AGE_SECONDS",
    "Bus",
    "BusError",
    "Consumer",
    "Delivery",
    "bus_label",
    "check_bus_url",
    "check_stream_name",
]

#: How long JetStream remembers a message id: a retry within it is dropped by the server (after
#: it, the writer still skips ids already stored).
DUPLICATE_WINDOW_SECONDS = 120.0
#: How long messages stay in the stream whatever their consumers did: a writer may be down this
#: long without losing what was acknowledged to senders.
MAX_AGE_SECONDS = 7 * 86400.0
logger = logging.getLogger("apiwatch.bus")

_CONNECT_SECONDS = 10.0
_API_TIMEOUT = 15.0  # seconds for a JetStream API answer (a busy server takes a while)
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SCHEMES = ("nats", "tls")
# Most of the server's max_payload (1 MiB by default) for the message body; headers and the
# subject use the rest.
_PAYLOAD_MARGIN = 4096
# Bytes of messages one fetch may bring at most. The NATS server closes the connection of a
# client with more than its max_pending (64 MiB by default) waiting to be read, and what was in
# flight is then delivered again only after the ack wait: 64 messages of 1 MiB (the default
# max_payload; an ingest request of 1,000 events is about that) fetched by a client busy feeding
# its engines did it. A fetch takes at most this over the server's max_payload messages.
_FETCH_BYTES = 16 << 20
# Empty fetches in a row (2 s each), with messages still waiting, after which reading a range
# of the stream gives up.
_READ_TRIES = 3


class BusError(ApiwatchError):
    """The bus cannot be reached, or it refused or did not acknowledge an operation."""


def check_bus_url(url: str) -> str:
    """``url`` when it is a ``nats://`` or ``tls://`` URL with a host; `ConfigError` if not."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ConfigError(f"bus: {bus_label(url)!r} is not a nats://host:port URL")
    return url


def bus_label(url: str) -> str:
    """The URL without any user or password (for messages and logs)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def check_stream_name(name: str) -> str:
    """``name`` when JetStream takes it as a stream name; `ConfigError` if not."""
    if not _STREAM_NAME.fullmatch(name):
        raise ConfigError(f"bus_stream: {name!r} must be 1 to 64 letters, digits, _ or -")
    return name


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as a consumer got it: its body, and how to acknowledge it."""

    data: bytes
    message: Any  # nats.aio.msg.Msg

    async def ack(self) -> None:
        await self.message.ack()

    @property
    def sequence(self) -> int:
        """The message's sequence number in the stream."""
        return int(self.message.metadata.sequence.stream)


class Consumer:
    """A pull consumer of the bus's stream; a fetch takes at most ``fetch_limit`` messages."""

    def __init__(self, subscription: Any, fetch_limit: int = 1 << 30,
                 connection: Any = None) -> None:  # fmt: skip
        self._subscription = subscription
        self._connection = connection
        self.fetch_limit = fetch_limit
        #: Messages of the stream not yet delivered to this consumer, as of the last fetch
        #: (read from that fetch's last message: no round trip to the server).
        self.pending = 0

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to ``max_messages`` (and `fetch_limit`) waiting messages, oldest first; an
        empty list when none arrives within ``timeout`` seconds.

        Nothing is asked while the connection is down: nats-py would keep each request and
        send them all on reconnecting, and the server would then deliver every one of them at
        once, more than it lets wait for a client (it closed the connection, and what was in
        flight came back only after the ack wait)."""
        import nats.errors  # noqa: PLC0415 - the bus extra

        timeout = await self._connected_within(timeout)
        if timeout <= 0:
            return []
        try:
            messages = await self._subscription.fetch(
                min(max_messages, self.fetch_limit), timeout=timeout
            )
        except TimeoutError:  # nats-py raises its own and asyncio's: both mean "none came"
            self.pending = 0
            return []
        except nats.errors.Error as exc:
            raise BusError(f"bus: fetching from the stream failed: {exc}") from None
        if messages:
            self.pending = int(messages[-1].metadata.num_pending)
        return [Delivery(message.data, message) for message in messages]

    async def _connected_within(self, timeout: float) -> float:
        """Wait up to ``timeout`` seconds for the connection; the time left (0: none). A
        closed connection (it will not come back) does not wait: the fetch says so."""
        connection = self._connection
        if connection is None or connection.is_connected or connection.is_closed:
            return timeout
        clock = asyncio.get_running_loop().time
        deadline = clock() + timeout
        while not (connection.is_connected or connection.is_closed):
            left = deadline - clock()
            if left <= 0:
                return 0.0
            await asyncio.sleep(min(left, 0.05))
        return deadline - clock()

    async def delivered(self) -> int:
        """The stream sequence of the last message delivered to this consumer (0: none yet),
        whoever it was delivered to (a process that died since, perhaps)."""
        return int((await self._info()).delivered.stream_seq or 0)

    async def acknowledged(self) -> int:
        """The stream sequence up to which every message was acknowledged (0: none)."""
        return int((await self._info()).ack_floor.stream_seq or 0)

    async def undelivered(self) -> int:
        """Messages of the stream not yet delivered to this consumer, asked of the server."""
        return int((await self._info()).num_pending or 0)

    async def _info(self) -> Any:
        """The consumer's state as the server has it (a nats-py ``ConsumerInfo``)."""
        try:
            return await self._subscription.consumer_info()
        except Exception as exc:  # noqa: BLE001 - nats-py raises many kinds
            raise BusError(f"bus: reading the consumer failed: {exc or 'timeout'}") from None


class Bus:
    """A connection to NATS and the JetStream stream ``stream`` (subject ``<stream>.events``)."""

    def __init__(self, connection: Any, stream: str) -> None:
        self._connection = connection
        self._js = connection.jetstream(timeout=_API_TIMEOUT)
        self.stream = stream
        self.subject = f"{stream}.events"

    @classmethod
    async def connect(cls, url: str, stream: str, *, name: str = "apiwatch") -> Bus:
        """Connect and make sure the stream exists (created with file storage when missing);
        `BusError` when NATS cannot be reached or has no JetStream."""
        import nats  # noqa: PLC0415 - the bus extra
        import nats.errors  # noqa: PLC0415

        check_stream_name(stream)
        label = bus_label(check_bus_url(url))
        last_error: list[str] = []

        async def on_error(exc: Exception) -> None:
            # One line, not nats-py's traceback per attempt; the last one explains a failure.
            text = str(exc) or type(exc).__name__
            if not last_error or last_error[-1] != text:
                logger.warning("bus %s: %s", label, text)
            last_error[:] = [text]

        try:
            # nats-py keeps retrying a first connection as it would a lost one: bound it.
            connection = await asyncio.wait_for(nats.connect(
                url, name=name, connect_timeout=5, max_reconnect_attempts=-1,
                allow_reconnect=True, reconnect_time_wait=1.0, error_cb=on_error,
            ), _CONNECT_SECONDS)  # fmt: skip
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            problem = last_error[-1] if last_error else str(exc) or type(exc).__name__
            raise BusError(f"bus: cannot connect to {label}: {problem}") from None
        bus = cls(connection, stream)
        try:
            await bus._ensure_stream()
        except BaseException:
            await connection.close()
            raise
        return bus

    async def _ensure_stream(self) -> None:
        from nats.js.errors import Error as JsError  # noqa: PLC0415
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._add_stream()
        except (JsError, TimeoutError) as exc:
            problem = f"bus: JetStream does not answer ({exc}); is it enabled (-js)?"
            raise BusError(problem) from None

    async def _add_stream(self) -> None:
        from nats.js import api  # noqa: PLC0415 - the bus extra
        from nats.js.errors import Error as JsError  # noqa: PLC0415

        config = api.StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            max_age=MAX_AGE_SECONDS,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await self._js.add_stream(config)
        except TimeoutError:
            raise BusError(f"bus: creating stream {self.stream} timed out") from None
        except JsError as exc:
            if "already in use" not in str(exc):  # another process made it just now
                raise BusError(f"bus: cannot create stream {self.stream}: {exc}") from None

    async def key_value(self, bucket: str, *, ttl: float) -> Any:
        """The key-value bucket ``bucket`` (a nats-py ``KeyValue``; file storage, one value per
        key, values expiring after ``ttl`` seconds), created when missing."""
        from nats.js import api  # noqa: PLC0415 - the bus extra
        from nats.js.errors import BucketNotFoundError  # noqa: PLC0415
        from nats.js.errors import Error as JsError  # noqa: PLC0415

        for _ in range(2):  # another process may create it between our look and our create
            try:
                return await self._js.key_value(bucket)
            except BucketNotFoundError:
                pass
            except (JsError, TimeoutError) as exc:
                raise BusError(f"bus: cannot open bucket {bucket}: {exc}") from None
            config = api.KeyValueConfig(
                bucket=bucket, history=1, ttl=ttl, storage=api.StorageType.FILE
            )
            try:
                return await self._js.create_key_value(config)
            except (JsError, TimeoutError) as exc:
                if "already in use" not in str(exc):
                    raise BusError(f"bus: cannot create bucket {bucket}: {exc}") from None
        raise BusError(f"bus: cannot open bucket {bucket}")

    @property
    def max_message_bytes(self) -> int:
        """The largest message body the server takes (its max_payload less a margin)."""
        return int(self._connection.max_payload) - _PAYLOAD_MARGIN

    async def publish(self, data: bytes, message_id: str, *, timeout: float = 10.0) -> bool:
        """Publish ``data`` and wait for JetStream's acknowledgement (it is then stored, and
        replicated when the stream is); returns whether the server dropped it as a duplicate of
        a message with the same ``message_id`` within `DUPLICATE_WINDOW_SECONDS`."""
        import nats.errors  # noqa: PLC0415 - the bus extra

        try:
            ack = await self._js.publish(
                self.subject, data, timeout=timeout, headers={"Nats-Msg-Id": message_id}
            )
        except (TimeoutError, nats.errors.Error) as exc:
            raise BusError(f"bus: JetStream did not acknowledge: {exc or 'timeout'}") from None
        return bool(ack.duplicate)

    async def consumer(self, durable: str, *, ack_wait: float = 60.0,
                       max_ack_pending: int = 10_000) -> Consumer:  # fmt: skip
        """The durable pull consumer ``durable`` of the whole stream (created when missing): a
        message not acknowledged within ``ack_wait`` seconds (its consumer died) is delivered
        again."""
        from nats.js import api  # noqa: PLC0415 - the bus extra
        from nats.js.errors import Error as JsError  # noqa: PLC0415

        config = api.ConsumerConfig(
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
        )
        try:
            subscription = await self._js.pull_subscribe(
                self.subject, durable=durable, stream=self.stream, config=config
            )
        except (JsError, TimeoutError) as exc:
            problem = str(exc) or type(exc).__name__
            raise BusError(f"bus: cannot open consumer {durable}: {problem}") from None
        return Consumer(subscription, self._fetch_limit, self._connection)

    @property
    def _fetch_limit(self) -> int:
        return max(1, _FETCH_BYTES // max(int(self._connection.max_payload), 1))

    async def replay(self, seconds: float, upto: int, *,
                     batch: int = 256) -> AsyncIterator[list[Delivery]]:  # fmt: skip
        """The stream's messages published in the last ``seconds`` (wall clock), up to stream
        sequence ``upto``, oldest first, in lists of up to ``batch``, through a consumer of its
        own that nothing acknowledges (a process rebuilding its state from what it already
        took)."""
        from datetime import UTC, datetime, timedelta  # noqa: PLC0415

        from nats.js import api  # noqa: PLC0415 - the bus extra

        since = datetime.now(UTC) - timedelta(seconds=seconds)
        start = {"deliver_policy": api.DeliverPolicy.BY_START_TIME, "opt_start_time": since}
        async for deliveries in self._read(start, upto, batch):
            yield deliveries

    async def between(self, first: int, last: int, *,
                      batch: int = 256) -> AsyncIterator[list[Delivery]]:  # fmt: skip
        """The stream's messages from sequence ``first`` to ``last``, oldest first, in lists of
        up to ``batch``, through a consumer of its own that nothing acknowledges (messages
        another consumer delivered elsewhere, read again in their place)."""
        from nats.js import api  # noqa: PLC0415 - the bus extra

        start = {"deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": first}
        async for deliveries in self._read(start, last, batch):
            yield deliveries

    async def _read(self, start: dict[str, Any], upto: int,
                    batch: int) -> AsyncIterator[list[Delivery]]:  # fmt: skip
        """Messages from where ``start`` (a consumer's deliver policy and its option) says, up
        to sequence ``upto``, through an unacknowledged consumer removed at the end. It ends
        at ``upto``, or when the stream has nothing more for it; a busy server may answer a
        fetch late, so an empty fetch with messages still waiting is tried again, up to
        `_READ_TRIES` times in a row."""
        from nats.js import api  # noqa: PLC0415 - the bus extra
        from nats.js.errors import Error as JsError  # noqa: PLC0415

        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,  # the server removes it once this process stops asking
            **start,
        )
        try:
            subscription = await self._js.pull_subscribe(self.subject, stream=self.stream,
                                                          config=config)  # fmt: skip
        except (JsError, TimeoutError) as exc:
            raise BusError(f"bus: cannot open a reading consumer: {exc or 'timeout'}") from None
        consumer = Consumer(subscription, self._fetch_limit, self._connection)
        empty = 0
        try:
            while empty < _READ_TRIES:
                deliveries = await consumer.fetch(batch, timeout=2.0)
                if not deliveries:
                    empty += 1  # NATS down, or slow; or nothing more (asked when connected)
                    if self.connected and not await consumer.undelivered():
                        return
                    continue
                empty = 0
                taken = [d for d in deliveries if d.sequence <= upto]
                if taken:
                    yield taken
                if len(taken) < len(deliveries) or (taken and taken[-1].sequence >= upto):
                    return
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    @property
    def connected(self) -> bool:
        return bool(self._connection.is_connected)

    async def close(self) -> None:
        """Flush what is pending (acknowledgements) and close."""
        import nats.errors  # noqa: PLC0415 - the bus extra

        # Not drain(): it waits up to half a minute on a pull subscription's open fetch.
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await self._connection.flush(timeout=5)
        await self._connection.close()
