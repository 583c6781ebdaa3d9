"""Suite-wide setup: keys the tests create never land in the real ``$APIWATCH_HOME``."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests import _compile_tool


def _stale_compiled() -> list[str]:
    """Modules compiled with mypyc (``make compile``) whose source changed since."""
    tool = _compile_tool.load()
    return list(tool.stale()) if tool is not None else []


def pytest_configure(config: pytest.Config) -> None:
    # Python imports a compiled module instead of the .py beside it: tests of a changed module
    # would run its old machine code.
    stale = _stale_compiled()
    if stale:
        pytest.exit(
            f"compiled modules are older than their source ({', '.join(stale)}): "
            "run `make compile` (or `make pure` for pure Python)",
            returncode=4,
        )
    # Signing keys (and PostgreSQL key files) default to $APIWATCH_HOME; subprocesses (serve,
    # the demo) inherit this too. A test that needs its own home still monkeypatches it.
    if "APIWATCH_HOME" not in os.environ:
        os.environ["APIWATCH_HOME"] = tempfile.mkdtemp(prefix="apiwatch-home-")
