"""Seeded simulation of a shop API's traffic with labelled attacks, and scoring against it.

``generate(ScenarioConfig(seed=7))`` gives a `Scenario`: realistic benign traffic (customers,
an office NAT, a monitoring probe, a crawler, a support agent, a roaming phone, a password reset)
with brute force, credential stuffing (single and distributed), password spraying, object
enumeration, a scanner, an error flood, token reuse and a service that stops logging, plus the
`GroundTruth` of all of it. `write_scenario` writes ``access.log`` (nginx), ``events.ndjson``
(ECS, as the apiwatch sensor emits) and ``truth.json``; `score` rates a detection engine's
incidents against the truth; `replay` sends the traffic to a running app over HTTP.

Nothing here reads the clock or the global random generator: equal configs give byte-identical
outputs.
"""

from apiwatch.simulate.config import ATTACK_TYPES, DEFAULT_START, TRAP_KINDS, ScenarioConfig
from apiwatch.simulate.formats import action_of, nginx_line, to_event
from apiwatch.simulate.records import TOKEN_KEY, Request, token_fingerprint
from apiwatch.simulate.replay import ReplayError, ReplayResult, replay
from apiwatch.simulate.scenario import Scenario, generate
from apiwatch.simulate.score import ACCEPTED, Score, score
from apiwatch.simulate.truth import AttackTruth, GroundTruth, TrapTruth
from apiwatch.simulate.writers import ScenarioPaths, write_scenario

__all__ = [
    "ACCEPTED",
    "ATTACK_TYPES",
    "DEFAULT_START",
    "TOKEN_KEY",
    "TRAP_KINDS",
    "AttackTruth",
    "GroundTruth",
    "ReplayError",
    "ReplayResult",
    "Request",
    "Scenario",
    "ScenarioConfig",
    "ScenarioPaths",
    "Score",
    "TrapTruth",
    "action_of",
    "generate",
    "nginx_line",
    "replay",
    "score",
    "to_event",
    "token_fingerprint",
    "write_scenario",
]
