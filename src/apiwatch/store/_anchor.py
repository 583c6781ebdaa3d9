"""Anchors: the store's signed heads, kept somewhere the store's own tampering cannot reach.

An anchor is one JSON line: the signing public key, and the newest signed head of each chain
(the event chain's checkpoint and the ledger's head: ``seq``, ``chain``, ``signed_at`` and the
signature the store made when it committed them). It needs no private key to make — the
heads are already signed — and it says "the store held *at least* this, exactly so". Given to
`SqlStore.verify`, an anchor proves what the store alone cannot:

* the signing key is the one the anchor was made with (a replaced key and re-signed chains fail);
* the checkpoint (and ledger head) it names still exists with the same chain value, so history
  up to it was not rewritten — even by someone holding the signing key — and the store was not
  truncated or rolled back to an older state, nor emptied.

What happened *after* the newest anchor is only as safe as the signing key. ``apiwatch anchor
export`` prints one (after a successful verify); a collector with ``anchor_file`` set appends
one at most once a second after a commit (`AnchorWriter`) and when it stops. Keep that file on
another machine or an append-only medium: it is worth what its location is worth.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apiwatch.model import ConfigError
from apiwatch.store.chain import checkpoint_message, ledger_head_message

__all__ = ["FORMAT", "Anchor", "AnchorWriter", "SignedHead", "read_anchors"]

FORMAT = "apiwatch-anchor/1"
_EVERY_SECONDS = 1.0
logger = logging.getLogger("apiwatch.store")


@dataclass(frozen=True, slots=True)
class SignedHead:
    """One chain's head as its signature covers it."""

    seq: int
    chain: bytes
    signed_at_us: int
    signature: bytes

    def to_json(self) -> dict[str, object]:
        return {"seq": self.seq, "chain": self.chain.hex(), "signed_at": self.signed_at_us,
                "signature": self.signature.hex()}  # fmt: skip

    @classmethod
    def from_json(cls, doc: Any) -> SignedHead | None:
        if doc is None:
            return None
        seq, signed_at = doc["seq"], doc["signed_at"]
        if not isinstance(seq, int) or not isinstance(signed_at, int) or seq < 1:
            raise ValueError("seq and signed_at must be whole numbers")
        return cls(seq, bytes.fromhex(doc["chain"]), signed_at, bytes.fromhex(doc["signature"]))

    @property
    def signed_at(self) -> str:
        return datetime.fromtimestamp(self.signed_at_us / 1e6, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Anchor:
    """The public key and the newest signed heads; ``where`` names its source in messages."""

    public_key: bytes
    events: SignedHead | None
    ledger: SignedHead | None
    where: str = "anchor"

    def to_line(self) -> str:
        return json.dumps({
            "format": FORMAT,
            "public_key": self.public_key.hex(),
            "events": self.events.to_json() if self.events else None,
            "ledger": self.ledger.to_json() if self.ledger else None,
        }, separators=(",", ":"))  # fmt: skip

    def messages(self) -> list[tuple[bytes, bytes]]:
        """``(message, signature)`` of each head it holds, for checking with `public_key`."""
        found = []
        if self.events:
            head = self.events
            found.append((checkpoint_message(head.seq, head.chain, head.signed_at_us),
                          head.signature))  # fmt: skip
        if self.ledger:
            head = self.ledger
            found.append((ledger_head_message(head.seq, head.chain, head.signed_at_us),
                          head.signature))  # fmt: skip
        return found


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in ``path`` (one per line; blank lines skipped); `ConfigError` naming the file
    and line for anything that is not an anchor, and for a file holding none."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"anchor {path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"anchor {path}: not an apiwatch anchor file") from None
    anchors = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            anchors.append(_parse(line, f"anchor {path} line {number}"))
    if not anchors:
        raise ConfigError(f"anchor {path}: holds no anchor")
    return anchors


def _parse(line: str, where: str) -> Anchor:
    try:
        doc = json.loads(line)
        anchor = Anchor(bytes.fromhex(doc["public_key"]), SignedHead.from_json(doc["events"]),
                        SignedHead.from_json(doc["ledger"]), where)  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{where}: not an apiwatch anchor") from None
    if doc.get("format") != FORMAT or len(anchor.public_key) != 32:
        raise ConfigError(f"{where}: not an apiwatch anchor")
    return anchor


class AnchorWriter:
    """Appends the newest signed heads to a file (the collector's ``anchor_file``).

    `offer` is called after each commit that signed a head; a line is written when a second has
    passed since the last one, and `flush` writes whatever is newer at shutdown. A file that
    cannot be written is logged (once until it works again), never a reason to refuse events.
    """

    def __init__(self, path: Path, public_key: bytes) -> None:
        self.path = path
        self.public_key = public_key
        self._lock = threading.Lock()
        self._events: SignedHead | None = None
        self._ledger: SignedHead | None = None
        self._dirty = False
        self._last = float("-inf")
        self._failing = False

    def offer(self, events: SignedHead | None, ledger: SignedHead | None) -> None:
        with self._lock:
            if events is not None:
                self._events = events
            if ledger is not None:
                self._ledger = ledger
            self._dirty = True
            if time.monotonic() - self._last >= _EVERY_SECONDS:
                self._write()

    def flush(self) -> None:
        with self._lock:
            if self._dirty:
                self._write()

    def _write(self) -> None:
        if self._events is None and self._ledger is None:  # an empty store: nothing to anchor
            self._dirty = False
            return
        anchor = Anchor(self.public_key, self._events, self._ledger)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (anchor.to_line() + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            if not self._failing:
                logger.warning("anchor file %s: cannot append (%s)", self.path,
                               exc.strerror or exc)  # fmt: skip
            self._failing = True
            return
        self._failing = False
        self._dirty = False
        self._last = time.monotonic()
