"""What people are told about an incident: a `Message`, and the `Notifier` that delivers it.

A `Message` is built from an `Incident` and the decisions taken about it. It carries the
incident's extent the way a person on call needs it: severity, first and last seen, the
attackers (count and the first 20), how many accounts were targeted, **every compromised account
by name** (those are the people to contact), objects exposed, decisions, suggestions, and a link
to ``{base_url}/v1/incidents/{id}``. Text is rendered from a `string.Template` (``$title``,
``$severity`` ...; see `TEMPLATE_FIELDS`), which each notifier may replace.

Every value that could come from an attacker (account names, object references) is cleaned of
control characters before it reaches a template, so a crafted user name cannot forge lines in an
email, a Slack message or a syslog record.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from apiwatch.model import ApiwatchError, Decision, Incident, go_duration
from apiwatch.model.text import safe_line

__all__ = [
    "DEFAULT_TEMPLATE",
    "MAX_LISTED",
    "TEMPLATE_FIELDS",
    "MemoryNotifier",
    "Message",
    "Notifier",
    "NotifyError",
    "check_template",
    "clean",
    "describe_decision",
]

MAX_LISTED: Final = 20
"""Attackers and exposed objects listed by value in a message; the rest are counted."""

_MAX_VALUE: Final = 200

DEFAULT_TEMPLATE: Final = """\
$kind: $title
Severity: $severity
First seen: $first_seen    Last seen: $last_seen
Attackers ($attackers_count): $attackers
Accounts targeted: $accounts_targeted_count
Accounts compromised ($accounts_compromised_count): $accounts_compromised
Objects exposed ($objects_exposed_count): $objects_exposed
Decisions:
$decisions
$suggestions
$link
"""

TEMPLATE_FIELDS: Final = frozenset(
    {
        "kind",
        "subject",
        "incident",
        "title",
        "severity",
        "first_seen",
        "last_seen",
        "attackers",
        "attackers_count",
        "accounts_targeted_count",
        "accounts_compromised",
        "accounts_compromised_count",
        "objects_exposed",
        "objects_exposed_count",
        "decisions",
        "decisions_count",
        "suggestions",
        "changes",
        "attacks",
        "rules",
        "requests",
        "link",
    }
)
"""The ``$names`` a template may use."""


class NotifyError(ApiwatchError):
    """A notification could not be delivered; the message names the notifier, never a secret."""


def clean(value: str) -> str:
    """``value`` without control or bidi characters, and at most 200 characters long."""
    return safe_line(value, _MAX_VALUE)


def check_template(template: str) -> None:
    """Raise ValueError naming what is wrong with ``template`` (``""`` is the default)."""
    parsed = string.Template(template)
    if not parsed.is_valid():
        raise ValueError("invalid placeholder (write $name or ${name}; $$ for a dollar sign)")
    unknown = sorted(set(parsed.get_identifiers()) - TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown field ${unknown[0]} (known: {', '.join(sorted(TEMPLATE_FIELDS))})"
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _listed(values: Sequence[str], total: int) -> str:
    if not values:
        return "none"
    more = total - len(values)
    return ", ".join(values) + (f" (+{more} more)" if more > 0 else "")


def describe_decision(decision: Decision) -> str:
    """One line for a person: ``ban Ip 203.0.113.9 for 4h0m0s (until ...)``."""
    verb = f"would {decision.type}" if decision.simulated else decision.type
    what = "account" if decision.scope == "Username" else decision.scope
    span = go_duration((decision.until - decision.created).total_seconds())
    return f"{verb} {what} {clean(decision.value)} for {span} (until {_iso(decision.until)})"


@dataclass(frozen=True, slots=True)
class Message:
    """One notification about one incident (the first, or an ``update`` with its ``changes``)."""

    incident: str
    title: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    link: str
    attackers: tuple[str, ...] = ()
    attackers_count: int = 0
    accounts_targeted_count: int = 0
    accounts_compromised: tuple[str, ...] = ()
    objects_exposed: tuple[str, ...] = ()
    objects_exposed_count: int = 0
    decisions: tuple[Decision, ...] = ()
    suggestions: tuple[str, ...] = ()
    attacks: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    requests: int = 0
    update: bool = False
    changes: tuple[str, ...] = field(default=())

    @classmethod
    def build(
        cls,
        incident: Incident,
        decisions: Iterable[Decision] = (),
        *,
        base_url: str,
        suggestions: Iterable[str] = (),
        update: bool = False,
        changes: Iterable[str] = (),
    ) -> Message:
        """The message for ``incident`` with the decisions taken about it."""
        return cls(
            incident=incident.id,
            title=clean(incident.title),
            severity=incident.severity,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            link=f"{base_url.rstrip('/')}/v1/incidents/{incident.id}",
            attackers=tuple(clean(a) for a in incident.attackers[:MAX_LISTED]),
            attackers_count=len(incident.attackers),
            accounts_targeted_count=len(incident.accounts_targeted),
            accounts_compromised=tuple(clean(a) for a in incident.accounts_compromised),
            objects_exposed=tuple(clean(o) for o in incident.objects_exposed[:MAX_LISTED]),
            objects_exposed_count=len(incident.objects_exposed),
            decisions=tuple(decisions),
            suggestions=tuple(map(safe_line, suggestions)),
            attacks=incident.attacks,
            rules=tuple(incident.rules),
            requests=incident.requests,
            update=update,
            changes=tuple(changes),
        )

    @property
    def kind(self) -> str:
        """``Incident`` or ``Incident update``."""
        return "Incident update" if self.update else "Incident"

    @property
    def subject(self) -> str:
        """A one-line summary: ``[apiwatch] HIGH incident: Credential stuffing ...``."""
        label = "update" if self.update else "incident"
        return f"[apiwatch] {self.severity.upper()} {label}: {self.title}"

    def fields(self) -> dict[str, str]:
        """The template fields (`TEMPLATE_FIELDS`), as text."""
        decisions = "\n".join(f"- {describe_decision(d)}" for d in self.decisions) or "- none"
        suggestions = "\n".join(f"Suggested: {s}" for s in self.suggestions)
        return {
            "kind": self.kind,
            "subject": self.subject,
            "incident": self.incident,
            "title": self.title,
            "severity": self.severity,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "attackers": _listed(self.attackers, self.attackers_count),
            "attackers_count": str(self.attackers_count),
            "accounts_targeted_count": str(self.accounts_targeted_count),
            "accounts_compromised": _listed(self.accounts_compromised, 0),
            "accounts_compromised_count": str(len(self.accounts_compromised)),
            "objects_exposed": _listed(self.objects_exposed, self.objects_exposed_count),
            "objects_exposed_count": str(self.objects_exposed_count),
            "decisions": decisions,
            "decisions_count": str(len(self.decisions)),
            "suggestions": suggestions,
            "changes": ", ".join(self.changes) or "none",
            "attacks": ", ".join(self.attacks) or "none",
            "rules": ", ".join(self.rules) or "none",
            "requests": str(self.requests),
            "link": self.link,
        }

    def render(self, template: str = "") -> str:
        """The text of ``template`` (`DEFAULT_TEMPLATE` when empty) filled in for this message."""
        text = string.Template(template or DEFAULT_TEMPLATE).substitute(self.fields())
        if self.update and self.changes and not template:
            text = f"Changed: {', '.join(self.changes)}\n{text}"
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The message as JSON-ready data (webhook bodies): decisions as their record form."""
        return {
            "event": "incident.updated" if self.update else "incident.opened",
            "incident": {
                "id": self.incident,
                "title": self.title,
                "severity": self.severity,
                "first_seen": _iso(self.first_seen),
                "last_seen": _iso(self.last_seen),
                "attackers": list(self.attackers),
                "attackers_count": self.attackers_count,
                "accounts_targeted_count": self.accounts_targeted_count,
                "accounts_compromised": list(self.accounts_compromised),
                "objects_exposed": list(self.objects_exposed),
                "objects_exposed_count": self.objects_exposed_count,
                "attacks": list(self.attacks),
                "rules": list(self.rules),
                "requests": self.requests,
                "link": self.link,
            },
            "decisions": [
                {
                    "type": d.type,
                    "scope": d.scope,
                    "value": d.value,
                    "until": _iso(d.until),
                    "duration": go_duration((d.until - d.created).total_seconds()),
                    "simulated": d.simulated,
                    "reason": d.reason,
                }
                for d in self.decisions
            ],
            "suggestions": list(self.suggestions),
            "changes": list(self.changes),
        }


class Notifier(Protocol):
    """Delivers a message somewhere people read it; raises (`NotifyError`) when it could not."""

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise."""


class MemoryNotifier:
    """A `Notifier` that keeps what it is sent (tests, dry runs); fails the first ``fail`` sends."""

    def __init__(self, *, fail: int = 0) -> None:
        self.messages: list[Message] = []
        self.fail = fail
        self.attempts = 0
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        """Record ``message`` (or raise `NotifyError` while failures remain)."""
        with self._lock:
            self.attempts += 1
            if self.fail > 0:
                self.fail -= 1
                raise NotifyError("memory: failing on purpose")
            self.messages.append(message)
