"""The attempted account is read from a login body the way the framework itself reads it."""

from __future__ import annotations

from apiwatch.sensor import MemoryOutput
from apiwatch.sensor._login import account_from_body

from .apps import fastapi_app
from .asgi_helpers import call_asgi
from .conftest import decoded

FORM = "application/x-www-form-urlencoded"


def test_duplicated_form_field_yields_the_last_value() -> None:
    """username=alice&username=bob is bob, as Starlette, FastAPI and Django read it."""
    assert account_from_body(b"username=alice&username=bob&password=x", FORM, "username") == "bob"


def test_form_with_many_fields_never_raises() -> None:
    """More than 200 fields still yields the account instead of raising."""
    body = "&".join(f"f{i}=v" for i in range(1000)) + "&user+name=al%69ce"
    assert account_from_body(body.encode(), FORM, "user name") == "alice"


def test_form_without_the_field_has_no_account() -> None:
    """A form without the configured field (or only a bare name) names no account."""
    assert account_from_body(b"password=x&username", FORM, "username") is None


def test_login_event_names_the_account_the_app_checked(memory: MemoryOutput) -> None:
    """A login event's user.name is the last username in the form, the one FastAPI used."""
    call_asgi(
        fastapi_app(outputs=[memory]),
        "POST",
        "/users/login",
        headers=[(b"content-type", FORM.encode())],
        body=b"username=alice&username=mallory&password=wrong",
    )
    assert decoded(memory)[0]["user"]["name"] == "mallory"
