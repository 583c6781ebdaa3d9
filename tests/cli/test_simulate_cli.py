"""``apiwatch simulate`` as the installed command: the files it writes and its help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.simulate import ATTACK_TYPES, GroundTruth
from apiwatch.sources import read_events

APIWATCH = Path(sys.executable).with_name("apiwatch")


def test_simulate_writes_the_access_log_the_events_and_the_truth(tmp_path: Path) -> None:
    """`apiwatch simulate --seed 3 --out DIR` writes access.log (nginx), events.ndjson (ECS) and
    truth.json whose counts match the files, and summarises them."""
    out = tmp_path / "sim"
    result = subprocess.run(
        [str(APIWATCH), "simulate", "--seed", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["access.log", "events.ndjson", "truth.json"]
    truth = GroundTruth.load(out / "truth.json")
    assert truth.seed == 3
    assert {attack.type for attack in truth.attacks} == set(ATTACK_TYPES)
    access = (out / "access.log").read_text(encoding="utf-8").splitlines()
    assert len(access) == truth.counts["shop_requests"]
    with (out / "events.ndjson").open(encoding="utf-8") as events:
        first = json.loads(events.readline())
        assert 1 + sum(1 for _ in events) == truth.counts["ecs_events"]
    assert {"@timestamp", "event", "source"} <= set(first)
    errors: list[tuple[int, str]] = []
    head = (out / "head.log").resolve()
    head.write_text("\n".join(access[:200]) + "\n", encoding="utf-8")
    assert len(list(read_events(head, on_error=lambda n, m: errors.append((n, m))))) == 200
    assert errors == []
    assert "access.log" in result.stdout and f"{len(access):,}" in result.stdout
    assert f"{len(truth.attacks)} attacks" in result.stdout


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    """Two runs with one seed write byte-identical files; another seed writes different ones."""
    runs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        result = CliRunner().invoke(
            cli, ["simulate", "--seed", seed, "--scale", "0.1", "--out", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
        runs[name] = [(tmp_path / name / f).read_bytes() for f in ("access.log", "truth.json")]
    assert runs["a"] == runs["b"]
    assert runs["a"][0] != runs["c"][0]


def test_help_explains_the_command() -> None:
    """`apiwatch simulate --help` says what the files are, names every option and attack type,
    and points to `apiwatch scan`."""
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in (
        "access.log",
        "events.ndjson",
        "truth.json",
        "nginx",
        "ECS",
        "--seed",
        "--out",
        "--scale",
        "--lines",
        "--attacks",
        "--no-traps",
        "--start",
        "--hours",
        "--replay",
        "apiwatch scan",
        *ATTACK_TYPES,
    ):
        assert word in text, word
