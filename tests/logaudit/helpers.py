"""Running ``apiwatch audit`` as a user does, and writing deliberately bad logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from apiwatch.cli import cli


def audit(*args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", *args], catch_exceptions=False)


def audit_json(path: Path, *args: str) -> dict[str, Any]:
    result = audit("--json", str(path), *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def essentials(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in document["essentials"]}
