"""From a `Tally` to findings: each essential present, partial, absent or unusable, with its
share, what was seen, the fix, and the detections that are impossible without it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from apiwatch.logaudit._fixes import fix_for
from apiwatch.logaudit._tally import Tally

__all__ = ["ESSENTIALS", "IMPOSSIBLE", "Finding", "family_of", "findings", "login_finding"]

ESSENTIALS: Final = (
    "client IP",
    "user agent",
    "account",
    "time with zone",
    "route",
    "status",
    "login outcome",
    "request id",
)
"""What OWASP's Logging Cheat Sheet and API10 ask every request event to say."""

_PRESENT: Final = 0.95
_MIN_LINES: Final = 20
_LOAD_BALANCERS: Final = 3  # at most this many private addresses: a proxy's, not clients'
#: The built-in rules (and what else) each essential makes possible.
IMPOSSIBLE: Final[dict[str, tuple[str, ...]]] = {
    "client IP": (
        "credential-stuffing-source",
        "login-failures-source",
        "password-spraying",
        "error-flood-source",
        "object-enumeration",
        "token-many-ips",
        "session-many-ips",
        "account-takeover-source",
        "bans of attacking addresses",
    ),
    "user agent": ("attack-tool-user-agent", "user agent switching (crowdsec http-generic)"),
    "account": (
        "brute-force-account",
        "credential-stuffing-source",
        "password-spraying",
        "credential-stuffing-distributed",
        "account-takeover-account",
        "accounts targeted and compromised in incidents",
    ),
    "time with zone": ("correlation with other sources (every window is off by the offset)",),
    "route": (
        "sensitive-file-probe",
        "path-traversal",
        "sql-injection",
        "xss",
        "object-enumeration",
        "login inference from access logs",
    ),
    "status": (
        "error-flood-source",
        "object-enumeration",
        "login outcome inference from access logs",
    ),
    "login outcome": (
        "brute-force-account",
        "credential-stuffing-source",
        "login-failures-source",
        "password-spraying",
        "login-failure-surge",
        "account-takeover-account",
        "account-takeover-source",
        "accounts compromised in incidents",
    ),
    "request id": ("tying an alert to the application's own log lines for the same request",),
}


@dataclass(frozen=True)
class Finding:
    """One essential: ``status`` is present, partial, absent, unusable or unknown; ``share``
    the fraction of the relevant events that carry it (None when none were relevant)."""

    essential: str
    status: str
    share: float | None
    detail: str
    fix: str = ""
    impossible: tuple[str, ...] = field(default=())


def _family(fmt: str) -> str:
    inner = fmt.split(" in ", 1)[0]
    if "ecs" in inner.split("+"):
        return "ecs"
    if inner.startswith(("nginx-error", "apache-error")):
        return "errorlog"
    return "nginx" if inner.startswith("nginx") else "proxy"


def _graded(name: str, have: int, out_of: int, family: str, detail: str) -> Finding:
    share = have / out_of if out_of else None
    if share is None:
        return Finding(name, "unknown", None, detail)
    status = "present" if share >= _PRESENT else "partial" if have else "absent"
    if status == "present":
        return Finding(name, status, share, detail)
    gone = IMPOSSIBLE[name] if status == "absent" else ()
    return Finding(name, status, share, detail, fix_for(name, family), gone)


def _client_ip(tally: Tally, family: str) -> Finding:
    if not tally.with_ip:
        return _graded("client IP", 0, tally.parsed, family, "no client address in any line")
    share = tally.with_ip / tally.parsed
    all_private = tally.private_ip == tally.with_ip
    if tally.parsed >= _MIN_LINES and all_private and len(tally.addresses) <= _LOAD_BALANCERS:
        shown = ", ".join(sorted(tally.addresses))
        detail = (
            f"every request comes from {shown}: a private address, the load balancer's "
            "or proxy's, not the client's"
        )
        return Finding(
            "client IP",
            "unusable",
            share,
            detail,
            fix_for("client IP", family, proxy=shown),
            IMPOSSIBLE["client IP"],
        )
    count = len(tally.addresses)
    detail = f"{count:,} distinct address{'es' if count != 1 else ''}"
    if tally.private_ip / tally.with_ip >= _PRESENT:
        detail += ", all private (internal traffic, or a proxy's X-Forwarded-For not resolved)"
    return _graded("client IP", tally.with_ip, tally.parsed, family, detail)


def _time(tally: Tally, family: str) -> Finding:
    seen = tally.time_zoned + tally.time_unzoned
    if tally.time_unzoned and not tally.time_zoned:
        detail = "every time is without a zone or offset: local time of an unknown zone"
        return Finding(
            "time with zone",
            "unusable",
            0.0,
            detail,
            fix_for("time with zone", family),
            IMPOSSIBLE["time with zone"],
        )
    detail = f"{tally.time_unzoned:,} times without a zone" if tally.time_unzoned else ""
    return _graded("time with zone", tally.time_zoned, seen, family, detail or "with offset")


def login_finding(tally: Tally, family: str) -> Finding:
    """Whether a successful login can be told from a failed one in this log."""
    if not tally.logins:
        return Finding(
            "login outcome",
            "unknown",
            None,
            "no login requests in the sample (POST to /login, /signin, /auth, "
            "/token, /session ... routes)",
        )
    statuses = tally.login_statuses
    if tally.login_explicit:
        return Finding(
            "login outcome",
            "present",
            tally.login_explicit / tally.logins,
            f"{tally.login_successes:,} successful and {tally.login_failures:,} "
            "failed logins, each saying so",
        )
    refused = sum(n for status, n in statuses.items() if status in {401, 403})
    other_errors = sorted(s for s in statuses if s >= 400 and s not in {401, 403})
    if refused:
        detail = f"{refused:,} of {tally.logins:,} login requests answered 401/403"
        if other_errors:
            detail += f"; failures answered {', '.join(map(str, other_errors))} are not counted"
        status = "partial" if other_errors else "present"
        fix = fix_for("login outcome", family) if other_errors else ""
        return Finding("login outcome", status, refused / tally.logins, detail, fix)
    shown = ", ".join(f"{status} ({count:,})" for status, count in statuses.most_common(3))
    detail = (
        f"{tally.logins:,} login requests, none answered 401/403 ({shown}): a failed login "
        "cannot be told from a successful one"
    )
    return Finding(
        "login outcome",
        "unusable",
        0.0,
        detail,
        fix_for("login outcome", family),
        IMPOSSIBLE["login outcome"],
    )


def _account(tally: Tally, family: str) -> Finding:
    if tally.login_failures:
        detail = (
            f"{tally.login_failures_with_user:,} of {tally.login_failures:,} failed logins "
            "name the account"
        )
        return _graded(
            "account", tally.login_failures_with_user, tally.login_failures, family, detail
        )
    detail = f"{tally.with_user:,} of {tally.parsed:,} events name an account"
    if not tally.logins:
        detail += "; no login requests in the sample"
    found = _graded("account", tally.with_user, tally.parsed, family, detail)
    if found.status == "partial":  # anonymous requests are normal: only logins must name one
        return Finding("account", "present", found.share, detail)
    return found


def _seen(what: str, have: int, out_of: int) -> str:
    return f"{what} in {have:,} of {out_of:,} events"


def findings(tally: Tally) -> list[Finding]:
    """One `Finding` per essential, in `ESSENTIALS` order."""
    family = _family(tally.format)
    parsed = tally.parsed
    out: Sequence[Finding] = (
        _client_ip(tally, family),
        _graded(
            "user agent",
            tally.with_agent,
            parsed,
            family,
            _seen("a User-Agent", tally.with_agent, parsed),
        ),
        _account(tally, family),
        _time(tally, family),
        _graded(
            "route", tally.with_path, parsed, family, _seen("a URL path", tally.with_path, parsed)
        ),
        _graded(
            "status",
            tally.with_status,
            parsed,
            family,
            _seen("an HTTP status", tally.with_status, parsed),
        ),
        login_finding(tally, family),
        _graded(
            "request id",
            tally.with_request_id,
            parsed,
            family,
            _seen("a request or trace id", tally.with_request_id, parsed),
        ),
    )
    return list(out)


def family_of(fmt: str) -> str:
    """``nginx``, ``ecs``, ``errorlog`` or ``proxy`` for a detected format description."""
    return _family(fmt)
