"""The hash chain over stored events, and the checkpoints that sign it.

Each row's digest covers its clear columns and its plaintext payload (not the ciphertext, so
re-encryption under a new key leaves the chain intact); each row stores
``chain = SHA-256(previous chain || seq || digest)``, which binds its position. A checkpoint
signs ``(seq, chain)`` with the store's Ed25519 key at the end of every committed transaction.
`ChainChecker` walks rows in order and reports the first one altered, deleted or moved.

The ledger (`apiwatch.store._ledger`) is a second chain of the same shape over the writes to the
other tables; its entries link with `link` too, and its signed heads use `ledger_head_message`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import msgspec

__all__ = [
    "GENESIS",
    "ChainChecker",
    "checkpoint_message",
    "expiry_message",
    "ledger_head_message",
    "link",
    "row_digest",
]

GENESIS = b"\x00" * 32


def row_digest(columns: Sequence[object], payload: bytes) -> bytes:
    """The digest binding one row's clear columns and plaintext payload.

    It does not depend on the row's position, so it can be computed before the committer assigns
    one (in the request's thread, off the single commit path); `link` binds the position. The
    columns are framed with MessagePack: one C call, and unambiguous for None, int, str, bytes.
    """
    return _sha256(_frame(columns) + payload).digest()


_sha256 = hashlib.sha256
_pack_seq = struct.Struct(">q").pack
_frame = msgspec.msgpack.Encoder().encode


def link(previous: bytes, seq: int, digest: bytes) -> bytes:
    """The chain value after the row at ``seq`` with ``digest``."""
    return _sha256(previous + _pack_seq(seq) + digest).digest()


def expiry_message(through_seq: int, cutoff_us: int, done_us: int) -> bytes:
    """What a retention record signs: records up to ``through_seq``, older than the cutoff."""
    return b"apiwatch-expiry/1|" + struct.pack(">qqq", through_seq, cutoff_us, done_us)


def checkpoint_message(seq: int, chain: bytes, signed_at_us: int) -> bytes:
    return b"apiwatch-checkpoint/1|" + struct.pack(">qq", seq, signed_at_us) + chain


def ledger_head_message(seq: int, chain: bytes, signed_at_us: int) -> bytes:
    """What a ledger head signs (a prefix of its own: an event checkpoint cannot pass for one)."""
    return b"apiwatch-ledger-head/1|" + struct.pack(">qq", seq, signed_at_us) + chain


class ChainChecker:
    """Feed rows in ``seq`` order; the first problem found is kept with the row it concerns."""

    def __init__(self, start_seq: int, start_chain: bytes, noun: str = "record") -> None:
        self.noun = noun
        self.expected_seq = start_seq + 1
        self.previous = start_chain
        self.rows = 0
        self.problem: str | None = None
        self.problem_seq: int | None = None

    def feed(self, seq: int, digest: bytes, stored_chain: bytes) -> bool:
        """Check one row; returns False (and records why) at the first problem."""
        if self.problem is not None:
            return False
        if seq != self.expected_seq:
            kind = "deleted" if seq > self.expected_seq else "out of order"
            return self.fail(self.expected_seq, f"{self.noun} {self.expected_seq} is {kind} "
                             f"(found {self.noun} {seq} in its place)")  # fmt: skip
        chained = link(self.previous, seq, digest)
        if chained != stored_chain:
            return self.fail(seq, f"{self.noun} {seq} was altered or reordered (hash chain breaks)")
        self.previous = chained
        self.expected_seq += 1
        self.rows += 1
        return True

    def fail(self, seq: int, message: str) -> bool:
        if self.problem is None:
            self.problem, self.problem_seq = message, seq
        return False
