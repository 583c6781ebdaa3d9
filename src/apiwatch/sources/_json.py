"""A foreign log line that must be one JSON object: decoded, or refused with the reason."""

from __future__ import annotations

from typing import Any

import msgspec

from apiwatch.model import EventDecodeError

__all__ = ["json_object"]

_decoder = msgspec.json.Decoder()


def json_object(text: str, what: str) -> dict[str, Any]:
    """``text`` as a JSON object; otherwise `EventDecodeError` ``"<what>: not JSON"`` or
    ``"<what>: not a JSON object"``."""
    try:
        data = _decoder.decode(text)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        raise EventDecodeError(f"{what}: not JSON") from None
    if not isinstance(data, dict):
        raise EventDecodeError(f"{what}: not a JSON object")
    return data
