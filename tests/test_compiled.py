"""The compiled build (``make compile``: mypyc over detection and access-log parsing) behaves
exactly as the pure-Python source, and the test suite never runs stale machine code."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import apiwatch.detect.engine

ROOT = Path(__file__).resolve().parent.parent
COMPILED = apiwatch.detect.engine.__file__.endswith(".so")

# Prints what detection and parsing give on a simulated stream and its nginx log, with ids and
# event ids left out (the access-log parser makes random ones), and which build ran it.
_RUN = """
import json, sys, tempfile
from pathlib import Path
import msgspec
import apiwatch.detect.engine
from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.simulate import ScenarioConfig, generate, write_scenario
from apiwatch.sources import read_events

def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k not in ("id", "event_ids")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value

def detections(events):
    engine = Engine(load_rules([builtin_dir()]))
    alerts = []
    for event in events:
        engine.feed(event)
        alerts += engine.take_alerts()
    engine.flush()
    alerts += engine.take_alerts()
    return plain(msgspec.to_builtins([alerts, engine.incidents()]))

config = ScenarioConfig(seed=5, lines=15_000)
with tempfile.TemporaryDirectory() as tmp:
    log = write_scenario(config, Path(tmp)).access_log
    parsed = list(read_events(log))
out = {
    "build": apiwatch.detect.engine.__file__.rsplit(".", 1)[-1],
    "stream": detections(generate(config).events()),
    "parsed": plain(msgspec.to_builtins(parsed)),
    "log": detections(parsed),
}
json.dump(out, sys.stdout, sort_keys=True)
"""


def _run(src: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", _RUN], env=env, capture_output=True, check=True, timeout=600
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compile_tool", ROOT / "tools" / "compile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_runs_the_compiled_build() -> None:
    """Under CI (``make test``), the suite runs on the compiled modules, as `make demo` does."""
    if os.environ.get("CI") != "true":
        pytest.skip("the compiled build is checked under CI=true (make test compiles first)")
    assert COMPILED, "make test should have compiled the hot modules (tools/compile.py)"


@pytest.mark.slow
@pytest.mark.skipif(not COMPILED, reason="the checkout is not compiled (make compile)")
def test_compiled_and_pure_python_give_the_same_detections_and_events(tmp_path: Path) -> None:
    """Alerts and incidents over a simulated stream, the events parsed from its nginx log, and
    the detections on those are identical in the compiled build and in pure Python."""
    pure = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "apiwatch",
        pure / "apiwatch",
        ignore=shutil.ignore_patterns("*.so", "__pycache__", ".compiled.json"),
    )
    compiled, plain = _run(ROOT / "src"), _run(pure)
    assert (compiled.pop("build"), plain.pop("build")) == ("so", "py")
    assert compiled["stream"] and compiled["log"]  # alerts and incidents to compare
    assert compiled == plain


def test_stale_compiled_modules_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled module whose source changed after compiling is reported stale (the suite
    refuses to run then); an uncompiled tree never is."""
    tool = _tool()
    source = tmp_path / "apiwatch" / "detect"
    source.mkdir(parents=True)
    (source / "engine.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setattr(tool, "SRC", tmp_path)
    monkeypatch.setattr(tool, "STAMP", tmp_path / "apiwatch" / ".compiled.json")
    monkeypatch.setattr(tool, "MODULES", ["apiwatch/detect/engine.py"])
    assert tool.stale() == []  # nothing compiled
    (source / "engine.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    assert tool.stale() == ["apiwatch/detect/engine.py"]  # compiled, but no stamp
    tool.STAMP.write_text(json.dumps(tool.digests()), encoding="utf-8")
    assert tool.stale() == []
    (source / "engine.py").write_text("x = 2\n", encoding="utf-8")
    assert tool.stale() == ["apiwatch/detect/engine.py"]
    tool.remove()
    assert tool.built() == [] and not tool.STAMP.exists()
