"""The ECS JSON codec: nested ECS out, nested or dotted in, unknown fields kept, clear errors."""

from __future__ import annotations

import copy
import json
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiwatch.model import (
    ApiwatchError,
    Event,
    EventDecodeError,
    EventMeta,
    Host,
    Http,
    HttpRequest,
    HttpResponse,
    Log,
    Service,
    Source,
    Trace,
    Url,
    User,
    UserAgent,
    decode_event,
    decode_ndjson,
    encode_event,
    event_to_dict,
)
from apiwatch.model.event import ECS_VERSION

WHEN = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def full_event() -> Event:
    """An event with every field set apiwatch writes for a failed login."""
    return Event(
        timestamp=WHEN,
        event=EventMeta(
            action="authn_login_fail",
            id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            kind="event",
            category=["authentication"],
            type=["start"],
            outcome="failure",
            duration=1_265_000,
            severity=30,
            reason="bad password",
            dataset="apiwatch.audit",
            module="apiwatch",
        ),
        message="login failed for alice",
        log=Log(level="warn", logger="apiwatch.audit"),
        source=Source(ip="203.0.113.7", port=51234),
        http=Http(
            request=HttpRequest(method="POST", id="req-1"),
            response=HttpResponse(status_code=401),
        ),
        url=Url(path="/users/login", query="next=%2F", domain="api.example.com"),
        user_agent=UserAgent(original="curl/8.5.0"),
        user=User(name="alice", id="42"),
        trace=Trace(id="4bf92f3577b34da6a3ce929d0e0e4736"),
        service=Service(name="shop-api"),
        host=Host(name="web-1"),
        labels={"tenant": "acme"},
    )


FULL_DOC: dict[str, Any] = {
    "@timestamp": "2024-05-01T12:30:15.123456Z",
    "event": {
        "action": "authn_login_fail",
        "id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "kind": "event",
        "category": ["authentication"],
        "type": ["start"],
        "outcome": "failure",
        "duration": 1_265_000,
        "severity": 30,
        "reason": "bad password",
        "dataset": "apiwatch.audit",
        "module": "apiwatch",
    },
    "message": "login failed for alice",
    "log": {"level": "warn", "logger": "apiwatch.audit"},
    "source": {"ip": "203.0.113.7", "port": 51234},
    "http": {"request": {"method": "POST", "id": "req-1"}, "response": {"status_code": 401}},
    "url": {"path": "/users/login", "query": "next=%2F", "domain": "api.example.com"},
    "user_agent": {"original": "curl/8.5.0"},
    "user": {"name": "alice", "id": "42"},
    "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
    "service": {"name": "shop-api"},
    "host": {"name": "web-1"},
    "labels": {"tenant": "acme"},
    "ecs": {"version": ECS_VERSION},
}


def _meta(**fields: Any) -> dict[str, Any]:
    """An ``event`` object with a fixed id, so that two decodes compare equal."""
    return {"action": "authn_login_fail", "id": "e-1", **fields}


def _nulls(value: Any, path: str = "") -> list[str]:
    """The paths of every null in a JSON value."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    return []


# --- encoding ---------------------------------------------------------------------------------


def test_encode_writes_nested_ecs() -> None:
    """A fully populated event encodes to nested ECS JSON with `@timestamp` and ECS field names."""
    assert json.loads(encode_event(full_event())) == FULL_DOC


def test_encode_is_one_line_without_newline() -> None:
    """The encoding is a single NDJSON line with no trailing newline."""
    line = encode_event(full_event())
    assert b"\n" not in line
    assert line.startswith(b"{")
    assert line.endswith(b"}")


def test_encode_minimal_event_writes_only_timestamp_event_and_ecs_version() -> None:
    """An event with nothing but an action is written as `@timestamp`, `event.action`/`id` and
    `ecs.version`."""
    event = Event(timestamp=WHEN, event=EventMeta(action="http_request", id="x1"))
    assert json.loads(encode_event(event)) == {
        "@timestamp": "2024-05-01T12:30:15.123456Z",
        "event": {"action": "http_request", "id": "x1"},
        "ecs": {"version": ECS_VERSION},
    }


def test_encode_always_writes_event_action_and_id() -> None:
    """`event.action` and a generated 32-hex-digit `event.id` are always present."""
    doc = json.loads(encode_event(Event(event=EventMeta(action="sys_startup"))))
    assert doc["event"]["action"] == "sys_startup"
    assert len(doc["event"]["id"]) == 32
    assert set(doc["event"]["id"]) <= set("0123456789abcdef")
    assert "@timestamp" in doc


def test_encode_omits_absent_fields() -> None:
    """No null is ever written: unset optional fields and field sets are left out."""
    event = Event(
        timestamp=WHEN,
        event=EventMeta(action="http_request", id="x1"),
        source=Source(ip="198.51.100.1"),
        http=Http(response=HttpResponse(status_code=200)),
    )
    doc = json.loads(encode_event(event))
    assert _nulls(doc) == []
    assert doc["source"] == {"ip": "198.51.100.1"}
    assert doc["http"] == {"response": {"status_code": 200}}
    assert "user" not in doc
    assert "labels" not in doc
    assert "category" not in doc["event"]


def test_event_to_dict_matches_encoding() -> None:
    """`event_to_dict` is the parsed form of `encode_event`, extras included."""
    event = full_event()
    event.extra = {"cloud": {"region": "eu-west-1"}, "event": {"provider": "shop"}}
    assert event_to_dict(event) == json.loads(encode_event(event))


def test_encode_does_not_change_the_event() -> None:
    """Encoding an event with extras leaves the event and its extras as they were."""
    event = full_event()
    event.extra = {"event": {"provider": "shop"}, "source": {"geo": {"country_iso_code": "FR"}}}
    before = copy.deepcopy(msgspec.structs.asdict(event))
    encode_event(event)
    event_to_dict(event)
    assert msgspec.structs.asdict(event) == before


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_is_identity() -> None:
    """Decoding the encoding of an event gives an equal event, field for field."""
    event = full_event()
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert msgspec.structs.asdict(decoded) == msgspec.structs.asdict(event)


def test_round_trip_of_minimal_event_is_identity() -> None:
    """An event with only an action survives encode and decode unchanged."""
    event = Event(event=EventMeta(action="sys_shutdown"))
    assert decode_event(encode_event(event)) == event


def test_decode_accepts_text_bytes_and_dict_alike() -> None:
    """JSON bytes, JSON text and an already-parsed dict decode to the same event."""
    text = json.dumps(FULL_DOC)
    assert decode_event(text) == decode_event(text.encode()) == decode_event(FULL_DOC)
    assert decode_event(FULL_DOC) == full_event()


def test_decode_does_not_change_a_given_dict() -> None:
    """Decoding an already-parsed dict, dotted keys and labels included, leaves it untouched."""
    doc = {
        "event": {"action": "authz_fail"},
        "labels": {"tenant": "acme"},
        "labels.region": "eu",
        "source.ip": "203.0.113.7",
        "source": {"port": 4000},
        "cloud": {"region": "eu-west-1"},
    }
    before = copy.deepcopy(doc)
    event = decode_event(doc)
    assert doc == before
    assert event.labels == {"tenant": "acme", "region": "eu"}


# --- dotted keys ------------------------------------------------------------------------------


def test_dotted_keys_decode_like_nested() -> None:
    """A dotted-key document decodes to the same event as its nested form."""
    nested = {
        "@timestamp": "2024-05-01T12:30:15Z",
        "event": _meta(outcome="failure"),
        "source": {"ip": "203.0.113.7", "port": 51234},
        "http": {"request": {"method": "POST"}, "response": {"status_code": 401}},
        "user": {"name": "alice"},
    }
    dotted = {
        "@timestamp": "2024-05-01T12:30:15Z",
        "event.action": "authn_login_fail",
        "event.id": "e-1",
        "event.outcome": "failure",
        "source.ip": "203.0.113.7",
        "source.port": 51234,
        "http.request.method": "POST",
        "http.response.status_code": 401,
        "user.name": "alice",
    }
    assert decode_event(dotted) == decode_event(nested)
    assert decode_event(json.dumps(dotted)) == decode_event(json.dumps(nested))


@pytest.mark.parametrize(
    "mixed",
    [
        {"event": _meta(), "http.request.method": "GET", "http": {"request": {"id": "r-9"}}},
        {"event": _meta(), "http": {"request": {"id": "r-9"}}, "http.request.method": "GET"},
        {"event": _meta(), "http": {"request.method": "GET", "request": {"id": "r-9"}}},
        {"event": _meta(), "http.request": {"method": "GET"}, "http.request.id": "r-9"},
        {"event.action": "authn_login_fail", "event": {"id": "e-1"}, "http.request.id": "r-9",
         "http": {"request": {"method": "GET"}}},
    ],
    ids=["dotted-then-nested", "nested-then-dotted", "dotted-inside-nested", "partly-dotted",
         "event-split"],
)  # fmt: skip
def test_mixed_dotted_and_nested_decode_like_nested(mixed: dict[str, Any]) -> None:
    """Dotted and nested forms of one object merge at every level, in any order."""
    stamp = {"@timestamp": "2024-05-01T12:30:15Z"}
    nested = {**stamp, "event": _meta(), "http": {"request": {"method": "GET", "id": "r-9"}}}
    assert decode_event({**stamp, **mixed}) == decode_event(nested)


def test_dotted_label_keys_are_label_names() -> None:
    """``labels.env`` sets the label ``env``; dots inside a ``labels`` object stay in the key."""
    event = decode_event({"labels.env": "prod", "labels": {"k8s.pod": "api-7f9c"}})
    assert event.labels == {"env": "prod", "k8s.pod": "api-7f9c"}
    assert event.extra == {}
    assert decode_event(encode_event(event)).labels == event.labels


# --- unknown fields ---------------------------------------------------------------------------


def test_unknown_top_level_field_set_is_kept_in_extra() -> None:
    """A field set apiwatch does not model lands, nested, in `Event.extra`."""
    event = decode_event({"event": _meta(), "cloud": {"region": "eu-west-1", "provider": "aws"}})
    assert event.extra == {"cloud": {"region": "eu-west-1", "provider": "aws"}}


def test_unknown_field_inside_known_field_set_is_kept_in_extra() -> None:
    """An unmodelled field inside a modelled field set is kept in `extra` under that set's name."""
    event = decode_event(
        {
            "event": _meta(module_x="custom", provider="shop"),
            "source": {"ip": "203.0.113.7", "geo": {"country_iso_code": "FR"}},
            "http": {"request": {"method": "GET", "body": {"bytes": 12}}},
        }
    )
    assert event.event.action == "authn_login_fail"
    assert event.source == Source(ip="203.0.113.7")
    assert event.http == Http(request=HttpRequest(method="GET"))
    assert event.extra == {
        "event": {"module_x": "custom", "provider": "shop"},
        "source": {"geo": {"country_iso_code": "FR"}},
        "http": {"request": {"body": {"bytes": 12}}},
    }


def test_dotted_unknown_fields_are_kept_nested() -> None:
    """Dotted unknown keys are stored in `extra` in nested form."""
    event = decode_event({"event.action": "x", "cloud.region": "eu-west-1", "event.module_x": 1})
    assert event.extra == {"cloud": {"region": "eu-west-1"}, "event": {"module_x": 1}}


def test_extra_is_written_back_on_encode() -> None:
    """Unknown fields read from a document are written back in their place on encode."""
    doc = {
        "@timestamp": "2024-05-01T12:30:15Z",
        "event": _meta(module_x="custom"),
        "source": {"ip": "203.0.113.7", "geo": {"country_iso_code": "FR"}},
        "cloud": {"region": "eu-west-1"},
        "tags": ["edge", 1, None, {"k": True}],
        "numbers": {"float": 1.5, "neg": -3, "null": None},
    }
    event = decode_event(doc)
    assert json.loads(encode_event(event)) == {
        **doc,
        "@timestamp": "2024-05-01T12:30:15Z",
        "event": {"action": "authn_login_fail", "id": "e-1", "module_x": "custom"},
        "ecs": {"version": ECS_VERSION},
    }
    assert decode_event(encode_event(event)) == event


def test_modelled_field_wins_over_extra_of_same_name() -> None:
    """On encode a modelled value is never overwritten by an `extra` entry with the same name."""
    event = Event(
        timestamp=WHEN,
        event=EventMeta(action="authz_fail", id="e-1"),
        message="modelled",
        source=Source(ip="203.0.113.7"),
        extra={
            "message": "from extra",
            "source": {"ip": "6.6.6.6", "geo": {"city_name": "Lyon"}},
            "event": {"action": "forged", "provider": "shop"},
        },
    )
    doc = json.loads(encode_event(event))
    assert doc["message"] == "modelled"
    assert doc["source"] == {"ip": "203.0.113.7", "geo": {"city_name": "Lyon"}}
    assert doc["event"]["action"] == "authz_fail"
    assert doc["event"]["provider"] == "shop"


def test_internal_extra_key_in_input_is_just_an_unknown_field() -> None:
    """A document cannot write modelled fields through the codec's internal ``apiwatch.extra``."""
    event = decode_event({"event": _meta(), "apiwatch.extra": {"source": {"ip": "6.6.6.6"}}})
    assert event.source is None
    assert event.extra == {"apiwatch.extra": {"source": {"ip": "6.6.6.6"}}}
    assert decode_event(encode_event(event)) == event


# --- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["category", "type"])
def test_single_string_category_and_type_become_lists(field: str) -> None:
    """`event.category` / `event.type` given as one string decode as a one-element list."""
    event = decode_event({"event": {"action": "x", field: "web"}})
    assert getattr(event.event, field) == ["web"]
    assert json.loads(encode_event(event))["event"][field] == ["web"]


def test_dotted_single_string_category_becomes_list() -> None:
    """A dotted ``event.category`` string is listified like the nested one."""
    assert decode_event({"event.category": "authentication"}).event.category == ["authentication"]


def test_category_list_is_kept() -> None:
    """A list of categories is kept as given, in order."""
    event = decode_event({"event": {"action": "x", "category": ["web", "intrusion_detection"]}})
    assert event.event.category == ["web", "intrusion_detection"]


@pytest.mark.parametrize(
    "doc",
    [{}, {"event": {}}, {"event": {"outcome": "failure"}}, {"event.outcome": "failure"}],
    ids=["empty", "empty-event", "event-without-action", "dotted-without-action"],
)
def test_missing_action_becomes_unknown(doc: dict[str, Any]) -> None:
    """A document without `event.action` decodes with action ``"unknown"``."""
    event = decode_event(doc)
    assert event.event.action == "unknown"
    assert json.loads(encode_event(event))["event"]["action"] == "unknown"


def test_given_action_is_kept_verbatim() -> None:
    """A non-vocabulary action from a foreign producer is kept as given."""
    assert decode_event({"event.action": "user-login"}).event.action == "user-login"


def test_naive_timestamp_becomes_utc() -> None:
    """A timestamp without an offset is read as UTC."""
    event = decode_event({"@timestamp": "2024-05-01T12:30:15.5"})
    assert event.timestamp == datetime(2024, 5, 1, 12, 30, 15, 500000, tzinfo=UTC)
    assert event.timestamp.utcoffset() == timedelta(0)
    assert json.loads(encode_event(event))["@timestamp"] == "2024-05-01T12:30:15.500000Z"


def test_timestamp_with_offset_keeps_its_instant() -> None:
    """A timestamp with a UTC offset decodes to the same instant."""
    event = decode_event({"@timestamp": "2024-05-01T14:30:15+02:00"})
    assert event.timestamp == datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)
    assert decode_event(encode_event(event)).timestamp == event.timestamp


def test_missing_timestamp_is_the_decode_time() -> None:
    """A document without `@timestamp` is stamped, in UTC, with the time it was decoded."""
    before = datetime.now(UTC)
    event = decode_event({"event.action": "x"})
    assert before <= event.timestamp <= datetime.now(UTC)
    assert event.timestamp.tzinfo is not None


def test_numeric_string_is_accepted_for_integer_field() -> None:
    """A producer sending ``"404"`` for an integer field gets the number 404."""
    event = decode_event({"http.response.status_code": "404", "source.port": "8080"})
    assert event.http == Http(response=HttpResponse(status_code=404))
    assert event.source == Source(port=8080)


# --- errors -----------------------------------------------------------------------------------


def test_decode_error_is_an_apiwatch_value_error() -> None:
    """`EventDecodeError` is caught by ``except ApiwatchError`` and by ``except ValueError``."""
    assert issubclass(EventDecodeError, ApiwatchError)
    assert issubclass(EventDecodeError, ValueError)


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"http": {"response": {"status_code": "abc"}}}, "http.response.status_code"),
        ({"http.response.status_code": True}, "http.response.status_code"),
        ({"source": {"port": [1]}}, "source.port"),
        ({"source": "203.0.113.7"}, "source"),
        ({"event": {"action": 5}}, "event.action"),
        ({"event": {"category": 7}}, "event.category"),
        ({"event": "login"}, "event"),
        ({"user": {"name": {"first": "a"}}}, "user.name"),
        ({"@timestamp": "yesterday"}, "@timestamp"),
        ({"message": 12}, "message"),
    ],
)
def test_wrong_type_names_the_field_path(doc: dict[str, Any], path: str) -> None:
    """A value of the wrong type is reported with its dotted field path first."""
    with pytest.raises(EventDecodeError) as info:
        decode_event(json.dumps(doc))
    assert info.value.reason.startswith(f"{path}: ")
    assert "`" not in str(info.value)
    assert info.value.line is None


def test_wrong_label_type_names_labels() -> None:
    """A label whose value is not a string is reported under ``labels``."""
    with pytest.raises(EventDecodeError, match=r"^labels"):
        decode_event({"labels": {"attempts": 3}})


@pytest.mark.parametrize("text", ["[]", "[{}]", "1", '"event"', "null", "true"])
def test_non_object_json_is_rejected(text: str) -> None:
    """Valid JSON that is not an object is rejected as not an event."""
    with pytest.raises(EventDecodeError, match="must be a JSON object"):
        decode_event(text)


@pytest.mark.parametrize("text", ["", "{", '{"event": }', "{'a': 1}", '{"a": 1} x', "NaN"])
def test_invalid_json_is_rejected(text: str) -> None:
    """Text that is not JSON is reported as such."""
    with pytest.raises(EventDecodeError, match="not valid JSON"):
        decode_event(text)


@pytest.mark.parametrize(
    "data", [b'{"message": "caf\xe9"}', b'{"user": {"name": "\xff\xfe"}}', b'{"\xc3": 1}']
)
def test_invalid_utf8_is_rejected(data: bytes) -> None:
    """Bytes that are not UTF-8 inside a JSON string give an `EventDecodeError`."""
    with pytest.raises(EventDecodeError, match="UTF-8"):
        decode_event(data)


def test_lone_surrogate_in_text_is_rejected() -> None:
    """A str holding a lone surrogate (not encodable as UTF-8) gives an `EventDecodeError`."""
    with pytest.raises(EventDecodeError, match="UTF-8"):
        decode_event('{"message": "\ud800"}')


def test_deep_nesting_is_rejected() -> None:
    """A document nested thousands of levels deep is an `EventDecodeError`, not a crash."""
    with pytest.raises(EventDecodeError, match="nested"):
        decode_event('{"a":' * 5000 + "1" + "}" * 5000)
    with pytest.raises(EventDecodeError, match="nested"):
        decode_event('{"a":' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(EventDecodeError, match="nested"):
        decode_event('{"a":' * 100 + "1" + "}" * 100)


@pytest.mark.parametrize(
    "doc",
    [
        {"source": "x", "source.ip": "1.2.3.4"},
        {"source.ip": "1.2.3.4", "source": "x"},
        {"http.request": "GET", "http.request.method": "GET"},
        {"http": {"request": 1}, "http.request.method": "GET"},
    ],
    ids=["scalar-then-dotted", "dotted-then-scalar", "dotted-scalar", "nested-scalar"],
)
def test_conflicting_dotted_and_scalar_is_rejected(doc: dict[str, Any]) -> None:
    """A dotted key under a name that also holds a plain value is an error naming the key."""
    with pytest.raises(EventDecodeError, match=r"'(source|http)[.a-z]*'"):
        decode_event(json.dumps(doc))


@pytest.mark.parametrize(
    "doc",
    [
        {"source": {"ip": "1.1.1.1"}, "source.ip": "2.2.2.2"},
        {"source.ip": "2.2.2.2", "source": {"ip": "1.1.1.1"}},
        {"http": {"request.method": "GET", "request": {"method": "POST"}}},
        {"http.request": {"method": "GET"}, "http": {"request": {"method": "POST"}}},
        {"labels.env": "prod", "labels": {"env": "dev"}},
    ],
    ids=["nested-then-dotted", "dotted-then-nested", "inside-object", "two-levels", "labels"],
)
def test_field_given_twice_is_rejected(doc: dict[str, Any]) -> None:
    """One field given both dotted and nested is an error in either order, never a silent pick."""
    with pytest.raises(EventDecodeError, match="given twice"):
        decode_event(json.dumps(doc))


def test_decode_error_carries_given_line() -> None:
    """`decode_event(..., line=n)` puts the line number on the error and in its message."""
    with pytest.raises(EventDecodeError) as info:
        decode_event("[]", line=7)
    assert info.value.line == 7
    assert str(info.value) == "line 7: an event must be a JSON object"
    assert info.value.reason == "an event must be a JSON object"


# --- NDJSON -----------------------------------------------------------------------------------


def test_ndjson_yields_events_and_errors_per_line_in_order() -> None:
    """Each non-blank line gives its event or its error, in order, with 1-based line numbers."""
    data = b"\n".join(
        [
            b'{"event.action": "authn_login_fail", "user.name": "a"}',
            b"",
            b"not json",
            b"   \t",
            b'{"http.response.status_code": "x"}',
            b'{"event": {"action": "authn_login_success"}, "user": {"name": "b"}}\r',
            b"[1]",
        ]
    )
    results = list(decode_ndjson(data))
    assert [type(r) for r in results] == [
        Event,
        EventDecodeError,
        EventDecodeError,
        Event,
        EventDecodeError,
    ]
    first, bad_json, bad_type, second, not_object = results
    assert isinstance(first, Event)
    assert isinstance(second, Event)
    assert (first.event.action, first.user) == ("authn_login_fail", User(name="a"))
    assert (second.event.action, second.user) == ("authn_login_success", User(name="b"))
    assert isinstance(bad_json, EventDecodeError)
    assert isinstance(bad_type, EventDecodeError)
    assert isinstance(not_object, EventDecodeError)
    assert [bad_json.line, bad_type.line, not_object.line] == [3, 5, 7]
    assert str(bad_type).startswith("line 5: http.response.status_code: ")


def test_ndjson_accepts_text_and_trailing_newline() -> None:
    """NDJSON given as str decodes like bytes; a trailing newline adds nothing."""
    text = '{"event.action": "a"}\n{"event.action": "b"}\n'
    assert [e.event.action for e in decode_ndjson(text) if isinstance(e, Event)] == ["a", "b"]
    assert len(list(decode_ndjson(text))) == 2
    assert len(list(decode_ndjson(text.encode()))) == 2


def test_ndjson_of_blank_input_yields_nothing() -> None:
    """Empty or whitespace-only input yields no events and no errors."""
    assert list(decode_ndjson(b"")) == []
    assert list(decode_ndjson("\n \n\r\n\t\n")) == []


def test_ndjson_bad_line_does_not_stop_later_lines() -> None:
    """Hostile lines (bad UTF-8, lone surrogate, deep nesting) fail alone; the rest decode."""
    deep = '{"a":' + "[" * 5000 + "]" * 5000 + "}"
    text = "\n".join(
        ['{"event.action": "a"}', '{"message": "\ud800"}', deep, '{"event.action": "b"}']
    )
    results = list(decode_ndjson(text))
    assert [type(r) for r in results] == [Event, EventDecodeError, EventDecodeError, Event]
    assert [r.line for r in results if isinstance(r, EventDecodeError)] == [2, 3]
    raw = b'{"event.action": "a"}\n{"message": "\xff"}\n{"event.action": "b"}'
    assert [type(r) for r in decode_ndjson(raw)] == [Event, EventDecodeError, Event]


def test_ndjson_round_trips_encoded_events() -> None:
    """Encoded events joined by newlines decode back to the same events."""
    events = [full_event(), Event(event=EventMeta(action="sys_startup"))]
    data = b"\n".join(encode_event(e) for e in events) + b"\n"
    assert list(decode_ndjson(data)) == events


# --- properties -------------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)

# Any Unicode text msgspec can write: control characters and astral planes included, surrogates
# (which UTF-8 cannot hold) excluded.
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# RFC 3339 offsets are whole minutes.
_ZONES = st.builds(
    lambda minutes: UTC if minutes == 0 else timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
_TIMESTAMPS = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES
)
_SCALARS: dict[Any, st.SearchStrategy[Any]] = {str: _TEXT, int: _INT64, datetime: _TIMESTAMPS}


def _strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values for one annotated field of the model, derived from its type so new fields count."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _struct_strategy(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in args if a is not type(None)]
        return st.none() | _strategy_for(inner)
    if origin is list:
        return st.lists(_strategy_for(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(_strategy_for(args[0]), _strategy_for(args[1]), max_size=3)
    raise TypeError(f"no strategy for {tp!r}")


def _struct_strategy(struct: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(struct)
    fields = {
        f.name: _strategy_for(hints[f.name])
        for f in msgspec.structs.fields(struct)
        if f.name != "extra"
    }
    return st.fixed_dictionaries(fields).map(lambda kwargs: struct(**kwargs))


_MODELLED_TOP = {f.encode_name for f in msgspec.structs.fields(Event)}
_JSON_LEAVES = (
    st.none() | st.booleans() | _INT64 | st.floats(allow_nan=False, allow_infinity=False) | _TEXT
)
# Keys the codec leaves as they are: no dots (those are expanded), no modelled top-level names.
_PLAIN_KEYS = _TEXT.filter(lambda k: "." not in k)
_EXTRA_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_PLAIN_KEYS, inner, max_size=3),
    max_leaves=8,
)
_EXTRAS = st.dictionaries(
    _PLAIN_KEYS.filter(lambda k: k not in _MODELLED_TOP), _EXTRA_VALUES, max_size=3
)
_EVENTS = _struct_strategy(Event)


@PROPERTY
@given(event=_EVENTS)
def test_property_any_event_round_trips(event: Event) -> None:
    """Any event built from the model's field types decodes back equal to itself."""
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert msgspec.structs.asdict(decoded) == msgspec.structs.asdict(event)


@PROPERTY
@given(event=_EVENTS, extra=_EXTRAS)
def test_property_unknown_fields_round_trip(event: Event, extra: dict[str, Any]) -> None:
    """Any unknown top-level fields set in `extra` survive encode and decode unchanged."""
    event.extra = extra
    assert decode_event(encode_event(event)) == event


# Keys that reach the codec's corners: modelled names, dotted paths, the internal extra key.
_KEYS = st.sampled_from(
    [
        "@timestamp",
        "event",
        "event.action",
        "event.category",
        "event.type",
        "action",
        "category",
        "source",
        "source.ip",
        "ip",
        "http",
        "http.request",
        "request.method",
        "http.response.status_code",
        "labels",
        "labels.env",
        "apiwatch.extra",
        "message",
        "",
        ".",
        "a..b",
    ]
) | st.text(max_size=8)
_JSON = st.recursive(
    _JSON_LEAVES | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=20,
)


def _decodes_or_reports(data: Any) -> None:
    """`decode_event` returns an event that re-encodes stably, or raises `EventDecodeError`."""
    try:
        event = decode_event(data)
    except EventDecodeError:
        return
    assert decode_event(encode_event(event)) == event


@PROPERTY
@given(data=st.binary(max_size=200))
def test_property_arbitrary_bytes_only_raise_decode_error(data: bytes) -> None:
    """Arbitrary bytes never make `decode_event` raise anything but `EventDecodeError`."""
    _decodes_or_reports(data)


@PROPERTY
@given(value=_JSON)
def test_property_arbitrary_json_only_raises_decode_error(value: Any) -> None:
    """Arbitrary JSON, as text or as a parsed object, only ever fails with `EventDecodeError`."""
    _decodes_or_reports(json.dumps(value))
    if isinstance(value, dict):
        _decodes_or_reports(value)


@PROPERTY
@given(doc=st.dictionaries(_KEYS, _JSON, max_size=6))
def test_property_arbitrary_objects_only_raise_decode_error(doc: dict[str, Any]) -> None:
    """Arbitrary JSON objects with ECS-like keys only ever fail with `EventDecodeError`."""
    _decodes_or_reports(json.dumps(doc))
    _decodes_or_reports(doc)


@PROPERTY
@given(lines=st.lists(_JSON.map(json.dumps) | st.sampled_from(["", "  ", "{", "[]"]), max_size=8))
def test_property_ndjson_reports_every_line(lines: list[str]) -> None:
    """`decode_ndjson` yields one result per non-blank line, errors tagged with their line."""
    results = list(decode_ndjson("\n".join(lines)))
    numbered = [n for n, text in enumerate(lines, start=1) if text.strip()]
    assert len(results) == len(numbered)
    for number, result in zip(numbered, results, strict=True):
        assert isinstance(result, Event | EventDecodeError)
        if isinstance(result, EventDecodeError):
            assert result.line == number
