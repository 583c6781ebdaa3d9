"""The public API of ``apiwatch.respond`` is its ``__all__``, pinned here."""

from __future__ import annotations

import apiwatch.respond
import apiwatch.respond.notifiers

RESPOND_API = [
    "ACTIONS",
    "DEFAULT_TEMPLATE",
    "MANUAL",
    "PROTECTED_NETWORKS",
    "TEMPLATE_FIELDS",
    "AllowEntries",
    "Allowlist",
    "AppriseNotifier",
    "Decided",
    "DecisionRefusedError",
    "Dispatcher",
    "EmailNotifier",
    "Guard",
    "MemoryNotifier",
    "Message",
    "Notifier",
    "NotifierStats",
    "NotifyError",
    "Policy",
    "Refusal",
    "Responder",
    "ResponseConfig",
    "SlackNotifier",
    "SyslogNotifier",
    "WebhookNotifier",
    "atomic_write",
    "banned_networks",
    "build_notifiers",
    "check_decidable",
    "manual_allow_entry",
    "manual_decision",
    "parse_config",
    "render_ipset",
    "render_nftables",
    "render_nginx",
    "sign",
    "verify_signature",
    "write_ipset",
    "write_nftables",
    "write_nginx",
]


def test_respond_exports_exactly_its_api() -> None:
    """``apiwatch.respond.__all__`` is the documented API, and every name in it exists."""
    assert apiwatch.respond.__all__ == RESPOND_API
    for name in RESPOND_API:
        assert hasattr(apiwatch.respond, name), name


def test_notifiers_exports_resolve() -> None:
    """Every name in ``apiwatch.respond.notifiers.__all__`` exists."""
    for name in apiwatch.respond.notifiers.__all__:
        assert hasattr(apiwatch.respond.notifiers, name), name
