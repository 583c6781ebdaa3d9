"""The apiwatch command line and the README's promises about it."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from apiwatch.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_help_explains_the_commands() -> None:
    """`apiwatch --help` exits 0 and lists the demo command with its summary."""
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output
    assert "OWASP API10" in result.output


def test_demo_finds_every_replayed_attack_live_and_offline(tmp_path: Path) -> None:
    """`apiwatch demo` replays a simulated attack mix through the shop and its sensor into a live
    collector: every attack becomes an incident naming its compromised accounts, nothing benign
    is reported, the 4-hour offline scan is perfect too; a stuffing run against an enforcing
    sensor is refused within 5 s of its alert with one signed webhook message while a real user
    keeps being served; a brute force written to the nginx log the collector tails (rotated
    half-way) is an incident; and the hash chain verifies."""
    result = subprocess.run(
        [sys.executable, "-m", "apiwatch", "demo", "--users", "20", "--dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    out = result.stdout
    live = re.search(r"Live: ([\d,]+) security events", out)
    assert live is not None and int(live.group(1).replace(",", "")) > 1000
    assert "score (ecs): PERFECT: 8/8 attacks detected" in out
    assert "score (ecs): PERFECT: 10/10 attacks detected" in out
    assert "0 false positives" in out
    assert "Distributed credential stuffing" in out
    assert "Logging stopped" in out
    response = re.search(r"enforced ([\d.]+) s after the alert", out)
    assert response is not None and float(response.group(1)) <= 5.0
    assert "Webhook messages about the incident: 1 (signature verified)" in out
    served = re.search(r"The real user was served (\d+) of (\d+) logins", out)
    assert served is not None and served.group(1) == served.group(2)
    tailed = re.search(r"^Live source: 40 lines .*$", out, re.MULTILINE)
    assert tailed is not None, out[-3000:]
    assert re.search(r"rotated half-way.*: incident \"[^\"]+\" \(\w+\) from 198\.51\.100\.77\.$",
                     tailed.group(0)), tailed.group(0)  # fmt: skip
    assert "hash chain: intact" in out
    assert "the web console was not started: stdout is not a terminal" in out  # so it ends
    assert all("\r" not in line for line in out.splitlines())
    _printed_commands_work(out, Path.cwd())  # where the demo ran: its paths are relative to it


def _printed_commands_work(out: str, cwd: Path) -> None:
    """The demo's follow-up `events` and `verify` lines run as printed, from a shell whose PATH
    does not hold the installation's bin directory."""
    printed = out.split("look around with\n", 1)[1].splitlines()
    lines = [line.strip() for line in printed if " events " in line or " verify " in line]
    assert len(lines) == 2
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if Path(p) != Path(sys.executable).parent)  # fmt: skip
    for line in lines:
        environment = {**os.environ, "PATH": path}
        done = subprocess.run(["/bin/sh", "-c", line], cwd=cwd, capture_output=True, text=True,
                              timeout=120, env=environment, check=False)  # fmt: skip
        assert done.returncode == 0, (line, done.stderr)


def test_unknown_command_is_one_clear_line() -> None:
    """A mistyped command gives a usage error and exit code 2, not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "apiwatch", "demoo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "No such command" in result.stderr


def test_readme_quick_start_is_the_two_make_targets() -> None:
    """The README's quick start is exactly `make demo` and `make test`, both Makefile targets."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)
    assert "$(BIN)/apiwatch demo" in makefile


def test_readme_python_snippets_compile() -> None:
    """Every Python example in the README (there are some) is valid, non-empty Python."""
    readme = (ROOT / "README.md").read_text()
    opened = re.findall(r"^```python$", readme, re.MULTILINE)
    snippets = re.findall(r"^```python\n(.*?)^```$", readme, re.DOTALL | re.MULTILINE)
    assert snippets, "no ```python example found in README.md"
    assert len(snippets) == len(opened), "a ```python block whose end was not found"
    for snippet in snippets:
        code = compile(snippet.replace("...", "None"), "README.md", "exec", ast.PyCF_ONLY_AST)
        assert code.body, f"an empty ```python example in README.md: {snippet!r}"


def test_user_mistake_is_one_line_without_traceback(tmp_path: Path) -> None:
    """A wrong store URL through the real entry point prints one line and exits 1."""
    result = subprocess.run(
        [sys.executable, "-m", "apiwatch", "keys", "list", "--db", "mysql://x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith(
        "apiwatch: db: 'mysql://x' is not a sqlite:/// or postgresql://"
    )


def _entry_point(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apiwatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**os.environ, **env},
    )


def test_uncreatable_store_path_is_one_line_without_traceback(tmp_path: Path) -> None:
    """A store or key file that cannot be created prints one line and exits 1."""
    for args in (
        ["keys", "create", "--name", "a", "--scope", "read", "--db", "sqlite:////proc/nope/x.db"],
        ["serve", "--db", "sqlite:////proc/nope/x.db"],
    ):
        result = _entry_point(*args, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.strip().count("\n") == 0
        assert result.stderr.startswith("apiwatch: key file /proc/nope/x.db.keys: cannot create")
    keys = str(tmp_path / "keys")
    result = _entry_point("serve", "--db", "sqlite:////proc/nope/x.db", cwd=tmp_path,
                          APIWATCH_KEY_FILE=keys)  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "apiwatch: db: cannot create /proc/nope/x.db (No such file or directory)"
    )
    assert not (tmp_path / "keys").exists()


def test_bad_setting_is_one_line_without_traceback(tmp_path: Path) -> None:
    """retention_days = 0 through the real entry point prints one line naming it, exit 1."""
    (tmp_path / "apiwatch.toml").write_text("retention_days = 0\n")
    result = _entry_point("serve", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "apiwatch: apiwatch.toml: retention_days must be 1 or more, not 0"
    )
    assert not (tmp_path / "apiwatch.db").exists()
