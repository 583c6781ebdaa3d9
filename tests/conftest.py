"""Suite-wide setup: keys the tests create never land in the real ``$APIWATCH_HOME``."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Signing keys (and PostgreSQL key files) default to $APIWATCH_HOME; subprocesses (serve,
    # the demo) inherit this too. A test that needs its own home still monkeypatches it.
    if "APIWATCH_HOME" not in os.environ:
        os.environ["APIWATCH_HOME"] = tempfile.mkdtemp(prefix="apiwatch-home-")
