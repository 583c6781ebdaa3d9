"""`pip install apiwatch` is the sensor alone: two dependencies whose own dependencies bring
nothing of the CLI (no click, rich, pySigma, nor httpx's `cli` extra), nothing of the CLI,
detection or store loaded by it; the command line says which extra brings it; every extra that
runs the CLI brings all it needs. (What the installs weigh and cost at import, measured from
real installs: bench/slim_install.py.)"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CLI_ONLY = ("click", "rich", "sigma", "yaml", "cryptography")


def _names(requirements: list[str]) -> set[str]:
    return {r.split("[")[0].split(">")[0].split("=")[0].strip().lower() for r in requirements}


def test_the_base_install_is_the_sensor_with_two_dependencies() -> None:
    """The base dependencies are msgspec and httpx only."""
    assert _names(PROJECT["dependencies"]) == {"msgspec", "httpx"}


def _pulled(requirements: list[str]) -> dict[str, set[str]]:
    """Every distribution ``requirements`` bring, transitively, with the extras asked of each,
    resolved over the installed distributions' metadata as pip would (markers evaluated)."""
    found: dict[str, set[str]] = {}
    todo = [(Requirement(text), "") for text in requirements]
    while todo:
        requirement, asked_by_extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": asked_by_extra}):
            continue
        name = canonicalize_name(requirement.name)
        extras = found.setdefault(name, set())
        new = (set(requirement.extras) | {""}) - extras
        extras.update(new)
        for extra in new:
            todo += [(Requirement(text), extra)
                     for text in importlib.metadata.requires(name) or ()]  # fmt: skip
    return found


def test_the_sensor_install_pulls_nothing_of_the_command_line() -> None:
    """The base dependencies and theirs, transitively, hold no click, rich, pySigma or Pygments,
    and httpx comes without its `cli` extra: a handful of small distributions."""
    pulled = _pulled(PROJECT["dependencies"])
    assert not {"click", "rich", "pysigma", "pygments", "pyyaml", "cryptography"} & set(pulled)
    assert pulled["httpx"] == {""}, pulled["httpx"]
    assert len(pulled) <= 10, sorted(pulled)


def test_the_cli_extra_does_pull_the_command_line() -> None:
    """The same resolution over the `cli` extra finds click, rich and pySigma: the check above
    can fail."""
    pulled = _pulled(PROJECT["optional-dependencies"]["cli"])
    assert {"click", "rich", "pysigma"} <= set(pulled)


def test_every_extra_that_runs_the_cli_brings_what_it_needs() -> None:
    """`server`, `demo` and `dev` (what `make test` and `make demo` install) hold the cli
    extra's dependencies."""
    extras = PROJECT["optional-dependencies"]
    for name in ("server", "demo", "dev"):
        assert _names(extras["cli"]) <= _names(extras[name]), name


def test_the_sensor_works_without_the_cli_detection_and_store_libraries() -> None:
    """With click, rich, pySigma, PyYAML and cryptography absent, the sensor, its middleware, the
    shipper and the audit API import and record an event, and load none of them."""
    code = textwrap.dedent(
        f"""
        import sys
        for name in {CLI_ONLY!r}:
            sys.modules[name] = None  # importing it now fails, as if not installed
        from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput, Sensor, WSGIMiddleware
        from apiwatch.sensor.shipper import Shipper
        from apiwatch import audit
        from apiwatch.sensor.audit import emit_to
        memory = MemoryOutput()
        sensor = Sensor.from_options(service="shop", outputs=[memory])
        emit_to(sensor, None, "authn_login_fail", user="alice")
        print(len(memory.events))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "1"), done.stderr


def test_the_command_line_without_its_extra_names_it() -> None:
    """Without click, `apiwatch` says to install the cli extra, in one line, exit 1."""
    code = "import sys; sys.modules['click'] = None; from apiwatch.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "apiwatch: the command line needs the cli extra: pip install 'apiwatch[cli]'"
    )


def test_importing_the_sensor_loads_no_http_client_until_it_enforces() -> None:
    """`import apiwatch.sensor` and its ASGI/WSGI middleware leave httpx unloaded (it comes with
    shipping or enforcing), which keeps the import fast."""
    code = ("import sys, apiwatch.sensor, apiwatch.sensor.asgi, apiwatch.sensor.wsgi; "
            "print('httpx' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == "False"
