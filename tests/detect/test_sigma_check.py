"""The built-in pack passes pySigma's validators, as ``sigma check`` (sigma-cli) runs them.

sigma-cli itself pins pySigma below 2, so this runs the same thing through pySigma's API:
every validator the installed plugins register, on every document of the pack. The ATT&CK and
D3FEND tag validators download MITRE's data at run time; they run when that data can be had
and are left out, saying so, when it cannot (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.plugins import InstalledSigmaPlugins
from sigma.rule import SigmaRule
from sigma.validation import SigmaValidator

from apiwatch.detect import builtin_dir

_NEEDS_DOWNLOAD = {"attacktag": "mitre_attack", "d3_fendtag": "mitre_d3fend"}


def _offline(module: str) -> bool:
    from importlib import import_module

    data = import_module(f"sigma.data.{module}")
    try:
        data._get_cached_data()  # the one way to ask whether it can load
    except RuntimeError:
        return True
    return False


def _validators() -> list[type]:
    found = InstalledSigmaPlugins.autodiscover().validators
    skip = {name for name, module in _NEEDS_DOWNLOAD.items() if _offline(module)}
    return [cls for name, cls in found.items() if name not in skip]


def test_the_builtin_pack_passes_sigma_check() -> None:
    """Every pack document parses as Sigma, and pySigma's validators find no issue."""
    paths = sorted(p for p in Path(builtin_dir()).rglob("*.yml") if "tests" not in p.parts)
    collection = SigmaCollection.load_ruleset(paths, collect_errors=True)
    errors = [f"{r.source}: {e}" for r in collection.rules for e in r.errors]
    assert not errors
    for rule in collection.rules:
        if isinstance(rule, SigmaRule):
            for condition in rule.detection.parsed_condition:
                condition.parse()
    issues = SigmaValidator(_validators()).validate_rules(collection.rules)
    assert not [f"{type(i).__name__}: {i.description} {i.rules[0].source}" for i in issues]


@pytest.mark.parametrize("tag", ["owasp.api1", "Attack.T1110"])
def test_the_validators_refuse_tags_outside_sigma_namespaces(tmp_path: Path, tag: str) -> None:
    """The check has teeth: a tag in no Sigma namespace (or badly formed) is an issue."""
    rule = tmp_path / "r.yml"
    rule.write_text(
        "title: t\nid: 5d1e6a3c-2b1f-4c0e-9a51-3f0b6f1d2e11\nlogsource: {category: webserver}\n"
        f"tags: [{tag}]\ndetection:\n  sel: {{cs-method: GET}}\n  condition: sel\n"
    )
    collection = SigmaCollection.load_ruleset([rule])
    assert SigmaValidator(_validators()).validate_rules(collection.rules)
