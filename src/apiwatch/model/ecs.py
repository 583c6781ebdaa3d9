"""ECS JSON codec for `Event`: nested ECS out, nested or dotted-key ECS in.

Unknown fields are never dropped: decoding puts every key apiwatch does not model into
`Event.extra` (nested as in ECS), and encoding merges them back, so an event read from another
producer leaves apiwatch with all the fields it came in with. A modelled field wins over an
``extra`` entry of the same name.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import msgspec

from apiwatch.model.errors import EventDecodeError
from apiwatch.model.event import Event

__all__ = ["decode_event", "decode_ndjson", "encode_event", "event_to_dict"]

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
