"""FastAPI-Users glue: one line, a mixin first among the ``UserManager``'s bases.

``class UserManager(ApiwatchUserManager, UUIDIDMixin, BaseUserManager[User, uuid.UUID])``

With it, and `apiwatch.sensor.ApiwatchMiddleware` on the app, a login through any of the app's
authentication backends (JWT bearer, cookie, database tokens) is reported by FastAPI-Users
itself: a wrong password or unknown e-mail is ``authn_login_fail`` naming the tried account, a
login that ends without ``on_after_login`` (an inactive or unverified user) is a failure too,
and ``on_after_login`` is ``authn_login_success``. A password reset, and an update that sets a
password, are ``authn_password_change``. The logout routes (``auth:<backend>.logout``), which
have no hook, are recognised by the middleware without the mixin: ``session_expired``, reason
``logout``. The mixin's methods call the next class's, so the app's own overrides still run.
"""

from __future__ import annotations

from typing import Any

from apiwatch.sensor._authn import login_attempt, report_login, report_password_change

__all__ = ["ApiwatchUserManager"]


class ApiwatchUserManager:
    """Reports FastAPI-Users' logins and password changes; put it first in the bases."""

    async def authenticate(self, credentials: Any) -> Any:
        """The login route's check of the credentials: the tried account, and a failure."""
        account = getattr(credentials, "username", None)
        login_attempt(awaits_success=True)  # on_after_login follows every successful login
        report_login(False, account, attempted=True)
        user = await super().authenticate(credentials)  # type: ignore[misc]
        if user is None:
            report_login(False, account)
        return user

    async def on_after_login(self, user: Any, request: Any = None, response: Any = None) -> None:
        report_login(True, *_fields(user))
        await super().on_after_login(user, request, response)  # type: ignore[misc]

    async def on_after_reset_password(self, user: Any, request: Any = None) -> None:
        report_password_change(*_fields(user))
        await super().on_after_reset_password(user, request)  # type: ignore[misc]

    async def on_after_update(
        self, user: Any, update_dict: dict[str, Any], request: Any = None
    ) -> None:
        if "password" in update_dict:  # the key only: the value is never looked at
            report_password_change(*_fields(user))
        await super().on_after_update(user, update_dict, request)  # type: ignore[misc]


def _fields(user: Any) -> tuple[str | None, str | None]:
    email, user_id = getattr(user, "email", None), getattr(user, "id", None)
    return (str(email) if email else None, str(user_id) if user_id is not None else None)
