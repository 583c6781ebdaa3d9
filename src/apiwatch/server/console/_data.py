"""What the console's pages show, read through the same store queries as the JSON API, and
every read of event data recorded in the read audit (as ``console:<user>``).

Pure functions of the server state and the signed-in `Principal`; run them in a worker thread.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from apiwatch.model import Incident
from apiwatch.model.alert import SEVERITIES, severity_rank
from apiwatch.server._detect_api import complete
from apiwatch.server._state import ServerState
from apiwatch.server.console._auth import Principal
from apiwatch.store import (
    DecisionFilter,
    DetectionFilter,
    EventFilter,
    IncidentState,
    ReadRecord,
    SourceInfo,
)

__all__ = [
    "ATTACKERS_PER_PAGE",
    "MOST_DECISIONS",
    "OVERVIEW_HOURS",
    "SILENT_AFTER",
    "account_evidence",
    "attacker_evidence",
    "audit",
    "incident_view",
    "overview",
    "overview_series",
    "recent_incidents",
    "search_events",
]

OVERVIEW_HOURS = 6
#: A source that sent nothing for this long is shown as a problem (logging may have stopped).
SILENT_AFTER = timedelta(minutes=15)
ATTACKERS_PER_PAGE = 200
_INCIDENT_CAP = 5000  # incidents read for a list or the overview
#: Decisions read for an incident or the decisions page.
MOST_DECISIONS = 10_000
_decode_line = msgspec.json.Decoder(dict[str, Any]).decode


def audit(state: ServerState, who: Principal, what: str, criteria: str, returned: int) -> None:
    """Record a read of event data in the read audit."""
    record = ReadRecord(datetime.now(UTC), who.reader, what, criteria, returned)
    state.store.audit.record(record)


# -- overview -------------------------------------------------------------------------------------


def _window_end(state: ServerState, now: datetime) -> datetime:
    """The charts end at the newest minute holding events (a replayed log shows its own time),
    or now for an empty store."""
    latest = state.store.console.latest_minute()
    return latest + timedelta(minutes=1) if latest is not None else now


def recent_incidents(
    state: ServerState, criteria: DetectionFilter, cap: int = _INCIDENT_CAP
) -> list[Incident]:
    """Incidents matching ``criteria``, newest ``last_seen`` first, at most ``cap``."""
    found: list[Incident] = []
    cursor: str | None = None
    while len(found) < cap:
        page = state.store.detections.incidents(
            criteria, cursor=cursor, limit=min(1000, cap - len(found))
        )
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    found.reverse()
    return found


def status_of(states: dict[str, IncidentState], incident_id: str) -> str:
    state = states.get(incident_id)
    return state.status if state else "open"


@dataclass
class Overview:
    end: datetime
    by_severity: list[tuple[str, int]]
    open_incidents: list[tuple[Incident, str]]
    top_addresses: list[tuple[str, int, int]]
    top_accounts: list[tuple[str, int]]
    sources: list[tuple[SourceInfo, bool]]
    health: list[tuple[str, str, bool]] = field(default_factory=list)


def overview(state: ServerState, who: Principal, now: datetime) -> Overview:
    """The overview's tables (the charts come from `overview_series`)."""
    store = state.store
    end = _window_end(state, now)
    start = end - timedelta(hours=OVERVIEW_HOURS)
    states = store.console.incident_states()
    incidents = recent_incidents(state, DetectionFilter(since=end - timedelta(days=7)))
    open_ones = [i for i in incidents if status_of(states, i.id) in ("open", "acknowledged")]
    severities = Counter(i.severity for i in open_ones)
    accounts = Counter(a for i in open_ones for a in i.accounts_targeted)
    sources = store.events.sources(now)
    result = Overview(
        end=end,
        by_severity=[(level, severities[level]) for level in reversed(SEVERITIES)],
        open_incidents=[(i, status_of(states, i.id)) for i in sorted(
            open_ones, key=lambda i: (-severity_rank(i.severity), i.last_seen))][:10],
        top_addresses=store.console.top_addresses(start, 10),
        top_accounts=accounts.most_common(10),
        sources=[(s, now - s.last_seen > SILENT_AFTER) for s in sources],
        health=health(state),
    )  # fmt: skip
    returned = len(result.open_incidents) + len(result.top_addresses) + len(result.top_accounts)
    audit(state, who, "overview", f"since={start.isoformat()}", returned + len(sources))
    return result


def health(state: ServerState) -> list[tuple[str, str, bool]]:
    """``(what, value, ok)`` for ingest and detection."""
    value = state.metrics.registry.get_sample_value

    def count(name: str) -> int:
        return int(value(name) or 0)

    rows = [
        ("ingest", "running" if state.committer.running else "stopped", state.committer.running),
        ("events accepted", f"{count('apiwatch_events_accepted_total'):,}", True),
        ("lines rejected", f"{count('apiwatch_events_rejected_total'):,}", True),
    ]
    if state.detector is None:
        return [*rows, ("detection", "off", False)]
    queue = count("apiwatch_detect_queue_events")
    errors = count("apiwatch_detect_errors_total")
    return [
        *rows,
        ("detection", "running", True),
        ("events detected", f"{count('apiwatch_detect_events_total'):,}", True),
        ("detection queue", f"{queue:,} events", queue < state.settings.detect_queue_events // 2),
        ("detection errors", f"{errors:,}", errors == 0),
    ]


def overview_series(state: ServerState, who: Principal, now: datetime) -> dict[str, Any]:
    """The charts' data: per minute (unix seconds), and the incidents as markers."""
    end = _window_end(state, now)
    start = end - timedelta(hours=OVERVIEW_HOURS)
    counts = {c.minute: c for c in state.store.console.minute_counts(start, end)}
    minutes = [start + timedelta(minutes=n) for n in range(OVERVIEW_HOURS * 60)]
    names = ("requests", "login_failures", "client_errors", "server_errors")
    columns: dict[str, list[int]] = {name: [] for name in names}
    for minute in minutes:
        found = counts.get(minute)
        for name, values in columns.items():
            values.append(getattr(found, name) if found else 0)
    incidents = recent_incidents(state, DetectionFilter(since=start), cap=500)
    markers = [
        {"t": int(i.first_seen.timestamp()), "severity": i.severity, "title": i.title}
        for i in incidents
        if i.first_seen >= start
    ]
    audit(state, who, "overview", f"chart since={start.isoformat()}", len(markers))
    return {"t": [int(m.timestamp()) for m in minutes], **columns, "incidents": markers}


# -- incidents ------------------------------------------------------------------------------------


@dataclass
class Attacker:
    address: str
    requests: int | None
    network: str
    evidence: list[str]


@dataclass
class IncidentView:
    incident: Incident
    data: dict[str, Any]
    status: IncidentState | None
    attackers: list[Attacker]
    attackers_total: int
    page: int
    pages: int
    decisions: list[Any]
    allowlisted: set[str]
    account_evidence: dict[str, list[str]] = field(default_factory=dict)


def network_of(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address is in; the text itself when not an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def attacker_evidence(data: dict[str, Any]) -> dict[str, list[str]]:
    """Per-attacker evidence where the incident carries it (as a map address -> reasons under
    ``evidence``/``attacker_evidence``, or as attacker records with an ``evidence`` list);
    empty when it does not."""
    found: dict[str, list[str]] = {}
    for key in ("evidence", "attacker_evidence"):
        value = data.get(key)
        if isinstance(value, dict):
            for address, reasons in value.items():
                found[str(address)] = _texts(reasons)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    address = item.get("ip") or item.get("address") or item.get("attacker")
                    if address:
                        found.setdefault(str(address), []).extend(
                            _texts(item.get("evidence") or item.get("reasons") or item)
                        )
    for item in data.get("attackers") or ():
        if isinstance(item, dict) and (item.get("ip") or item.get("address")):
            found[str(item.get("ip") or item.get("address"))] = _texts(item.get("evidence"))
    return found  # fmt: skip


def account_evidence(data: dict[str, Any]) -> dict[str, list[str]]:
    """Why each account is in the incident (``account_evidence``), where the incident says."""
    value = data.get("account_evidence")
    if not isinstance(value, dict):
        return {}
    return {str(account): _texts(reasons) for account, reasons in value.items()}


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items() if k not in ("ip", "address")]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return [str(value)]


def _addresses(data: dict[str, Any]) -> list[str]:
    out = []
    for item in data.get("attackers") or ():
        address = item.get("ip") or item.get("address") if isinstance(item, dict) else item
        if address:
            out.append(str(address))
    return out


def incident_view(
    state: ServerState, who: Principal, incident_id: str, page: int
) -> IncidentView | None:
    """One incident with its attackers (a page, most requests first), decisions and state."""
    store = state.store
    found = store.detections.incident(incident_id)
    criteria = "id=" + incident_id.encode("unicode_escape").decode("ascii")
    audit(state, who, "incident", criteria, int(found is not None))
    if found is None:
        return None
    data = complete(found)
    addresses = _addresses(data)
    counts = store.console.address_requests(addresses, found.first_seen, found.last_seen)
    ranked = sorted(addresses, key=lambda a: (-counts.get(a, 0), a))
    pages = max(1, -(-len(ranked) // ATTACKERS_PER_PAGE))
    page = min(max(page, 1), pages)
    evidence = attacker_evidence(data)
    shown = ranked[(page - 1) * ATTACKERS_PER_PAGE : page * ATTACKERS_PER_PAGE]
    attackers = [Attacker(a, counts.get(a), network_of(a), evidence.get(a, [])) for a in shown]
    decisions = store.decisions.every(
        DecisionFilter(incident=incident_id, include_expired=True, include_deleted=True),
        most=MOST_DECISIONS,
    )
    allowlisted = {e.value for e in store.allowlist.entries()}
    return IncidentView(found, data, store.console.incident_states().get(incident_id), attackers,
                        len(ranked), page, pages, decisions, allowlisted,
                        account_evidence(data))  # fmt: skip


def incident_timeline(state: ServerState, who: Principal, incident: Incident) -> dict[str, Any]:
    """The attackers' requests and failures per minute over the incident (±10 minutes)."""
    start = incident.first_seen - timedelta(minutes=10)
    end = incident.last_seen + timedelta(minutes=10)
    found = state.store.console.addresses_per_minute(incident.attackers, start, end)
    minutes = [start.replace(second=0, microsecond=0) + timedelta(minutes=n)
               for n in range(int((end - start).total_seconds() // 60) + 2)]  # fmt: skip
    audit(state, who, "incident", f"timeline id={incident.id}", len(found))
    return {
        "t": [int(m.timestamp()) for m in minutes],
        "requests": [found.get(m, (0, 0))[0] for m in minutes],
        "failures": [found.get(m, (0, 0))[1] for m in minutes],
        "incidents": [{"t": int(incident.first_seen.timestamp()), "severity": incident.severity,
                       "title": incident.title}],
    }  # fmt: skip


def extent_rows(incident: Incident, counts: dict[str, int]) -> Iterator[tuple[str, str, str]]:
    """The incident's extent as ``(kind, value, requests)`` rows, for the CSV export."""
    for address in incident.attackers:
        yield ("attacker", address, str(counts.get(address, "")))
    for kind, values in (
        ("account_targeted", incident.accounts_targeted),
        ("account_compromised", incident.accounts_compromised),
        ("object_exposed", incident.objects_exposed),
        ("user_agent", incident.user_agents),
    ):
        for value in values:
            yield (kind, value, "")


# -- events ---------------------------------------------------------------------------------------


@dataclass
class EventsPage:
    events: list[dict[str, Any]]
    next_cursor: str | None


def search_events(
    state: ServerState, who: Principal, criteria: EventFilter, cursor: str | None, limit: int
) -> EventsPage:
    """A page of events matching ``criteria`` (decoded), audited as the JSON API audits it."""
    store = state.store
    page = store.events.query(criteria, cursor=cursor, limit=limit)
    audit(state, who, "events", store.audit.describe_filter(criteria), len(page.lines))
    return EventsPage([_decode_line(line) for line in page.lines], page.next_cursor)


def export_events(
    state: ServerState, who: Principal, criteria: EventFilter, cap: int
) -> list[bytes]:
    """Up to ``cap`` matching events as their ECS JSON lines, audited."""
    store = state.store
    lines: list[bytes] = []
    cursor: str | None = None
    while len(lines) < cap:
        page = store.events.query(criteria, cursor=cursor, limit=min(1000, cap - len(lines)))
        lines += page.lines
        cursor = page.next_cursor
        if cursor is None:
            break
    audit(state, who, "events export", store.audit.describe_filter(criteria), len(lines))
    return lines


def dig(event: dict[str, Any], dotted: str) -> Any:
    """``event["a"]["b"]`` for ``"a.b"`` (nested ECS), also accepting a dotted key."""
    if dotted in event:
        return event[dotted]
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def first_of(values: Sequence[str]) -> str:
    return values[0] if values else ""
