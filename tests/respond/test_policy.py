"""`parse_config`: the ``[respond]`` table, typed, with errors that name the exact key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from apiwatch.model import ConfigError
from apiwatch.respond import parse_config
from apiwatch.respond.notifiers import (
    NOTIFIER_TYPES,
    EmailNotifier,
    SlackNotifier,
    SmtpSettings,
    SyslogNotifier,
    WebhookNotifier,
    WebhookSettings,
    build_notifiers,
)

from .helpers import policy

DOCS = Path(__file__).resolve().parents[2] / "docs" / "response.md"


def documented_example() -> str:
    """The first TOML block of docs/response.md."""
    match = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert match is not None
    return match.group(1)


def error_of(data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


def test_the_documented_example_parses() -> None:
    """The example of docs/response.md parses into typed policies, allowlist and notifiers."""
    config = parse_config(tomllib.loads(documented_example())["respond"])
    assert config.base_url == "https://apiwatch.example.org"
    first, ranges, accounts, tokens = config.policies
    assert first.rules == ("credential-stuffing-*", "brute-force-account")
    assert (first.duration, first.max_duration, first.escalate) == (14400.0, 604800.0, 2.0)
    assert first.notify == ("ops",)
    assert (ranges.action, ranges.range_prefix, ranges.min_range_attackers) == ("ban_range", 24, 3)
    assert ranges.min_severity == "high"  # the default
    assert (accounts.action, tokens.action) == ("flag_account", "suggest_token_revocation")
    assert [(a.scope, a.value, a.reason) for a in config.allow] == [
        ("Range", "192.0.2.0/24", "office NAT")
    ]
    ops = config.notifiers["ops"]
    assert ops.type == "webhook"
    assert isinstance(ops.options, WebhookSettings)
    assert ops.options.secret_env == "APIWATCH_WEBHOOK_SECRET"


def test_nothing_configured_responds_to_nothing() -> None:
    """An absent ``[respond]`` table is a valid configuration with no policies."""
    config = parse_config(None)
    assert config.policies == ()
    assert config.protect_internal is True
    assert config.dry_run is False


def test_a_bad_duration_names_the_policy_index_and_key() -> None:
    """``respond.policy[1].duration: not a duration: '4x'`` — the exact key, and the value."""
    message = error_of({"policy": [policy(), policy(name="second", duration="4x")]})
    assert message.startswith("respond.policy[1].duration: not a duration: '4x'")


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (policy(action="lock_account"), "respond.policy[0].action: unknown action 'lock_account'"),
        (policy(min_severity="severe"), "respond.policy[0].min_severity: one of"),
        (policy(escalate=0.5), "respond.policy[0].escalate: must be between 1 and 100"),
        (policy(escalate=True), "respond.policy[0].escalate: must be a number"),
        (policy(range_prefix=8), "respond.policy[0].range_prefix: must be between 16 and 32"),
        (policy(max_duration="1h"), "respond.policy[0].max_duration: must not be shorter"),
        (policy(duration="0s"), "respond.policy[0].duration: must be a positive duration"),
        (policy(rules="credential-*"), "respond.policy[0].rules: must be a list of strings"),
        (policy(rules=["ok", ""]), "respond.policy[0].rules[1]: must be a non-empty string"),
        (policy(attacks=["Credential Stuffing"]), "respond.policy[0].attacks[0]: not an attack"),
        (policy(notify=["pager"]), "respond.policy[0].notify[0]: unknown notifier 'pager'"),
        (policy(durration="4h"), "respond.policy[0].durration: unknown key"),
        ({"action": "ban_ip"}, "respond.policy[0].name: required"),
    ],
)
def test_policy_errors_name_the_key(table: dict[str, Any], expected: str) -> None:
    """Every policy mistake is one ConfigError whose message starts with the key's full name."""
    assert error_of({"policy": [table]}).startswith(expected)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (policy(max_duration="99999999999d"), "respond.policy[0].max_duration: must be at most"),
        (policy(duration="99999999999d", max_duration="99999999999d"),
         "respond.policy[0].duration: must be at most"),
    ],
)  # fmt: skip
def test_a_duration_a_datetime_cannot_hold_is_refused_at_load(
    table: dict[str, Any], expected: str
) -> None:
    """A (max_)duration past 3650d is refused when loaded, not an overflow at every ban."""
    assert error_of({"policy": [table]}).startswith(expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"dry_run": "yes"}, "respond.dry_run: must be true or false"),
        ({"protect_internl": True}, "respond.protect_internl: unknown key"),
        ({"base_url": "ftp://x"}, "respond.base_url: must be an http:// or https:// URL"),
        ({"policy": {"name": "x"}}, "respond.policy: must be an array of tables"),
        ({"policy": [policy(), policy()]}, "respond.policy[1].name: duplicate"),
        (
            {"allow": [{"scope": "Ip", "value": "192.0.2.0/24"}]},
            "respond.allow[0].value: not an IP address: '192.0.2.0/24'",
        ),
        ({"allow": [{"scope": "Host", "value": "x"}]}, "respond.allow[0].scope: one of"),
        ({"notifiers": {"ops": {"type": "pager"}}}, "respond.notifiers.ops.type: unknown type"),
        (
            {"notifiers": {"ops": {"type": "webhook"}}},
            "respond.notifiers.ops.url: required",
        ),
        (
            {"notifiers": {"ops": {"type": "webhook", "url": "https://x.example", "secret": "s"}}},
            "respond.notifiers.ops.secret: unknown key",
        ),
        (
            {"notifiers": {"chat": {"type": "slack", "url": "https://hooks.slack.com/T/B/X"}}},
            "respond.notifiers.chat.url: a Slack webhook URL is a secret",
        ),
        (
            {"notifiers": {"ops": {"type": "webhook", "url": "https://x", "template": "$nope"}}},
            "respond.notifiers.ops.template: unknown field $nope",
        ),
        (
            {"notifiers": {"m": {"type": "smtp", "host": "h", "sender": "a@x", "to": []}}},
            "respond.notifiers.m.to: give at least one recipient",
        ),
        (
            {
                "notifiers": {
                    "m": {
                        "type": "smtp",
                        "host": "h",
                        "sender": "a@x",
                        "to": ["b@x"],
                        "username": "apiwatch",
                    }
                }
            },
            "respond.notifiers.m.password_env: required with username",
        ),
        (
            {"notifiers": {"s": {"type": "syslog", "host": "h", "protocol": "relp"}}},
            "respond.notifiers.s.protocol: one of udp, tcp, tls",
        ),
        (
            {"notifiers": {"s": {"type": "syslog", "host": "h", "facility": "local9"}}},
            "respond.notifiers.s.facility: not a syslog facility",
        ),
        (
            {"notifiers": {"a": {"type": "apprise"}}},
            "respond.notifiers.a.url: give exactly one of url and url_env",
        ),
    ],
)
def test_other_errors_name_the_key(data: dict[str, Any], expected: str) -> None:
    """Mistakes outside policies name their key the same way."""
    assert error_of(data).startswith(expected)


def test_secrets_come_from_the_environment() -> None:
    """Notifiers get their secrets from the variables the configuration names."""
    config = parse_config(
        {
            "notifiers": {
                "ops": {"type": "webhook", "url": "https://h.example/x", "secret_env": "HOOK"},
                "chat": {"type": "slack", "url_env": "SLACK_URL"},
                "mail": {
                    "type": "smtp",
                    "host": "mail.example",
                    "sender": "apiwatch@example.org",
                    "to": ["soc@example.org"],
                    "username": "apiwatch",
                    "password_env": "SMTP_PASSWORD",
                },
                "siem": {"type": "syslog", "host": "siem.example", "protocol": "tls"},
            }
        }
    )
    mail = config.notifiers["mail"].options
    assert isinstance(mail, SmtpSettings)
    assert (mail.port, mail.starttls, mail.tls) == (587, True, False)
    env = {"HOOK": "hook-secret", "SLACK_URL": "https://hooks.example/T/B/x", "SMTP_PASSWORD": "pw"}
    built = build_notifiers(config, environ=env)
    assert isinstance(built["ops"], WebhookNotifier)
    assert isinstance(built["chat"], SlackNotifier)
    assert isinstance(built["mail"], EmailNotifier)
    assert isinstance(built["siem"], SyslogNotifier)
    assert built["siem"].port == 6514
    assert "hook-secret" not in repr(built["ops"])


def test_a_missing_secret_variable_names_the_key_not_a_value() -> None:
    """An unset secret variable is a ConfigError naming the key and the variable."""
    config = parse_config(
        {"notifiers": {"ops": {"type": "webhook", "url": "https://h.example", "secret_env": "S"}}}
    )
    with pytest.raises(ConfigError, match=r"^respond\.notifiers\.ops\.secret_env: .*S is not set"):
        build_notifiers(config, environ={})


def test_every_documented_notifier_snippet_parses() -> None:
    """Each ``[respond.notifiers.*]`` example in docs/response.md is a valid configuration."""
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)[1:]
    assert len(blocks) >= 6
    for block in blocks:
        config = parse_config(tomllib.loads(block)["respond"])
        assert len(config.notifiers) == 1, block


def test_each_notifier_type_is_registered_by_its_module() -> None:
    """``type`` selects the settings each notifier module owns, listed in the order shipped."""
    assert list(NOTIFIER_TYPES) == ["webhook", "slack", "smtp", "syslog", "apprise"]
    for kind in NOTIFIER_TYPES.values():
        owner = kind.parse.__qualname__.split(".")[0]
        assert owner.endswith("Settings"), owner
    message = error_of({"notifiers": {"ops": {"type": "pager"}}})
    assert message.startswith(
        "respond.notifiers.ops.type: unknown type 'pager' "
        "(one of webhook, slack, smtp, syslog, apprise)"
    )
