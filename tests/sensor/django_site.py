"""One real Django project for every Django test (settings are process-wide, so there is one).

It has what a new user's project has: the admin, ``django.contrib.auth``'s ``LoginView``,
django-allauth, Django REST framework (session, basic and token authentication, ``authtoken``'s
``obtain_auth_token``) and simplejwt's ``TokenObtainPairView``, on an in-memory SQLite database,
with the sensor first in ``MIDDLEWARE`` writing to `OUTPUT`. `site` configures it once.
"""

from __future__ import annotations

import json
from typing import Any

from apiwatch.sensor import MemoryOutput

OUTPUT = MemoryOutput()
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a whole new staple, battered"

urlpatterns: list[Any] = []
_configured = False


def site() -> MemoryOutput:
    """Configure Django with this project (once), migrate, and return the sensor's output."""
    global _configured  # noqa: PLW0603 - Django's settings are process-wide too
    if not _configured:
        _configure()
        _configured = True
    return OUTPUT


def _configure() -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(**_settings())
    django.setup()
    urlpatterns[:] = _urls()
    call_command("migrate", verbosity=0, interactive=False)


def _settings() -> dict[str, Any]:
    auth = "django.contrib.auth"
    return {
        "DEBUG": False,
        "SECRET_KEY": "test-only-not-secret-but-long-enough-for-hs256",
        "ROOT_URLCONF": __name__,
        "ALLOWED_HOSTS": ["testserver"],
        "USE_TZ": True,
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        "INSTALLED_APPS": [
            "django.contrib.admin",
            auth,
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "allauth",
            "allauth.account",
            "rest_framework",
            "rest_framework.authtoken",
        ],
        "MIDDLEWARE": [
            "apiwatch.sensor.django.ApiwatchMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            f"{auth}.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "allauth.account.middleware.AccountMiddleware",
            f"{__name__}.fake_auth",
        ],
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        f"{auth}.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "AUTHENTICATION_BACKENDS": [
            f"{auth}.backends.ModelBackend",
            "allauth.account.auth_backends.AuthenticationBackend",
        ],
        "PASSWORD_HASHERS": [f"{auth}.hashers.MD5PasswordHasher"],  # fast, tests only
        "ACCOUNT_EMAIL_VERIFICATION": "none",
        "ACCOUNT_LOGIN_METHODS": {"username"},
        "LOGIN_REDIRECT_URL": "/users/5",
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "rest_framework.authentication.SessionAuthentication",
                "rest_framework.authentication.BasicAuthentication",
                "rest_framework.authentication.TokenAuthentication",
                "rest_framework_simplejwt.authentication.JWTAuthentication",
            ],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        },
        "APIWATCH": {
            "service": "shop",
            # The new user: the admin's login route configured, as the README said.
            "login_paths": {"/users/login": "username", "/admin/login/": "username"},
            "outputs": [OUTPUT],
        },
    }


def _urls() -> list[Any]:
    from django.contrib import admin
    from django.contrib.auth import views as auth_views
    from django.urls import include, path
    from rest_framework.authtoken.views import obtain_auth_token
    from rest_framework.decorators import api_view
    from rest_framework.response import Response
    from rest_framework_simplejwt.views import TokenObtainPairView

    password_change = auth_views.PasswordChangeView.as_view(
        template_name="admin/login.html", success_url="/users/5"
    )

    @api_view(["GET"])
    def me(request: Any) -> Any:
        return Response({"user": request.user.get_username()})

    return [
        path("admin/", admin.site.urls),
        path("login/", auth_views.LoginView.as_view(template_name="admin/login.html")),
        path("logout/", auth_views.LogoutView.as_view()),
        path("password/", password_change),
        path("accounts/", include("allauth.urls")),
        path("api-auth/", include("rest_framework.urls")),
        path("api/token-auth/", obtain_auth_token),
        path("api/token/", TokenObtainPairView.as_view()),
        path("api/me", me),
        path("users/login", plain_login),
        path("users/<int:user_id>", plain_user),
        path("boom", boom),
    ]


def make_user(name: str, *, staff: bool = False) -> Any:
    """A user with `PASSWORD` (staff and superuser when ``staff``), made afresh."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    model.objects.filter(username=name).delete()
    if staff:
        return model.objects.create_superuser(name, f"{name}@example.org", PASSWORD)
    return model.objects.create_user(name, f"{name}@example.org", PASSWORD)


# -- the plain views the middleware's own tests use (no authentication library) -----------------


def plain_login(request: Any) -> Any:
    from django.http import HttpResponse, JsonResponse

    is_json = request.content_type == "application/json"
    body = json.loads(request.body) if is_json else request.POST
    if body.get("password") != PASSWORD:
        if body.get("html"):  # the classic answer: 200 and the form again
            return HttpResponse("<form method='post'>...</form>")
        return JsonResponse({"error": "bad credentials"}, status=401)
    return JsonResponse({"ok": True})


def plain_user(request: Any, user_id: int) -> Any:
    from django.http import JsonResponse

    if user_id == 13:
        return JsonResponse({}, status=403)
    return JsonResponse({"id": user_id})


def boom(request: Any) -> Any:
    raise RuntimeError("kaput")


def fake_auth(get_response: Any) -> Any:
    """X-Test-User becomes an authenticated request.user (for the middleware's own tests)."""

    class User:
        is_authenticated = True
        pk = 42

        def __init__(self, name: str) -> None:
            self.name = name

        def get_username(self) -> str:
            return self.name

    def middleware(request: Any) -> Any:
        name = request.META.get("HTTP_X_TEST_USER")
        if name:
            request.user = User(name)
        return get_response(request)

    return middleware
