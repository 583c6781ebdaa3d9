"""The sensor and the CLI work without the collector's web stack (the `server` extra)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_WITHOUT_SERVER = textwrap.dedent(
    """
    import sys
    for name in ("fastapi", "starlette", "uvicorn", "prometheus_client", "psycopg"):
        sys.modules[name] = None  # importing any of them now fails, as if not installed
    from apiwatch.sensor import ApiwatchMiddleware, WSGIMiddleware
    from apiwatch.sensor.shipper import Shipper
    from apiwatch import audit
    from apiwatch.cli import cli
    from click.testing import CliRunner
    result = CliRunner().invoke(cli, ["serve", "--db", "sqlite:///:memory:x"])
    print(result.exit_code, result.output.strip())
    """
)


def test_sensor_and_cli_import_without_the_server_extra() -> None:
    """Without fastapi/starlette/uvicorn the sensor imports, and `serve` names the missing extra."""
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SERVER],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pip install 'apiwatch[server]'" in result.stdout
    assert result.stdout.startswith("1 ")


@pytest.mark.slow
def test_the_wheel_ships_the_rule_packs_their_golden_cases_and_the_drl_license(
    tmp_path: Path,
) -> None:
    """A built wheel carries the built-in rules with their golden cases and the SigmaHQ pack with
    its DRL 1.1 license and attribution, so `apiwatch scan`/`rules test` work when installed;
    it is pure Python even from a compiled checkout (no extension, no compile stamp)."""
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "-w", str(tmp_path), str(Path(__file__).parents[1])],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("apiwatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    rules = "apiwatch/detect/rules/"
    assert f"{rules}builtin/credentials.yml" in names
    assert sum(n.startswith(f"{rules}builtin/tests/") and n.endswith(".ndjson") for n in names) > 50
    assert f"{rules}sigmahq/LICENSE" in names and f"{rules}sigmahq/README.md" in names
    assert sum(n.startswith(f"{rules}sigmahq/") and n.endswith(".yml") for n in names) == 115
    # pure Python, whatever `make compile` left in the tree; the prebuilt matcher as source
    assert "apiwatch/detect/_pack.py" in names
    assert not [n for n in names if n.endswith((".so", ".compiled.json"))]
