"""The flat view of an `Event` that rules match on, with SigmaHQ's web taxonomy mapped onto ECS.

A rule names fields either in ECS (``source.ip``, ``url.path``, ``user.name``) or in SigmaHQ's
``webserver``/``proxy`` taxonomy (``c-ip``, ``cs-uri-query``, ``sc-status`` ...); `canonical_field`
turns the latter into the former, so SigmaHQ's web rules run unchanged.

`Record` holds two dicts per event: ``values`` (typed: status codes are ints) and ``lower``
(every string field lower-cased once, for Sigma's case-insensitive matching, and numbers as
their decimal strings so ``sc-status: '404'`` and ``sc-status: 404`` both match).

Fields apiwatch derives for rules (under ``apiwatch.``):

- ``apiwatch.route``: ``labels.route`` when the sensor knew the route template, else the path
  with numeric, UUID and long hex segments replaced by ``{id}`` (`infer_route`);
- ``apiwatch.object_id``: the value of the last ``{...}`` segment of the route in the path, the
  object a request addressed (``/orders/{id}`` + ``/orders/42`` gives ``42``);
- ``apiwatch.actor``: who acted: ``user.name``, else the token fingerprint, else ``source.ip``;
- ``apiwatch.login``: ``fail`` or ``success`` for login attempts, absent otherwise;
- ``url.original``: path and query as requested; ``url.extension``: the path's file extension;
- the account-abuse fields of `apiwatch.detect.derived` (``apiwatch.flow``,
  ``apiwatch.unknown_user``, ``apiwatch.account_change``, ``apiwatch.foreign``, ...).

Numbers: ``event.duration`` (nanoseconds, as ECS has it) and ``http.response.body.bytes`` (from
the ECS fields an event carries beyond apiwatch's model) are typed, for ``gt``/``lte`` and the
``value_*`` correlations.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from apiwatch.detect.derived import DERIVED_FIELDS, RouteFacts, derive, route_facts
from apiwatch.model import Event

__all__ = [
    "FIELDS",
    "SIGMA_TAXONOMY",
    "Record",
    "canonical_field",
    "infer_route",
    "to_record",
]

SIGMA_TAXONOMY: Final[dict[str, str]] = {
    # SigmaHQ webserver taxonomy (W3C extended log field names)
    "c-ip": "source.ip",
    "cs-method": "http.request.method",
    "c-uri": "url.original",
    "cs-uri": "url.original",
    "c-uri-query": "url.query",
    "cs-uri-query": "url.original",
    "cs-uri-stem": "url.path",
    "c-uri-stem": "url.path",
    "c-uri-extension": "url.extension",
    "c-useragent": "user_agent.original",
    "cs-user-agent": "user_agent.original",
    "sc-status": "http.response.status_code",
    "cs-host": "url.domain",
    "r-dns": "url.domain",
    "cs-username": "user.name",
    "cs-referer": "http.request.referrer",
    "cs-referrer": "http.request.referrer",
    "cs-cookie": "http.request.cookie",
    "cs-content-type": "http.request.mime_type",
    "src_ip": "source.ip",
    "dst_ip": "destination.ip",
}
"""SigmaHQ field name -> ECS field name.

``cs-uri-query`` maps to the whole request target (path and query) because SigmaHQ's webserver
rules use it that way (``cs-uri-query|contains: '/../'``).
"""

FIELDS: Final[frozenset[str]] = frozenset(
    {
        "@timestamp",
        "event.action",
        "event.outcome",
        "event.dataset",
        "event.category",
        "event.reason",
        "event.duration",
        "http.response.body.bytes",
        "source.ip",
        "source.address",
        "http.request.method",
        "http.request.referrer",
        "http.response.status_code",
        "http.version",
        "url.path",
        "url.query",
        "url.original",
        "url.domain",
        "url.extension",
        "user_agent.original",
        "user.name",
        "user.id",
        "service.name",
        "host.name",
        "trace.id",
        "message",
        "labels.route",
        "labels.token_id",
        "labels.session_id",
        "labels.attack_tool",
        "apiwatch.route",
        "apiwatch.object_id",
        "apiwatch.actor",
        "apiwatch.login",
    }
)
"""Every field a rule can name (after taxonomy mapping; and `DERIVED_FIELDS`). A rule naming
another field is reported as not evaluable (the events apiwatch handles never carry it), never
silently never-matching."""

_UNAVAILABLE: Final = frozenset({"http.request.cookie", "http.request.mime_type", "destination.ip"})

KEYWORD_FIELDS: Final = ("url.original", "user_agent.original", "http.request.referrer", "message")
"""Where a Sigma keyword (a value with no field) is searched: the parts of an access-log line."""


def canonical_field(name: str) -> str:
    """The ECS name of a rule's field (SigmaHQ taxonomy names mapped, ECS names unchanged)."""
    return SIGMA_TAXONOMY.get(name, name)


def field_known(name: str) -> bool:
    """Whether apiwatch events can carry the (canonical) field ``name``."""
    return name in FIELDS or name in DERIVED_FIELDS or name.startswith("labels.")


def field_unavailable(name: str) -> bool:
    """Fields of the web taxonomy that apiwatch's events never carry (cookies, MIME types)."""
    return name in _UNAVAILABLE


_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGITS = frozenset("0123456789")


def _is_id(segment: str) -> bool:
    """Digits; a UUID; or hex of 8+ characters that is 16+ long or mixes digits and letters.

    Plain scans and fixed-shape patterns only: the path is the client's to choose, and a
    pattern with nested ``[hex]*`` runs backtracks cubically on a long near-miss segment.
    """
    if segment.isdigit():
        return True
    if len(segment) < 8:
        return False
    if _UUID.fullmatch(segment) is not None:
        return True
    if _HEX.fullmatch(segment) is None:
        return False
    if len(segment) >= 16:
        return True
    digits = _DIGITS.intersection(segment)
    return bool(digits) and len(digits) < len(set(segment))


@lru_cache(maxsize=65536)
def infer_route(path: str) -> str:
    """A route template for a path: numeric, UUID and hex segments become ``{id}``.

    >>> infer_route("/orders/42/items/9f86d081884c7d65")
    '/orders/{id}/items/{id}'
    """
    parts = path.split("/")
    return "/".join("{id}" if part and _is_id(part) else part for part in parts)


@lru_cache(maxsize=65536)
def _template_slots(route: str) -> tuple[int, int]:
    """(number of segments, index of the last ``{...}`` segment or -1) of a route template."""
    parts = route.split("/")
    last = -1
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("}"):
            last = index
    return len(parts), last


def object_id(route: str, path: str) -> str | None:
    """The path's value for the route's last placeholder, if the two line up."""
    count, slot = _template_slots(route)
    if slot < 0:
        return None
    parts = path.split("/")
    if len(parts) != count:
        return None
    return parts[slot] or None


def _extension(path: str) -> str | None:
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot + 1 :] if dot > 0 else None


class Record:
    """The fields of one event as rules see them; built once per event by `to_record`."""

    __slots__ = ("event", "lower", "values")

    def __init__(self, event: Event, values: dict[str, Any], lower: dict[str, str]) -> None:
        self.event = event
        self.values = values
        self.lower = lower

    def get(self, name: str) -> Any:
        """A field's typed value, or None."""
        return self.values.get(name)


_LOGIN: Final = {
    "authn_login_fail": "fail",
    "authn_login_success": "success",
    "authn_login_successafterfail": "success",
    "authn_login_lock": "fail",
}


_PathFacts = tuple[str, str | None, str | None, RouteFacts]
_PATHS: Final[dict[tuple[str, str | None], _PathFacts]] = {}
_PATHS_MAX: Final = 16384


def _path_facts(path: str, given: str | None) -> _PathFacts:
    """(route, object id, extension, `route_facts`) of a path and the route the sensor gave,
    remembered: an API's requests go to a few thousand paths, each judged once (past
    `_PATHS_MAX` the memory starts again)."""
    route = given or infer_route(path)
    facts = (
        route,
        object_id(route, path),
        _extension(path) if "." in path else None,
        route_facts(route),
    )
    if len(_PATHS) >= _PATHS_MAX:
        _PATHS.clear()
    _PATHS[path, given] = facts
    return facts


_LABEL_KEYS: Final[dict[str, str]] = {}
_LABEL_KEYS_MAX: Final = 1024


def _label_key(label: str) -> str:
    """``labels.<label>``, made once per label name (an event's labels are a handful of names
    seen on every event; the cache is bounded because the names are the sender's to choose)."""
    key = _LABEL_KEYS.get(label)
    if key is None:
        key = "labels." + label
        if len(_LABEL_KEYS) < _LABEL_KEYS_MAX:
            _LABEL_KEYS[label] = key
    return key


def to_record(event: Event, lowered: frozenset[str] | None = None) -> Record:
    """Flatten ``event`` into the fields rules match on (see the module docstring).

    Absent fields are None (rules read with ``.get``, so absent and None are the same to them).
    ``lowered`` names the fields to lower-case (the engine passes those its rules read without
    ``cased``); by default every string field is.
    """
    meta = event.event
    action = meta.action
    source = event.source
    ip = source.ip if source is not None else None
    http = event.http
    method = status = referrer = size = version = None
    if http is not None:
        version = http.version
        request = http.request
        if request is not None:
            method, referrer = request.method, request.referrer
        response = http.response
        if response is not None:
            status = response.status_code
            size = response.body.bytes if response.body is not None else None
    url = event.url
    path = query = domain = original = None
    if url is not None:
        path, query, domain = url.path, url.query, url.domain
        original = f"{path or ''}?{query}" if query else path
    agent = event.user_agent.original if event.user_agent is not None else None
    user = event.user
    name = user.name if user is not None else None
    labels = event.labels
    route = oid = extension = facts = None
    if path is not None:
        given = labels.get("route")
        known = _PATHS.get((path, given))
        route, oid, extension, facts = known or _path_facts(path, given)
    values: dict[str, Any] = {
        "@timestamp": event.timestamp,
        "event.action": action,
        "event.outcome": meta.outcome,
        "event.dataset": meta.dataset,
        "event.reason": meta.reason,
        "event.duration": meta.duration,
        "apiwatch.login": _LOGIN.get(action),
        "source.ip": ip,
        "source.address": source.address if source is not None else None,
        "http.request.method": method,
        "http.response.status_code": status,
        "http.request.referrer": referrer,
        "http.response.body.bytes": size,
        "http.version": version,
        "url.path": path,
        "url.query": query or None,
        "url.original": original,
        "url.domain": domain,
        "url.extension": extension,
        "user_agent.original": agent,
        "user.name": name,
        "user.id": user.id if user is not None else None,
        "service.name": event.service.name if event.service is not None else None,
        "host.name": event.host.name if event.host is not None else None,
        "message": event.message,
        "apiwatch.route": route,
        "apiwatch.object_id": oid,
        "apiwatch.actor": name or labels.get("token_id") or ip,
    }
    if labels:
        label_keys = _LABEL_KEYS
        for label, text in labels.items():
            values[label_keys.get(label) or _label_key(label)] = text
    derive(values, ip, meta.reason, facts, action, query or None, event.extra)
    lower: dict[str, str] = {}
    for key in values if lowered is None else lowered:
        value = values.get(key)
        if value.__class__ is str:
            lower[key] = value.lower()
        elif value is not None and lowered is not None:
            lower[key] = str(value)
    return Record(event, values, lower)
