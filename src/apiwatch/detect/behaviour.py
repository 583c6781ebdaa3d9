"""What each source and account did at the login: the evidence attribution is judged on.

`LoginMemory` follows every event (bounded, in event time) and keeps, per source address, its
failed and successful logins (which accounts, whether it came back), its other requests, and,
per account, the addresses it has logged in from (its *established* addresses). The rules use it
to judge each source on its own evidence rather than on traits it shares with others:

- a **suspect** source has failed logins against accounts it never logged into nor used (a few
  typos of
  an account it then got into, or of a name close to one it got into, are excused; `GUESSES`
  failures before getting in are a guess), or, in logs that
  name no account, more failures than its successes explain;
- a **crowd** (`Verdict.crowd`) has an established population of real users: at least
  `CROWD_ACCOUNTS` distinct accounts that logged in or made answered requests from it (a token
  in use counts as much as a login; in logs that name no account, distinct user agents that logged
  in), and a failure ratio near the whole site's (never more than `CROWD_FAILURES`). A crowd is
  never an attacker, whatever its volume (an office NAT, a carrier CGNAT), nor is an IPv6
  address of a /64 that is one;
- a source whose only evidence is one account (or one anonymous failure) and that also logged in
  or sent other requests is an ordinary user, not an attacker;
- a source whose only requests were a successful login to an account never used from there and
  at most `HIT_AND_RUN` other request, all within `SCRIPTED` seconds, is a *hit and run* (a script
  checking a stolen password) when the account was used from elsewhere before, or is used from
  elsewhere since and the source stayed silent for `QUIET` seconds: evidence while a surge is
  judged, as the owner would have gone on to use the site. Until then it is `unproven`;
- every IPv6 event is also followed for its /64 as one source: an address whose own evidence is
  not enough is judged by its /64's (a tool rotating addresses inside it), unless that is a crowd.

`LoginMemory.took_over` says whether a successful login from an attacker was a compromise.

An account's *unknown* usernames are told by the app's own reason (``user not found``) or by the
timing side channel: a failure answered in under `FAST_SHARE` of the usual time for existing
accounts (the app skipped the password hash).

Each verdict carries a short human-readable list of why, which incidents keep per address.
"""

from __future__ import annotations

import ipaddress
import math
from functools import lru_cache
from typing import Any, Final

__all__ = [
    "CREDENTIALS",
    "CROWD_ACCOUNTS",
    "HIT_AND_RUN",
    "ONE_SHOT",
    "QUIET",
    "LoginMemory",
    "SourceHistory",
    "Verdict",
    "home",
]

CREDENTIALS: Final = ("labels.token_id", "labels.session_id")
"""The fields holding a bearer token's or a session cookie's fingerprint."""

CROWD_ACCOUNTS: Final = 3
FAST_SHARE: Final = 0.4
GUESSES: Final = 5
ONE_SHOT: Final = 3
HIT_AND_RUN: Final = 1
SCRIPTED: Final = 10.0  # seconds: a script checks a stolen password at once; people browse
SESSION: Final = 60.0  # seconds of use after a login that make it an owner's session
QUIET: Final = 150.0  # seconds of nothing after a hit and run on an account new to memory
CROWD_FAILURES: Final = 0.5  # a source where more logins fail than this is no crowd of users
_ACCOUNTS_PER_SOURCE: Final = 64
_ADDRESSES_PER_ACCOUNT: Final = 8
_UNKNOWN_WORDS: Final = ("unknown", "not found", "no such", "does not exist", "invalid user")


def home(ip: str) -> str:
    """Where an address's user lives: the address itself (IPv4), or its /64 (IPv6, whose
    privacy extensions give one household a new address every day)."""
    return ip if ":" not in ip else _network64(ip)


@lru_cache(maxsize=16384)
def _network64(ip: str) -> str:
    try:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    except ValueError:
        return ip


_EMPTY: Final[dict[str, int]] = {}
_EMPTY_ACTIVE: Final[dict[str, list[float]]] = {}
_NONE: Final[frozenset[str]] = frozenset()


class SourceHistory:
    """One address's logins and other requests."""

    __slots__ = (
        "active",
        "agents",
        "failed",
        "fails",
        "first",
        "guessed",
        "last",
        "mark",
        "other",
        "returns",
        "succeeded",
        "successes",
        "unknown",
    )

    def __init__(self, t: float) -> None:
        self.first = t
        self.last = t
        self.fails = 0
        self.successes = 0
        self.other = 0
        self.returns = 0
        self.unknown = 0
        # Most sources never log in: their tables are the shared empty ones below until the
        # first write (`_own`), which keeps a source that only browses small.
        self.failed: dict[str, int] = _EMPTY
        self.succeeded: dict[str, int] = _EMPTY
        # account -> [answered requests naming it from here, first, last]
        self.active: dict[str, list[float]] = _EMPTY_ACTIVE
        self.guessed: frozenset[str] = _NONE  # accounts got into after `GUESSES` failures
        self.mark = 0  # ``other`` at the last failure: what was done between it and a success
        self.agents: tuple[str, ...] = ()  # user agents that logged in from here (a few)


class Verdict:
    """Whether a source is an attacker, and why (``reasons``, human-readable)."""

    __slots__ = ("attacker", "crowd", "reasons", "suspect")

    def __init__(
        self, attacker: bool, reasons: list[str], *, crowd: bool = False, suspect: int = 0
    ) -> None:
        self.attacker = attacker
        self.reasons = reasons
        self.crowd = crowd
        self.suspect = suspect


_NO_EVIDENCE: Final = Verdict(False, [])


class LoginMemory:
    """Per-source and per-account login history (see the module docstring)."""

    def __init__(self, *, max_sources: int = 200_000, max_accounts: int = 200_000) -> None:
        self.max_sources = max_sources
        self.max_accounts = max_accounts
        self.sources: dict[str, SourceHistory] = {}  # sources that logged in or named an account
        self.requests: dict[str, int] = {}  # other sources: their requests, and nothing else
        self.accounts: dict[str, dict[str, float]] = {}  # account -> where it logged in, first
        self.in_use: dict[str, dict[str, float]] = {}  # account -> where it made requests, first
        self.login_paths: set[str] = set()  # where logins happen: requests there are no "other"
        self.first_seen: dict[str, str] = {}  # token/session fingerprint -> first address
        self.owner: dict[str, str] = {}  # token/session fingerprint -> account
        self.fails = 0
        self.successes = 0
        self.known_ms = 0.0  # moving mean of failures' answer time for existing accounts
        self.now = -math.inf  # the latest event time followed

    # -- following events ----------------------------------------------------------------------

    def see(self, values: dict[str, Any], t: float) -> None:
        """Follow one event."""
        ip = values.get("source.ip")
        if ip is None:
            return
        if t > self.now:  # noqa: PLR1730 - a compare, not a call, per event
            self.now = t
        self._follow(ip, values, t, aggregate=False)
        if ":" in ip:  # IPv6: its /64 too, judged as one source when the address alone is not
            net = _network64(ip)
            if net != ip:
                self._follow(net, values, t, aggregate=True)

    def _follow(self, ip: str, values: dict[str, Any], t: float, *, aggregate: bool) -> None:
        """Follow one event from ``ip`` (an address, or an IPv6 /64 for ``aggregate``, which
        leaves the site-wide counts and the credentials to the address)."""
        history = self.sources.get(ip)
        login = values.get("apiwatch.login")
        account = values.get("user.name")
        if history is None:
            if login is None and account is None:
                # A count is all a source that never logs in needs.
                self._anonymous(ip, values, aggregate=aggregate)
                return
            history = self._new_source(ip, t)
        history.last = t
        if login is None:
            if values.get("url.path") not in self.login_paths:
                history.other += 1
            # A password-reset or sign-up request names the account asked about, not one in use.
            if account is not None and values.get("apiwatch.flow") is None:
                status = values.get("http.response.status_code")
                session = history.active.get(account)
                if session is None:
                    self._active(history, ip, account, status, t)
                elif not isinstance(status, int) or status < 400:
                    session[0] += 1  # in use from here already (`_active`): ``in_use`` knows
                    session[2] = t
            token = values.get("labels.token_id") or values.get("labels.session_id")
            if token is not None and not aggregate:
                known = token in self.first_seen and (account is None or token in self.owner)
                if not known:  # `_credential` learns nothing of a known token and owner
                    self._credential(token, ip, account)
            return
        self._login(history, ip, login, values, t, aggregate=aggregate)

    def _login(
        self,
        history: SourceHistory,
        ip: str,
        login: str,
        values: dict[str, Any],
        t: float,
        *,
        aggregate: bool,
    ) -> None:
        """Follow a login attempt (``fail`` or ``success``) from ``ip``."""
        account = values.get("user.name")
        path = values.get("url.path")
        if path is not None and path not in self.login_paths and len(self.login_paths) < 64:
            self.login_paths.add(path)
        if login == "fail":
            self._fail(history, account, values, aggregate=aggregate)
        else:
            agent = values.get("user_agent.original")
            agents = history.agents
            if agent is not None and len(agents) < CROWD_ACCOUNTS and agent not in agents:
                history.agents = (*agents, agent)
            self._success(history, ip, account, t, aggregate=aggregate)

    def _anonymous(self, ip: str, values: dict[str, Any], *, aggregate: bool) -> None:
        """A request naming no account from a source not followed yet: counted in
        ``requests``, which its history takes over when it logs in."""
        if values.get("url.path") not in self.login_paths:
            requests = self.requests
            if ip not in requests and len(requests) >= self.max_sources:
                for old in list(requests)[: self.max_sources // 4]:
                    del requests[old]
            requests[ip] = requests.get(ip, 0) + 1
        token = values.get("labels.token_id") or values.get("labels.session_id")
        if token is not None and not aggregate:
            self._credential(token, ip, None)

    def _new_source(self, ip: str, t: float) -> SourceHistory:
        if len(self.sources) >= self.max_sources:
            for old in list(self.sources)[: self.max_sources // 4]:
                del self.sources[old]
        history = self.sources[ip] = SourceHistory(t)
        history.other = self.requests.pop(ip, 0)
        return history

    def _active(
        self, history: SourceHistory, ip: str, account: str, status: object, t: float
    ) -> None:
        """An authenticated request that was answered: the account is in use from ``ip``."""
        if isinstance(status, int) and status >= 400:
            return
        session = history.active.get(account)
        if session is not None:  # in use from here already: ``in_use`` knows it
            session[0] += 1
            session[2] = t
            return
        if len(history.active) < _ACCOUNTS_PER_SOURCE:
            if history.active is _EMPTY_ACTIVE:
                history.active = {}
            history.active[account] = [1, t, t]
        addresses = self.in_use.get(account)
        if addresses is None:
            if len(self.in_use) >= self.max_accounts:
                for old in list(self.in_use)[: self.max_accounts // 4]:
                    del self.in_use[old]
            addresses = self.in_use[account] = {}
        where = home(ip)
        if where not in addresses and len(addresses) < _ADDRESSES_PER_ACCOUNT:
            addresses[where] = t

    def _credential(self, token: str, ip: str, account: str | None) -> None:
        if token not in self.first_seen:
            if len(self.first_seen) >= self.max_accounts:
                for old in list(self.first_seen)[: self.max_accounts // 4]:
                    del self.first_seen[old]
                    self.owner.pop(old, None)
            self.first_seen[token] = ip
        if account is not None and token not in self.owner:
            self.owner[token] = account

    def _fail(
        self,
        history: SourceHistory,
        account: str | None,
        values: dict[str, Any],
        *,
        aggregate: bool,
    ) -> None:
        if not aggregate:
            self.fails += 1
        history.fails += 1
        history.mark = history.other
        if account is None:
            return
        if history.failed is _EMPTY:
            history.failed = {}
        failed = history.failed
        if account in failed or len(failed) < _ACCOUNTS_PER_SOURCE:
            failed[account] = failed.get(account, 0) + 1
        if self._unknown(account, values, learn=not aggregate):
            history.unknown += 1

    def _unknown(self, account: str, values: dict[str, Any], *, learn: bool = True) -> bool:
        """Whether the app said (or its timing told) that ``account`` does not exist."""
        reason = values.get("event.reason")
        if isinstance(reason, str) and any(w in reason.lower() for w in _UNKNOWN_WORDS):
            return True
        duration = values.get("event.duration")
        if not isinstance(duration, int | float) or duration <= 0:
            return False
        ms = duration / 1e6
        if account in self.accounts:  # it has logged in: it exists
            if learn:
                self.known_ms = ms if not self.known_ms else 0.9 * self.known_ms + 0.1 * ms
            return False
        return bool(self.known_ms) and ms < FAST_SHARE * self.known_ms

    def _success(
        self, history: SourceHistory, ip: str, account: str | None, t: float, *, aggregate: bool
    ) -> None:
        if not aggregate:
            self.successes += 1
        history.successes += 1
        if account is None:
            return
        if history.succeeded is _EMPTY:
            history.succeeded = {}
        succeeded = history.succeeded
        if account in succeeded:
            history.returns += 1
            succeeded[account] += 1
        elif len(succeeded) < _ACCOUNTS_PER_SOURCE:
            succeeded[account] = 1
            guessing = history.failed.get(account, 0) >= GUESSES and history.other == history.mark
            if guessing and not self.established(account, ip):
                # Got in straight after guessing (no password reset in between); later
                # failures for it from here are the owner's typos.
                history.guessed = history.guessed | {account}
        addresses = self.accounts.get(account)
        if addresses is None:
            if len(self.accounts) >= self.max_accounts:
                for old in list(self.accounts)[: self.max_accounts // 4]:
                    del self.accounts[old]
            addresses = self.accounts[account] = {}
        where = home(ip)
        if where not in addresses and len(addresses) < _ADDRESSES_PER_ACCOUNT:
            addresses[where] = t  # the first success from there: established after it

    # -- questions -----------------------------------------------------------------------------

    def established(self, account: str, ip: str, before: float = math.inf) -> bool:
        """Whether ``account`` logged in successfully, or made answered requests, from ``ip``
        before ``before``."""
        where = home(ip)
        for table in (self.accounts, self.in_use):
            addresses = table.get(account)
            if addresses is not None:
                at = addresses.get(where)
                if at is not None and at < before:
                    return True
        return False

    def victim(self, credential: str, ip: str) -> bool:
        """Whether ``ip`` belongs to the owner of a token or session: where it was first used,
        or where its owner has logged in from (the same /64, for IPv6)."""
        first = self.first_seen.get(credential)
        where = home(ip)
        if first is not None and home(first) == where:
            return True
        owner = self.owner.get(credential)
        return owner is not None and where in self.accounts.get(owner, ())

    def site_failure_ratio(self) -> float:
        total = self.fails + self.successes
        return self.fails / total if total else 0.0

    def is_crowd(self, ip: str) -> bool:
        """Whether ``ip`` is a crowd of real users, or (IPv6) an address of a /64 that is one."""
        history = self.sources.get(ip)
        if history is not None and self._crowd(history):
            return True
        net = self._net(ip)
        return net is not None and self._crowd(net)

    def _net(self, ip: str) -> SourceHistory | None:
        """The /64 aggregate of an IPv6 address (None for IPv4, or a /64 not followed)."""
        return self.sources.get(_network64(ip)) if ":" in ip and "/" not in ip else None

    def _crowd(self, history: SourceHistory) -> bool:
        named = history.failed or history.succeeded or history.active
        if named:
            if len(history.active.keys() | history.succeeded.keys()) < CROWD_ACCOUNTS:
                return False
        elif len(history.agents) < CROWD_ACCOUNTS:  # logs that name no account: the distinct
            return False  # clients that logged in (user agents) stand for its users
        logins = history.fails + history.successes
        ratio = history.fails / logins if logins else 0.0
        site = self.site_failure_ratio()
        # An attack on the site raises its failure ratio: a source whose logins mostly fail is no
        # crowd of real users, however high that ratio has gone.
        return ratio <= min(max(2 * site, site + 0.2), CROWD_FAILURES)

    def judge(self, ip: str) -> Verdict:
        """The source's own evidence of a login attack (see the module docstring); for an IPv6
        address whose own evidence is not enough, its /64's, unless the /64 is a crowd."""
        verdict = self._judge(ip)
        if verdict.attacker or verdict.crowd:
            return verdict
        net = self._net(ip)
        if net is None or not net.fails or self._crowd(net):
            return verdict
        whole = self._judge(_network64(ip))
        if not whole.attacker:
            return verdict
        reasons = [f"its /64 {_network64(ip)}: {why}" for why in whole.reasons]
        return Verdict(True, verdict.reasons + reasons, suspect=whole.suspect)

    def _judge(self, ip: str) -> Verdict:
        history = self.sources.get(ip)
        if history is None:
            return _NO_EVIDENCE
        if not history.fails:
            return self._hit_and_run(ip, history)
        if self._crowd(history):
            return Verdict(False, [_crowd_text(history)], crowd=True)
        suspects = _suspect_accounts(history)
        # A success explains the failures before it, short of a guess (`GUESSES`), when the
        # source goes on to browse: one person forgetting a password, in logs without accounts.
        explained = history.successes * (GUESSES if history.other > HIT_AND_RUN else 1)
        suspect = len(suspects) + _anonymous_suspects(
            history.fails - sum(history.failed.values()), explained
        )
        if not suspect:
            return Verdict(False, [], suspect=0)
        # One account tried a few times by someone who uses the site otherwise (beyond checking
        # an account it got into): a user who mistyped or gave up. Ten tries are a brute force.
        busy = history.other > (HIT_AND_RUN if history.successes else 0)
        few = history.fails < 2 * GUESSES
        ordinary = suspect == 1 and not history.unknown and not history.guessed and busy and few
        return Verdict(not ordinary, _reasons(history, suspects), suspect=suspect)

    def one_shot(self, ip: str) -> Verdict:
        """A suspect whose whole traffic was one to three failed logins (or tries of unknown
        usernames), with no success and no other request: a stuffing run's throwaway address."""
        history = self.sources.get(ip)
        if history is None or history.successes or history.other:
            return _NO_EVIDENCE
        if history.fails > ONE_SHOT and not history.unknown:
            return _NO_EVIDENCE
        verdict = self.judge(ip)
        if verdict.attacker:
            verdict.reasons.append("a one-shot address: nothing but these failures")
        return verdict

    def _hit_and_run(self, ip: str, history: SourceHistory) -> Verdict:
        """A source whose every request was a successful login to an account never used from
        there before (one or two accounts), each followed by at most `HIT_AND_RUN` request
        within `SCRIPTED` seconds: a stolen password checked (an owner goes on to use the site).
        Evidence when each account was used from elsewhere before it, or since and the source
        then stayed silent for `QUIET` seconds. Evidence only while a surge is judged: alone it
        is not an attack."""
        logins = self._hit_and_run_logins(ip, history)
        if logins is None:
            return _NO_EVIDENCE
        where, quiet = home(ip), self.now - history.last
        before = all(self._used_elsewhere(account, where, t) for account, t in logins)
        since = quiet >= QUIET and all(
            self._used_elsewhere(account, where, math.inf) for account, _ in logins
        )
        if not before and not since:  # nothing says it is not the owner (yet)
            return _NO_EVIDENCE
        if len(logins) == 1:
            what, whose = "1 successful login to an account", "its owner uses"
        else:
            what, whose = f"{len(logins)} successful logins to accounts", "their owners use"
        why = (
            f"{what} used from elsewhere, never from here"
            if before
            else f"{what} {whose} from elsewhere since"
        )
        checks = f"{_plural(history.other, 'other request')} within seconds"
        return Verdict(True, [why, f"{checks}, then nothing for {_duration(quiet)}"], suspect=1)

    def unproven(self, ip: str) -> bool:
        """Whether ``ip`` made hit-and-run logins (see `_hit_and_run`) that are no evidence yet:
        an account was not used from elsewhere (so far), or the source went quiet only now."""
        history = self.sources.get(ip)
        if history is None or history.fails or self._hit_and_run_logins(ip, history) is None:
            return False
        return not self._hit_and_run(ip, history).attacker

    def _hit_and_run_logins(
        self, ip: str, history: SourceHistory
    ) -> list[tuple[str, float]] | None:
        """The accounts and times of the source's logins if its whole traffic was one successful
        login to each of one or two accounts not in use from there before, each followed by at
        most `HIT_AND_RUN` request naming it within `SCRIPTED` seconds, and nothing else."""
        succeeded = history.succeeded
        if not succeeded or len(succeeded) >= CROWD_ACCOUNTS:
            return None
        if history.successes != len(succeeded):
            return None
        single = len(succeeded) == 1  # then all its traffic within seconds, naming it or not
        if single and (history.other > HIT_AND_RUN or history.last - history.first > SCRIPTED):
            return None
        where, checks, out = home(ip), 0, []
        for account in succeeded:
            logged_in = self.accounts.get(account, {}).get(where, math.inf)
            used = self.in_use.get(account, {}).get(where, math.inf)
            if used < logged_in or logged_in == math.inf:  # in use here first (a reset, say)
                return None
            session = history.active.get(account)
            if session is not None:
                if session[0] > HIT_AND_RUN or session[2] - logged_in > SCRIPTED:
                    return None
                checks += int(session[0])
            out.append((account, logged_in))
        return out if single or history.other <= checks else None

    def _used_elsewhere(self, account: str, where: str, before: float) -> bool:
        """Whether ``account`` logged in or was used from somewhere but ``where`` before."""
        for table in (self.in_use, self.accounts):
            for other, when in table.get(account, {}).items():
                if other != where and when < before:
                    return True
        return False

    def took_over(self, ip: str, account: str, t: float) -> bool:
        """Whether a successful login for ``account`` from ``ip`` at ``t`` was a compromise:
        the source has attack evidence of its own, the account had never been used from there,
        and it was guessed (`GUESSES` failures first) or not followed by an owner's session
        (more than `HIT_AND_RUN` requests over more than `SESSION` seconds): a stolen password
        is checked, and an account looted, in seconds; an owner at home goes on using the site.
        """
        if self.established(account, ip, before=t) or not self.judge(ip).attacker:
            return False
        history = self.sources.get(ip)
        if history is None:
            return False
        guessed = account in history.guessed
        session = history.active.get(account)
        owner = (
            session is not None and session[0] > HIT_AND_RUN and session[2] - session[1] > SESSION
        )
        return guessed or not owner


def _anonymous_suspects(fails: int, explained: int) -> int:
    """How many accounts failures that name none stand for: up to `ONE_SHOT` of them may be one
    person's typos (one account); past that, each failure its successes do not explain."""
    if fails <= explained:
        return 0
    return 1 if fails <= ONE_SHOT else fails - explained


def _suspect_accounts(history: SourceHistory) -> list[str]:
    """Failed accounts this source never got into nor used, leaving out a near miss of one it
    got into; and accounts it got into only after `GUESSES` failures (guessed, not mistyped)."""
    succeeded, active = history.succeeded, history.active
    # A mistyped username is one or two wrong names, not a list of them.
    near = len(succeeded) <= 2 and len(history.failed) <= 2
    return [
        account
        for account in history.failed
        if account in history.guessed
        or (
            account not in succeeded
            and account not in active
            and not (near and any(_close(account, ok) for ok in succeeded))
        )
    ]


def _close(a: str, b: str) -> bool:
    """Whether two account names are one or two keystrokes apart (a mistyped username)."""
    if abs(len(a) - len(b)) > 2:
        return False
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= 2


def _duration(seconds: float) -> str:
    if seconds == math.inf:
        return "ever"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _reasons(history: SourceHistory, suspects: list[str]) -> list[str]:
    out = []
    if suspects:
        out.append(
            f"{_plural(history.fails, 'failed login')} against "
            f"{_plural(len(suspects), 'account')} never logged into from here"
        )
    else:
        out.append(f"{_plural(history.fails, 'failed login')} (logs name no account)")
    if history.unknown:
        out.append(_plural(history.unknown, "unknown username"))
    if not history.successes:
        out.append("no successful login")
    elif history.succeeded:
        got = [a for a in history.succeeded if a not in suspects]
        out.append(f"{_plural(history.successes, 'successful login')} ({len(got)} accounts)")
    if not history.other:
        out.append("no other requests")
    if not history.returns:
        out.append("no return visit")
    return out


def _crowd_text(history: SourceHistory) -> str:
    return (
        f"a crowd: {len(history.succeeded)} accounts logged in, "
        f"{history.fails} of {history.fails + history.successes} logins failed"
    )
