"""The public API of `apiwatch.logaudit` is its ``__all__``, pinned here."""

from __future__ import annotations

import ast
from pathlib import Path

import apiwatch.logaudit

LOGAUDIT_API = [
    "ESSENTIALS",
    "NGINX_ECS_LOG_FORMAT",
    "FileAudit",
    "Finding",
    "Leak",
    "LeakFinding",
    "audit_file",
    "find_leaks",
]


def test_logaudit_all_is_the_pinned_api() -> None:
    """`apiwatch.logaudit.__all__` is exactly the pinned list, and every name exists."""
    assert sorted(apiwatch.logaudit.__all__) == sorted(LOGAUDIT_API)
    assert all(hasattr(apiwatch.logaudit, name) for name in LOGAUDIT_API)


def test_logaudit_imports_only_model_and_sources() -> None:
    """The audit reads logs through apiwatch.sources and knows apiwatch.model, nothing else."""
    root = Path(apiwatch.logaudit.__file__).parent
    allowed = ("apiwatch.model", "apiwatch.sources", "apiwatch.logaudit")
    for module in root.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("apiwatch."):
                assert node.module.startswith(allowed), f"{module.name} imports {node.module}"
