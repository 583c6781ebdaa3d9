"""The bus's message format: one ingest request's sealed rows (or a part of them), MessagePack.

A message is ``[version, key_name, idempotency_key, rows]``, each row ``[columns, digest,
key_id, payload]`` as `apiwatch.store.Sealed` holds them: the payload is already AES-GCM
ciphertext, so nothing on the bus (or in its files) is in clear beyond the indexed columns the
store keeps in clear too. A request too large for one message is split; each part carries its own
idempotency key (the request's, numbered) so that a replayed part is recognised on its own.

The message id (``Nats-Msg-Id``) is a digest of the sending key and the event ids a message
carries: a sender's retry of the same events is dropped by JetStream within its duplicate
window, and by the writer (ids already stored) after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from apiwatch.model import ApiwatchError
from apiwatch.store import Batch, Sealed, SealedBatch

__all__ = ["WireError", "decode_message", "encode_batch"]

VERSION = 1
# A row's bytes on the wire beyond its payload and digest (columns, framing), estimated high.
_ROW_OVERHEAD = 320

Columns = tuple[
    bytes, int, str, str | None, str | None, bytes | None, str | None, str | None, int | None,
    str | None, bytes | None,
]  # fmt: skip


class _Row(msgspec.Struct, array_like=True, frozen=True, gc=False):
    columns: Columns
    digest: bytes
    key_id: int
    payload: bytes


class _Message(msgspec.Struct, array_like=True, frozen=True, gc=False):
    version: int
    key_name: str
    idempotency_key: str | None
    rows: list[_Row]


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Message).decode


class WireError(ApiwatchError, ValueError):
    """A message that is not a batch of sealed rows of this version."""


def encode_batch(batch: Batch, max_bytes: int) -> list[tuple[str, bytes]]:
    """``(message id, message)`` pairs carrying ``batch``'s sealed rows, each at most about
    ``max_bytes`` (a single row larger than that gets a message of its own)."""
    rows = [_row(line.sealed, batch.key_name) for line in batch.lines]
    parts = _split(rows, max_bytes)
    messages = []
    for number, part in enumerate(parts):
        idem = batch.idempotency_key
        if idem is not None and len(parts) > 1:
            idem = f"{idem}\x1e{number + 1}/{len(parts)}"
        data = _encode(_Message(VERSION, batch.key_name, idem, part))
        messages.append((_message_id(batch.key_name, part), data))
    return messages


def decode_message(data: bytes) -> SealedBatch:
    """The sealed rows a message carries; `WireError` for anything else."""
    try:
        message = _decode(data)
    except msgspec.MsgspecError as exc:
        raise WireError(f"not a batch of sealed rows: {exc}") from None
    if message.version != VERSION:
        raise WireError(f"message format {message.version}, this apiwatch reads {VERSION}")
    rows = [
        Sealed(message.key_name, row.columns, row.digest, row.key_id, row.payload)
        for row in message.rows
    ]
    return SealedBatch(rows, message.key_name, message.idempotency_key)


def _row(sealed: Sealed | None, key_name: str) -> _Row:
    if sealed is None or sealed.key_name != key_name:
        raise ValueError("publish sealed lines only (Store.seal with the batch's key)")
    return _Row(sealed.columns, sealed.digest, sealed.key_id, sealed.payload)  # type: ignore[arg-type]


def _split(rows: list[_Row], max_bytes: int) -> list[list[_Row]]:
    parts: list[list[_Row]] = [[]]
    size = 0
    for row in rows:
        row_bytes = len(row.payload) + len(row.digest) + _ROW_OVERHEAD
        if parts[-1] and size + row_bytes > max_bytes:
            parts.append([])
            size = 0
        parts[-1].append(row)
        size += row_bytes
    return parts


def _message_id(key_name: str, rows: Sequence[_Row]) -> str:
    digest = hashlib.sha256(key_name.encode("utf-8", "surrogatepass") + b"\x1f")
    for row in rows:
        digest.update(row.columns[0])
    return digest.hexdigest()[:40]
