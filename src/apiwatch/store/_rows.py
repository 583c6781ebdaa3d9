"""Turning accepted events into stored rows: clear columns, encrypted payload, chain links.

Shared by every SQL back end so that SQLite and PostgreSQL store, chain and verify identically.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache

import msgspec

from apiwatch.model import Event
from apiwatch.store.base import Sealed, StoredLine, Tally
from apiwatch.store.chain import link, row_digest
from apiwatch.store.crypto import Keyring

__all__ = [
    "COLUMNS",
    "Row",
    "RowBuilder",
    "TallyView",
    "build_rows",
    "chunks",
    "clear_text",
    "digest_of",
    "event_id_bytes",
    "event_tally",
    "from_micros",
    "ip_bytes",
    "ip_range",
    "micros",
    "minute_of_micros",
    "seal_lines",
]

#: Stored columns in order. ``payload`` is nonce||AES-GCM ciphertext; the rest stays in clear so
#: that it can be filtered and indexed: time, sender, service/host, client address (for CIDR
#: queries), action/outcome/status and path (for triage), and a blind index of the account name.
COLUMNS = (
    "seq", "event_id", "ts", "key_name", "service", "host", "source_ip", "action", "outcome",
    "status", "path", "user_idx", "key_id", "payload", "chain",
)  # fmt: skip
_DIGESTED = slice(1, 12)  # event_id .. user_idx: the clear columns the chain covers
_NONCE = 12
#: The actions the console's rollups count as failed logins.
LOGIN_FAILURES = frozenset({"authn_login_fail", "authn_login_fail_max", "authn_login_lock"})
_pack_seq = struct.Struct(">q").pack  # as `link` packs a seq

Row = tuple[object, ...]


def micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def minute_of(moment: datetime) -> int:
    """The rollup minute of ``moment`` (Unix seconds // 60; naive: UTC, as `micros` reads it)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(aware.timestamp()) // 60


class _TallyResponse(msgspec.Struct, gc=False):
    status_code: int | None = None


class _TallyHttp(msgspec.Struct, gc=False):
    response: _TallyResponse | None = None


class _TallySource(msgspec.Struct, gc=False):
    ip: str | None = None


class _TallyMeta(msgspec.Struct, gc=False):
    action: str  # required, as `EventMeta.action` is: a line without one is not read here


def _now() -> datetime:
    return datetime.now(UTC)


class TallyView(msgspec.Struct, kw_only=True, gc=False):
    """The four fields of an ECS line `event_tally` reads, typed as `Event` types them: decoding
    a stored line into this skips the rest of it (half the cost of decoding an `Event`)."""

    timestamp: datetime = msgspec.field(default_factory=_now, name="@timestamp")  # as `Event`'s
    event: _TallyMeta
    source: _TallySource | None = None
    http: _TallyHttp | None = None


def event_tally(event: Event | TallyView, minute: int | None = None) -> Tally:
    """What the console's rollups count of ``event`` (see `Tally`); ``minute`` when known."""
    if minute is None:
        minute = minute_of(event.timestamp)
    http = event.http
    status = http.response.status_code if http and http.response else None
    source = event.source
    ip = (clear_text(source.ip) or "") if source is not None and source.ip else ""
    return minute, ip, event.event.action in LOGIN_FAILURES, status


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def event_id_bytes(event_id: str) -> bytes:
    """16 bytes for an event id: the id itself when it is 32 hex digits, else its hash."""
    if len(event_id) == 32:
        try:
            return bytes.fromhex(event_id)
        except ValueError:
            pass
    return hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).digest()[:16]


@lru_cache(maxsize=65536)
def ip_bytes(text: str | None) -> bytes | None:
    """An address as 16 bytes (IPv4 mapped into IPv6) so one range query serves both families."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return b"\x00" * 10 + b"\xff\xff" + address.packed
    return address.packed


def ip_range(criterion: str) -> tuple[bytes, bytes]:
    """The inclusive 16-byte range an address or CIDR network covers (ValueError if neither)."""
    network = ipaddress.ip_network(criterion.strip(), strict=False)
    first = ip_bytes(str(network.network_address))
    last = ip_bytes(str(network.broadcast_address))
    if first is None or last is None:
        raise ValueError(criterion)
    return first, last


def build_rows(
    lines: Iterable[tuple[StoredLine, str]],
    keyring: Keyring,
    next_seq: int,
    previous_chain: bytes,
) -> tuple[list[Row], bytes]:
    """Rows for ``(line, key_name)`` pairs, numbered from ``next_seq`` and chained on."""
    builder = RowBuilder(keyring, next_seq, previous_chain)
    rows = list(builder.rows(list(lines)))
    return rows, builder.chain


def seal_lines(lines: Sequence[StoredLine], key_name: str, keyring: Keyring) -> list[StoredLine]:
    """Each line with its `Sealed` part: clear columns, digest, encrypted payload."""
    key_id, cipher = keyring.cipher()
    nonces = os.urandom(_NONCE * len(lines))  # one system call per batch, not per row
    stored_key = clear_text(key_name)
    # The lines of one second share their time (a parser's cache hands out one datetime per
    # distinct time text): its microseconds and minute are worked out once per run of them.
    last_time: datetime | None = None
    ts = minute = 0
    out = []
    for index, line in enumerate(lines):
        if line.sealed is not None and line.sealed.key_name == key_name:
            out.append(line)
            continue
        event = line.event
        if event.timestamp is not last_time:
            last_time = event.timestamp
            ts = micros(last_time)
            minute = minute_of_micros(ts, event)
        columns = _clear_columns(event, stored_key, ts, keyring)
        nonce = nonces[index * _NONCE : (index + 1) * _NONCE]
        payload = nonce + cipher.encrypt(nonce, line.payload, columns[0])  # type: ignore[arg-type]
        digest = row_digest(columns, line.payload)
        # The rollups' count of the event, here rather than on the single commit thread.
        tally = event_tally(event, minute)
        sealed = Sealed(key_name, columns, digest, key_id, payload, tally)
        out.append(StoredLine(event, line.payload, sealed))
    return out


def minute_of_micros(ts: int, event: Event | TallyView) -> int:
    """`minute_of` the event's time from its stored microseconds ``ts`` (one division instead
    of another timestamp). Both come from one float timestamp ``t``: ``int(t * 1e6)`` and
    ``int(t)``, and multiplying by 1e6 keeps order, so they can only disagree on the minute
    when ``t * 1e6`` rounds onto a minute's first microsecond, or before 1970 (truncation)."""
    if ts > 0 and ts % 60_000_000:
        return ts // 60_000_000
    return minute_of(event.timestamp)


class RowBuilder:
    """Numbers and chains one transaction's rows lazily (call `rows` once), so a back end can send
    the first rows while later ones are built; `chain` and `built` describe the rows so far."""

    def __init__(self, keyring: Keyring, next_seq: int, previous_chain: bytes) -> None:
        self.keyring = keyring
        self.next_seq = next_seq
        self.chain = previous_chain
        self.built = 0

    def rows(self, lines: Sequence[tuple[StoredLine, str]]) -> Iterator[Row]:
        sha256, pack = hashlib.sha256, _pack_seq  # `link`, inlined: it runs for every row
        for seq, (line, key_name) in enumerate(lines, self.next_seq):
            sealed = line.sealed
            if sealed is None or sealed.key_name != key_name:
                sealed = seal_lines([line], key_name, self.keyring)[0].sealed
                assert sealed is not None  # noqa: S101 - seal_lines always seals
            chain = self.chain = sha256(self.chain + pack(seq) + sealed.digest).digest()
            self.built += 1
            yield (seq, *sealed.columns, sealed.key_id, sealed.payload, chain)

    def sealed_rows(self, rows: Sequence[Sealed]) -> Iterator[Row]:
        """`rows` for rows sealed elsewhere (no event at hand): numbered and chained only."""
        for index, sealed in enumerate(rows):
            seq = self.next_seq + index
            self.chain = link(self.chain, seq, sealed.digest)
            self.built += 1
            yield (seq, *sealed.columns, sealed.key_id, sealed.payload, self.chain)


def _clear_columns(event: Event, stored_key: str | None, ts: int, keyring: Keyring) -> Row:
    """event_id .. user_idx of one event (see `COLUMNS`), given its key name's `clear_text`
    and its time's `micros`."""
    user = event.user.name if event.user else None
    http = event.http
    return (
        event_id_bytes(event.event.id),
        ts,
        stored_key,
        clear_text(event.service.name) if event.service else None,
        clear_text(event.host.name) if event.host else None,
        ip_bytes(event.source.ip) if event.source else None,
        clear_text(event.event.action),
        clear_text(event.event.outcome),
        http.response.status_code if http and http.response else None,
        clear_text(event.url.path) if event.url else None,
        keyring.blind_index(user) if user else None,
    )


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clear_text(value: str | None) -> str | None:
    """A text for a clear column: NUL and lone surrogates become U+FFFD, because PostgreSQL text
    cannot hold NUL and UTF-8 cannot hold a surrogate (the payload keeps the sender's line)."""
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    return _UNSTORABLE.sub("\ufffd", value)


def digest_of(row: Sequence[object], plaintext: bytes) -> bytes:
    """Recompute a stored row's digest from its clear columns and decrypted payload."""
    return row_digest(row[_DIGESTED], plaintext)


def chunks(items: Sequence[bytes], size: int) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
