"""What Django's authentication says, heard by the sensor: signals and the login views.

`connect` hooks ``django.contrib.auth``'s signals once per process (``dispatch_uid``):
``user_logged_in`` and ``user_login_failed`` (with the tried account, from ``credentials``; the
password Django masks there is never read) decide a login's outcome; ``user_logged_out`` is a
logout; a saved user whose password was just set (``set_password`` then ``save``: the password
change and reset views, the admin, allauth, ``changepassword``) is a password change.

`login_view` recognises, from the resolved view, a POST that is a login attempt, so that no
``login_paths`` entry is needed: Django's admin login and ``LoginView``, allauth's ``LoginView``
(these log in through ``django.contrib.auth.login``, which signals every success), DRF's
``ObtainAuthToken`` and simplejwt's token-obtain views (they signal failures only: a success is
judged from the response).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from apiwatch.sensor._authn import (
    report_login,
    report_logout,
    report_password_change,
)
from apiwatch.sensor._sensor import Sensor

__all__ = ["ViewKind", "connect", "login_view"]

#: How a recognised view logs in: its account field, and whether every success is signalled.
ViewKind = tuple[str, bool]

_sensor: Sensor | None = None

# The keys of ``credentials`` that name the account, tried in order after USERNAME_FIELD.
_ACCOUNT_KEYS = ("username", "email", "login", "phone")


def connect(sensor: Sensor) -> None:
    """Listen to Django's authentication signals (idempotent); ``sensor`` takes the events
    that happen outside a request (a management command, a test client's ``login()``)."""
    global _sensor  # noqa: PLW0603 - signals are process-wide, so is the sensor they report to
    _sensor = sensor
    from django.apps import apps  # noqa: PLC0415 - Django is an optional extra
    from django.contrib.auth import signals  # noqa: PLC0415
    from django.db.models.signals import post_save  # noqa: PLC0415

    signals.user_logged_in.connect(_logged_in, dispatch_uid="apiwatch.sensor.logged_in")
    signals.user_login_failed.connect(_login_failed, dispatch_uid="apiwatch.sensor.login_failed")
    signals.user_logged_out.connect(_logged_out, dispatch_uid="apiwatch.sensor.logged_out")
    if apps.is_installed("django.contrib.auth"):
        from django.contrib.auth import get_user_model  # noqa: PLC0415

        post_save.connect(
            _user_saved, sender=get_user_model(), dispatch_uid="apiwatch.sensor.password"
        )


def _logged_in(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    name, user_id = user_fields(user)
    report_login(True, name, user_id, sensor=_sensor)


def _login_failed(
    sender: Any, credentials: Mapping[str, Any] | None = None, request: Any = None, **_: Any
) -> None:
    report_login(False, _account(credentials or {}), sensor=_sensor)


def _logged_out(sender: Any, request: Any = None, user: Any = None, **_: Any) -> None:
    if user is not None:  # Django signals a logout of an anonymous request too
        report_logout(*user_fields(user), sensor=_sensor)


def _user_saved(sender: Any, instance: Any, created: bool = False, **_: Any) -> None:
    # AbstractBaseUser keeps the new raw password in ``_password`` until save() finished: only
    # whether it is set is looked at. A new user's first password is no change.
    if created or getattr(instance, "_password", None) is None:
        return
    report_password_change(*user_fields(instance), sensor=_sensor)


def user_fields(user: Any) -> tuple[str | None, str | None]:
    """A Django user's ``(name, id)``."""
    if user is None:
        return None, None
    name = user.get_username() if hasattr(user, "get_username") else str(user)
    user_id = getattr(user, "pk", None)
    return (str(name) if name else None, str(user_id) if user_id is not None else None)


def _account(credentials: Mapping[str, Any]) -> str | None:
    """The account named in ``authenticate()``'s credentials (never a secret-looking key)."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    field = getattr(get_user_model(), "USERNAME_FIELD", "username")
    for key in (field, *_ACCOUNT_KEYS):
        value = credentials.get(key)
        if isinstance(value, str) and value and set(value) != {"*"}:
            return value
    return None


def login_view(view: Any) -> ViewKind | None:
    """``(account field, every success signalled)`` when ``view`` is a known login view."""
    if _is_admin_login(view):
        return ("username", True)
    cls = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if not isinstance(cls, type):
        return None
    for path, kind in _VIEW_CLASSES:
        base = _import(path)
        if base is not None and issubclass(cls, base):
            return kind if kind[0] else (_username_field(), kind[1])
    return None


# (dotted class, (account field; "" for the user model's USERNAME_FIELD, success signalled))
_VIEW_CLASSES: tuple[tuple[str, ViewKind], ...] = (
    ("django.contrib.auth.views.LoginView", ("username", True)),
    ("allauth.account.views.LoginView", ("login", True)),
    ("rest_framework.authtoken.views.ObtainAuthToken", ("username", False)),
    ("rest_framework_simplejwt.views.TokenObtainPairView", ("", False)),
    ("rest_framework_simplejwt.views.TokenObtainSlidingView", ("", False)),
)


def _is_admin_login(view: Any) -> bool:
    owner = getattr(view, "__self__", None)
    if owner is None or getattr(view, "__name__", None) != "login":
        return False
    admin_site = _import("django.contrib.admin.sites.AdminSite")
    return admin_site is not None and isinstance(owner, admin_site)


def _import(dotted: str) -> type | None:
    """The class at ``dotted`` if its module is loaded (a view cannot subclass it otherwise).

    Nothing is imported: importing a Django app that is not installed has side effects.
    """
    module_name, _, name = dotted.rpartition(".")
    found = getattr(sys.modules.get(module_name), name, None)
    return found if isinstance(found, type) else None


def _username_field() -> str:
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    return str(getattr(get_user_model(), "USERNAME_FIELD", "username"))
