"""The compiled build (``make compile``: mypyc over detection and access-log parsing) behaves
exactly as the pure-Python source, and the test suite never runs stale machine code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import apiwatch.detect.engine
from tests import _compile_tool

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
    tool = _compile_tool.load()
    assert tool is not None
    return tool


def test_ci_runs_the_compiled_build() -> None:
    """Where `.ci/run` asks for it (``APIWATCH_REQUIRE_COMPILED=1``, after making sure of a C
    compiler), the suite runs on the compiled modules that `make test` built, as `make demo`
    does: a compile that fell back to pure Python fails here instead of going unnoticed."""
    if os.environ.get("APIWATCH_REQUIRE_COMPILED") != "1":
        pytest.skip("set APIWATCH_REQUIRE_COMPILED=1 to require the compiled build (.ci/run does)")
    assert COMPILED, f"make test fell back to pure Python: {_stamp()}"


def _stamp() -> str:
    path: Path = _tool().STAMP
    return path.read_text(encoding="utf-8") if path.exists() else "no compile stamp"


@pytest.mark.slow
@pytest.mark.skipif(not COMPILED, reason="the checkout is not compiled (make compile)")
def test_compiled_and_pure_python_give_the_same_detections_and_events(tmp_path: Path) -> None:
    """Alerts and incidents over a simulated stream, the events parsed from its nginx log, and
    the detections on those are identical in the compiled build and in pure Python."""
    pure = tmp_path / "src"
    _tool().pure_copy(pure)
    compiled, plain = _run(ROOT / "src"), _run(pure)
    assert (compiled.pop("build"), plain.pop("build")) == ("so", "py")
    assert compiled["stream"] and compiled["log"]  # alerts and incidents to compare
    assert compiled == plain


def test_stale_compiled_modules_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled modules are reported stale (the suite refuses to run then) when a source changed
    after compiling, when the stamp is for another list of modules or another Python, and when
    an extension is left of a module the list no longer names; an uncompiled tree never is."""
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
    tool.STAMP.write_text(json.dumps({**tool.digests(), "(python)": ".other.so"}))
    assert tool.stale() == ["(python)"]  # compiled for another Python
    tool.STAMP.write_text(json.dumps(tool.digests()), encoding="utf-8")
    (source / "matcher.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    assert tool.stale() == ["apiwatch/detect/matcher.cpython-311-x86_64-linux-gnu.so"]
    tool.remove()
    assert tool.built() == [] and not tool.STAMP.exists()


def test_a_machine_that_cannot_compile_stays_pure_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a C compiler the compile step builds nothing, stamps the reason (so make does not
    retry it until a source changes) and the checkout stays pure Python: never a broken build."""
    tool = _tool()
    monkeypatch.setattr(tool, "SRC", tmp_path)
    monkeypatch.setattr(tool, "STAMP", tmp_path / ".compiled.json")
    monkeypatch.setattr(tool.shutil, "which", lambda _name: None)
    assert tool.compile_modules() is False
    reason = json.loads(tool.STAMP.read_text(encoding="utf-8"))["pure"]
    assert "no C compiler" in reason or "headers" in reason or "mypyc" in reason
    assert tool.built() == [] and tool.stale() == []
