"""``apiwatch audit``: what an API's existing logs are missing, measured against API10.

Point it at a sample of existing logs (any format `apiwatch scan` reads) and it reports, per
file: which essentials are present (client IP, user agent, account, time with zone, route,
status, login outcome, request id), which are absent or unusable (the client address is always
one private load-balancer address; times without a zone; no account on failed logins; every
login answered 200), what leaks (passwords, tokens, card numbers, session ids — by field and
line number, never the value), and which detections are therefore impossible, each with the
concrete fix (an nginx ``log_format``, a sensor option, a proxy setting).

Named ``logaudit`` because ``apiwatch.audit`` is the sensor's security-event API. Imports only
`apiwatch.model` and `apiwatch.sources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apiwatch.logaudit._fixes import NGINX_ECS_LOG_FORMAT, leak_fix
from apiwatch.logaudit._leaks import Leak, find_leaks
from apiwatch.logaudit._tally import Tally, tally_file
from apiwatch.logaudit._verdicts import ESSENTIALS, Finding, family_of, findings
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = [
    "ESSENTIALS",
    "NGINX_ECS_LOG_FORMAT",
    "FileAudit",
    "Finding",
    "Leak",
    "LeakFinding",
    "audit_file",
    "find_leaks",
]


@dataclass(frozen=True)
class LeakFinding:
    """Secrets of one kind in one field: how many lines, the first line numbers, the fix."""

    kind: str
    field: str
    count: int
    lines: tuple[int, ...]
    fix: str


@dataclass(frozen=True)
class FileAudit:
    """The audit of one file: its format, what was sampled, findings and leaks."""

    file: str
    format: str
    lines: int
    parsed: int
    refused: int
    findings: tuple[Finding, ...]
    leaks: tuple[LeakFinding, ...]

    @property
    def impossible(self) -> list[str]:
        """The detections no finding allows, each once, in finding order."""
        seen: dict[str, None] = {}
        for finding in self.findings:
            seen.update(dict.fromkeys(finding.impossible))
        return list(seen)

    @property
    def missing(self) -> list[Finding]:
        """The essentials absent, unusable or only partly there."""
        return [f for f in self.findings if f.status in {"absent", "unusable", "partial"}]

    def to_json(self) -> dict[str, Any]:
        """The audit as JSON-ready data (``apiwatch audit --json``)."""
        return {
            "file": self.file,
            "format": self.format,
            "lines": self.lines,
            "parsed": self.parsed,
            "refused": self.refused,
            "essentials": [
                {
                    "name": f.essential,
                    "status": f.status,
                    "share": None if f.share is None else round(f.share, 4),
                    "detail": f.detail,
                    "fix": f.fix,
                    "impossible": list(f.impossible),
                }
                for f in self.findings
            ],
            "leaks": [
                {
                    "kind": leak.kind,
                    "field": leak.field,
                    "count": leak.count,
                    "lines": list(leak.lines),
                    "fix": leak.fix,
                }
                for leak in self.leaks
            ],
            "impossible": self.impossible,
        }


def _leaks(tally: Tally) -> tuple[LeakFinding, ...]:
    family = family_of(tally.format)
    ordered = sorted(tally.leak_counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(
        LeakFinding(
            leak.kind, leak.field, count, tuple(tally.leaks[leak]), leak_fix(leak.kind, family)
        )
        for leak, count in ordered
    )


def audit_file(
    path: str | Path,
    *,
    max_lines: int = 100_000,
    format: str | None = None,
    logins: LoginPatterns | None = DEFAULT_LOGINS,
) -> FileAudit:
    """Audit the first ``max_lines`` lines of ``path``. Raises `EventDecodeError` when the
    format cannot be detected and `OSError` when the file cannot be read."""
    tally = tally_file(path, max_lines=max_lines, format=format, logins=logins)
    return FileAudit(
        file=str(path),
        format=tally.format,
        lines=tally.lines,
        parsed=tally.parsed,
        refused=tally.refused,
        findings=tuple(findings(tally)) if tally.parsed else (),
        leaks=_leaks(tally),
    )
