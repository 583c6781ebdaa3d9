"""ECS JSON codec for `Event`: nested ECS out, nested or dotted-key ECS in.

Unknown fields are never dropped: decoding puts every key apiwatch does not model into
`Event.extra` (nested as in ECS), and encoding merges them back, so an event read from another
producer leaves apiwatch with all the fields it came in with. A modelled field wins over an
``extra`` entry of the same name. An event read without ``ecs.version`` gets `ECS_VERSION`.

Checks for what must not be stored (the collector's ingest uses them): `ecs_problem` says why an
event's categorization fields or ``source.ip`` are not ECS, and `duplicate_key` finds a key
given twice in one JSON object (a decoder keeps one of the two values, the stored line both).
"""

from __future__ import annotations

import ipaddress
import json
import types
import typing
from collections.abc import Iterator
from datetime import UTC
from functools import lru_cache
from typing import Any

import msgspec

from apiwatch.model.address import parse_address
from apiwatch.model.errors import EventDecodeError
from apiwatch.model.event import ECS_VERSION, Event
from apiwatch.model.vocabulary import ECS_CATEGORIES, ECS_KINDS, ECS_OUTCOMES, ECS_TYPES

__all__ = [
    "decode_event",
    "decode_ndjson",
    "duplicate_key",
    "ecs_problem",
    "encode_event",
    "event_to_dict",
    "ip_address_of",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_EXTRA_KEY = "apiwatch.extra"
_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()

# A tree of the field names apiwatch models: name -> subtree for nested field sets, None for leaves.
_Schema = dict[str, "_Schema | None"]


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        for arg in typing.get_args(tp):
            found = _struct_of(arg)
            if found is not None:
                return found
    return None


def _schema_of(struct: type[msgspec.Struct]) -> _Schema:
    schema: _Schema = {}
    hints = typing.get_type_hints(struct)
    for field in msgspec.structs.fields(struct):
        if field.encode_name == _EXTRA_KEY:
            continue
        nested = _struct_of(hints[field.name])
        schema[field.encode_name] = _schema_of(nested) if nested is not None else None
    return schema


_SCHEMA = _schema_of(Event)
_LIST_FIELDS = ("category", "type")
# Real ECS documents nest a few levels; the bound keeps a hostile line from exhausting the stack.
_MAX_DEPTH = 64


def encode_event(event: Event) -> bytes:
    """The event as one line of nested ECS JSON (no trailing newline)."""
    if not event.extra:
        return _encoder.encode(event)
    return _encoder.encode(event_to_dict(event))


def event_to_dict(event: Event) -> dict[str, Any]:
    """The event as a nested ECS dict of JSON types, ``extra`` merged in."""
    doc: dict[str, Any] = msgspec.to_builtins(event)
    extra = doc.pop(_EXTRA_KEY, None)
    if extra:
        _merge_under(doc, extra)
    return doc


def _merge_under(doc: dict[str, Any], extra: dict[str, Any]) -> None:
    """Add ``extra``'s keys into ``doc`` without overwriting any modelled value."""
    for key, value in extra.items():
        present = doc.get(key)
        if present is None:
            doc[key] = value
        elif isinstance(present, dict) and isinstance(value, dict):
            _merge_under(present, value)


def decode_event(data: bytes | str | dict[str, Any], *, line: int | None = None) -> Event:
    """One ECS document (JSON text or an already-parsed dict) as an `Event`.

    Raises `EventDecodeError` naming the field and the problem when it is not a valid event.
    """
    if isinstance(data, dict):
        doc = data
    else:
        try:
            doc = _json_decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise EventDecodeError(f"not valid JSON: {exc}", line=line) from None
        except UnicodeError:
            # msgspec raises UnicodeDecodeError for bad bytes inside a JSON string, and
            # UnicodeEncodeError for a str holding lone surrogates.
            raise EventDecodeError("not valid UTF-8", line=line) from None
        except RecursionError:
            raise EventDecodeError("nested too deeply", line=line) from None
        if not isinstance(doc, dict):
            raise EventDecodeError("an event must be a JSON object", line=line)
    nested = _expand_dotted(doc, line)
    known, unknown = _split(nested, _SCHEMA)
    _listify(known)
    meta = known.setdefault("event", {})
    if isinstance(meta, dict):
        meta.setdefault("action", "unknown")
    ecs = known.get("ecs")
    if isinstance(ecs, dict):
        ecs.setdefault("version", ECS_VERSION)
    try:
        event = msgspec.convert(known, Event, strict=False)
    except msgspec.ValidationError as exc:
        raise EventDecodeError(_field_message(str(exc)), line=line) from None
    if event.timestamp.tzinfo is None:
        event.timestamp = event.timestamp.replace(tzinfo=UTC)
    if unknown:
        event.extra = unknown
    return event


def decode_ndjson(data: bytes | str) -> Iterator[Event | EventDecodeError]:
    """Each non-blank line of NDJSON decoded, or the error for that line, in order."""
    # "surrogatepass" keeps a lone surrogate from failing the whole batch: it becomes bytes that
    # are not UTF-8, so only its own line is reported.
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    for number, text in enumerate(raw.split(b"\n"), start=1):
        if not text.strip():
            continue
        try:
            yield decode_event(text, line=number)
        except EventDecodeError as exc:
            yield exc


def _expand_dotted(doc: dict[str, Any], line: int | None, depth: int = 0) -> dict[str, Any]:
    """``{"source.ip": x}`` -> ``{"source": {"ip": x}}``, recursively; nested input is unchanged.

    Dotted and nested forms of one object are merged at every level; a field given a value twice
    (``{"source.ip": x, "source": {"ip": y}}``, in either order) is an error.
    """
    if depth > _MAX_DEPTH:
        raise EventDecodeError(f"objects nested more than {_MAX_DEPTH} deep", line=line)
    out: dict[str, Any] = {}
    for key, given in doc.items():
        value = given
        if isinstance(given, dict):
            # labels keys may hold dots; copied so that merging never writes into the caller's dict
            value = dict(given) if key == "labels" else _expand_dotted(given, line, depth + 1)
        parts = key.split(".") if "." in key and key != _EXTRA_KEY else [key]
        target = out
        for part in parts[:-1]:
            slot = target.setdefault(part, {})
            if not isinstance(slot, dict):
                raise EventDecodeError(
                    f"field {key!r} conflicts with a value at {part!r}", line=line
                )
            target = slot
        _put(target, parts[-1], value, key, line)
    return out


def _put(target: dict[str, Any], leaf: str, value: Any, key: str, line: int | None) -> None:
    """``target[leaf] = value``, merging two objects key by key; any other repeat is an error."""
    if leaf not in target:
        target[leaf] = value
    elif isinstance(target[leaf], dict) and isinstance(value, dict):
        for name, inner in value.items():
            _put(target[leaf], name, inner, f"{key}.{name}", line)
    else:
        raise EventDecodeError(f"field {key!r} is given twice", line=line)


def _split(doc: dict[str, Any], schema: _Schema) -> tuple[dict[str, Any], dict[str, Any]]:
    known: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in schema:
            unknown[key] = value
            continue
        sub = schema[key]
        if sub is not None and isinstance(value, dict):
            inner_known, inner_unknown = _split(value, sub)
            known[key] = inner_known
            if inner_unknown:
                unknown[key] = inner_unknown
        else:
            known[key] = value
    return known, unknown


def _listify(known: dict[str, Any]) -> None:
    """ECS producers often send ``event.category`` as one string; the model holds a list."""
    meta = known.get("event")
    if isinstance(meta, dict):
        for name in _LIST_FIELDS:
            if isinstance(meta.get(name), str):
                meta[name] = [meta[name]]


def _field_message(text: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.http...``` as ``http...: expected int ...``."""
    if " - at `$." in text:
        problem, _, where = text.partition(" - at `$.")
        return f"{where.rstrip('`')}: {problem[0].lower()}{problem[1:]}".replace("`", "")
    return text.replace("`", "")


# -- what ingest refuses to store ----------------------------------------------------------------

_ALLOWED: tuple[tuple[str, frozenset[str]], ...] = (
    ("event.category", ECS_CATEGORIES),
    ("event.type", ECS_TYPES),
)


@lru_cache(maxsize=65536)
def ip_address_of(text: str) -> IPAddress | None:
    """``text`` as an IP address, or None when it is not one. An IPv6 zone (``fe80::1%eth0``)
    is not an address here: ECS's ``ip`` type has none, and a zone is free text (see
    `parse_address`). Unlike `parse_address`, blanks around the address are not ignored."""
    if text != text.strip():
        return None
    try:
        return parse_address(text)
    except ValueError:
        return None


def ecs_problem(event: Event) -> str | None:
    """Why ``event`` is not valid ECS, or None: ``event.kind``, ``event.category``,
    ``event.type`` and ``event.outcome`` must be ECS's allowed values, ``source.ip`` an address."""
    meta = event.event
    source = event.source
    ip = source.ip if source is not None else None
    # One pass of set look-ups for the common, valid event; the reason is worked out after.
    if (
        (meta.kind is None or meta.kind in ECS_KINDS)
        and (meta.outcome is None or meta.outcome in ECS_OUTCOMES)
        and ECS_CATEGORIES.issuperset(meta.category)
        and ECS_TYPES.issuperset(meta.type)
        and (ip is None or ip_address_of(ip) is not None)
    ):
        return None
    if meta.kind is not None and meta.kind not in ECS_KINDS:
        return _not_allowed("event.kind", meta.kind, ECS_KINDS)
    if meta.outcome is not None and meta.outcome not in ECS_OUTCOMES:
        return _not_allowed("event.outcome", meta.outcome, ECS_OUTCOMES)
    for (name, allowed), values in zip(_ALLOWED, (meta.category, meta.type), strict=True):
        for value in values:
            if value not in allowed:
                return _not_allowed(name, value, allowed)
    return f"source.ip: {ip!r} is not an IP address (other peers go in source.address)"


def _not_allowed(name: str, value: str, allowed: frozenset[str]) -> str:
    return f"{name}: {value!r} is not an ECS value (one of {', '.join(sorted(allowed))})"


_canonical = msgspec.json.Encoder()


def duplicate_key(line: bytes) -> str | None:
    """The dotted path of the first key given twice in one object of the JSON ``line``
    (``event.action``), or None. ``line`` must be valid JSON (nested no deeper than the codec
    allows).

    Cheap for compact lines: one that is exactly the encoding of its own generic decode names
    each key once (a decoder keeps one value per key, so a repeat would make them differ). Only
    other lines (spaces, escapes, repeats) are parsed again, key by key.
    """
    if _canonical.encode(_json_decoder.decode(line)) == line:
        return None
    return _first_duplicate(json.loads(line, object_pairs_hook=_Pairs), "")


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as the stdlib parser saw it: every key, repeats included, in order."""


def _first_duplicate(value: Any, path: str) -> str | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, inner in value:
            where = f"{path}.{key}" if path else key
            if key in seen:
                return where
            seen.add(key)
            found = _first_duplicate(inner, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for inner in value:
            found = _first_duplicate(inner, path)
            if found is not None:
                return found
    return None
