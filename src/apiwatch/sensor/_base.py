"""The constructor ASGI and WSGI middleware share: every sensor option as a typed keyword.

Explicit keywords (rather than ``**options``) give IDE completion and let
``app.add_middleware(ApiwatchMiddleware, service=...)`` type-check under mypy --strict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apiwatch.sensor._config import DEFAULT_SESSION_COOKIES, UserHook
from apiwatch.sensor._outputs import Output
from apiwatch.sensor._sensor import Sensor

__all__ = ["SensorMiddleware"]


class SensorMiddleware:
    """Holds the wrapped app and its `Sensor`; see `SensorConfig` for each option.

    The ``decisions_*``, ``enforce``, ``block_status`` and ``fail_closed`` options turn on
    decision enforcement: requests from banned addresses and logins naming flagged accounts are
    refused before the app runs (see `SensorConfig` for each, and the trade-off of fail_closed).
    """

    def __init__(
        self,
        app: Any,
        *,
        service: str,
        login_paths: Mapping[str, str] | Sequence[str] | None = None,
        login_failure_header: str | None = None,
        login_failure_body: str | None = None,
        trusted_proxies: Iterable[str] = (),
        proxy_header: str = "x-forwarded-for",
        user_hook: UserHook | None = None,
        token_key: bytes | str | None = None,
        redact_keys: Iterable[str] = (),
        max_field_length: int = 1024,
        max_login_body: int = 64 * 1024,
        detect_attack_tools: bool = True,
        exclude_paths: Iterable[str] = (),
        session_cookies: Iterable[str] = DEFAULT_SESSION_COOKIES,
        request_id_header: str = "x-request-id",
        host_name: str | None = None,
        outputs: Iterable[Output] | None = None,
        collector: str | None = None,
        api_key: str | None = None,
        ca_file: str | None = None,
        spool_dir: str | None = None,
        decisions_url: str | None = None,
        decisions_key: str | None = None,
        decisions_interval: float = 2.0,
        decisions_max_stale: float = 60.0,
        enforce: bool = True,
        block_status: int = 403,
        fail_closed: bool = False,
    ) -> None:
        self.app = app
        self.sensor = Sensor.from_options(
            service=service,
            login_paths=login_paths,
            login_failure_header=login_failure_header,
            login_failure_body=login_failure_body,
            trusted_proxies=trusted_proxies,
            proxy_header=proxy_header,
            user_hook=user_hook,
            token_key=token_key,
            redact_keys=redact_keys,
            max_field_length=max_field_length,
            max_login_body=max_login_body,
            detect_attack_tools=detect_attack_tools,
            exclude_paths=exclude_paths,
            session_cookies=session_cookies,
            request_id_header=request_id_header,
            host_name=host_name,
            outputs=outputs,
            collector=collector,
            api_key=api_key,
            ca_file=ca_file,
            spool_dir=spool_dir,
            decisions_url=decisions_url,
            decisions_key=decisions_key,
            decisions_interval=decisions_interval,
            decisions_max_stale=decisions_max_stale,
            enforce=enforce,
            block_status=block_status,
            fail_closed=fail_closed,
        )
        self._setup()

    def _setup(self) -> None:
        """Framework-specific preparation once the sensor exists (a hook for subclasses)."""
