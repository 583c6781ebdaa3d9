"""The `Store` protocol — role stores (`EventStore`, `KeyStore`, `ReadAudit`, `DetectionStore`,
`DecisionStore`, `AllowlistStore`, `ConsoleStore`) composed over one database — and the record
types they take and give.

Back ends: `apiwatch.store.sqlite` (embedded, the default) and `apiwatch.store.postgres`; both
pass the same test suite. Every back end keeps these promises:

* `EventStore.append` returns only after the batches are durably committed, as one transaction;
  an event whose ``event.id`` is already stored, or a batch whose idempotency key was already
  committed, is not stored again (reported as duplicates).
* Each stored event payload and its account fields are encrypted (AES-GCM, `apiwatch.store.crypto`);
  ``user.name`` stays searchable for equality through a keyed blind index.
* Every committed row extends a SHA-256 hash chain and every committed transaction ends with an
  Ed25519-signed checkpoint (`apiwatch.store.chain`); `Store.verify` names the first altered,
  deleted or reordered record.
* Every write to the read audit, the API keys, alerts, incidents, decisions and the allowlist is
  recorded in the ledger, a second signed chain (`apiwatch.store._ledger`), so that `verify`
  detects those rows altered, deleted or added by hand too; `verify` also checks anchors, signed
  heads kept outside the store (`apiwatch.store._anchor`).
* Reads of event data are recorded (`ReadAudit.record`).
* Alerts and incidents (`DetectionStore.save`) are upserted by id; their JSON is encrypted
  like event payloads, with only the columns their filters need in clear (see `DetectionFilter`);
  each payload is authenticated and bound to its record's id.
* Decisions (`DecisionStore.add`) get increasing integer ids and are never removed, only
  marked deleted; `DecisionStore.changes` tells a bouncer what became active or stopped
  applying since its cursor, each change once. The allowlist (`AllowlistStore.add`) holds what no
  decision may act on. Both keep their payload (reason, incident) encrypted, with addresses in
  clear and account names only as a blind index (see `apiwatch.store._decisions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Generic, Protocol, TypeVar

import msgspec

from apiwatch.model import AllowEntry, ConfigError, Decision, Event
from apiwatch.model.alert import SEVERITIES, Alert, Incident
from apiwatch.store._anchor import Anchor

__all__ = [
    "INCIDENT_STATES",
    "ROLES",
    "SCOPES",
    "AllowlistStore",
    "ApiKey",
    "AppendResult",
    "Batch",
    "ConsoleSession",
    "ConsoleStore",
    "ConsoleUser",
    "DecisionChanges",
    "DecisionFilter",
    "DecisionPage",
    "DecisionStore",
    "DetectionFilter",
    "DetectionPage",
    "DetectionStore",
    "EventFilter",
    "EventStore",
    "IncidentState",
    "KeyStore",
    "MinuteCounts",
    "Page",
    "ReadAudit",
    "ReadRecord",
    "Sealed",
    "SealedBatch",
    "SourceInfo",
    "Store",
    "StoredLine",
    "Tally",
    "VerifyReport",
]

#: API key scopes: ``ingest`` sends events, ``read`` queries them, ``bouncer`` reads decisions,
#: ``admin`` may do everything.
SCOPES = ("ingest", "read", "bouncer", "admin")


# What the console's per-minute rollups count of one event: its minute (Unix seconds // 60),
# its source address as stored in clear ("" for none), whether it is a failed login, and its
# HTTP status. Made where the event is in clear (`apiwatch.store._rows.event_tally`).
Tally = tuple[int, str, bool, int | None]


class Sealed(msgspec.Struct, frozen=True, gc=False):
    """The part of a stored row that does not depend on its position: clear columns, the row
    digest, and the encrypted payload (see `EventStore.seal`)."""

    key_name: str
    columns: tuple[object, ...]
    digest: bytes
    key_id: int
    payload: bytes
    #: What the console's rollups count of the event (`Tally`), worked out while sealing so the
    #: single commit thread does not; None for rows sealed elsewhere (no event at hand).
    tally: Tally | None = None


class StoredLine(msgspec.Struct, frozen=True, gc=False):
    """One accepted event: the decoded `Event` (for the indexed columns) and the exact ECS JSON
    to keep (the sender's own line, so fields apiwatch does not model are kept too); ``sealed``
    once `Store.seal` has done the per-row work ahead of the commit.

    msgspec structs rather than dataclasses: one is made per stored event, on the ingest path."""

    event: Event
    payload: bytes
    sealed: Sealed | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """The accepted lines of one ingest request, from one API key."""

    lines: Sequence[StoredLine]
    key_name: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class SealedBatch:
    """Rows of one ingest request sealed by another process (the scale-out ingest role), for
    `SqlEventStore.append_sealed`: each row's ``key_name`` is the batch's."""

    rows: Sequence[Sealed]
    key_name: str
    idempotency_key: str | None = None
    tallies: Sequence[Tally | None] | None = None  # one per row, for the console's rollups


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What happened to one `Batch`: how many events were stored and how many were repeats."""

    stored: int
    duplicates: int
    replayed: bool = False  # the whole batch matched an idempotency key already committed
    #: The events this batch stored (not its duplicates), in order: what detection is fed.
    events: Sequence[Event] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """A query over stored events; every given criterion must hold."""

    since: datetime | None = None
    until: datetime | None = None
    source_ip: str | None = None  # an address, or a CIDR network
    user_name: str | None = None
    action: str | None = None
    outcome: str | None = None
    path_prefix: str | None = None
    status: int | None = None

    def describe(self) -> str:
        """A compact, stable text of the criteria given, ``user.name`` as given: the read audit
        records `ReadAudit.describe_filter` instead, which never holds an account name."""
        parts = [f"{name}={value}" for name, value in self._items() if value is not None]
        return " ".join(parts) or "all"

    def _items(self) -> list[tuple[str, object]]:
        return [
            ("since", self.since.isoformat() if self.since else None),
            ("until", self.until.isoformat() if self.until else None),
            ("source.ip", self.source_ip),
            ("user.name", self.user_name),
            ("event.action", self.action),
            ("event.outcome", self.outcome),
            ("url.path", f"{self.path_prefix}*" if self.path_prefix else None),
            ("http.response.status_code", self.status),
        ]


@dataclass(frozen=True, slots=True)
class DetectionFilter:
    """A query over stored alerts or incidents; every given criterion must hold.

    ``since``/``until`` bound ``last_seen`` (at or after, before); ``severity`` is a Sigma level,
    matching that level and above; ``rule`` is a rule name (an incident matches when any of its
    rules is that one); ``attacker_ip`` an address or a CIDR network one of the attackers is in.
    """

    since: datetime | None = None
    until: datetime | None = None
    severity: str | None = None
    rule: str | None = None
    attacker_ip: str | None = None

    def __post_init__(self) -> None:
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ConfigError(f"severity: {self.severity!r} is not one of {', '.join(SEVERITIES)}")

    def describe(self) -> str:
        """A compact, stable text of the criteria given (what the read audit records)."""
        parts = [
            f"since={self.since.isoformat()}" if self.since else "",
            f"until={self.until.isoformat()}" if self.until else "",
            f"severity>={self.severity}" if self.severity else "",
            f"rule={self.rule}" if self.rule is not None else "",
            f"attacker.ip={self.attacker_ip}" if self.attacker_ip else "",
        ]
        return " ".join(part for part in parts if part) or "all"


Record = TypeVar("Record", Alert, Incident)


@dataclass(frozen=True, slots=True)
class DetectionPage(Generic[Record]):
    """Stored alerts or incidents, oldest ``last_seen`` first, and where to go on."""

    items: list[Record]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """A query over stored decisions; every given criterion must hold.

    By default only the decisions in force at ``at`` (now when None) match: begun, not expired,
    not deleted by then, not simulated; ``include_expired``, ``include_deleted`` and
    ``include_simulated`` lift each of those conditions. ``scopes`` (`DECISION_SCOPES` names)
    and ``origins`` match any of theirs; ``value`` is a value in one of the scopes (an account
    name matches caselessly); ``ip`` an address or CIDR network that an ``Ip`` decision equals
    or a ``Range`` decision contains (CrowdSec's ``ip=`` and ``range=``), or with ``contains``
    false, the network that holds the decision's address or range (CrowdSec's ``contains``).
    """

    at: datetime | None = None
    scopes: tuple[str, ...] = ()
    value: str | None = None
    ip: str | None = None
    contains: bool = True
    type: str | None = None
    origins: tuple[str, ...] = ()
    incident: str | None = None
    include_expired: bool = False
    include_deleted: bool = False
    include_simulated: bool = False


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """Stored decisions in id order, and where to go on (None at the end)."""

    items: list[Decision]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DecisionChanges:
    """What changed for a bouncer since its cursor (see `DecisionStore.changes`).

    ``new``: decisions in force now that it has not been given (and, when one of the values in
    ``deleted`` is still under another decision, that decision again, so that a bouncer keyed
    by value re-applies it after the delete); ``deleted``: decisions it was given that were
    deleted or expired since; ``cursor``: what to pass next time.
    """

    new: list[Decision]
    deleted: list[Decision]
    cursor: str


@dataclass(frozen=True, slots=True)
class Page:
    """Stored events (ECS JSON lines, decrypted) in storage order, and where to go on."""

    lines: list[bytes]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: never the secret, only its hash.

    A key may be bound to the ``services`` (``service.name``) and the ``networks`` (of
    ``source.ip``, in CIDR form) it may report events for; empty means unbound (any).
    """

    id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    services: frozenset[str] = frozenset()
    networks: tuple[str, ...] = ()

    @property
    def bound(self) -> bool:
        """Whether the key may report only for some services or networks."""
        return bool(self.services or self.networks)

    def allows(self, scope: str) -> bool:
        return self.revoked_at is None and (scope in self.scopes or "admin" in self.scopes)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One sending source: which key, service and host, when first and last seen, how busy."""

    key_name: str
    service: str
    host: str
    first_seen: datetime
    last_seen: datetime
    events: int
    events_last_hour: int


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """One audited read of event data."""

    at: datetime
    key_name: str
    what: str
    criteria: str
    returned: int


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of `Store.verify`: the event chain, the ledger over the other tables, anchors.

    ``ok`` says no tampering was found in what could be checked; with ``checkpoints == 0``
    nothing was proven (an empty store and one emptied by hand look alike without an anchor).
    ``anchors`` counts the anchors that matched; ``notes`` say what the check could not cover.
    """

    ok: bool
    records: int
    checkpoints: int
    expired_records: int = 0
    problem: str | None = None
    problem_seq: int | None = None
    notes: list[str] = field(default_factory=list)
    ledger_entries: int = 0
    anchors: int = 0

    @property
    def proven(self) -> bool:
        """Whether a signed checkpoint (or an anchor) backs the result."""
        return self.ok and (self.checkpoints > 0 or self.anchors > 0)


#: Console roles, least first: a viewer reads, an analyst acts on incidents and decisions, an
#: admin also manages the allowlist and reads the audit log.
ROLES: Final = ("viewer", "analyst", "admin")
#: What an operator may say of an incident (``open`` is the absence of a state).
INCIDENT_STATES: Final = ("open", "acknowledged", "resolved", "false_positive")


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A console user as stored (the password only as its hash)."""

    name: str
    role: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in session: whose, its CSRF token, when it ends."""

    user: str
    role: str
    csrf: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class IncidentState:
    """What an operator said of an incident, who, and when."""

    incident: str
    status: str
    by: str
    at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """One minute of traffic (start of the minute, UTC)."""

    minute: datetime
    requests: int
    login_failures: int
    client_errors: int
    server_errors: int


class EventStore(Protocol):
    """The stored events: appended in group commits, hash-chained, read by filter or sequence."""

    def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        """Commit the batches in one transaction (group commit); one result per batch."""
        ...

    def seal(self, lines: Sequence[StoredLine], key_name: str) -> list[StoredLine]:
        """The lines with their position-independent row work done (encryption, digests).

        Optional and thread-safe: call it from the request's thread so that the single commit
        path only numbers, chains and writes rows. `append` seals whatever is not sealed yet.
        """
        ...

    def query(self, criteria: EventFilter, *, cursor: str | None, limit: int) -> Page: ...

    def sources(self, now: datetime) -> list[SourceInfo]: ...

    def after(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` stored events numbered above ``seq``, in order: ``(seq, line)``."""
        ...

    def last_seq(self) -> int:
        """The sequence number of the newest stored event (0 when there is none)."""
        ...

    def expire(self, before: datetime) -> int:
        """Delete events older than ``before`` (whole transactions), keeping the chain verifiable;
        returns how many were deleted."""
        ...

    def count(self) -> int: ...


class KeyStore(Protocol):
    """The API keys (only the hash of each secret is stored)."""

    def create(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        services: Sequence[str] = (),
        networks: Sequence[str] = (),
    ) -> tuple[ApiKey, str]:
        """A new key, bound to ``services`` and ``networks`` when given (see `ApiKey`); returns
        its record and the secret, which is never stored or shown again."""
        ...

    def authenticate(self, secret: str) -> ApiKey | None:
        """The key a presented secret belongs to (compared in constant time), or None."""
        ...

    def all(self) -> list[ApiKey]: ...

    def revoke(self, name_or_id: str) -> bool: ...


class ReadAudit(Protocol):
    """The audit of reads of event data."""

    def describe_filter(self, criteria: EventFilter) -> str:
        """``criteria`` as the read audit records them: an account as its blind index
        (``user.name=#<hex>``), never its name."""
        ...

    def record(self, record: ReadRecord) -> None: ...

    def reads(self, limit: int = 100) -> list[ReadRecord]: ...


class DetectionStore(Protocol):
    """Alerts and incidents, upserted by id, encrypted at rest."""

    def save(self, alerts: Sequence[Alert], incidents: Sequence[Incident]) -> None:
        """Insert or update (by id) alerts and incidents, all in one transaction.

        Idempotent: saving a record again changes nothing. A record whose ``last_seen`` is older
        than the one stored under its id is stale (another engine's, or a retry's) and ignored.
        """
        ...

    def alerts(
        self, criteria: DetectionFilter, *, cursor: str | None, limit: int
    ) -> DetectionPage[Alert]:
        """Alerts matching ``criteria``, by ``last_seen`` then id, a page at a time. A record
        updated while the pages are walked moves to the end, so a walk never misses it."""
        ...

    def incidents(
        self, criteria: DetectionFilter, *, cursor: str | None, limit: int
    ) -> DetectionPage[Incident]:
        """Incidents matching ``criteria``, ordered and paged as `alerts` are."""
        ...

    def incident(self, incident_id: str) -> Incident | None: ...

    def after(
        self, kind: str, cursor: str | None, limit: int
    ) -> tuple[list[Alert] | list[Incident], str | None]:
        """Up to ``limit`` alerts (``kind`` ``alert``) or incidents (``incident``) saved after
        ``cursor``, in the order they were saved (an updated record comes again), and the
        cursor after the last."""
        ...


class DecisionStore(Protocol):
    """Ban and lock decisions, and what a bouncer's stream needs of them."""

    def add(self, decisions: Sequence[Decision], *, by: str = "") -> list[Decision]:
        """Store new decisions (``id`` 0) in one transaction; returns them with their ids, which
        increase in the order given. ``by`` names who took them, for the log. Raises
        `ConfigError` for an unknown scope or type, or a value not valid in its scope."""
        ...

    def delete(self, decision_id: int, *, at: datetime, by: str = "") -> Decision | None:
        """Mark a decision deleted at ``at``; the decision, or None when no decision with that
        id is stored or it was already deleted."""
        ...

    def query(
        self, criteria: DecisionFilter, *, cursor: str | None = None, limit: int = 1000
    ) -> DecisionPage:
        """Decisions matching ``criteria``, by id, a page at a time."""
        ...

    def every(self, criteria: DecisionFilter, *, most: int | None = None) -> list[Decision]:
        """Every decision matching ``criteria`` (`query` page after page), in id order; with
        ``most``, stopping once at least that many are found."""
        ...

    def change(self) -> int:
        """The store's current decision change number: every add and delete of decisions
        takes a new, higher one (0 before the first)."""
        ...

    def as_of(
        self,
        change: int,
        *,
        now: datetime,
        scopes: Sequence[str] = (),
        origins: Sequence[str] = (),
        after: int = 0,
        limit: int = 1000,
    ) -> list[Decision]:
        """The non-simulated decisions of ``scopes`` and ``origins`` (all when empty) in force
        at change number ``change`` (added at or before it, not deleted at or before it) and
        time ``now``, with an id above ``after``, by id, at most ``limit``: a full pull a page
        at a time, answered up to ``stream_cursor(change, now)``."""
        ...

    def changes(
        self,
        cursor: str | None,
        *,
        now: datetime,
        scopes: Sequence[str] = (),
        origins: Sequence[str] = (),
    ) -> DecisionChanges:
        """What a bouncer that was answered up to ``cursor`` needs at ``now``: None (startup)
        gives every decision in force as new. Only non-simulated decisions of ``scopes`` and
        ``origins`` (all when empty). Each decision is new once and deleted (or expired) once
        for a chain of cursors; raises `ConfigError` for a cursor this store did not make."""
        ...

    def bouncer_cursor(self, bouncer: str) -> str | None:
        """The cursor saved for ``bouncer`` (`save_bouncer_cursor`), or None."""
        ...

    def save_bouncer_cursor(self, bouncer: str, cursor: str, *, now: datetime) -> None:
        """Remember ``cursor`` for ``bouncer``; cursors unused for 30 days are forgotten."""
        ...

    def offences(self, scope: str, value: str) -> int:
        """How many ``ban`` decisions ``value`` has had in ``scope`` (not simulated, not deleted
        by hand), for escalating repeat offenders."""
        ...

    def active_counts(self, now: datetime) -> dict[str, int]:
        """How many decisions are in force at ``now``, by scope."""
        ...


class AllowlistStore(Protocol):
    """What no decision may act on."""

    def add(self, entry: AllowEntry, *, by: str = "") -> AllowEntry:
        """Allowlist ``entry.value`` in ``entry.scope`` (replacing the reason when it already
        is); returns the stored entry with its id."""
        ...

    def delete(self, scope: str, value: str, *, by: str = "") -> bool:
        """Remove the allowlist entry for exactly this value; whether there was one."""
        ...

    def entries(self) -> list[AllowEntry]:
        """Every allowlist entry, oldest first."""
        ...

    def allow_match(self, scope: str, value: str) -> AllowEntry | None:
        """The allowlist entry that protects ``value``: for an address, an entry equal to it or
        a range containing it; for a range, any entry inside or overlapping it (a ban on the
        range would hit it); for an account, its entry (caselessly). None when there is none."""
        ...

    def is_allowed(self, scope: str, value: str) -> bool:
        """Whether `allow_match` finds an entry."""
        ...


class ConsoleStore(Protocol):
    """What the web console keeps: users, sessions, incident states; the rollups it charts."""

    def minute_counts(self, since: datetime, until: datetime) -> list[MinuteCounts]:
        """Per-minute rollups in [since, until), by event time, oldest first."""
        ...

    def latest_minute(self) -> datetime | None:
        """The newest minute holding events (event time), or None."""
        ...

    def top_addresses(self, since: datetime, limit: int) -> list[tuple[str, int, int]]:
        """``(address, requests, failures)`` since ``since``, most failures first."""
        ...

    def address_requests(
        self, addresses: Sequence[str], since: datetime, until: datetime
    ) -> dict[str, int]:
        """Requests of each address from the minute of ``since`` through that of ``until``."""
        ...

    def addresses_per_minute(
        self, addresses: Sequence[str], since: datetime, until: datetime
    ) -> dict[datetime, tuple[int, int]]:
        """Requests and failures of ``addresses`` together, per minute."""
        ...

    def add_user(self, user: ConsoleUser) -> None: ...

    def user(self, name: str) -> ConsoleUser | None: ...

    def users(self) -> list[ConsoleUser]: ...

    def set_password(self, name: str, password_hash: str) -> bool: ...

    def delete_user(self, name: str) -> bool: ...

    def add_session(
        self, token_hash: bytes, name: str, csrf: str, expires: datetime, now: datetime
    ) -> None: ...

    def session(self, token_hash: bytes, now: datetime) -> ConsoleSession | None: ...

    def delete_session(self, token_hash: bytes) -> None: ...

    def set_incident_state(self, state: IncidentState) -> None: ...

    def incident_states(self) -> dict[str, IncidentState]: ...


class Store(Protocol):
    """A durable, encrypted, tamper-evident store (see the module docstring): its role stores,
    and what concerns it as a whole."""

    @property
    def events(self) -> EventStore: ...

    @property
    def keys(self) -> KeyStore: ...

    @property
    def audit(self) -> ReadAudit: ...

    @property
    def detections(self) -> DetectionStore: ...

    @property
    def decisions(self) -> DecisionStore: ...

    @property
    def allowlist(self) -> AllowlistStore: ...

    @property
    def console(self) -> ConsoleStore: ...

    def full_reason(self) -> str | None:
        """None while writes succeed; after a write failed for lack of space, why, for as long
        as a write the size of the failed append (tried on each call, then undone) still fails."""
        ...

    def verify(self, anchors: Sequence[Anchor] = ()) -> VerifyReport:
        """Check the event chain, the ledger over the other tables and each anchor; see
        `apiwatch.store._verify` for what it proves and what it cannot."""
        ...

    def rotate_key(self) -> int:
        """Make a new data key current and re-encrypt every row under it; returns rows done."""
        ...

    def forward_cursor(self, name: str) -> str | None:
        """The cursor a forwarder saved under ``name``, or None."""
        ...

    def save_forward_cursor(self, name: str, cursor: str) -> None:
        """Durably remember a forwarder's ``cursor`` under ``name``."""
        ...

    def close(self) -> None: ...
