"""The records every layer of apiwatch shares, and their ECS JSON form.

Imports nothing else of apiwatch; every other package converts to and from these types.
"""

from apiwatch.model.address import (
    embedded_ipv4,
    parse_address,
    parse_network,
    unmapped,
    unmapped_network,
)
from apiwatch.model.alert import (
    ATTACK_TAG,
    SEVERITIES,
    Alert,
    ExposedObject,
    Incident,
    attack_tag,
    severity_rank,
)
from apiwatch.model.decision import (
    DECISION_SCOPES,
    DECISION_TYPES,
    AllowEntry,
    Decision,
    go_duration,
    normalise_value,
)
from apiwatch.model.ecs import decode_event, decode_ndjson, encode_event, event_to_dict
from apiwatch.model.errors import ApiwatchError, ConfigError, EventDecodeError
from apiwatch.model.event import (
    Event,
    EventMeta,
    Host,
    Http,
    HttpBody,
    HttpRequest,
    HttpResponse,
    Log,
    Service,
    Source,
    Trace,
    Url,
    User,
    UserAgent,
    new_event_id,
)
from apiwatch.model.text import plural, plural_noun, printable_json, printable_text
from apiwatch.model.vocabulary import Action, ActionSpec, Level

__all__ = [
    "ATTACK_TAG",
    "DECISION_SCOPES",
    "DECISION_TYPES",
    "SEVERITIES",
    "Action",
    "ActionSpec",
    "Alert",
    "AllowEntry",
    "ApiwatchError",
    "ConfigError",
    "Decision",
    "Event",
    "EventDecodeError",
    "EventMeta",
    "ExposedObject",
    "Host",
    "Http",
    "HttpBody",
    "HttpRequest",
    "HttpResponse",
    "Incident",
    "Level",
    "Log",
    "Service",
    "Source",
    "Trace",
    "Url",
    "User",
    "UserAgent",
    "attack_tag",
    "decode_event",
    "decode_ndjson",
    "embedded_ipv4",
    "encode_event",
    "event_to_dict",
    "go_duration",
    "new_event_id",
    "normalise_value",
    "parse_address",
    "parse_network",
    "plural",
    "plural_noun",
    "printable_json",
    "printable_text",
    "severity_rank",
    "unmapped",
    "unmapped_network",
]
