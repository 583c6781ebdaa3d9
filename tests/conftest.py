"""Suite-wide setup: keys the tests create never land in the real ``$APIWATCH_HOME``."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

_COMPILE = Path(__file__).resolve().parent.parent / "tools" / "compile.py"


def _stale_compiled() -> list[str]:
    """Modules compiled with mypyc (``make compile``) whose source changed since."""
    spec = importlib.util.spec_from_file_location("apiwatch_compile_tool", _COMPILE)
    if spec is None or spec.loader is None:  # an installed copy, without the checkout's tools
        return []
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return list(tool.stale())


def pytest_configure(config: pytest.Config) -> None:
    # Python imports a compiled module instead of the .py beside it: tests of a changed module
    # would run its old machine code.
    stale = _stale_compiled() if _COMPILE.exists() else []
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
