"""Reading the attempted account name out of a login request body, and nothing else from it.

The body is parsed only to pick one configured field (``username``, ``email``, ...); the password
and every other field are discarded with the parsed document and never reach an event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import msgspec

__all__ = ["BodyTee", "account_from_body"]

_json = msgspec.json.Decoder()


class BodyTee:
    """Keeps the first ``limit`` bytes of a body as the application reads it."""

    __slots__ = ("chunks", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.limit = limit
        self.size = 0

    def add(self, chunk: bytes) -> None:
        if self.size < self.limit and chunk:
            room = self.limit - self.size
            self.chunks.append(chunk[:room])
            self.size += min(len(chunk), room)

    def body(self) -> bytes:
        return b"".join(self.chunks)


def account_from_body(body: bytes, content_type: str, field: str) -> str | None:
    """The value of ``field`` (a dotted path for nested JSON) in a JSON or form body."""
    if not body:
        return None
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return _form_field(body.decode("utf-8", "replace"), field)
    if kind == "multipart/form-data":
        return _multipart_field(body, content_type, field)
    if kind == "application/json" or kind.endswith("+json"):
        return _json_field(body, field)
    return None


def _form_field(body: str, field: str) -> str | None:
    """The LAST value of ``field`` in a urlencoded form, as Starlette, FastAPI and Django read it.

    Only the one field is decoded; any number of other fields is skipped without error (where
    ``parse_qs(max_num_fields=...)`` would raise).
    """
    found = None
    for pair in body.split("&"):
        name, sep, value = pair.partition("=")
        if sep and unquote_plus(name) == field:
            found = value
    return unquote_plus(found) if found is not None else None


def _json_field(body: bytes, field: str) -> str | None:
    try:
        value: Any = _json.decode(body)
    except msgspec.DecodeError:
        return None
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value if isinstance(value, str) else None


def _multipart_field(body: bytes, content_type: str, field: str) -> str | None:
    """One plain (non-file) field of a multipart/form-data body."""
    boundary = None
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return None
    wanted = f'name="{field}"'.encode()
    for part in body.split(b"--" + boundary.encode()):
        head, sep, content = part.partition(b"\r\n\r\n")
        if sep and wanted in head and b"filename=" not in head:
            return content.removesuffix(b"\r\n").decode("utf-8", "backslashreplace")
    return None
