"""Apprise: any service apprise knows (Teams, Telegram, PagerDuty, Matrix, ntfy ...) by URL.

apprise is an optional extra (``pip install 'apiwatch[apprise]'``), imported only when an apprise
notifier is made; without it, making one raises a `ConfigError` that says what to install.
apprise URLs usually hold tokens, so they are registered as secrets and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from apiwatch.model import ConfigError
from apiwatch.respond._config import Table
from apiwatch.respond._redact import register_url
from apiwatch.respond.notifiers._settings import NotifierType, Secrets, env_name
from apiwatch.respond.notify import Message, NotifyError

if TYPE_CHECKING:
    import apprise as _apprise

__all__ = ["NOTIFIER", "AppriseNotifier", "AppriseSettings"]


def _load() -> Any:
    try:
        import apprise  # noqa: PLC0415 (an optional extra, imported only when used)
    except ImportError:
        raise ConfigError(
            "the apprise notifier needs the apprise package: pip install 'apiwatch[apprise]'"
        ) from None
    return apprise


class AppriseNotifier:
    """Sends each message to the apprise ``url`` (several may be given, separated by spaces)."""

    def __init__(self, url: str, *, template: str = "", name: str = "apprise") -> None:
        module = _load()
        for part in url.split():
            register_url(part)
        self.name = name
        self.template = template
        self._types = module.NotifyType
        self._apprise: _apprise.Apprise = module.Apprise()
        for part in url.split():
            if not self._apprise.add(part):
                scheme = urlsplit(part).scheme or "?"
                raise ConfigError(f"{name}: apprise does not accept this {scheme}:// URL")

    def __repr__(self) -> str:
        return f"AppriseNotifier({self.name!r})"

    def send(self, message: Message) -> None:
        """Send ``message`` to every URL; raise `NotifyError` when apprise reports a failure."""
        kind = {
            "critical": self._types.FAILURE,
            "high": self._types.FAILURE,
            "medium": self._types.WARNING,
        }.get(message.severity, self._types.INFO)
        body = message.render(self.template)
        if not self._apprise.notify(body=body, title=message.subject, notify_type=kind):
            raise NotifyError(f"{self.name}: apprise could not deliver the message")


@dataclass(frozen=True, slots=True)
class AppriseSettings:
    """Any apprise URL(s), given in the file (``url``) or, when they hold tokens, ``url_env``."""

    url: str = ""
    url_env: str = ""

    @classmethod
    def from_table(cls, table: Table) -> AppriseSettings:
        """The ``type = "apprise"`` keys of ``table``: exactly one of ``url`` and ``url_env``."""
        settings = cls(url=table.string("url", ""), url_env=env_name(table, "url_env"))
        if bool(settings.url) == bool(settings.url_env):
            raise table.error("url", "give exactly one of url and url_env")
        return settings

    def build(self, name: str, template: str, secrets: Secrets) -> AppriseNotifier:
        """The apprise notifier these settings describe."""
        url = self.url or secrets("url_env", self.url_env)
        return AppriseNotifier(url, template=template, name=name)


NOTIFIER: Final = NotifierType("apprise", AppriseSettings.from_table)
