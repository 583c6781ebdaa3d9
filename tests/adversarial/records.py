"""The records the generator builds: one `Request` per HTTP request (both formats render it),
the app's own `Audit` events (ECS only), and each scenario's `Truth`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

__all__ = ["Audit", "Request", "Truth"]


@dataclass(frozen=True, slots=True)
class Audit:
    """An event the app reports itself through ``apiwatch.audit`` (only the sensor sees it)."""

    action: str
    user: str
    outcome: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as nginx proxied it to the app, and what the sensor knows of it.

    ``at`` is seconds since the start of the log. ``action`` is the sensor's classification of
    the request event; ``user`` the account the sensor puts in ``user.name`` (the tried account
    on a login route, else the authenticated one); ``audit`` the app's own events.
    """

    at: float
    ip: str
    method: str
    path: str
    status: int
    agent: str
    scenario: str
    query: str = ""
    route: str | None = None
    action: str = "http_request"
    user: str | None = None
    user_id: str | None = None
    token: str | None = None
    session: str | None = None
    body_bytes: int = 0
    referer: str = "-"
    audit: tuple[Audit, ...] = ()


@dataclass(slots=True)
class Truth:
    """Ground truth of one scenario.

    ``attack`` scenarios name their attacker addresses, targeted and compromised accounts and the
    objects they exposed; benign ones (``attack`` False) name the addresses and accounts that must
    never be flagged. ``login_attack`` marks the classes whose attacker-IP recall is measured.
    ``formats`` lists the log formats in which the attack can be told apart at all: a
    ``combined`` access log has no account and no credential, so a takeover or a replayed token
    leaves there only requests the owner could have made (`apiwatch audit` names both
    detections as impossible on such a log, with the fix).
    """

    name: str
    attack: bool
    description: str
    login_attack: bool = False
    formats: frozenset[str] = frozenset({"ecs", "nginx"})
    attacker_ips: set[str] = field(default_factory=set)
    targeted_accounts: set[str] = field(default_factory=set)
    compromised_accounts: set[str] = field(default_factory=set)
    exposed_objects: set[str] = field(default_factory=set)
    own_objects: set[str] = field(default_factory=set)
    benign_ips: set[str] = field(default_factory=set)
    benign_accounts: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, sets sorted."""
        out: dict[str, object] = {}
        for one in fields(self):
            value = getattr(self, one.name)
            out[one.name] = sorted(value) if isinstance(value, (set, frozenset)) else value
        return out
