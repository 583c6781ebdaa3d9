"""One ``[respond.notifiers.<name>]``: the keys every notifier has, and how a type plugs in.

A notifier type is a `NotifierType`: its name in ``type = "..."`` and the settings class its
module owns, which reads the type's own keys (``from_table``) and makes the notifier
(``build``). `apiwatch.respond.notifiers` registers the types apiwatch ships.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from apiwatch.model import ConfigError
from apiwatch.respond._config import Table
from apiwatch.respond.notify import Notifier, check_template

__all__ = ["NotifierOptions", "NotifierSettings", "NotifierType", "Secrets", "env_name"]

_ENV: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Secrets:
    """Reads the secrets one notifier's settings name from ``env``, here and nowhere else."""

    env: Mapping[str, str] = field(repr=False)  # the environment: never in a log line
    path: str

    def __call__(self, key: str, variable: str) -> str:
        """The value of ``variable`` (named by ``key``; ``""`` when none is named). A variable
        named but not set is a `ConfigError` naming the key, never a value."""
        if not variable:
            return ""
        value = self.env.get(variable, "")
        if not value:
            raise ConfigError(f"{self.path}.{key}: environment variable {variable} is not set")
        return value


class NotifierOptions(Protocol):
    """A notifier type's own settings: they make its notifier."""

    def build(self, name: str, template: str, secrets: Secrets) -> Notifier:
        """The notifier called ``name``, rendering ``template``, secrets read from ``secrets``."""
        ...


@dataclass(frozen=True, slots=True)
class NotifierType:
    """One kind of notifier: ``type = name`` selects it; ``parse`` reads its own keys.
    ``templated`` is false for a type whose message is fields, not text (syslog CEF)."""

    name: str
    parse: Callable[[Table], NotifierOptions]
    templated: bool = True


@dataclass(frozen=True, slots=True)
class NotifierSettings:
    """One ``[respond.notifiers.<name>]``: options common to all, and the type's own."""

    name: str
    type: str
    options: NotifierOptions
    template: str = ""
    rate_limit: int = 20

    def build(self, env: Mapping[str, str]) -> Notifier:
        """The notifier these settings describe, its secrets read from ``env``."""
        secrets = Secrets(env, f"respond.notifiers.{self.name}")
        return self.options.build(self.name, self.template, secrets)

    @classmethod
    def from_table(
        cls, name: str, table: Table, types: Mapping[str, NotifierType]
    ) -> NotifierSettings:
        """The settings in ``table``, whose ``type`` is one of ``types``."""
        kind = table.string("type")
        if kind not in types:
            raise table.error("type", f"unknown type {kind!r} (one of {', '.join(types)})")
        template = ""
        if types[kind].templated:
            template = table.string("template", "")
            try:
                check_template(template)
            except ValueError as exc:
                raise table.error("template", str(exc)) from None
        settings = cls(
            name=name,
            type=kind,
            options=types[kind].parse(table),
            template=template,
            rate_limit=table.integer("rate_limit", 20, low=1, high=10_000),
        )
        table.done()
        return settings


def env_name(table: Table, key: str, *, required: bool = False) -> str:
    """The name of the environment variable ``key`` gives (``""`` when optional and absent)."""
    name = table.string(key, None if required else "")
    if name and not _ENV.fullmatch(name):
        raise table.error(key, f"not an environment variable name: {name!r}")
    return name
