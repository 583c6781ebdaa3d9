"""The engine, with the built-in pack, scored on simulated labelled traffic."""

from __future__ import annotations

from functools import cache

import pytest

from apiwatch.detect import Engine, RuleSet, builtin_dir, load_rules
from apiwatch.model import Incident
from apiwatch.simulate import Scenario, generate, score
from apiwatch.sources import parse_access_line

SEEDS = [1, 2, 3, 4, 5]


@cache
def _rules() -> RuleSet:
    return load_rules([builtin_dir()])


def _rule_types() -> dict[str, str]:
    return {key: rule.meta.attack for key, rule in _rules().rules.items() if rule.meta.attack}


@cache
def _scenario(seed: int) -> Scenario:
    return generate(seed=seed)


def _incidents_ecs(scenario: Scenario) -> list[Incident]:
    engine = Engine(_rules())
    engine.feed_all(scenario.events())
    engine.flush()
    return engine.incidents()


def _incidents_nginx(scenario: Scenario) -> list[Incident]:
    engine = Engine(_rules(), lateness=60)
    for line in scenario.nginx_lines():
        event = parse_access_line(line)
        assert event is not None
        engine.feed(event)
    engine.flush()
    return engine.incidents()


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_ecs_every_attack_found_every_compromise_named_no_false_positive(seed: int) -> None:
    """Pins, on ECS events: every attack type detected, every compromised account named, zero
    false positives (benign traps included)."""
    scenario = _scenario(seed)
    result = score(scenario.truth, _incidents_ecs(scenario), format="ecs", rule_types=_rule_types())
    assert result.perfect, result.report()
    assert not result.missed_compromised


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_nginx_every_visible_attack_found_no_false_positive(seed: int) -> None:
    """Pins, on the same traffic as nginx access logs: every attack an access log can show is
    detected and nothing benign is reported."""
    scenario = _scenario(seed)
    result = score(
        scenario.truth, _incidents_nginx(scenario), format="nginx", rule_types=_rule_types()
    )
    assert result.perfect, result.report()


@pytest.mark.slow
def test_replay_gives_the_same_incidents() -> None:
    """Pins determinism: feeding the same events again gives identical incidents (ids, extent)."""
    scenario = _scenario(1)
    assert _incidents_ecs(scenario) == _incidents_ecs(scenario)
