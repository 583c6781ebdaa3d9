"""Slack incoming webhook: ``text`` (the rendered template, the notification preview) plus
Block Kit blocks laying out the incident. The webhook URL is the secret: it is never logged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx
import msgspec

from apiwatch.respond._config import Table
from apiwatch.respond._redact import register_url
from apiwatch.respond.notifiers._http import post_json
from apiwatch.respond.notifiers._settings import NotifierType, Secrets, env_name
from apiwatch.respond.notify import Message, describe_decision

__all__ = ["NOTIFIER", "SlackNotifier", "SlackSettings", "slack_payload"]

_SECTION_MAX: Final = 2900  # Slack refuses section text over 3000 characters
_HEADER_MAX: Final = 150


def _escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<`` and ``>`` (so ``<!channel>`` cannot be injected)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int = _SECTION_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object with ``verbatim``: Slack then neither turns bare URLs into links nor
    parses mentions or channel names in it, so an account name such as
    ``https://evil.example/reset`` or ``@here`` stays text. (Our own link is written ``<url|..>``,
    which verbatim text still honours.)"""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(title: str, body: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_cut(f"*{title}*\n{_escape(body)}"))}


def slack_payload(message: Message, template: str = "") -> dict[str, Any]:
    """The JSON Slack is sent for ``message``."""
    fields = message.fields()
    facts = [
        ("Severity", fields["severity"]),
        ("Attackers", fields["attackers_count"]),
        ("First seen", fields["first_seen"]),
        ("Last seen", fields["last_seen"]),
        ("Accounts targeted", fields["accounts_targeted_count"]),
        ("Accounts compromised", fields["accounts_compromised_count"]),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(message.subject, 150)}},
        {
            "type": "section",
            "fields": [_mrkdwn(f"*{name}*\n{_escape(value)}") for name, value in facts],
        },
    ]
    if message.update and message.changes:
        blocks.append(_section("Changed", ", ".join(message.changes)))
    if message.accounts_compromised:
        blocks.append(_section("Accounts compromised", fields["accounts_compromised"]))
    blocks.append(_section("Attackers", fields["attackers"]))
    if message.objects_exposed_count:
        blocks.append(_section("Objects exposed", fields["objects_exposed"]))
    lines = [describe_decision(d) for d in message.decisions] or ["none"]
    blocks.append(_section("Decisions", "\n".join(lines)))
    if message.suggestions:
        blocks.append(_section("Suggested", "\n".join(message.suggestions)))
    link = f"<{message.link}|Open incident {_escape(message.incident)}>"
    blocks.append({"type": "context", "elements": [_mrkdwn(link)]})
    # "text" is the notification preview; unfurling off, so no attacker URL is previewed.
    return {
        "text": _cut(_escape(message.render(template))),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


class SlackNotifier:
    """Posts each message to a Slack incoming webhook ``url``."""

    def __init__(
        self,
        url: str,
        *,
        template: str = "",
        timeout: float = 10.0,
        ca_file: str = "",
        name: str = "slack",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        register_url(url)
        self._url = url
        self.template = template
        self.timeout = timeout
        self.ca_file = ca_file
        self.name = name
        self._transport = transport

    def __repr__(self) -> str:
        return f"SlackNotifier({self.name!r})"

    def send(self, message: Message) -> None:
        """POST ``message``; raise `NotifyError` on a transport error or a non-2xx answer."""
        post_json(
            self.name,
            self._url,
            msgspec.json.encode(slack_payload(message, self.template)),
            timeout=self.timeout,
            ca_file=self.ca_file,
            transport=self._transport,
        )


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """A Slack incoming webhook; its URL is a secret, so it comes from ``url_env``."""

    url_env: str
    timeout: float = 10.0
    ca_file: str = ""

    @classmethod
    def from_table(cls, table: Table) -> SlackSettings:
        """The ``type = "slack"`` keys of ``table``."""
        if table.has("url"):
            raise table.error(
                "url", "a Slack webhook URL is a secret: name its variable in url_env"
            )
        return cls(
            url_env=env_name(table, "url_env", required=True),
            timeout=table.duration("timeout", "10s"),
            ca_file=table.string("ca_file", ""),
        )

    def build(self, name: str, template: str, secrets: Secrets) -> SlackNotifier:
        """The Slack notifier these settings describe."""
        return SlackNotifier(
            secrets("url_env", self.url_env),
            template=template,
            timeout=self.timeout,
            ca_file=self.ca_file,
            name=name,
        )


NOTIFIER: Final = NotifierType("slack", SlackSettings.from_table)
