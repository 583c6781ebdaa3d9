"""Detection: Sigma rules and correlations on event time, incidents with their extent.

Pure: no I/O, no wall clock. `load_rules` reads rule files; `Engine` runs them over `Event`s.
"""

from apiwatch.detect.engine import Engine, EngineStats
from apiwatch.detect.fields import SIGMA_TAXONOMY, canonical_field, infer_route, to_record
from apiwatch.detect.loader import (
    RuleSet,
    builtin_dir,
    load_rules,
    placeholder_values,
    sigmahq_dir,
)
from apiwatch.detect.rules import Problem
from apiwatch.detect.synthetic import SyntheticTraffic
from apiwatch.model.duration import parse_duration

__all__ = [
    "SIGMA_TAXONOMY",
    "Engine",
    "EngineStats",
    "Problem",
    "RuleSet",
    "SyntheticTraffic",
    "builtin_dir",
    "canonical_field",
    "infer_route",
    "load_rules",
    "parse_duration",
    "placeholder_values",
    "sigmahq_dir",
    "to_record",
]
