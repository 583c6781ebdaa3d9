"""The sensor and the CLI work without the collector's web stack (the `server` extra)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
