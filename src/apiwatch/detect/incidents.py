"""Alerts merged into incidents, and each incident's extent.

A finding joins the open incident that already names one of its attackers (an incident is open
until ``gap`` of event time passes with no activity), or for an IPv6 attacker, one that names an
address of its /64 (one host rotating its addresses: a scanner's request joins the stuffing its
/64 does, as the per-source rules' /64 aggregates do); a finding without attackers (a silent
source) joins the incident of the same rule and group. Otherwise it opens a new incident.

Extent is gathered from the events themselves, not only from alerts: every event from an open
incident's attacker is counted, and

- a failed login adds its account to ``accounts_targeted``;
- a successful login adds the account to ``accounts_compromised`` when the incident has a rule
  whose ``extent`` includes ``accounts`` (credential attacks: a BOLA prober logging into its own
  account is not a compromise), the source has attack evidence of its own (`LoginMemory.judge`:
  never by merely being in an incident) and the account had never logged in from there before;
  or when a rule whose ``extent`` includes ``compromised`` (a takeover with persistence: a login
  from somewhere new, then the e-mail or password changed) names the account itself;
- a 2xx answer to an object under a route being enumerated (rules with ``extent: [objects]``)
  adds that `ExposedObject` to ``objects_exposed``, unless the source read that object before the
  incident began (its own).

Who is *not* an attacker: a crowd of real users (`LoginMemory.is_crowd`) in a credential
incident, and, in a token or session reuse incident, the victim (the address where the token was
first used, and the addresses its owner logs in from).

Each attacker and account carries its evidence: a short human-readable list of why, refreshed
from the login memory when the incident is taken (``Incident.attacker_evidence`` and
``Incident.account_evidence``).

Sources that become attackers late are looked back on: the last ``lookback`` of their successful
logins and 2xx object reads (a few per source, bounded) are applied when they join.

Memory: with ``keep_closed=False`` (a long-running service, whose incidents are saved as they
change) a closed incident is forgotten at the sweep after it closes, once it has been taken;
a finding that outlives its forgotten incident opens a new one, under a new id. With
``keep_closed=True`` (an offline scan, which lists every incident at the end) all are kept.
"""

from __future__ import annotations

import sys
from typing import Any, Final, NamedTuple

from apiwatch.detect.behaviour import LoginMemory, home
from apiwatch.detect.fields import Record
from apiwatch.detect.findings import Finding, stable_id, to_datetime
from apiwatch.model.alert import ExposedObject, Incident, attack_tag, severity_rank

__all__ = ["SIGNATURES", "IncidentTracker"]

_CAP: Final = 10_000
_RECENT_PER_SOURCE: Final = 8
_CREDENTIALS: Final = ("labels.token_id", "labels.session_id")
SIGNATURES: Final = frozenset({"scanner"})
"""Attacks told by what a request says, not by volume or variety: a crowd may send them too."""


class _Open:
    """An incident while it is being built."""

    __slots__ = (
        "account_evidence",
        "accounts",
        "agents",
        "alerts",
        "attackers",
        "compromised",
        "evidence",
        "exposed",
        "first",
        "id",
        "judged",
        "last",
        "levels",
        "logins",
        "named",
        "proven",
        "requests",
        "routes",
        "rules",
        "signed",
        "stale",
        "tags",
        "title",
        "track_accounts",
        "track_objects",
        "tries",
    )

    def __init__(self, finding: Finding, incident_id: str = "") -> None:
        meta = finding.meta
        self.id = incident_id or stable_id("inc", finding.id)
        self.title = meta.title
        self.first = finding.first
        self.last = finding.last
        self.rules: list[str] = []
        self.levels: list[str] = []
        self.tags: set[str] = set()
        self.alerts = 0
        self.attackers: set[str] = set()
        self.agents: set[str] = set()
        self.accounts: set[str] = set()
        self.compromised: set[str] = set()
        self.exposed: set[ExposedObject] = set()
        self.routes: set[str] = set()
        self.requests = 0
        self.track_accounts = False
        self.track_objects = False
        self.evidence: dict[str, list[str]] = {}
        self.account_evidence: dict[str, list[str]] = {}
        self.named: dict[str, list[str]] = {}  # attacker -> why the rule that named it did
        self.stale: set[str] = set()  # attackers whose evidence changed since it was written
        self.judged: set[str] = set()  # attackers named on their own evidence alone
        self.proven: set[str] = set()  # accounts a takeover rule itself saw taken over
        self.signed: set[str] = set()  # attackers named by a signature (`SIGNATURES`)
        self.logins: dict[str, tuple[str, float]] = {}  # account -> its login from an attacker
        self.tries: dict[str, list[Any]] = {}  # account -> [failures from attackers, first one]

    def severity(self) -> str:
        level = max(self.levels, key=severity_rank)
        if self.compromised or self.exposed:
            return "critical" if severity_rank(level) >= severity_rank("high") else "high"
        return level

    def to_incident(self) -> Incident:
        return Incident(
            id=self.id,
            title=self.title,
            severity=self.severity(),
            first_seen=to_datetime(self.first),
            last_seen=to_datetime(self.last),
            rules=list(self.rules),
            alerts=self.alerts,
            attackers=sorted(self.attackers),
            user_agents=sorted(self.agents),
            accounts_targeted=sorted(self.accounts),
            accounts_compromised=sorted(self.compromised),
            objects_exposed=sorted(map(str, self.exposed)),
            requests=self.requests,
            tags=sorted(self.tags),
            attacker_evidence={
                ip: list(self.evidence.get(ip, ())) for ip in sorted(self.attackers)
            },
            account_evidence=self._account_evidence(),
        )

    def _account_evidence(self) -> dict[str, list[str]]:
        out = {}
        for account in sorted(self.accounts):
            why = list(self.account_evidence.get(account, ()))
            tried = self.tries.get(account)
            if tried is not None:
                n, ip = tried
                why.append(
                    f"{n} failed login{'s' if n != 1 else ''} from attacking addresses (first {ip})"
                )
            elif account not in self.compromised:
                why.append("failed logins from the attack")
            out[account] = why
        return out


class IncidentTracker:
    """Groups findings into incidents and follows their attackers' events."""

    def __init__(
        self,
        *,
        gap: float = 1800.0,
        lookback: float = 1800.0,
        max_sources: int = 200_000,
        keep_closed: bool = True,
        memory: LoginMemory | None = None,
    ):
        self.memory = memory if memory is not None else LoginMemory()
        self.gap = gap
        self.lookback = lookback
        self.max_sources = max_sources
        self.keep_closed = keep_closed
        self.incidents: dict[str, _Open] = {}
        self.by_ip: dict[str, _Open] = {}
        self.by_net: dict[str, _Open] = {}  # IPv6 /64 -> the incident of an attacker in it
        self.by_group: dict[tuple[str, tuple[tuple[str, str], ...]], _Open] = {}
        self.recent: dict[str, list[Seen]] = {}
        self.dirty: dict[str, _Open] = {}

    # -- findings ------------------------------------------------------------------------------

    def on_finding(self, finding: Finding) -> None:
        """A finding was raised or updated."""
        incident = self.incidents.get(finding.incident) if finding.incident else None
        news, objects = finding.take_news()
        if incident is None:
            if finding.incident:  # its incident was forgotten: the new one gets all it knows
                news = [*_extent(finding), *news]
                objects = [*finding.objects, *objects]
            incident = self._join(finding)
            finding.incident = incident.id
            self._account(incident, finding)
        if incident.track_objects:
            # Routes first: looking back on an attacker needs to know what is being enumerated.
            routes = {obj.route for obj in objects}
            if not routes <= incident.routes:
                incident.routes |= routes
                for ip in incident.attackers:
                    self._look_back(incident, ip)
        for kind, value in news:
            if kind == "attacker":
                if self._vetted(finding, value):
                    incident.named.setdefault(value, _named(finding, value))
                    if not finding.group or _on_login_evidence(finding):
                        incident.judged.add(value)
                    if finding.meta.attack in SIGNATURES:
                        incident.signed.add(value)
                    self._add_attacker(incident, value)
            elif kind == "account" and len(incident.accounts) < _CAP:
                incident.accounts.add(value)
                self._proven(incident, finding, value)
            elif kind == "agent" and len(incident.agents) < 100:
                incident.agents.add(value)
        incident.last = max(incident.last, finding.last)
        incident.first = min(incident.first, finding.first)
        self.dirty[incident.id] = incident

    def _join(self, finding: Finding) -> _Open:
        t = finding.last
        attackers = sorted(finding.attackers)
        for ip in attackers:
            found = self.by_ip.get(ip)
            if found is not None and t - found.last <= self.gap:
                return found
        for ip in attackers:  # an IPv6 address joins the incident of its /64 (one host)
            if ":" in ip:
                found = self.by_net.get(home(ip))
                if found is not None and t - found.last <= self.gap:
                    return found
        if not finding.attackers:
            key = (finding.meta.key, tuple(sorted(finding.group.items())))
            found = self.by_group.get(key)
            if found is not None and t - found.last <= self.gap:
                return found
            incident = self._new(finding)
            self.by_group[key] = incident
            return incident
        return self._new(finding)

    def _new(self, finding: Finding) -> _Open:
        # A finding whose incident was forgotten (closed) opens one under a new id: its first
        # id is taken, and reusing it would overwrite the saved incident with a smaller one.
        renewed = stable_id("inc", finding.id, finding.last) if finding.incident else ""
        incident = _Open(finding, renewed)
        self.incidents[incident.id] = incident
        return incident

    def _account(self, incident: _Open, finding: Finding) -> None:
        meta = finding.meta
        incident.alerts += 1
        if meta.key not in incident.rules:
            incident.rules.append(meta.key)
            incident.levels.append(meta.level)
            if severity_rank(meta.level) > severity_rank(
                max(incident.levels[:-1] or ["informational"], key=severity_rank)
            ):
                incident.title = meta.title
        incident.tags.update(meta.tags)
        if meta.attack:
            incident.tags.add(attack_tag(meta.attack))
        if "accounts" in meta.extent and not incident.track_accounts:
            incident.track_accounts = True
            for ip in incident.attackers:
                self._look_back(incident, ip)
        if "objects" in meta.extent:
            incident.track_objects = True

    def _vetted(self, finding: Finding, ip: str) -> bool:
        """Whether ``finding`` may name ``ip`` an attacker: never a crowd of real users (but for
        a signature, such as an exploit string, whoever sends it), never the victim of a token
        or session reuse."""
        if finding.meta.attack not in SIGNATURES and self.memory.is_crowd(ip):
            return False
        for name in _CREDENTIALS:
            credential = finding.group.get(name)
            if credential is not None and self.memory.victim(credential, ip):
                return False
        return True

    def _add_attacker(self, incident: _Open, ip: str) -> None:
        if ip in incident.attackers or len(incident.attackers) >= _CAP:
            return
        incident.attackers.add(ip)
        incident.stale.add(ip)
        self.by_ip[ip] = incident
        if ":" in ip:
            self.by_net[home(ip)] = incident
        self._look_back(incident, ip)

    def _look_back(self, incident: _Open, ip: str) -> None:
        horizon = incident.first - self.lookback
        for seen in self.recent.get(ip, ()):
            if seen.t >= horizon:
                self._apply(incident, ip, seen)
        if incident.track_accounts:
            self._look_back_logins(incident, ip, horizon)

    def _look_back_logins(self, incident: _Open, ip: str, horizon: float) -> None:
        """The accounts ``ip`` got into since ``horizon``, as the login memory keeps them (the
        look-back memory forgets a source idle for ``lookback``: a stuffing address that hit,
        and failed another account an hour later)."""
        history = self.memory.sources.get(ip)
        if history is None or not history.succeeded or len(incident.compromised) >= _CAP:
            return
        where = home(ip)
        for account in history.succeeded:
            if account in incident.logins:
                continue
            t = self.memory.accounts.get(account, {}).get(where)
            if t is not None and t >= horizon:
                self._compromise(incident, ip, t, account)

    def _apply(self, incident: _Open, ip: str, seen: Seen) -> None:
        if isinstance(seen, Login):
            if incident.track_accounts and len(incident.compromised) < _CAP:
                self._compromise(incident, ip, seen.t, seen.account)
        elif (
            incident.track_objects
            and len(incident.exposed) < _CAP
            and seen.route in incident.routes
            and not self._own(ip, seen, incident.first)
        ):
            incident.exposed.add(ExposedObject(seen.route, seen.id))

    def _compromise(self, incident: _Open, ip: str, t: float, account: str) -> None:
        """A successful login from an attacker is a candidate compromise, judged now and again
        as the source's evidence grows (`LoginMemory.took_over`). A later login from another
        address replaces a candidate that was not a compromise (the owner got in during the
        attack; the attacker's own success comes after)."""
        known = incident.logins.get(account)
        if known is None and len(incident.logins) >= _CAP:
            return
        if known is None or (known[0] != ip and account not in incident.compromised):
            incident.logins[account] = (ip, t)
        self._judge_login(incident, account)

    def _judge_login(self, incident: _Open, account: str) -> None:
        ip, t = incident.logins[account]
        if self.memory.took_over(ip, account, t):
            incident.compromised.add(account)
            incident.accounts.add(account)
            incident.account_evidence[account] = [
                f"logged in from {ip}, an attacking address it had never been used from",
                "guessed, or used for seconds and left: no owner's session",
            ]
        elif account in incident.compromised and account not in incident.proven:
            incident.compromised.discard(account)
            incident.account_evidence.pop(account, None)

    def _proven(self, incident: _Open, finding: Finding, account: str) -> None:
        """An account a rule with ``extent: [compromised]`` (a takeover with persistence) saw
        taken over: compromised on that rule's evidence, whatever its source's own."""
        if "compromised" not in finding.meta.extent or len(incident.compromised) >= _CAP:
            return
        incident.proven.add(account)
        incident.compromised.add(account)
        incident.account_evidence[account] = [f"{finding.meta.title}: {finding.meta.description}"]

    def _own(self, ip: str, read: Read, begin: float) -> bool:
        """Whether ``ip`` read the object of ``read`` successfully before ``begin`` (its own)."""
        return any(
            isinstance(seen, Read) and seen[1:] == read[1:] and seen.t < begin
            for seen in self.recent.get(ip, ())
        )

    # -- events --------------------------------------------------------------------------------

    def on_event(self, record: Record, t: float) -> None:
        """Follow one event: extent of an open incident, and the look-back memory."""
        values = record.values
        ip = values.get("source.ip")
        if ip is None:
            return
        seen = _seen(values, t)
        incident = self.by_ip.get(ip)
        if incident is not None and t - incident.last <= self.gap:
            incident.requests += 1
            incident.last = max(incident.last, t)
            login = values.get("apiwatch.login")
            if ip in incident.attackers:
                incident.stale.add(ip)
            if login == "fail":
                account = values.get("user.name")
                if account is not None and len(incident.accounts) < _CAP:
                    incident.accounts.add(account)
                    self._tried(incident, account, ip)
            if seen is not None:
                self._apply(incident, ip, seen)
            self.dirty[incident.id] = incident
        if seen is not None:
            self._remember(ip, seen)

    @staticmethod
    def _tried(incident: _Open, account: str, ip: str) -> None:
        tried = incident.tries.get(account)
        if tried is None:
            incident.tries[account] = [1, ip]
        else:
            tried[0] += 1

    def _refresh(self, incident: _Open) -> None:
        """Rewrite the evidence of the attackers whose logins changed. One named on its own
        evidence alone (by an all-traffic rule) whose evidence is gone is no attacker after all
        (the owner who failed twice and then got in); nor is one that turned out to be a crowd
        of real users, unless a signature named it."""
        if not incident.stale:
            return
        for ip in incident.stale:
            verdict = self.memory.judge(ip)
            gone = ip in incident.judged and not verdict.attacker
            if gone or (verdict.crowd and ip not in incident.signed):
                self._drop_attacker(incident, ip)  # its evidence is gone, or it is a crowd
                continue
            why = list(incident.named.get(ip, ["named by the incident's rules"]))
            why.extend(verdict.reasons)
            incident.evidence[ip] = why
        for account, (ip, _) in list(incident.logins.items()):
            if ip in incident.stale:
                self._judge_login(incident, account)
        incident.stale = set()

    def _drop_attacker(self, incident: _Open, ip: str) -> None:
        incident.attackers.discard(ip)
        incident.judged.discard(ip)
        incident.evidence.pop(ip, None)
        for account, (by, _) in list(incident.logins.items()):
            if by == ip:
                del incident.logins[account]
                incident.compromised.discard(account)
                incident.account_evidence.pop(account, None)
        if self.by_ip.get(ip) is incident:
            del self.by_ip[ip]
        if ":" in ip and self.by_net.get(home(ip)) is incident:
            del self.by_net[home(ip)]

    def _remember(self, ip: str, seen: Seen) -> None:
        recent = self.recent.get(ip)
        if recent is None:
            if len(self.recent) >= self.max_sources:
                for old in list(self.recent)[: self.max_sources // 2]:
                    del self.recent[old]
            recent = self.recent[ip] = []
        recent.append(seen)
        if len(recent) > _RECENT_PER_SOURCE:
            # Object reads go first: an attacker who got in browses the account right away, and
            # those reads must not push out the successful login that names the compromise.
            for index, item in enumerate(recent):
                if isinstance(item, Read):
                    del recent[index]
                    break
            else:
                del recent[0]

    def sweep(self, now: float) -> None:
        """Forget closed incidents' attacker index and stale look-back memory."""
        closed = [ip for ip, inc in self.by_ip.items() if now - inc.last > self.gap]
        for ip in closed:
            del self.by_ip[ip]
        for net in [net for net, inc in self.by_net.items() if now - inc.last > self.gap]:
            del self.by_net[net]
        stale = [ip for ip, items in self.recent.items() if now - items[-1].t > self.lookback]
        for ip in stale:
            del self.recent[ip]
        if not self.keep_closed:
            self._forget_closed(now)

    def _forget_closed(self, now: float) -> None:
        """Drop closed incidents not waiting to be taken, and their group index entries."""
        gone = {
            key
            for key, incident in self.incidents.items()
            if now - incident.last > self.gap and key not in self.dirty
        }
        if not gone:
            return
        for key in gone:
            del self.incidents[key]
        for group in [g for g, incident in self.by_group.items() if incident.id in gone]:
            del self.by_group[group]

    def take(self) -> list[Incident]:
        """Incidents changed since the last call."""
        out = []
        for incident in self.dirty.values():
            self._refresh(incident)
            out.append(incident.to_incident())
        self.dirty = {}
        return out

    def all(self) -> list[Incident]:
        for incident in self.incidents.values():
            self._refresh(incident)
        return [incident.to_incident() for incident in self.incidents.values()]

    def sources(self) -> int:
        return len(self.by_ip) + len(self.by_net) + len(self.recent)


_LOGIN_ATTACKS: Final = frozenset(
    {
        "brute_force",
        "credential_stuffing",
        "distributed_credential_stuffing",
        "password_spraying",
        "account_takeover",
    }
)


def _on_login_evidence(finding: Finding) -> bool:
    """Whether the sources a finding names stay attackers only on their own login evidence: a
    login attack grouped by account names whoever failed that account, its owner's typo too;
    not so a takeover rule that saw the account taken over itself."""
    meta = finding.meta
    return (
        "user.name" in finding.group
        and meta.attack in _LOGIN_ATTACKS
        and "compromised" not in meta.extent
    )


def _named(finding: Finding, ip: str) -> list[str]:
    """Why ``finding`` names ``ip``: its rule, and for a rule about that one source, its count;
    then the reasons the rule gave, if any."""
    reasons = finding.reasons.get(ip, []) if finding.reasons is not None else []
    return [_rule_named(finding, ip), *reasons]


def _rule_named(finding: Finding, ip: str) -> str:
    """The rule that named ``ip``, with its count or the credential it is about."""
    group = finding.group
    if group.get("source.ip") == ip or group.get("apiwatch.actor") == ip:
        counted = finding.meta.counted
        what = f"distinct {counted} values" if counted else "events"
        return f"{finding.meta.key}: {finding.count} {what} from this address"
    for name in _CREDENTIALS:
        if name in group:
            return f"{finding.meta.key}: used {name.rpartition('.')[2]} {group[name][:12]}"
    if not group:
        return f"{finding.meta.key}: part of the surge across all traffic"
    return f"{finding.meta.key}: took part"


def _extent(finding: Finding) -> list[tuple[str, str]]:
    """Everything ``finding`` has gathered, as the news it once gave."""
    return [
        *(("attacker", value) for value in sorted(finding.attackers)),
        *(("account", value) for value in sorted(finding.accounts)),
        *(("agent", value) for value in sorted(finding.agents)),
    ]


class Login(NamedTuple):
    """A successful login to ``account`` at ``t``, as the look-back memory keeps it."""

    t: float
    account: str


class Read(NamedTuple):
    """A 2xx answer at ``t`` to the object ``id`` under ``route``, as the look-back memory keeps
    it: one flat tuple, since the memory holds a few for each of up to ``max_sources``."""

    t: float
    route: str
    id: str


Seen = Login | Read
"""What the look-back memory keeps of a source's event."""


def _seen(values: dict[str, Any], t: float) -> Seen | None:
    """The successful login or 2xx object read ``values`` record at ``t``, if any."""
    if values.get("apiwatch.login") == "success":
        account = values.get("user.name")
        return None if account is None else Login(t, account)
    oid = values.get("apiwatch.object_id")
    if oid is not None:
        status = values.get("http.response.status_code")
        if isinstance(status, int) and 200 <= status < 300:
            # `exposed_object`'s route and id, without making the object
            return Read(t, sys.intern(str(values.get("apiwatch.route"))), str(oid))
    return None
