"""Generation: reproducible, sorted, in its time span, and of the promised size."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apiwatch.model import ConfigError
from apiwatch.simulate import (
    ATTACK_TYPES,
    Scenario,
    ScenarioConfig,
    ScenarioPaths,
    generate,
    write_scenario,
)

SMALL = ScenarioConfig(users=60)


def _digest(paths: ScenarioPaths) -> list[str]:
    return [hashlib.sha256(path.read_bytes()).hexdigest() for path in paths]


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    """Two runs of one config write the same bytes to all three files."""
    first = write_scenario(SMALL, tmp_path / "a")
    second = write_scenario(SMALL, tmp_path / "b")
    assert _digest(first) == _digest(second)


def test_different_seeds_give_different_files(tmp_path: Path) -> None:
    """Another seed changes every file."""
    first = write_scenario(SMALL, tmp_path / "a")
    other = write_scenario(SMALL.replace(seed=2), tmp_path / "b")
    assert all(a != b for a, b in zip(_digest(first), _digest(other), strict=True))


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """A process with another PYTHONHASHSEED writes the same bytes (no set order leaks in)."""
    mine = write_scenario(SMALL, tmp_path / "here")
    script = (
        "import sys; from apiwatch.simulate import ScenarioConfig, write_scenario; "
        "write_scenario(ScenarioConfig(users=60), sys.argv[1])"
    )
    for hash_seed in ("0", "12345"):
        out = tmp_path / f"hash{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=120)
        assert _digest(ScenarioPaths(*(out / p.name for p in mine))) == _digest(mine)


def test_default_scenario_is_about_sixty_thousand_events_over_four_hours(
    scenario: Scenario,
) -> None:
    """The default scenario spans 2026-11-02 08:00-12:00 UTC with 50,000-70,000 events."""
    assert scenario.start == datetime(2026, 11, 2, 8, tzinfo=UTC)
    assert scenario.end - scenario.start == timedelta(hours=4)
    assert 50_000 <= len(scenario) <= 70_000
    assert scenario.truth.counts["ecs_events"] == len(scenario)


def test_requests_are_sorted_and_inside_the_scenario(scenario: Scenario) -> None:
    """Requests are in time order, from the start to before the end."""
    times = [r.time_us for r in scenario.requests]
    assert times == sorted(times)
    start = int(scenario.start.timestamp()) * 1_000_000
    end = int(scenario.end.timestamp()) * 1_000_000
    assert start <= times[0] and times[-1] < end


def test_generation_reads_neither_clock_nor_global_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generating with the global random generator and the clock broken still works the same."""
    expected = generate(SMALL).requests
    import random
    import time

    def broken(*_args: object) -> None:
        raise AssertionError("global random or clock used")

    monkeypatch.setattr(random, "random", broken)
    monkeypatch.setattr(random, "randint", broken)
    monkeypatch.setattr(time, "time", broken)
    assert generate(SMALL).requests == expected


def test_start_is_a_parameter() -> None:
    """Another start moves every request by the same offset."""
    later = SMALL.replace(start=SMALL.start + timedelta(days=30))
    shift = 30 * 86_400 * 1_000_000
    moved = generate(later).requests
    assert [r.time_us - shift for r in moved] == [r.time_us for r in generate(SMALL).requests]


def test_attacks_can_be_switched_off() -> None:
    """Only the chosen attacks are generated; traps can be left out."""
    chosen = generate(SMALL.replace(attacks=("scanner", "token_reuse"), traps=False))
    assert [a.type for a in chosen.truth.attacks] == ["scanner", "token_reuse"]
    assert chosen.truth.traps == []
    assert {r.origin for r in chosen.requests} == {"benign", "attack:scanner", "attack:token_reuse"}


def test_lines_gives_exactly_that_many_shop_requests() -> None:
    """``lines`` sizes the population and trims to the exact access-log line count."""
    sized = generate(SMALL.replace(lines=20_000))
    assert sum(r.service == "shop" for r in sized.requests) == 20_000
    assert sized.truth.counts["shop_requests"] == 20_000
    assert len(sized.truth.attacks) == len(ScenarioConfig().attacks) + 1  # + brute force variant


def test_scale_multiplies_the_regular_population() -> None:
    """``scale=2`` doubles the regular users and roughly doubles benign traffic."""
    base = generate(SMALL)
    double = generate(SMALL.replace(scale=2))
    assert double.truth.counts["regular_users"] == 120
    ratio = double.truth.counts["benign_requests"] / base.truth.counts["benign_requests"]
    assert 1.7 < ratio < 2.3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"attacks": ("scanner", "ddos")}, "attacks"),
        ({"stuffing_accounts": 10}, "stuffing_accounts"),
        ({"stuffing_attempts": 200}, "stuffing_attempts"),
        ({"enumeration_ids": 50}, "enumeration_ids"),
        ({"duration": timedelta(minutes=30)}, "duration"),
        ({"billing_silence": timedelta(minutes=20)}, "billing_silence"),
        ({"users": 5}, "users"),
        ({"start": datetime(2026, 1, 1)}, "start"),
    ],
)
def test_invalid_config_names_the_field(changes: dict[str, object], field: str) -> None:
    """A config that cannot give the promised scenario raises ConfigError naming the field."""
    with pytest.raises(ConfigError, match=field):
        ScenarioConfig(**changes)  # type: ignore[arg-type]


def test_config_round_trips_through_its_dict() -> None:
    """`ScenarioConfig.from_dict(to_dict())` gives an equal config; unknown keys are refused."""
    config = ScenarioConfig(seed=9, attacks=("scanner",), duration=timedelta(hours=5))
    assert ScenarioConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="colour"):
        ScenarioConfig.from_dict({"colour": "red"})


def test_attack_types_are_in_canonical_order() -> None:
    """Attacks given in any order are stored in `ATTACK_TYPES` order, so truths compare equal."""
    shuffled = ScenarioConfig(attacks=tuple(reversed(ATTACK_TYPES)))
    assert shuffled.attacks == ATTACK_TYPES
