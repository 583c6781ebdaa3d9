"""`apiwatch config check`, `events` saying when more match, and shell completion, as the
installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apiwatch.model import Event, EventMeta, Source, encode_event
from apiwatch.store import Batch, StoredLine, open_store

APIWATCH = Path(sys.executable).with_name("apiwatch")


def _run(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("APIWATCH_") or k == "APIWATCH_HOME"}  # fmt: skip
    result = subprocess.run([str(APIWATCH), *args], cwd=workdir, env={**environment, **env},
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_config_check_accepts_the_defaults_without_making_a_store(tmp_path: Path) -> None:
    """With no settings file, `config check` says what would run and creates nothing."""
    result = _run(tmp_path, "config", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("defaults: ok: store sqlite:///./apiwatch.db;")
    assert "detecting with" in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("port = 70000\n", "apiwatch.toml: port must be from 0 to 65535, not 70000"),
        ("colour = 1\n", "apiwatch.toml: unknown setting"),
        ("[respond]\nbogus = 1\n", "respond.bogus: unknown key"),
        ('rules = ["nowhere"]\n', "rules: nowhere does not exist"),
        ('tls_cert = "c.pem"\n', "tls_cert and tls_key go together"),
    ],
)
def test_config_check_names_the_first_problem_in_one_line(
    tmp_path: Path, toml: str, expected: str
) -> None:
    """A wrong setting, [respond] key, rule path or TLS pair fails `config check` with one
    ``apiwatch:`` line naming it, and nothing is made."""
    (tmp_path / "apiwatch.toml").write_text(toml)
    result = _run(tmp_path, "config", "check")
    assert result.returncode != 0
    assert expected in result.stderr.strip().splitlines()[-1]
    assert result.stderr.strip().splitlines()[-1].startswith("apiwatch: ")
    assert [p.name for p in tmp_path.iterdir()] == ["apiwatch.toml"]


def test_events_says_when_more_events_match_than_shown(tmp_path: Path) -> None:
    """`events --limit 2` over 3 matching events says on stderr that more match; a limit that
    covers them all says nothing."""
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    lines = []
    for i in range(3):
        event = Event(event=EventMeta(action="authn_login_fail"), source=Source(ip=f"192.0.2.{i}"))
        lines.append(StoredLine(event, encode_event(event)))
    store.events.append([Batch(lines, "api-1")])
    store.close()
    cut = _run(tmp_path, "events", "--db", "sqlite:///a.db", "--limit", "2")
    assert len(cut.stdout.splitlines()) == 2
    assert "note: more events match than the 2 events shown" in cut.stderr
    whole = _run(tmp_path, "events", "--db", "sqlite:///a.db", "--limit", "3")
    assert len(whole.stdout.splitlines()) == 3
    assert "more events match" not in whole.stderr


def test_bash_completion_script_is_available(tmp_path: Path) -> None:
    """The completion the README documents (_APIWATCH_COMPLETE=bash_source) prints a script."""
    result = _run(tmp_path, _APIWATCH_COMPLETE="bash_source")
    assert result.returncode == 0
    assert "_apiwatch_completion" in result.stdout
