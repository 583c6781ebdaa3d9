"""`Responder`: an incident in, the decisions and notifications its policies call for out.

Pure: no I/O and no clock (``now`` is passed in), so the same incident, policies and history
always give the same decisions, and a replay or a dry run is exact.

**Victims are not locked out.** An attacker who fails logins *as* a user has proven nothing but
that they know the user's name; locking that account would hand every attacker a way to lock
out any user they can name (OWASP's "account lockout" denial of service). So accounts in
``accounts_targeted`` are never acted on at all. Accounts in ``accounts_compromised`` — a login
that *succeeded* from an attacker's address — are flagged (``type="flag"``: step-up
authentication, review), never locked: the legitimate owner must still be able to get in and
reset the password, and the attacker is stopped by the address bans and by revoking the
account's sessions and tokens, which `suggest_token_revocation` recommends.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apiwatch.model import (
    AllowEntry,
    Decision,
    Incident,
    canonical_address,
    plural,
    severity_rank,
)
from apiwatch.respond.guard import AllowEntries, Guard
from apiwatch.respond.policy import Policy, ResponseConfig

__all__ = ["Decided", "Responder"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Decided:
    """What `Responder.decide` found: new decisions, values left alone and why, who to tell.

    ``skipped`` holds ``(value, reason)`` pairs (allowlisted, protected, too few attackers in a
    range ...); ``notify`` the notifier names of every matching policy, in policy order;
    ``suggestions`` advice for people (token revocation) that no machine enforces;
    ``policies`` the names of the policies that matched.
    """

    decisions: list[Decision] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)


def _no_offences(scope: str, value: str) -> int:
    return 0


def _address(value: str) -> Address | None:
    """An attacker's address, or None when it is not one (an IPv6 zone is refused: see
    `apiwatch.model.parse_address`). An IPv4-mapped address is its IPv4 address: a dual-stack
    socket's view of an IPv4 client."""
    try:
        return canonical_address(value)
    except ValueError:
        return None


class Responder:
    """Applies the configured policies to incidents; see the module docstring for the rules.

    ``allow`` adds allowlist entries (those kept in the store) to the configuration's own.
    """

    def __init__(self, config: ResponseConfig, *, allow: Iterable[AllowEntry] = ()) -> None:
        self.config = config
        self._guard = Guard(AllowEntries([*config.allow, *allow]), protected=config.protected)

    def matching(self, incident: Incident) -> list[Policy]:
        """The policies that apply to ``incident``, in configuration order."""
        attacks = set(incident.attacks)
        return [
            policy
            for policy in self.config.policies
            if severity_rank(incident.severity) >= severity_rank(policy.min_severity)
            and (
                not policy.rules
                or any(fnmatch.fnmatchcase(r, g) for r in incident.rules for g in policy.rules)
            )
            and (not policy.attacks or not attacks.isdisjoint(policy.attacks))
        ]

    def decide(
        self,
        incident: Incident,
        *,
        now: datetime,
        offences: Callable[[str, str], int] = _no_offences,
        existing: Collection[tuple[str, str]] = (),
    ) -> Decided:
        """The decisions every matching policy calls for about ``incident`` at ``now``.

        ``offences(scope, value)`` is how many earlier decisions that value has had (repeat
        offenders get ``duration * escalate ** offences``, at most ``max_duration``).
        ``existing`` holds the ``(scope, value)`` pairs already decided for this incident: an
        incident decided again after it grew yields decisions only for its new values.

        Accounts: only ``accounts_compromised`` are ever flagged, and only flagged (step-up,
        review), never locked; ``accounts_targeted`` are never acted on, because an attacker
        who merely *names* a user must not be able to get that user locked out.
        Allowlisted values and protected internal ranges are never acted on; they are
        reported in ``skipped``.
        """
        run = _Run(self, incident, now, offences, set(existing))
        for policy in self.matching(incident):
            run.apply(policy)
        return run.result

    def guard_reason(self, scope: str, value: str) -> str | None:
        """Why no decision may act on ``value`` in ``scope`` (allowlist, protected, also
        through the IPv4 address an IPv6 value carries), or None."""
        refusal = self._guard.refusal(scope, value)
        return None if refusal is None else refusal.reason


class _Run:
    """One `Responder.decide` call's state: decisions so far, skips, and the taken values."""

    def __init__(
        self,
        responder: Responder,
        incident: Incident,
        now: datetime,
        offences: Callable[[str, str], int],
        taken: set[tuple[str, str]],
    ) -> None:
        self.responder = responder
        self.incident = incident
        self.now = now
        self.offences = offences
        self.taken = taken
        self.result = Decided()
        self._skipped: set[tuple[str, str]] = set()

    def apply(self, policy: Policy) -> None:
        self.result.policies.append(policy.name)
        for name in policy.notify:
            if name not in self.result.notify:
                self.result.notify.append(name)
        if policy.action == "ban_ip":
            self._ban_addresses(policy)
        elif policy.action == "ban_range":
            self._ban_ranges(policy)
        elif policy.action == "flag_account":
            for account in self.incident.accounts_compromised:  # never accounts_targeted
                if account.strip():
                    self._decide(policy, "flag", "Username", account.strip())
        elif policy.action == "suggest_token_revocation":
            self._suggest()

    def skip(self, value: str, reason: str) -> None:
        if (value, reason) not in self._skipped:
            self._skipped.add((value, reason))
            self.result.skipped.append((value, reason))

    def _ban_addresses(self, policy: Policy) -> None:
        for attacker in self.incident.attackers:
            address = _address(attacker)
            if address is None:
                self.skip(attacker, "not an IP address")
            else:
                self._decide(policy, "ban", "Ip", str(address))

    def _ban_ranges(self, policy: Policy) -> None:
        members: dict[Network, set[Address]] = {}
        for attacker in self.incident.attackers:
            address = _address(attacker)
            if address is None:
                self.skip(attacker, "not an IP address")
                continue
            prefix = policy.range_prefix if address.version == 4 else policy.range_prefix_v6
            members.setdefault(ipaddress.ip_network((address, prefix), strict=False), set()).add(
                address
            )
        for network, addresses in sorted(members.items(), key=lambda item: _sort_key(item[0])):
            if len(addresses) < policy.min_range_attackers:
                self.skip(
                    str(network),
                    f"{plural(len(addresses), 'attacker')} in range, "
                    f"min_range_attackers is {policy.min_range_attackers}",
                )
            else:
                self._decide(policy, "ban", "Range", str(network))

    def _suggest(self) -> None:
        accounts = self.incident.accounts_compromised
        if accounts:
            text = (
                "revoke the sessions and API tokens of "
                f"{plural(len(accounts), 'compromised account')} and have their owners reset "
                f"their passwords: {', '.join(accounts)}"
            )
        elif "token_reuse" in self.incident.attacks:
            text = "revoke the token or session used from many addresses (see the incident)"
        else:
            return
        if text not in self.result.suggestions:
            self.result.suggestions.append(text)

    def _decide(self, policy: Policy, kind: str, scope: str, value: str) -> None:
        if (scope, value) in self.taken:
            return  # already decided for this incident, by an earlier call or policy
        reason = self.responder.guard_reason(scope, value)
        if reason is not None:
            self.skip(value, reason)
            return
        self.taken.add((scope, value))
        offences = max(self.offences(scope, value), 0)
        seconds = _escalated(policy, offences)
        incident = self.incident
        if kind == "flag":
            why = "login succeeded from an attacker's address: require step-up authentication"
        else:
            why = f"{incident.title} ({incident.severity})"
        self.result.decisions.append(
            Decision(
                id=0,
                type=kind,
                scope=scope,
                value=value,
                created=self.now,
                until=self.now + timedelta(seconds=seconds),
                origin="apiwatch",
                scenario=incident.rules[0] if incident.rules else "",
                reason=f"{policy.name}: {why}; offence {offences + 1}",
                incident=incident.id,
                simulated=self.responder.config.dry_run,
            )
        )


def _escalated(policy: Policy, offences: int) -> float:
    """``duration * escalate ** offences``, capped at ``max_duration`` (without overflowing)."""
    seconds = policy.duration
    for _ in range(offences):
        if seconds >= policy.max_duration or policy.escalate == 1.0:
            break
        seconds *= policy.escalate
    return min(seconds, policy.max_duration)


def _sort_key(network: Network) -> tuple[int, int, int]:
    return (network.version, int(network.network_address), network.prefixlen)
