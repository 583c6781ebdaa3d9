"""`apiwatch audit` over every CrowdSec hub test log (../shared/crowdsec-hub, see its README):
every one is read, and what the audit says of them holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apiwatch.logaudit import ESSENTIALS, audit_file

from .helpers import audit

HUB = Path(__file__).resolve().parents[3] / "shared" / "crowdsec-hub"
EXPECTED = json.loads((HUB / "expected.json").read_text()) if HUB.exists() else {}
LOGS = {name: HUB / "tests" / name / entry["log_file"] for name, entry in EXPECTED.items()}


def test_the_hub_is_there() -> None:
    """The hub's 82 tests are beside the repository (the audit tests below need them)."""
    assert len(LOGS) == 82


@pytest.mark.parametrize("name", sorted(LOGS))
def test_every_hub_log_is_audited(name: str) -> None:
    """Each log's format is recognised and every essential gets a verdict; access logs have
    their route and status, and the time with its zone."""
    result = audit_file(LOGS[name])
    assert result.parsed > 0
    assert [f.essential for f in result.findings] == list(ESSENTIALS)
    verdicts = {f.essential: f.status for f in result.findings}
    if result.format.split(" in ")[0] == "nginx":
        assert verdicts["route"] == verdicts["status"] == "present", verdicts
        assert verdicts["time with zone"] == "present", verdicts


def test_zoneminder_tokens_in_query_strings_are_reported_not_shown() -> None:
    """The ZoneMinder log carries JWTs and auth hashes in URLs: lines named, values not shown."""
    log = LOGS["zoneminder_cve-39290"]
    result = audit("--json", str(log))
    leaks = {
        (leak["kind"], leak["field"]): leak["lines"] for leak in json.loads(result.stdout)["leaks"]
    }
    assert leaks[("token", "query parameter token")] == [9, 11, 12]
    assert leaks[("token", "query parameter auth")] == [1, 2, 3, 4, 6]  # the first five shown
    assert "eyJ0eXAi" not in result.stdout + audit(str(log)).stdout
    assert "88ac8155" not in result.stdout


def test_a_log_in_local_time_without_zone_is_named() -> None:
    """nginx error logs (local time, no zone) are reported as unusable for time, with the fix."""
    found = {f.essential: f for f in audit_file(LOGS["nginx_req_limit_exceeded"]).findings}
    assert found["time with zone"].status == "unusable"
    assert "error logs never carry a zone" in found["time with zone"].fix
