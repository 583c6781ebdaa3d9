"""Score apiwatch on the adversarial corpus: generate each log, run the real ``apiwatch scan
--json`` over it and print the measures per attack class and in total, against the issue's
goals (`GOALS`).

    python -m tests.adversarial.report --seeds 1 2 3 --format ecs nginx [--json] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.adversarial.generator import FORMATS, generate
from tests.adversarial.scorer import Score, score

__all__ = ["GOALS", "Totals", "main", "run", "totals", "write_logs"]

GOALS: dict[str, dict[str, float]] = {
    "ecs": {
        "login_ip_recall": 0.95,
        "benign_flagged": 0,
        "wrongly_compromised": 0,
        "compromised_recall": 0.95,
        "classes_missed": 0,
        "wrong_objects": 0,
    },
    "nginx": {
        "login_ip_recall": 0.90,
        "benign_flagged": 0,
        "wrongly_compromised": 0,
        "classes_missed": 0,
        "wrong_objects": 0,
    },
}
"""Issue 9's acceptance: attacker-IP recall for login attacks >= 0.95 (ECS) / 0.90 (access
logs), no benign address, no account wrongly named compromised, >= 95 % of compromised accounts
named (ECS; access logs name no account), every class detected, no wrong exposed object."""

_NAMES_ACCOUNTS = {"ecs"}  # access logs name no account: no compromised account can be named
_HIGHER_IS_BETTER = {"login_ip_recall", "compromised_recall", "classes_detected"}


@dataclass(slots=True)
class Totals:
    """The measures of several runs of one format, pooled."""

    classes_detected: int = 0
    classes_scored: int = 0
    login_ips_named: int = 0
    login_ips_total: int = 0
    benign_flagged: int = 0
    wrongly_compromised: int = 0
    compromised_named: int = 0
    compromised_total: int = 0
    wrong_objects: int = 0

    @property
    def classes_missed(self) -> int:
        return self.classes_scored - self.classes_detected

    @property
    def login_ip_recall(self) -> float:
        return self.login_ips_named / self.login_ips_total if self.login_ips_total else 1.0

    @property
    def compromised_recall(self) -> float:
        return self.compromised_named / self.compromised_total if self.compromised_total else 1.0

    def measures(self) -> dict[str, float]:
        return {
            "classes_detected": self.classes_detected,
            "classes_scored": self.classes_scored,
            "classes_missed": self.classes_missed,
            "login_ip_recall": round(self.login_ip_recall, 4),
            "benign_flagged": self.benign_flagged,
            "wrongly_compromised": self.wrongly_compromised,
            "compromised_recall": round(self.compromised_recall, 4),
            "wrong_objects": self.wrong_objects,
        }


def totals(scores: list[Score]) -> Totals:
    """Pooled measures over ``scores`` (counts summed, recalls pooled over addresses)."""
    out = Totals()
    for one in scores:
        for cls in (c for c in one.classes if c.scored):
            out.classes_scored += 1
            out.classes_detected += cls.detected
            out.compromised_named += cls.compromised_named
            out.compromised_total += cls.compromised_total
            if cls.login_attack:
                out.login_ips_named += cls.ips_named
                out.login_ips_total += cls.ips_total
        out.benign_flagged += one.benign_flagged_count
        out.wrongly_compromised += len(one.wrongly_compromised)
        out.wrong_objects += len(one.wrong_objects)
    return out


def run(seeds: list[int], formats: list[str], scale: float = 1.0) -> dict[str, list[Score]]:
    """Score every (seed, format); the scores of each format in seed order."""
    return {fmt: [score(generate(seed, fmt, scale)) for seed in seeds] for fmt in formats}


def meets(fmt: str, name: str, value: float) -> bool:
    """Whether ``value`` of measure ``name`` reaches the goal for ``fmt`` (True if none)."""
    goal = GOALS.get(fmt, {}).get(name)
    if goal is None:
        return True
    return value >= goal if name in _HIGHER_IS_BETTER else value <= goal


def _class_rows(scores: list[Score]) -> list[str]:
    rows = []
    for index, first in enumerate(scores[0].classes):
        runs = [one.classes[index] for one in scores]
        if not first.scored:
            rows.append(f"  {first.name:<22} {'(no trace in this format)':>9}")
            continue
        detected = sum(run.detected for run in runs)
        named, total = sum(r.ips_named for r in runs), sum(r.ips_total for r in runs)
        comp_n, comp_t = (
            sum(r.compromised_named for r in runs),
            sum(r.compromised_total for r in runs),
        )
        comp = f"{comp_n}/{comp_t}" if comp_t and scores[0].fmt in _NAMES_ACCOUNTS else "-"
        rows.append(
            f"  {first.name:<22} {detected}/{len(runs):<8} {named:>5}/{total:<6} "
            f"{named / total if total else 0:>6.2f}  {comp:>9}"
        )
    return rows


def render(results: dict[str, list[Score]]) -> str:
    """The human-readable table of ``results``."""
    lines = []
    for fmt, scores in results.items():
        seeds = " ".join(str(one.seed) for one in scores)
        lines.append(f"== {fmt}  (seeds {seeds})")
        lines.append(
            f"  {'class':<22} {'detected':<10} {'IPs named':>12} {'recall':>6}  {'compromised':>9}"
        )
        lines += _class_rows(scores)
        lines.append("  benign addresses flagged, by trap:")
        for one in scores:
            trap = ", ".join(f"{k} {len(v)}" for k, v in sorted(one.benign_flagged.items()))
            lines.append(f"    seed {one.seed}: {trap or 'none'}")
        lines.append("  accounts wrongly named compromised, by population:")
        for one in scores:
            who = ", ".join(f"{k} {v}" for k, v in sorted(one.wrongly_compromised_by.items()))
            lines.append(f"    seed {one.seed}: {who or 'none'}")
        lines.append("  totals (goal):")
        for name, value in totals(scores).measures().items():
            if name == "compromised_recall" and fmt not in _NAMES_ACCOUNTS:
                continue
            goal = GOALS.get(fmt, {}).get(name)
            mark = (
                ""
                if goal is None
                else f"  (goal {goal}) {'ok' if meets(fmt, name, value) else 'MISSED'}"
            )
            lines.append(f"    {name:<22} {value}{mark}")
    return "\n".join(lines)


def as_json(results: dict[str, list[Score]]) -> dict[str, Any]:
    return {
        fmt: {
            "runs": [one.as_dict() for one in scores],
            "totals": totals(scores).measures(),
            "goals": GOALS.get(fmt, {}),
        }
        for fmt, scores in results.items()
    }


def write_logs(folder: Path, seeds: list[int], formats: list[str], scale: float) -> None:
    """``seed<N>.ecs.ndjson``, ``seed<N>.nginx.log`` and ``seed<N>.truth.json`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for fmt in formats:
            corpus = generate(seed, fmt, scale)
            suffix = "ecs.ndjson" if fmt == "ecs" else "nginx.log"
            (folder / f"seed{seed}.{suffix}").write_text(corpus.text(), encoding="utf-8")
        truth = {
            "truths": [one.as_dict() for one in corpus.truths],
            "benign_ips": sorted(corpus.benign_ips),
            "benign_accounts": sorted(corpus.benign_accounts),
        }
        (folder / f"seed{seed}.truth.json").write_text(json.dumps(truth, indent=1), "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.adversarial.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds to generate")
    parser.add_argument(
        "--format",
        dest="formats",
        nargs="+",
        choices=FORMATS,
        default=list(FORMATS),
        help="log formats to score",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="population and attack size (1.0: a few thousand customers)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write each log and its ground truth (seedN.truth.json) into DIR",
    )
    args = parser.parse_args(argv)
    if args.out is not None:
        write_logs(args.out, args.seeds, args.formats, args.scale)
    results = run(args.seeds, args.formats, args.scale)
    sys.stdout.write(
        (json.dumps(as_json(results), indent=2) if args.json else render(results)) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
