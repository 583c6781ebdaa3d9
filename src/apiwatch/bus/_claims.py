"""`Claims`: first-come claims on names in a JetStream key-value bucket (NATS 2.9 has KV).

A claim is created only when the name has none (``create``, atomic on the server), so any number
of processes agree on which value came first. Claims expire with the bucket's ``ttl``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from apiwatch.bus._jetstream import BusError

__all__ = ["Claim", "Claims"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The value first claimed for a name (``value``) and the one this call asked for
    (``wanted``); ``ours`` when this call made the claim."""

    value: bytes
    wanted: bytes
    revision: int
    ours: bool


class Claims:
    """A key-value bucket of claims (`Bus.claims` opens one)."""

    def __init__(self, bucket: Any) -> None:
        self._bucket = bucket  # nats.js.kv.KeyValue

    async def claim(self, name: str, value: bytes) -> Claim:
        """Claim ``name`` for ``value``, or the claim another caller made first."""
        from nats.js.errors import KeyWrongLastSequenceError  # noqa: PLC0415 - the bus extra

        key = _key(name)
        for _ in range(3):  # a claim released between our create and get: try again
            try:
                return Claim(value, value, await self._bucket.create(key, value), ours=True)
            except KeyWrongLastSequenceError:
                pass
            except Exception as exc:  # noqa: BLE001 - nats-py raises many kinds
                raise BusError(f"bus: claiming failed: {exc or type(exc).__name__}") from None
            entry = await self._entry(key)
            if entry is not None:
                return Claim(bytes(entry.value or b""), value, int(entry.revision), ours=False)
        raise BusError("bus: claiming failed: the claim keeps changing")

    async def release(self, name: str, claim: Claim) -> None:
        """Withdraw a claim of ours (unless it changed since); `BusError` if that fails."""
        try:
            await self._bucket.delete(_key(name), last=claim.revision)
        except Exception as exc:  # noqa: BLE001 - nats-py raises many kinds
            raise BusError(f"bus: releasing a claim failed: {exc or type(exc).__name__}") from None

    async def _entry(self, key: str) -> Any:
        from nats.js.errors import KeyDeletedError, KeyNotFoundError  # noqa: PLC0415

        try:
            return await self._bucket.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        except Exception as exc:  # noqa: BLE001 - nats-py raises many kinds
            raise BusError(f"bus: reading a claim failed: {exc or type(exc).__name__}") from None


def _key(name: str) -> str:
    # KV keys take few characters; any name becomes one.
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
