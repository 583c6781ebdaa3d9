"""The README's terminal examples for the store and for decisions run as printed (the installed
`apiwatch`, from a shell, in an empty directory), each exiting 0 without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _block_after(readme: str, marker: str) -> list[str]:
    """The command lines of the first ```sh block after ``marker``, comments kept."""
    block = readme.split(marker, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines: list[str] = []
    for line in block.splitlines():
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + line.strip()
        else:
            lines.append(line)
    return [line for line in lines if line.startswith("apiwatch ")]


def _shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("APIWATCH_") or k == "APIWATCH_HOME"}  # fmt: skip
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    return subprocess.run(["/bin/sh", "-c", line], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.slow
def test_the_store_and_decision_examples_run_as_printed(tmp_path: Path) -> None:
    """Every line of the collector's terminal example but `serve` (a backup directory made
    first, /backups moved under the test's directory), then the decisions example."""
    readme = (ROOT / "README.md").read_text()
    store = [line for line in _block_after(readme, "## The collector")
             if not line.startswith("apiwatch serve")]  # fmt: skip
    decisions = _block_after(readme, "By hand:")
    assert len(store) >= 10 and len(decisions) >= 5
    (tmp_path / "backups").mkdir()
    for line in [*store, *decisions]:
        done = _shell(line.replace("/backups/", f"{tmp_path}/backups/"), tmp_path)
        assert "Traceback" not in done.stdout + done.stderr, line
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    assert (tmp_path / "restored.db").exists()
