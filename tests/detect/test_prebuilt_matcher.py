"""The built-in pack's matcher generated ahead of time (`apiwatch.detect._pack`): current, used
for the built-in pack only, and matching exactly what the same source compiled at run time does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from apiwatch.detect import Engine, builtin_dir, load_rules, to_record
from apiwatch.detect._prebuild import PACK_MODULE, builtin_source, main
from apiwatch.detect.matcher import Generated, MatchAll, generate, module_source, prebuilt
from apiwatch.simulate import ScenarioConfig
from apiwatch.simulate import generate as simulate
from tests.detect.helpers import detection


def _trees(engine: Engine) -> list[Any]:
    return [rule.tree for rule in engine.detections]


def _at_run_time(generated: Generated) -> MatchAll:
    """``generated`` compiled as `compile_all` does when no prebuilt module fits."""
    namespace = dict(generated.namespace)
    exec(compile(generated.source, "<sigma-rules>", "exec"), namespace)  # noqa: S102
    match: MatchAll = namespace["_match_all"]
    return match


def _with_extra_rule(tmp_path: Path) -> Engine:
    """An engine on the built-in pack and one rule more."""
    folder = tmp_path / "extra"
    folder.mkdir()
    body = "sel: {url.path|contains: /extra-probe}\ncondition: sel"
    (folder / "rules.yml").write_text(detection("extra", body), encoding="utf-8")
    ruleset = load_rules([builtin_dir(), folder])
    assert not ruleset.problems
    return Engine(ruleset)


def _records() -> list[Any]:
    """Flattened events of every kind the simulator makes (benign users, traps, attacks)."""
    return [to_record(event) for event in simulate(ScenarioConfig(seed=3, lines=15_000)).events()]


def test_the_committed_module_is_what_the_builtin_pack_generates() -> None:
    """`_pack.py` is current: a change to the built-in rules or the generator needs
    `make pack-matcher` (and `prebuild --check` says so)."""
    assert PACK_MODULE.read_text(encoding="utf-8") == builtin_source()
    assert main(["--check"]) == 0


def test_check_fails_on_a_stale_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`prebuild --check` exits 1 when the module on disk differs; a plain run writes it."""
    stale = tmp_path / "_pack.py"
    stale.write_text("DIGEST = 'old'\n", encoding="utf-8")
    monkeypatch.setattr("apiwatch.detect._prebuild.PACK_MODULE", stale)
    assert main(["--check"]) == 1
    assert main([]) == 0
    assert stale.read_text(encoding="utf-8") == builtin_source()
    assert main(["--check"]) == 0


def test_the_builtin_pack_runs_the_prebuilt_matcher() -> None:
    """An engine on the built-in pack binds `_pack`'s function, not one compiled at run time."""
    engine = Engine(load_rules([builtin_dir()]))
    assert engine.match_all.__module__ == "apiwatch.detect._pack"


def test_any_other_pack_is_compiled_at_run_time(tmp_path: Path) -> None:
    """A pack with one more rule has another source: no prebuilt function, the run-time one."""
    engine = _with_extra_rule(tmp_path)
    assert prebuilt(generate(_trees(engine))) is None
    assert engine.match_all.__module__ != "apiwatch.detect._pack"


def test_prebuilt_and_run_time_matchers_agree_on_every_event() -> None:
    """On every simulated event, the prebuilt matcher (compiled when the build is) returns
    exactly the rule indexes the same source compiled at run time returns."""
    generated = generate(_trees(Engine(load_rules([builtin_dir()]))))
    fast = prebuilt(generated)
    assert fast is not None
    slow = _at_run_time(generate(_trees(Engine(load_rules([builtin_dir()])))))
    records = _records()
    results = [fast(r.values, r.lower) for r in records]
    assert results == [slow(r.values, r.lower) for r in records]
    assert sum(bool(result) for result in results) > len(records) // 2  # rules did fire


def test_a_module_written_for_any_pack_matches_as_its_source_does(tmp_path: Path) -> None:
    """`module_source` is the same matcher for any pack: written, imported and bound, it agrees
    with the run-time compile of its source (here a pack of the built-in rules and one more)."""
    trees = _trees(_with_extra_rule(tmp_path))
    path = tmp_path / "custom_pack.py"
    path.write_text(module_source(generate(trees)), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("custom_pack", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_pack"] = module
    try:
        spec.loader.exec_module(module)
        bound = module.bind(generate(trees).namespace)
    finally:
        del sys.modules["custom_pack"]
    slow = _at_run_time(generate(trees))
    records = _records()
    assert [bound(r.values, r.lower) for r in records] == [slow(r.values, r.lower) for r in records]
