"""The notifiers apiwatch ships, and `build_notifiers` to make them from the configuration.

Each is a `apiwatch.respond.notify.Notifier`: ``send(message)`` delivers or raises
`NotifyError`. Secrets are read from the environment variables the configuration names, here and
nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from apiwatch.model import ConfigError
from apiwatch.respond.notifiers.apprise import AppriseNotifier
from apiwatch.respond.notifiers.slack import SlackNotifier, slack_payload
from apiwatch.respond.notifiers.smtp import EmailNotifier, email_message
from apiwatch.respond.notifiers.syslog import FACILITIES, SyslogNotifier, cef, rfc5424
from apiwatch.respond.notifiers.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    sign,
    verify_signature,
)
from apiwatch.respond.notify import Notifier

if TYPE_CHECKING:
    from apiwatch.respond.policy import NotifierSettings, ResponseConfig

__all__ = [
    "FACILITIES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AppriseNotifier",
    "EmailNotifier",
    "SlackNotifier",
    "SyslogNotifier",
    "WebhookNotifier",
    "build_notifier",
    "build_notifiers",
    "cef",
    "email_message",
    "rfc5424",
    "sign",
    "slack_payload",
    "verify_signature",
]


def build_notifiers(
    config: ResponseConfig, *, environ: Mapping[str, str] | None = None
) -> dict[str, Notifier]:
    """A notifier for each ``[respond.notifiers.<name>]``, secrets read from ``environ``
    (default: the process environment). A variable that is named but not set is a
    `ConfigError` naming the key (never the value)."""
    env = os.environ if environ is None else environ
    return {name: build_notifier(settings, env) for name, settings in config.notifiers.items()}


def _secret(env: Mapping[str, str], settings: NotifierSettings, key: str, variable: str) -> str:
    if not variable:
        return ""
    value = env.get(variable, "")
    if not value:
        raise ConfigError(
            f"respond.notifiers.{settings.name}.{key}: environment variable {variable} is not set"
        )
    return value


def build_notifier(settings: NotifierSettings, env: Mapping[str, str]) -> Notifier:
    """The notifier for one ``[respond.notifiers.<name>]``."""
    from apiwatch.respond.policy import (  # noqa: PLC0415 (policy imports this package)
        AppriseSettings,
        SlackSettings,
        SmtpSettings,
        SyslogSettings,
        WebhookSettings,
    )

    options, name, template = settings.options, settings.name, settings.template
    if isinstance(options, WebhookSettings):
        return WebhookNotifier(
            options.url,
            secret=_secret(env, settings, "secret_env", options.secret_env),
            template=template,
            timeout=options.timeout,
            ca_file=options.ca_file,
            name=name,
        )
    if isinstance(options, SlackSettings):
        return SlackNotifier(
            _secret(env, settings, "url_env", options.url_env),
            template=template,
            timeout=options.timeout,
            ca_file=options.ca_file,
            name=name,
        )
    if isinstance(options, SmtpSettings):
        return EmailNotifier(
            options.host,
            options.port,
            sender=options.sender,
            to=options.to,
            username=options.username,
            password=_secret(env, settings, "password_env", options.password_env),
            starttls=options.starttls,
            tls=options.tls,
            ca_file=options.ca_file,
            timeout=options.timeout,
            template=template,
            name=name,
        )
    if isinstance(options, SyslogSettings):
        return SyslogNotifier(
            options.host,
            options.port,
            protocol=options.protocol,
            facility=options.facility,
            hostname=options.hostname,
            ca_file=options.ca_file,
            timeout=options.timeout,
            name=name,
        )
    if isinstance(options, AppriseSettings):
        url = options.url or _secret(env, settings, "url_env", options.url_env)
        return AppriseNotifier(url, template=template, name=name)
    raise TypeError(f"unknown notifier settings: {type(options).__name__}")
