"""The canonical `Event`: one record type for every layer, mirroring nested ECS.

Each nested struct is one ECS field set (``source``, ``http``, ``user`` ...). Field names are
the ECS names; ``@timestamp`` is `Event.timestamp`. Fields ECS has but apiwatch does not model
are kept, untouched, in `Event.extra` (nested ECS form) by the codec in `apiwatch.model.ecs`.

Structs are created with ``gc=False``: they never form reference cycles, and keeping hundreds of
thousands of them out of the cyclic garbage collector keeps its pauses out of request latency.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, Literal

import msgspec

__all__ = [
    "ECS_VERSION",
    "Ecs",
    "Event",
    "EventMeta",
    "Host",
    "Http",
    "HttpBody",
    "HttpRequest",
    "HttpResponse",
    "Log",
    "Service",
    "Source",
    "Trace",
    "Url",
    "User",
    "UserAgent",
    "new_event_id",
]


ECS_VERSION = "8.17.0"
"""The ECS version apiwatch's events follow (``ecs.version`` of every event it writes)."""


class _EventIds:
    """Unique ids without a system call each: 64 random bits per process, then a counter.

    The random half is drawn again in every forked child (gunicorn workers), so two processes
    never share a prefix; the counter makes ids within a process distinct. Ids are made
    `_BATCH` at a time, in C (``map``), from a block of counter values no other batch gets, so
    that threads refilling at once still never share an id.
    """

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.blocks = itertools.count(int.from_bytes(os.urandom(4), "big") * _BATCH, _BATCH)
        self.batch: Iterator[str] = iter(())

    def next_id(self) -> str:
        return next(self.batch, None) or self._refill()

    def _refill(self) -> str:
        start = next(self.blocks)
        numbers = range(start, start + _BATCH)
        # to_bytes().hex() costs half what formatting the int as hex does
        big: repeat[Literal["big"]] = repeat("big")
        hexes = map(bytes.hex, map(int.to_bytes, numbers, repeat(8), big))
        batch = iter(list(map(self.prefix.__add__, hexes)))
        self.batch = batch
        return next(batch)


_BATCH = 256
_ids = _EventIds()
os.register_at_fork(after_in_child=_ids.reseed)
# A bound method rather than a callable instance: calling an instance's ``__call__`` takes
# CPython's slow generic path, and one id is made per request.
new_event_id = _ids.next_id
"""A fresh id: 32 hex characters, unique across processes and sensors."""


class _Part(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Base of every ECS field set: absent fields are omitted from the JSON."""


class EventMeta(_Part, kw_only=True):
    """ECS ``event.*``: what happened, in OWASP Logging Vocabulary terms (`action`).

    ``action`` has no default so that it is always written; a decoded document without one gets
    ``"unknown"``.
    """

    action: str
    id: str = msgspec.field(default_factory=new_event_id)
    kind: str | None = None
    category: list[str] = msgspec.field(default_factory=list)
    type: list[str] = msgspec.field(default_factory=list)
    outcome: str | None = None
    duration: int | None = None  # nanoseconds, as ECS defines it
    severity: int | None = None
    reason: str | None = None
    dataset: str | None = None
    module: str | None = None


class Source(_Part):
    """ECS ``source.*``: the client, after trusted-proxy resolution.

    ``address`` holds the peer as given when it is not an IP address (a Unix socket, a test client).
    """

    ip: str | None = None
    address: str | None = None
    port: int | None = None


class HttpRequest(_Part):
    method: str | None = None
    id: str | None = None
    referrer: str | None = None


class HttpBody(_Part):
    bytes: int | None = None


class HttpResponse(_Part):
    status_code: int | None = None
    body: HttpBody | None = None


class Http(_Part):
    """ECS ``http.*``; ``version`` is the protocol's ("1.1", "2.0")."""

    request: HttpRequest | None = None
    response: HttpResponse | None = None
    version: str | None = None


class Url(_Part):
    """ECS ``url.*``; ``query`` has its secrets masked before it gets here."""

    path: str | None = None
    query: str | None = None
    domain: str | None = None


class UserAgent(_Part):
    original: str | None = None


class User(_Part):
    """ECS ``user.*``: the acting account, or the attempted one for a failed login."""

    name: str | None = None
    id: str | None = None


class Trace(_Part):
    id: str | None = None


class Service(_Part):
    name: str | None = None


class Host(_Part):
    name: str | None = None


class Log(_Part):
    level: str | None = None
    logger: str | None = None


class Ecs(_Part):
    """ECS ``ecs.*``: the version of ECS the event follows. An event read without one is
    taken to follow `ECS_VERSION`; one given by a producer is kept as given."""

    version: str


def _ecs() -> Ecs:
    return Ecs(version=ECS_VERSION)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Event(_Part, kw_only=True):
    """One security-relevant fact: a request, a login, a decision the app made.

    ``ecs.version`` is always written (`ECS_VERSION` unless the producer gave its own).

    ``extra`` holds ECS fields apiwatch does not model, nested as in ECS
    (``{"cloud": {"region": "eu-west-1"}}``); the codec merges them back on output.
    """

    timestamp: datetime = msgspec.field(default_factory=_utcnow, name="@timestamp")
    event: EventMeta
    message: str | None = None
    log: Log | None = None
    source: Source | None = None
    http: Http | None = None
    url: Url | None = None
    user_agent: UserAgent | None = None
    user: User | None = None
    trace: Trace | None = None
    service: Service | None = None
    host: Host | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    ecs: Ecs = msgspec.field(default_factory=_ecs)
    extra: dict[str, Any] = msgspec.field(default_factory=dict, name="apiwatch.extra")
