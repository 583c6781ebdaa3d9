"""Prints the CrowdSec hub table at the end of a run that scanned the hub's tests."""

from __future__ import annotations

import pytest

from tests.hub.report import table


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.hub.test_crowdsec_hub import OUTCOMES

    if OUTCOMES:
        terminalreporter.write_sep("-", "CrowdSec hub tests (python -m tests.hub.report --list)")
        terminalreporter.write_line(table(OUTCOMES))
