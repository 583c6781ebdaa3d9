"""Scoring the real engine as a black box: ``apiwatch scan --json`` over a written log, its
incidents compared with the ground truth by overlap (never by rule name).

Definitions (per seed and format):

- a class is **detected** when some incident names at least one of its attacker addresses
  (``attackers``) or targeted accounts (``accounts_targeted`` / ``accounts_compromised``); only
  accounts this attack alone touched count (not targeted by another attack, not used by their
  owners in benign traffic), since leaked lists overlap and customers mistype: an incident
  about one attack, or about a crowd, would otherwise credit another attack;
- **attacker-IP recall** (login attacks): attacker addresses named anywhere / attacker addresses;
- **benign addresses flagged**: benign addresses named as an attacker by any incident;
- **wrongly compromised**: accounts in ``accounts_compromised`` that no attack compromised;
- **compromised recall**: compromised accounts named in some ``accounts_compromised`` / all;
- **wrong exposed objects**: ``objects_exposed`` entries naming no object an attacker exposed
  (the attacker's own objects, a partner's own orders, ...).

A class whose attack leaves no trace in a format (``Truth.formats``) is not scored there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.adversarial.generator import Corpus

__all__ = ["ClassScore", "Score", "run_scan", "score"]

_DIGITS = re.compile(r"\d{3,}")


def run_scan(path: Path, fmt: str) -> list[dict[str, Any]]:
    """The incidents ``apiwatch scan --json`` prints for ``path`` (exit 0 or 3 accepted)."""
    command = [sys.executable, "-m", "apiwatch", "scan", "--json", "-q", "--format", fmt, str(path)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    if done.returncode not in (0, 3):
        raise RuntimeError(f"apiwatch scan exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@dataclass(slots=True)
class ClassScore:
    """How one attack class fared in one log."""

    name: str
    scored: bool
    login_attack: bool
    detected: bool = False
    ips_total: int = 0
    ips_named: int = 0
    compromised_total: int = 0
    compromised_named: int = 0
    matched_rules: list[str] = field(default_factory=list)  # diagnostics only, never scored


@dataclass(slots=True)
class Score:
    """Every measure of one (seed, format) run."""

    seed: int
    fmt: str
    incidents: int
    classes: list[ClassScore] = field(default_factory=list)
    benign_flagged: dict[str, list[str]] = field(default_factory=dict)
    wrongly_compromised: list[str] = field(default_factory=list)
    wrongly_compromised_by: dict[str, int] = field(default_factory=dict)
    wrong_objects: list[str] = field(default_factory=list)

    @property
    def benign_flagged_count(self) -> int:
        return len({ip for ips in self.benign_flagged.values() for ip in ips})

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "format": self.fmt,
            "incidents": self.incidents,
            "classes": [vars_of(one) for one in self.classes],
            "benign_flagged": self.benign_flagged,
            "wrongly_compromised": self.wrongly_compromised,
            "wrongly_compromised_by": self.wrongly_compromised_by,
            "wrong_objects": self.wrong_objects,
        }


def vars_of(one: ClassScore) -> dict[str, Any]:
    return asdict(one)


def score(corpus: Corpus, incidents: list[dict[str, Any]] | None = None) -> Score:
    """Score ``corpus``: run the scan (unless ``incidents`` are given) and compare."""
    if incidents is None:
        incidents = _scan_corpus(corpus)
    named_ips = {ip for incident in incidents for ip in incident.get("attackers", [])}
    named_compromised = {a for i in incidents for a in i.get("accounts_compromised", [])}
    result = Score(corpus.seed, corpus.fmt, len(incidents))
    for truth in corpus.attacks:
        one = ClassScore(truth.name, corpus.fmt in truth.formats, truth.login_attack)
        others = [other.targeted_accounts for other in corpus.attacks if other is not truth]
        own_accounts = truth.targeted_accounts.difference(*others, corpus.benign_accounts)
        matched = [i for i in incidents if _names(i, truth.attacker_ips, own_accounts)]
        one.detected = bool(matched)
        one.matched_rules = sorted({str(incident.get("rule")) for incident in matched})
        one.ips_total, one.ips_named = len(truth.attacker_ips), len(truth.attacker_ips & named_ips)
        one.compromised_total = len(truth.compromised_accounts)
        one.compromised_named = len(truth.compromised_accounts & named_compromised)
        result.classes.append(one)
    _benign(corpus, result, named_ips, named_compromised, incidents)
    return result


def _scan_corpus(corpus: Corpus) -> list[dict[str, Any]]:
    suffix = ".ndjson" if corpus.fmt == "ecs" else ".log"
    with tempfile.TemporaryDirectory(prefix="apiwatch-adversarial-") as folder:
        path = Path(folder) / f"seed{corpus.seed}{suffix}"
        path.write_text(corpus.text(), encoding="utf-8")
        return run_scan(path, corpus.fmt)


def _names(incident: dict[str, Any], ips: set[str], accounts: set[str]) -> bool:
    named_accounts = {
        *incident.get("accounts_targeted", []),
        *incident.get("accounts_compromised", []),
    }
    return bool(ips.intersection(incident.get("attackers", [])) or accounts & named_accounts)


def _benign(
    corpus: Corpus,
    result: Score,
    named_ips: set[str],
    named_compromised: set[str],
    incidents: list[dict[str, Any]],
) -> None:
    for truth in corpus.truths:
        flagged = sorted(truth.benign_ips & named_ips)
        if not truth.attack and flagged:
            result.benign_flagged[truth.name] = flagged
    compromised = set().union(*(truth.compromised_accounts for truth in corpus.attacks))
    result.wrongly_compromised = sorted(named_compromised - compromised)
    for truth in corpus.truths:
        wrong = len(truth.benign_accounts.intersection(result.wrongly_compromised))
        if not truth.attack and wrong:
            result.wrongly_compromised_by[truth.name] = wrong
    exposed = set().union(*(truth.exposed_objects for truth in corpus.attacks))
    listed = [str(o) for incident in incidents for o in incident.get("objects_exposed", [])]
    result.wrong_objects = [o for o in listed if not exposed.intersection(_DIGITS.findall(o))]
