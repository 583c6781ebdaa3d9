"""The notifiers apiwatch ships, and `build_notifiers` to make them from the configuration.

Each is a `apiwatch.respond.notify.Notifier`: ``send(message)`` delivers or raises
`NotifyError`. Each notifier's module owns its settings (the keys of its
``[respond.notifiers.<name>]`` table and how they make the notifier) and offers them as its
``NOTIFIER``; `NOTIFIER_TYPES` registers them by ``type``. Secrets are read from the
environment variables the configuration names, when the notifiers are made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Protocol

from apiwatch.respond._config import Table
from apiwatch.respond.notifiers import apprise, slack, smtp, syslog, webhook
from apiwatch.respond.notifiers._settings import NotifierSettings, NotifierType
from apiwatch.respond.notifiers.apprise import AppriseNotifier, AppriseSettings
from apiwatch.respond.notifiers.slack import SlackNotifier, SlackSettings, slack_payload
from apiwatch.respond.notifiers.smtp import EmailNotifier, SmtpSettings, email_message
from apiwatch.respond.notifiers.syslog import (
    FACILITIES,
    SyslogNotifier,
    SyslogSettings,
    cef,
    rfc5424,
)
from apiwatch.respond.notifiers.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    WebhookSettings,
    sign,
    verify_signature,
)
from apiwatch.respond.notify import Notifier

__all__ = [
    "FACILITIES",
    "NOTIFIER_TYPES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AppriseNotifier",
    "AppriseSettings",
    "Configured",
    "EmailNotifier",
    "NotifierSettings",
    "NotifierType",
    "SlackNotifier",
    "SlackSettings",
    "SmtpSettings",
    "SyslogNotifier",
    "SyslogSettings",
    "WebhookNotifier",
    "WebhookSettings",
    "build_notifier",
    "build_notifiers",
    "cef",
    "email_message",
    "parse_notifier",
    "rfc5424",
    "sign",
    "slack_payload",
    "verify_signature",
]

NOTIFIER_TYPES: Final[Mapping[str, NotifierType]] = {
    kind.name: kind
    for kind in (webhook.NOTIFIER, slack.NOTIFIER, smtp.NOTIFIER, syslog.NOTIFIER, apprise.NOTIFIER)
}
"""The notifier types, by the ``type`` that selects them."""


class Configured(Protocol):
    """What `build_notifiers` reads of a configuration (`apiwatch.respond.ResponseConfig`)."""

    @property
    def notifiers(self) -> Mapping[str, NotifierSettings]:
        """The ``[respond.notifiers.<name>]`` tables, by name."""
        ...


def parse_notifier(name: str, table: Table) -> NotifierSettings:
    """The settings of ``[respond.notifiers.<name>]`` (a `ConfigError` names a wrong key)."""
    return NotifierSettings.from_table(name, table, NOTIFIER_TYPES)


def build_notifiers(
    config: Configured, *, environ: Mapping[str, str] | None = None
) -> dict[str, Notifier]:
    """A notifier for each ``[respond.notifiers.<name>]``, secrets read from ``environ``
    (default: the process environment). A variable that is named but not set is a
    `ConfigError` naming the key (never the value)."""
    env = os.environ if environ is None else environ
    return {name: build_notifier(settings, env) for name, settings in config.notifiers.items()}


def build_notifier(settings: NotifierSettings, env: Mapping[str, str]) -> Notifier:
    """The notifier for one ``[respond.notifiers.<name>]``."""
    return settings.build(env)
