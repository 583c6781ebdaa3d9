"""The installed `apiwatch` command fails in one ``apiwatch: …`` line, never a traceback, and a
failed start leaves no store or key file behind."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apiwatch.model import Event, EventMeta, Source, encode_event
from apiwatch.store import Batch, StoredLine, open_store
from tests.tls_helpers import write_self_signed

APIWATCH = Path(sys.executable).with_name("apiwatch")


def _run(workdir: Path, *args: str, python: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command (or ``python -c`` code running its `main`) in ``workdir``."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("APIWATCH_") or k == "APIWATCH_HOME"}  # fmt: skip
    command = [sys.executable, "-c", python, *args] if python else [str(APIWATCH), *args]
    result = subprocess.run(command, cwd=workdir, env=environment, capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    return result


def _one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("apiwatch: "), result.stderr
    return lines[0]


def test_a_postgresql_url_without_psycopg_names_the_extra(tmp_path: Path) -> None:
    """Without psycopg installed, a postgresql:// store says to install the postgres extra."""
    code = ("import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'apiwatch'\n"
            "from apiwatch.cli import main; main()")  # fmt: skip
    result = _run(tmp_path, "verify", "--db", "postgresql://postgres@127.0.0.1/test", python=code)
    assert "pip install 'apiwatch[postgres]'" in _one_error(result)


@pytest.mark.parametrize("content", [b"garbage, not a database\n", b""])
def test_verify_refuses_a_file_that_is_not_an_apiwatch_store(
    tmp_path: Path, content: bytes
) -> None:
    """`verify` on a damaged or foreign file says it is not an apiwatch store, and leaves the
    file as it was."""
    store = open_store(f"sqlite:///{tmp_path / 'real.db'}")
    store.close()
    (tmp_path / "bad.db").write_bytes(content)
    shutil.copy(tmp_path / "real.db.keys", tmp_path / "bad.db.keys")
    result = _run(tmp_path, "verify", "--db", "sqlite:///bad.db")
    assert "bad.db is not an apiwatch store" in _one_error(result)
    assert (tmp_path / "bad.db").read_bytes() == content


def test_verify_says_a_copy_of_a_live_store_looks_emptied(tmp_path: Path) -> None:
    """A plain copy of a live store's file (its contents still in the WAL) is called emptied,
    not intact."""
    store = open_store(f"sqlite:///{tmp_path / 'live.db'}")
    event = Event(event=EventMeta(action="authn_login_fail"), source=Source(ip="192.0.2.1"))
    store.events.append([Batch([StoredLine(event, encode_event(event))], "api-1")])
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(tmp_path / "live.db", copy / "live.db")
    shutil.copy(tmp_path / "live.db.keys", copy / "live.db.keys")
    try:
        result = _run(copy, "verify", "--db", "sqlite:///live.db")
    finally:
        store.close()
    assert "looks emptied" in _one_error(result)
    assert "intact" not in result.stdout


def test_serve_with_a_bad_tls_certificate_fails_in_one_line_making_nothing(
    tmp_path: Path,
) -> None:
    """A certificate that does not load stops `serve` before any store or key file exists."""
    _, key = write_self_signed(tmp_path)
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    result = _run(tmp_path, "serve", "--db", "sqlite:///s.db", "--tls-cert", "bad.pem",
                  "--tls-key", str(key))  # fmt: skip
    assert "do not load as a PEM certificate" in _one_error(result)
    assert not list(tmp_path.glob("s.db*"))


def test_serve_on_a_port_in_use_fails_in_one_line_making_nothing(tmp_path: Path) -> None:
    """A port already taken stops `serve` before it says it collects or makes a store."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = _run(tmp_path, "serve", "--db", "sqlite:///s.db", "--port", port)
    assert f"127.0.0.1:{port}: Address already in use" in _one_error(result)
    assert not list(tmp_path.glob("s.db*"))


@pytest.mark.slow
def test_serve_on_port_0_prints_the_real_port(tmp_path: Path) -> None:
    """`serve --port 0` says the port it actually listens on, and answers there."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("APIWATCH_") or k == "APIWATCH_HOME"}  # fmt: skip
    process = subprocess.Popen([str(APIWATCH), "serve", "--db", "sqlite:///s.db", "--port", "0"],
                               cwd=tmp_path, env=environment, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        assert process.stderr is not None
        line = next(line for line in process.stderr if "collecting on" in line)
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        assert port != 0
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_serve_on_a_missing_postgresql_database_leaves_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL database that does not exist stops `serve` in one line, and the key files
    made for it are gone."""
    home = tmp_path / "home"
    monkeypatch.setenv("APIWATCH_HOME", str(home))
    url = "postgresql://postgres@127.0.0.1:5432/apiwatch_no_such_database"
    result = _run(tmp_path, "serve", "--db", url, "--port", "0")
    assert 'database "apiwatch_no_such_database" does not exist' in _one_error(result)
    assert not [path for path in home.rglob("*") if path.is_file()]


def test_simulate_with_too_few_lines_says_the_floor(tmp_path: Path) -> None:
    """`simulate --lines 1000` (allowed by its help) says how many lines these options need."""
    result = _run(tmp_path, "simulate", "--lines", "1000", "--out", "sim")
    error = _one_error(result)
    assert "lines: 1,000 is too few" in error and "--no-traps" in error


def test_a_usage_error_ends_in_the_apiwatch_style(tmp_path: Path) -> None:
    """A wrong option keeps click's usage lines but ends with one ``apiwatch: …`` line."""
    result = _run(tmp_path, "verify", "--no-such-option")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "apiwatch: No such option '--no-such-option'."
