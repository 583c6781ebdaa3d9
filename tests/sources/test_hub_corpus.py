"""Every log of the CrowdSec hub's HTTP scenario tests parses: no file unidentified, no mis-parse.

The corpus is the 82 hub tests (``expected.json`` names each log), found at ``$APIWATCH_HUB_DIR`` or
in ``../shared/crowdsec-hub`` beside the repository (where CI lays it); without it the test fails.
Each non-blank line must either give an event whose ``source.ip`` is an IP address (and whose
account is no other field's text) or be refused with a reason.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import pytest

from apiwatch.sources import LogFile

HUB = Path(
    os.environ.get("APIWATCH_HUB_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "crowdsec-hub"
)
TESTS: dict[str, dict[str, object]] = json.loads((HUB / "expected.json").read_text())
# Lines the hub's own tests hold that are not valid: an IPv6 "address" with nine groups.
KNOWN_BAD = {"sympa_ww-http-scan": 5}


@pytest.mark.parametrize("name", sorted(TESTS))
def test_every_hub_log_parses_with_no_misparse(name: str) -> None:
    """Each hub log is identified; its lines give events with a real client IP or are refused."""
    assert HUB is not None
    path = HUB / "tests" / name / str(TESTS[name]["log_file"])
    refused: list[tuple[int, str]] = []
    with LogFile(path) as log:
        events = list(log.events(on_error=lambda n, m: refused.append((n, m))))
    lines = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    assert len(events) + len(refused) == lines
    assert len(refused) == KNOWN_BAD.get(name, 0), refused
    for event in events:
        assert event.source is not None and event.source.ip is not None
        ipaddress.ip_address(event.source.ip)
        user = event.user.name if event.user and event.user.name else ""
        assert " " not in user and "[" not in user, user
        assert event.source.ip not in user
