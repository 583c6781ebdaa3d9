"""The checkout's compile tool (tools/compile.py, not a package), loaded by its path."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

PATH = Path(__file__).resolve().parent.parent / "tools" / "compile.py"


def load() -> ModuleType | None:
    """tools/compile.py as a module; None where the tests run without the checkout's tools."""
    if not PATH.exists():
        return None
    spec = importlib.util.spec_from_file_location("apiwatch_compile_tool", PATH)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
