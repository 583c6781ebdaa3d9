"""The sensor's options: the same keyword arguments for every framework integration.

`SensorConfig.from_options` validates them once, at start-up, and raises `ConfigError` naming the
option for anything that cannot work, so a typo fails the app's boot rather than its logging.
It is the one place they are read: the ASGI and WSGI middleware's keywords, Flask's ``init_app``,
Django's ``APIWATCH`` setting and ``audit.configure`` all come through it, and so do the
environment variables (``APIWATCH_TOKEN_KEY``; ``APIWATCH_SERVICE`` names an unconfigured one).
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apiwatch.model import ConfigError, plural_noun
from apiwatch.sensor._clientip import PROXY_HEADERS
from apiwatch.sensor._sanitize import normal_key

__all__ = ["DEFAULT_SESSION_COOKIES", "SensorConfig", "UserHook", "process_service"]

#: A hook that returns ``(user.name, user.id)`` for a request, from the framework's own request
#: object (ASGI scope, WSGI environ, Flask request, Django HttpRequest); None when anonymous.
UserHook = Callable[[Any], "tuple[str | None, str | None] | None"]

DEFAULT_SESSION_COOKIES = ("session", "sessionid", "connect.sid", "jsessionid", "phpsessid")


@dataclass(frozen=True, slots=True)
class SensorConfig:
    """Validated sensor options; see the README for what each one does.

    Decision enforcement (`apiwatch.sensor._enforce`), active when ``decisions_key`` is given:
    ``decisions_url`` (default: ``collector``) serves ``/v1/decisions/stream``;
    ``decisions_key`` is a collector key of scope ``bouncer`` (sent as ``X-Api-Key``);
    ``decisions_interval`` seconds between two pulls (default 2); ``enforce`` (default True;
    False only labels the events of requests a decision matches); ``block_status`` 403 (default)
    or 429 (with ``Retry-After``: the seconds until the decision ends) for a banned address;
    ``fail_closed`` (default False: when the collector cannot be reached the last known
    decisions stay in force and everyone else is served) answers 503 to every request once no
    pull has succeeded for ``decisions_max_stale`` seconds (default 60), trading availability
    for the guarantee that no ban older than that is missed. ``ca_file`` applies to the pulls
    too.
    """

    service: str
    login_paths: Mapping[str, str] = field(default_factory=dict)
    login_failure_header: str | None = None
    login_failure_body: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    proxy_header: str = "x-forwarded-for"
    user_hook: UserHook | None = None
    token_key: bytes = b""
    redact_keys: frozenset[str] = frozenset()
    max_field_length: int = 1024
    max_login_body: int = 64 * 1024
    detect_attack_tools: bool = True
    exclude_paths: frozenset[str] = frozenset()
    session_cookies: tuple[str, ...] = DEFAULT_SESSION_COOKIES
    request_id_header: str = "x-request-id"
    host_name: str = ""
    outputs: tuple[Any, ...] | None = None
    collector: str | None = None
    api_key: str | None = None
    ca_file: str | None = None
    spool_dir: str | None = None
    decisions_url: str | None = None
    decisions_key: str | None = None
    decisions_interval: float = 2.0
    decisions_max_stale: float = 60.0
    enforce: bool = True
    block_status: int = 403
    fail_closed: bool = False

    @property
    def pulls_decisions(self) -> bool:
        """Whether this sensor syncs decisions from the collector (a bouncer key was given)."""
        return bool(self.decisions_key)

    @classmethod
    def from_options(cls, **options: Any) -> SensorConfig:
        """Check and normalise keyword options (the same for ASGI, WSGI, Flask and Django)."""
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"unknown apiwatch {plural_noun(len(unknown), 'option')}: {', '.join(unknown)}"
            )
        service = options.get("service")
        if not isinstance(service, str) or not service.strip():
            raise ConfigError("service: give the name of this API, e.g. service='shop'")
        options["login_paths"] = _login_paths(options.get("login_paths") or {})
        _check_login_failure(options)
        options["trusted_proxies"] = _strings("trusted_proxies", options.get("trusted_proxies"))
        options["proxy_header"] = _proxy_header(options.get("proxy_header", "x-forwarded-for"))
        options["token_key"] = _token_key(options.get("token_key"))
        # The same normal form as the lookups in `is_secret_key`, so "acct.no" matches.
        options["redact_keys"] = frozenset(
            map(normal_key, _strings("redact_keys", options.get("redact_keys")))
        )
        options["exclude_paths"] = frozenset(
            _strings("exclude_paths", options.get("exclude_paths"))
        )
        options["session_cookies"] = (
            tuple(c.lower() for c in _strings("session_cookies", options.get("session_cookies")))
            if "session_cookies" in options
            else DEFAULT_SESSION_COOKIES
        )
        options["request_id_header"] = str(options.get("request_id_header", "x-request-id")).lower()
        options["host_name"] = options.get("host_name") or socket.gethostname()
        if options.get("outputs") is not None:
            options["outputs"] = tuple(options["outputs"])
        _check_limits(options)
        if options.get("collector") and not options.get("api_key"):
            raise ConfigError("api_key: shipping to a collector needs an ingest key")
        _check_decisions(options)
        return cls(**options)


def process_service() -> str:
    """The service of a sensor nobody configured: ``$APIWATCH_SERVICE``, else the program's name."""
    return os.environ.get("APIWATCH_SERVICE") or os.path.basename(sys.argv[0]) or "python"


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}: expected a list of strings")
    return tuple(value)


def _proxy_header(value: Any) -> str:
    header = value.strip().lower() if isinstance(value, str) else value
    if header not in PROXY_HEADERS:
        raise ConfigError(
            f"proxy_header: expected {' or '.join(map(repr, PROXY_HEADERS))}, got {value!r}"
        )
    return str(header)


def _login_paths(value: Any) -> dict[str, str]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = dict.fromkeys(value, "username")
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError("login_paths: expected a mapping of path to the username field name")
    return dict(value)


def _check_login_failure(options: dict[str, Any]) -> None:
    """``login_failure_header`` (lower-cased) and ``login_failure_body``: non-empty text or None."""
    for name in ("login_failure_header", "login_failure_body"):
        value = options.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{name}: expected a non-empty string")
    header = options.get("login_failure_header")
    if header:
        options["login_failure_header"] = header.strip().lower()


def _token_key(value: Any) -> bytes:
    """The key for token fingerprints: option, else APIWATCH_TOKEN_KEY, else random per process.

    A random key still gives fingerprints that correlate within one process; set a shared key so
    that fingerprints agree across workers, hosts and restarts.
    """
    value = value or os.environ.get("APIWATCH_TOKEN_KEY")
    if value is None:
        return secrets.token_bytes(32)
    key = value.encode() if isinstance(value, str) else value
    if not isinstance(key, bytes) or len(key) < 16:
        raise ConfigError("token_key: expected at least 16 bytes (or APIWATCH_TOKEN_KEY)")
    return key


def _check_decisions(options: dict[str, Any]) -> None:
    """The enforcement options: a URL and a key together, sane numbers, 403 or 429."""
    if options.get("decisions_key") and not options.get("decisions_url"):
        options["decisions_url"] = options.get("collector")
        if not options["decisions_url"]:
            raise ConfigError("decisions_url: give the collector URL (or collector=...)")
    if options.get("decisions_url") and not options.get("decisions_key"):
        raise ConfigError("decisions_key: pulling decisions needs a key with scope bouncer")
    if options.get("fail_closed") and not options.get("decisions_key"):
        raise ConfigError("fail_closed: needs decisions to pull (decisions_key)")
    for name in ("decisions_interval", "decisions_max_stale"):
        value = options.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
        ):
            raise ConfigError(f"{name}: expected a number of seconds greater than 0")
    status = options.get("block_status", 403)
    if type(status) is not int or status not in (403, 429):
        raise ConfigError("block_status: expected 403 or 429")
    for name in ("enforce", "fail_closed"):
        if name in options and not isinstance(options[name], bool):
            raise ConfigError(f"{name}: expected True or False")


def _check_limits(options: dict[str, Any]) -> None:
    for name in ("max_field_length", "max_login_body"):
        if name in options and (not isinstance(options[name], int) or options[name] < 16):
            raise ConfigError(f"{name}: expected an integer of at least 16")
