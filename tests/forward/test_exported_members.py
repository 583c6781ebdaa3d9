"""The public API of `apiwatch.forward` is its ``__all__``, pinned here."""

from __future__ import annotations

import apiwatch.forward

FORWARD_API = [
    "KINDS",
    "ElasticsearchSink",
    "ForwardError",
    "ForwardTarget",
    "NdjsonFileSink",
    "OtlpSink",
    "Record",
    "Sink",
    "SplunkSink",
    "SyslogSink",
    "build_sink",
    "from_alert",
    "from_event_line",
    "from_incident",
    "parse_forward",
]


def test_forward_all_is_the_pinned_api() -> None:
    """`apiwatch.forward.__all__` is exactly the pinned list, and every name exists."""
    assert sorted(apiwatch.forward.__all__) == sorted(FORWARD_API)
    assert all(hasattr(apiwatch.forward, name) for name in FORWARD_API)


def test_forward_imports_nothing_above_model() -> None:
    """The forward package imports only apiwatch.model of apiwatch (the layering of DESIGN.md)."""
    import ast
    from pathlib import Path

    root = Path(apiwatch.forward.__file__).parent
    for module in root.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("apiwatch."):
                assert node.module.startswith(("apiwatch.model", "apiwatch.forward")), (
                    f"{module.name} imports {node.module}"
                )
