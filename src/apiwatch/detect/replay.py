"""**replay** — a bearer token or session cookie replayed from elsewhere while its owner keeps
using it (an apiwatch extension, `ReplayRule`).

A stolen credential shows as soon as it is used from two places at once, however few. Per
credential (the rule's ``group-by``: ``labels.token_id`` or ``labels.session_id``) the state
keeps

- its **owner's** uses: from the address where it was first used or an address its owner logged
  in from (`LoginMemory.victim`: the victim's), or from a network those used it from; their
  networks and clients. A network is the autonomous system when the event says
  (``source.as.number``) and the /16 (IPv4) or /48 (IPv6); a client is the user agent. A use
  with one of the owner's clients from another network is the owner's too (a phone leaving the
  home wifi for its carrier), and so is another client on the owner's network (a laptop and a
  phone at home);
- its **foreign** uses: from an address on a network the owner never used it from, with a
  client the owner never used (at most `FOREIGN` addresses per credential).

The rule fires when a foreign address used the credential *between* two of its owner's uses
with another client, each within ``timespan`` of it: interleaved, concurrent use. A partner's
two servers share one client; a phone moving between networks keeps its client and is
sequential; a browser updated on the way (a new version from the carrier) comes home with the
new version, which closes nothing — while the old version still in use at home alongside a new
one elsewhere is two installs at once, not an update. The finding names
the foreign addresses (never the owner's: they are the victim's), the owner's account (a rule
with ``extent: [compromised]`` makes it compromised) and, per address, why in words
(`Finding.reasons`: an incident's ``attacker_evidence``). While it is active (within
``timespan`` of its last hit), a further foreign address that used the credential after one of
its owner's uses joins it at once. A crowd of real users (`LoginMemory.is_crowd`) is never named.

Bounded: at most ``max_credentials`` credentials (the oldest quarter forgotten past that), a few
networks, clients and foreign addresses each; a credential idle for ``timespan`` is swept.
"""

from __future__ import annotations

from typing import Any, Final

from apiwatch.detect.behaviour import LoginMemory
from apiwatch.detect.findings import Finding, Hit
from apiwatch.detect.profiles import device_of, network_of
from apiwatch.detect.rules import ReplayRule

__all__ = ["FOREIGN", "ReplayState"]

FOREIGN: Final = 16  # foreign addresses followed per credential
_KNOWN: Final = 8  # owner networks (and clients) remembered per credential
_AGENT_SHOWN: Final = 80


class _Use:
    """One foreign address's use of a credential."""

    __slots__ = ("agent", "before", "count", "first", "last", "network", "opened")

    def __init__(self, t: float, agent: str | None, network: str) -> None:
        self.first = t
        self.last = t
        self.count = 0
        self.agent = agent
        self.network = network
        self.opened: float | None = None  # its latest use with an owner's use just before it
        self.before = 0.0  # that owner's use


class _Credential:
    """What one credential's rule state keeps (module docstring)."""

    __slots__ = ("clients", "finding", "foreign", "last", "networks", "owner_ip", "owner_last")

    def __init__(self, t: float) -> None:
        self.last = t
        self.networks: set[str] = set()
        self.clients: set[str] = set()
        self.owner_ip = ""
        self.owner_last: float | None = None
        self.foreign: dict[str, _Use] = {}
        self.finding: Finding | None = None


class ReplayState:
    """Every credential of one replay rule (module docstring)."""

    def __init__(
        self, rule: ReplayRule, memory: LoginMemory, *, max_credentials: int = 200_000
    ) -> None:
        self.rule = rule
        self.memory = memory
        self.max_credentials = max_credentials
        self.credentials: dict[str, _Credential] = {}
        self.kind = "session cookie" if rule.group_by == "labels.session_id" else "token"

    def hit(self, hit: Hit, ref: str) -> Finding | None:  # noqa: PLR0911 - one per kind of use
        """Follow one use of a credential; the finding it raised or updated."""
        credential = hit.values.get(self.rule.group_by)
        ip = hit.ip
        if credential is None or ip is None or hit.alert is not None:
            return None
        credential = str(credential)
        t = hit.t
        credentials = self.credentials
        state = credentials.pop(credential, None)  # re-inserted last: in order of last use
        if state is None:
            state = self._new(t)
        credentials[credential] = state
        if t > state.last:  # noqa: PLR1730 - a compare, not a call, per use
            state.last = t
        client = hit.ua
        if ip == state.owner_ip and client in state.clients:  # the owner again, as before
            if not state.foreign:  # nothing to close: `_owner` would only note the use
                state.owner_ip, state.owner_last = ip, t
                return None
            return self._owner(state, credential, ip, t, client)
        networks = _networks(hit.values, ip)
        if self.memory.victim(credential, ip) or networks & state.networks:
            _learn(state.networks, networks)
            if client is not None:
                _learn(state.clients, {client})
            return self._owner(state, credential, ip, hit.t, client)
        if client is None or not state.clients:
            return None  # no client to tell apart
        if client in state.clients:  # the owner's own client, moved
            return self._owner(state, credential, ip, hit.t, client)
        return self._foreign(state, credential, hit, " ".join(sorted(networks)))

    def _new(self, t: float) -> _Credential:
        """A credential seen for the first time (its state goes last in the table), once the
        oldest quarter is forgotten if the table is full."""
        credentials = self.credentials
        if len(credentials) >= self.max_credentials:
            for old in list(credentials)[: self.max_credentials // 4]:
                del credentials[old]
        return _Credential(t)

    def _active(self, state: _Credential, t: float) -> Finding | None:
        finding = state.finding
        if finding is not None and t - finding.last > self.rule.timespan:
            finding = state.finding = None
        return finding

    def _owner(
        self, state: _Credential, credential: str, ip: str, t: float, client: str | None
    ) -> Finding | None:
        """An owner's use: the foreign addresses it closes an interleaving for (used just before
        with another client) are named."""
        state.owner_ip, state.owner_last = ip, t
        if not state.foreign:
            return None
        span = self.rule.timespan
        due = [
            (address, use)
            for address, use in state.foreign.items()
            if use.opened is not None and 0 < t - use.opened <= span and use.agent != client
        ]
        finding = self._active(state, t)
        if finding is not None:
            due = [(address, use) for address, use in due if address not in finding.attackers]
        due = [(address, use) for address, use in due if not self.memory.is_crowd(address)]
        if not due:
            return None
        if finding is None:
            first = min(use.first for _, use in due)
            group = {self.rule.group_by: credential}
            finding = state.finding = Finding(self.rule.meta, group, t, first)
            finding.count = sum(use.count for _, use in due)
        for address, use in due:
            self._name(finding, state, credential, address, use)
        finding.last = max(finding.last, t)
        return finding

    def _foreign(
        self, state: _Credential, credential: str, hit: Hit, network: str
    ) -> Finding | None:
        """A use from a new network with a new client: followed, and named at once while the
        credential's finding is active and its owner used it just before."""
        ip, t = hit.ip or "", hit.t
        use = state.foreign.get(ip)
        if use is None:
            if len(state.foreign) >= FOREIGN:
                return None
            use = state.foreign[ip] = _Use(t, hit.ua, network)
        use.last = t
        use.count += 1
        owner = state.owner_last
        if owner is not None and t - owner <= self.rule.timespan:
            use.opened, use.before = t, owner
        finding = self._active(state, t)
        if finding is None:
            return None
        finding.count += 1
        finding.last = max(finding.last, t)
        fresh = ip not in finding.attackers and use.opened is not None
        if fresh and not self.memory.is_crowd(ip):
            self._name(finding, state, credential, ip, use)
        return finding

    def _name(
        self, finding: Finding, state: _Credential, credential: str, ip: str, use: _Use
    ) -> None:
        account = self.memory.owner.get(credential)
        whose = f" of {account}" if account else ""
        agent = use.agent or "-"
        version = any(device_of(agent) == device_of(known) for known in state.clients)
        if len(agent) > _AGENT_SHOWN:
            agent = agent[: _AGENT_SHOWN - 3] + "..."
        what = (
            "another version of its owner's client" if version else "a client its owner never used"
        )
        minutes = max(round(((use.opened or use.first) - use.before) / 60), 0)
        reasons = [
            f"the {self.kind}{whose}, used {use.count} times from {use.network}, a network its"
            " owner never used it from",
            f"with {what}: {agent}",
            f"interleaved with its owner's use from {state.owner_ip} ({minutes} min before)",
        ]
        finding.add_attacker(ip, reasons)
        finding.add_agent(use.agent)
        finding.add_account(account)

    def sweep(self, now: float) -> int:
        """Forget credentials idle for longer than the window; how many were forgotten."""
        credentials, span, dead = self.credentials, self.rule.timespan, 0
        while credentials:
            oldest = next(iter(credentials))
            if now - credentials[oldest].last <= span:
                break
            del credentials[oldest]
            dead += 1
        return dead

    def state_size(self) -> int:
        return len(self.credentials)


def _networks(values: dict[str, Any], ip: str) -> set[str]:
    """The networks of an address: its /16 or /48, and its AS when the event says."""
    out = {network_of(ip) or ip}
    number = values.get("source.as.number")
    if number is not None:
        out.add(f"AS{number}")
    return out


def _learn(known: set[str], new: set[str]) -> None:
    for value in new:
        if len(known) >= _KNOWN:
            return
        known.add(value)
